"""One options model for the Python API, the YAML config file and the CLI flags."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator


class ConfigError(ValueError):
    """A config problem, told in one line that names the field and the file."""


_OPERATIONAL_RUN = {"db", "max_in_flight", "max_error_rate", "min_episodes_for_error_rate", "call_cache", "call_cache_mode"}
_OPERATIONAL_MODEL = ("max_batch", "turn_cache_mb", "max_concurrency", "requests_per_second", "timeout_s", "total_timeout_s", "max_retries", "delay_s",
                      "deployments")


class DeploymentSpec(BaseModel):
    """One server of a model served by several (vLLM servers, ``debate serve`` processes); calls
    are spread across them by litellm's Router, with failover. Which deployment answers a call
    never changes results (they serve the same weights), so deployments can change on resume."""

    model_config = ConfigDict(extra="forbid")

    api_base: str = Field(min_length=1)
    model: str | None = None
    """The model string at this server (default: the model's own ``model``)."""
    api_key_env: str | None = None
    """Environment variable holding this server's key (default: the model's ``api_key_env``)."""
    name: str | None = None
    """Label in call records (``params.deployment``); default: ``api_base``."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Calls in flight at this server (litellm's ``max_parallel_requests``); unset: no cap."""
    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute this server takes (litellm weighs and caps by it)."""
    weight: float = Field(default=1.0, gt=0)
    """Share of calls relative to the other deployments (when ``rpm`` is unset)."""


class ModelSpec(BaseModel):
    """How to reach one model. API keys never live here: name the environment variable."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "litellm", "scripted", "vllm"] = "local"
    model: str = "embedded"
    """local: ``embedded``, an HF folder or a ``.gguf`` file; litellm: a provider/model string;
    vllm (in-process vLLM engine, optional extra): ``embedded`` or an HF folder."""
    api_base: str | None = None
    """For OpenAI-compatible servers such as vLLM (litellm backend)."""
    api_key_env: str | None = None
    """Environment variable holding the API key (litellm backend)."""
    device: str = "auto"
    dtype: str = "auto"
    max_batch: int = Field(default=16, ge=1)
    turn_cache_mb: int = Field(default=64, ge=0, le=1 << 20, strict=True)
    """Local models: memory for the KV of earlier calls past the passage, reused by later calls
    that begin with the same tokens (a debate's transcript); 0 turns it off. Tokens stay the same
    (float32, tested); log-probabilities can move in the 6th decimal place, since a reused key was
    computed in another forward's shape. At most 1 TiB (``1048576``), so a typo fails here."""
    max_concurrency: int = Field(default=64, ge=1)
    """Calls in flight at once (connections, for hosted models)."""
    requests_per_second: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120, gt=0)
    """Hosted models: seconds per attempt."""
    total_timeout_s: float | None = Field(default=None, gt=0)
    """Hosted models: seconds per call, attempts and waits together."""
    max_retries: int = Field(default=3, ge=1)
    """Hosted models: attempts per call, the first included (429/5xx/timeouts only; Retry-After honoured)."""
    best_of: int = Field(default=1, ge=1)
    """As an expert, draft this many speeches per turn and keep the judge's favourite (Khan et al. 2024)."""
    usd_per_1k_tokens: float = Field(default=0.0, ge=0)
    """Cost rate for local models (hosted models use litellm's price table)."""
    replies: dict[str, str | list[str]] | None = None
    """Scripted backend only: replies per role."""
    delay_s: float = Field(default=0.0, ge=0)
    """Scripted backend only: seconds each call takes (to simulate a slow model)."""
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    """litellm backend: several servers for this model (load balanced, with failover); when set,
    ``api_base`` is unused and each deployment names its own."""

    @field_validator("deployments")
    @classmethod
    def _deployments_litellm_only(cls, v: list[DeploymentSpec], info: ValidationInfo) -> list[DeploymentSpec]:
        if v and info.data.get("backend") != "litellm":
            raise ValueError(f"deployments need backend 'litellm' (backend is {info.data.get('backend')!r})")
        labels = [d.name or d.api_base for d in v]
        dup = next((x for x in labels if labels.count(x) > 1), None)
        if dup is not None:
            raise ValueError(f"two deployments are named {dup!r}; give each a distinct 'name'")
        return v
    moe_mask: list[int] | dict[int, list[int]] | None = None
    """Local MoE models (Mixtral, Qwen2-MoE, OLMoE): experts never chosen, for every MoE layer
    (a list) or per decoder layer (``{layer: [experts]}``); see docs/moe.md."""
    moe_force: list[int] | dict[int, list[int]] | None = None
    """Local MoE models: tokens choose only among these experts (at least ``num_experts_per_tok``)."""
    library: str | None = None
    """Local models: a LoRA-expert library (a folder, or ``shipped`` for the experts trained on the
    embedded model); requests name an expert (routed protocol, ``debate serve``)."""
    adapter: str | None = None
    """Local models with a library: the expert used when a request names none — one expert's name,
    or ``@token`` for per-token (PHATGOOSE) routing over all of them on every turn."""

    @model_validator(mode="after")
    def _adapter_needs_library(self) -> "ModelSpec":
        if self.adapter is not None and self.library is None:
            raise ValueError(f"adapter {self.adapter!r} needs a 'library' (the folder of experts it is one of, or 'shipped')")
        return self

    @field_validator("moe_mask", "moe_force", "library", "adapter")
    @classmethod
    def _moe_local_only(cls, v: Any, info: ValidationInfo) -> Any:
        if v is not None and info.data.get("backend") != "local":
            what = {"library": "an expert library needs", "adapter": "an adapter needs"}.get(info.field_name or "", "expert ablations need")
            raise ValueError(f"{what} a local model (backend is {info.data.get('backend')!r})")
        return v

    @classmethod
    def from_string(cls, spec: str) -> "ModelSpec":
        """``embedded``, ``local:PATH``, ``vllm:PATH``, ``scripted``, ``litellm:PROVIDER/MODEL`` or ``PROVIDER/MODEL``."""
        if spec in ("embedded", "local", "local:embedded"):
            return cls()
        if spec.startswith("local:"):
            return cls(backend="local", model=spec.removeprefix("local:"))
        if spec == "scripted":
            return cls(backend="scripted", model="scripted")
        if spec.startswith("litellm:"):
            return cls(backend="litellm", model=spec.removeprefix("litellm:"))
        if spec.startswith("vllm:"):
            return cls(backend="vllm", model=spec.removeprefix("vllm:"))
        if "/" in spec:
            return cls(backend="litellm", model=spec)
        raise ConfigError(
            f"unknown model {spec!r}: use 'embedded', 'local:PATH', 'vllm:PATH', 'scripted', 'PROVIDER/MODEL' "
            "or a name defined under 'models'"
        )


class ProtocolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    roles: dict[str, str] = Field(default_factory=dict)
    """Override the model per role (e.g. ``debater_b: weak``); defaults: judge -> ``judge``, others -> ``expert``."""
    label: str | None = None
    """Report row name; default: the protocol name plus any non-default params, e.g. ``debate(rounds=3)``."""


def _default_protocols() -> list[ProtocolSpec]:
    return [
        ProtocolSpec(name="direct_blind"),
        ProtocolSpec(name="direct_oracle"),
        ProtocolSpec(name="consultancy"),
        ProtocolSpec(name="debate"),
    ]


class RunConfig(BaseModel):
    """A whole experiment. Re-running the same config with the same ``name`` resumes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1)
    db: str = Field(default="debate-runs.sqlite", min_length=1)
    dataset: str = "sample"
    """``sample`` (shipped QuALITY sample), ``quality:POOL.jsonl[:STORIES.jsonl]`` or a generic ``.jsonl`` file."""
    limit: int | None = Field(default=None, ge=1)
    protocols: list[ProtocolSpec] = Field(default_factory=_default_protocols)
    expert: str = "embedded"
    judge: str = "embedded"
    judge_kind: Literal["logprob", "generative"] = "logprob"
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    both_orders: bool = True
    """Run every question in every option order (position bias cancels out)."""
    plugins: list[str] = Field(default_factory=list)
    """Python modules or ``.py`` files imported before the run, so protocols they register
    (``@debate.protocol``) can be named in ``protocols``."""
    seed: int = 0
    max_in_flight: int = Field(default=32, ge=1)
    speech_tokens: int = Field(default=48, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Stop the run (resumably) once more than this fraction of its finished episodes failed."""
    min_episodes_for_error_rate: int = Field(default=10, ge=1)
    """``max_error_rate`` is checked only once this many episodes have finished."""
    call_cache: str | None = None
    """Path of an SQLite model-call cache (its own file, or the run database): identical calls
    are replayed from it instead of recomputed. Off when unset."""
    call_cache_mode: Literal["use", "refresh", "off"] = "use"
    """``use``: read and write the cache; ``refresh``: call the model anyway and overwrite; ``off``: ignore it."""

    @field_validator("protocols")
    @classmethod
    def _some_protocols(cls, v: list[ProtocolSpec]) -> list[ProtocolSpec]:
        if not v:
            raise ValueError("at least one protocol is needed")
        return v

    def model_spec(self, name: str) -> ModelSpec:
        return self.models[name] if name in self.models else ModelSpec.from_string(name)

    @property
    def hash(self) -> str:
        """What makes results comparable; ``db``, ``max_in_flight`` and the error-rate guard don't
        change results (so adding the guard to a run still resumes it)."""
        return hashlib.sha256(json.dumps(self.results_view(), sort_keys=True).encode()).hexdigest()[:16]

    def results_view(self) -> dict[str, Any]:
        """The settings that change results. Where results go, how fast they are produced
        (concurrency, rate limits, timeouts, retries, batch size) and the error-rate guard are
        left out, so a run can be resumed slower, faster or more patiently."""
        data = self.model_dump(mode="json", exclude=_OPERATIONAL_RUN)
        for spec in data.get("models", {}).values():
            for key in _OPERATIONAL_MODEL:
                spec.pop(key, None)
            for key in ("moe_mask", "moe_force", "library", "adapter"):  # unset: results (and old runs' hashes) unchanged
                if spec.get(key) is None:
                    spec.pop(key, None)
        return data


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read YAML (if given), apply non-None overrides (CLI flags), validate; errors name the field."""
    data: dict[str, Any] = {}
    where = str(path) if path else "flags"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{where}: no such config file" if not p.exists() else f"{where}: not a file")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{where}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{where}: the config must be a mapping of settings")
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "config"
        raise ConfigError(f"{where}: field '{field}': {err['msg']}") from None
