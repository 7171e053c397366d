"""A folder of LoRA experts, checked as a whole before any of it is loaded.

Layout: ``<library>/<expert>/{manifest.json, adapter_model.safetensors, adapter_config.json,
gates.safetensors?}`` — the PEFT adapter files as PEFT writes them, plus our manifest. ``shipped``
names the experts that come with the package (trained on the embedded model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from debate.experts.library.manifest import ADAPTER_CONFIG, ADAPTER_WEIGHTS, MANIFEST, ExpertManifest


class LibraryError(ValueError):
    """A library that cannot be used; the message names the expert folder and file."""


@dataclass(frozen=True)
class LibraryEntry:
    manifest: ExpertManifest
    path: Path

    @property
    def name(self) -> str:
        return self.manifest.name


def library_path(spec: str | Path) -> Path:
    """``shipped`` → the package's own experts; anything else is a folder path."""
    if str(spec) == "shipped":
        return Path(str(files("debate.experts.library").joinpath("shipped")))
    return Path(spec).expanduser()


def open_library(spec: str | Path, *, base_fingerprint: str | None = None) -> list[LibraryEntry]:
    """Every expert in the library, validated: manifests parse, files exist, names are unique,
    and (when ``base_fingerprint`` is given) every adapter was trained on that base."""
    root = library_path(spec)
    if not root.is_dir():
        raise LibraryError(f"{root}: no such expert library folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(".partial") and not p.name.startswith(("_", ".")))
    if not folders:
        raise LibraryError(f"{root}: the library holds no experts (expected one folder per expert with {MANIFEST})")
    entries = [_entry(f) for f in folders]
    seen: dict[str, Path] = {}
    for e in entries:
        if e.name in seen:
            raise LibraryError(f"{e.path / MANIFEST}: expert name {e.name!r} is also used by {seen[e.name] / MANIFEST}")
        seen[e.name] = e.path
        if base_fingerprint is not None and e.manifest.base_fingerprint != base_fingerprint:
            raise LibraryError(
                f"{e.path / MANIFEST}: expert {e.name!r} was trained on base model {e.manifest.base_fingerprint} "
                f"({e.manifest.base_model}), but the loaded base model is {base_fingerprint}; nothing was loaded"
            )
    return entries


def _entry(folder: Path) -> LibraryEntry:
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise LibraryError(f"{folder}: missing {MANIFEST} (every expert folder needs one; see docs/routed-experts.md)")
    try:
        manifest = ExpertManifest.model_validate_json(mpath.read_text(encoding="utf-8"))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "manifest"
        raise LibraryError(f"{mpath}: field '{field}': {err['msg']}") from None
    except UnicodeDecodeError:
        raise LibraryError(f"{mpath}: not UTF-8 text") from None
    for f in (ADAPTER_WEIGHTS, ADAPTER_CONFIG):
        if not (folder / f).is_file():
            raise LibraryError(f"{folder}: missing {f} (the PEFT adapter files)")
    try:
        cfg = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LibraryError(f"{folder / ADAPTER_CONFIG}: not valid JSON ({exc})") from None
    if cfg.get("r") is not None and int(cfg["r"]) != manifest.rank:
        raise LibraryError(f"{folder / ADAPTER_CONFIG}: rank r={cfg['r']} differs from the manifest's rank {manifest.rank}")
    if manifest.gates and not (folder / manifest.gates).is_file():
        raise LibraryError(f"{mpath}: field 'gates' names {manifest.gates}, which is missing")
    if manifest.name != folder.name:
        raise LibraryError(f"{mpath}: field 'name' is {manifest.name!r} but the folder is {folder.name!r}; "
                           "an expert's folder carries its name (rename one of them)")
    return LibraryEntry(manifest, folder)
