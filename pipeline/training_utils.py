"""Plumbing shared by every training stage: callbacks, seeding, LoRA, checkpoints, metrics, export.

Plain Python (torch, peft, transformers): never imports Django. The Django side passes
``on_progress(Progress)`` (``pipeline.progress``) and ``on_metrics(step, dict)`` callables and reads
what these helpers write under a run's output directory:

    out_dir/
      config.json            the stage's config (to_dict), written when the run starts
      metrics.jsonl          one {"step": n, "loss/train": ...} object per logged step
      checkpoints/step-N/    periodic trainable state: state.pt (+ a DONE marker written last)
      final/                 the exported model (a directory ``from_pretrained`` reads)
      result.json            the final metrics, written when the run ends
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from pipeline.progress import StepProgress

MetricsFn = Callable[[int, dict], None]


def no_metrics(step: int, metrics: dict) -> None:  # default on_metrics
    pass


# -- config dataclasses ------------------------------------------------------------


class ConfigMixin:
    """to_dict / from_dict for the stage configs, so a run can store its config as JSON."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:  # usually a typo; silently dropping it would train something else
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


# -- seeding and devices -------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with torch here
        pass


def use_lora(flag: bool | None, device: torch.device) -> bool:
    """``None`` means auto: LoRA on CPU (full fine-tuning of even 135M parameters is slow there)."""
    return device.type == "cpu" if flag is None else bool(flag)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- LoRA ------------------------------------------------------------------------------


@dataclasses.dataclass
class LoraSettings(ConfigMixin):
    """The LoRA knobs every stage shares (see the stage configs for where they live)."""

    r: int = 16  # rank of the low-rank update
    alpha: int = 32  # scaling numerator: the update is scaled by alpha / r
    dropout: float = 0.0  # dropout on the LoRA input (0 keeps train and eval forward passes identical)
    targets: str = "all-linear"  # peft target_modules: "all-linear" or a comma-separated list of module names


def add_lora(model: torch.nn.Module, settings: LoraSettings, *, causal_lm: bool) -> torch.nn.Module:
    """Wrap ``model`` in fresh LoRA adapters (base weights frozen), as a peft model."""
    from peft import LoraConfig, get_peft_model

    targets: Any = settings.targets
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM" if causal_lm else "FEATURE_EXTRACTION",
    )
    return get_peft_model(model, config)


def train_only_top_layers(model: torch.nn.Module, k: int) -> torch.nn.Module:
    """Freeze the embeddings and every transformer block but the top ``k`` (the final norm and
    anything else outside the blocks stays trainable).

    Backpropagation then stops at the lowest trainable block, so a step costs about one
    forward pass plus k blocks' backward: how a small CPU trains an RM on a thousand pairs.
    The blocks are the model's longest ``ModuleList`` (``model.layers`` in Llama-style models,
    ``h`` in GPT-2 style ones), so any transformers checkpoint works.
    """
    lists = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList)]
    if not lists:
        raise ValueError("train_top_layers: the model has no list of transformer blocks")
    name, blocks = max(lists, key=lambda item: len(item[1]))
    if not 0 < k <= len(blocks):
        raise ValueError(f"train_top_layers must be between 1 and the model's {len(blocks)} blocks, got {k}")
    kept = tuple(f"{name}.{i}." for i in range(len(blocks) - k, len(blocks)))
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    for key, p in model.named_parameters():
        inside_blocks = key.startswith(f"{name}.")
        p.requires_grad_(key.startswith(kept) if inside_blocks else id(p) not in embeddings)
    return model


def is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def unwrap_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Fold LoRA updates into the base weights and return the plain transformers model."""
    return model.merge_and_unload() if is_peft(model) else model


@contextlib.contextmanager
def lora_merged(model: torch.nn.Module) -> Iterator[None]:
    """Run a block with the LoRA update folded into the base weights, then restore them bit for bit.

    Token-by-token decoding through unmerged LoRA layers pays two extra small matmuls (and peft's
    per-layer Python) per adapted linear per token; on CPU that overhead is a visible share of a
    decoding step, merged it is gone. peft's own unmerge subtracts the update again, which leaves
    float rounding in the frozen base weights (the SFT reference of RL); so the touched base
    weights are stashed and copied back exactly. On GPU the overhead is small and the stash would
    cost a copy of the weights in GPU memory, so there the block runs unmerged.
    """
    if not is_peft(model) or next(model.parameters()).device.type != "cpu":
        yield
        return
    from peft.tuners.tuners_utils import BaseTunerLayer

    stash = []
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            base = module.get_base_layer()
            stash.append((base.weight, base.weight.detach().clone()))
    with torch.no_grad():
        model.merge_adapter()
    try:
        yield
    finally:
        with torch.no_grad():
            model.unmerge_adapter()  # resets peft's "merged" bookkeeping
            for weight, saved in stash:
                weight.copy_(saved)


# -- checkpoints -------------------------------------------------------------------------


def trainable_state(modules: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """Only the parameters being trained: LoRA adapters + heads, or every weight when full."""
    return {
        name: {key: p.detach().cpu().clone() for key, p in module.named_parameters() if p.requires_grad}
        for name, module in modules.items()
    }


def load_trainable_state(modules: dict[str, torch.nn.Module], saved: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, module in modules.items():
        params = {key: p for key, p in module.named_parameters() if p.requires_grad}
        missing, extra = sorted(set(params) - set(saved[name])), sorted(set(saved[name]) - set(params))
        if missing or extra:
            raise ValueError(
                f"checkpoint does not match the {name} being trained (was the config changed?): "
                f"missing {missing[:3]}, unexpected {extra[:3]}"
            )
        with torch.no_grad():
            for key, p in params.items():
                p.copy_(saved[name][key].to(p.device, p.dtype))


class Checkpointer:
    """Periodic, atomic checkpoints of a run's trainable state under ``out_dir/checkpoints``.

    A checkpoint holds the trainable parameters, optimizer states, the step and the RNG states.
    It is written to a staging folder and renamed into place, with a DONE marker written last,
    so a run killed while saving leaves the previous checkpoint as "latest".
    """

    def __init__(self, out_dir: str | os.PathLike, keep: int = 2):
        self.root = Path(out_dir) / "checkpoints"
        self.keep = max(1, keep)

    def save(self, step: int, modules: dict[str, torch.nn.Module], optimizers: dict[str, Any], extra: dict | None = None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step-{step:08d}"
        staging = self.root / f".step-{step:08d}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        torch.save(
            {
                "step": step,
                "params": trainable_state(modules),
                "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                "rng": rng_state(),
                "extra": extra or {},
            },
            staging / "state.pt",
        )
        (staging / "DONE").write_text(str(step))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        for old in self.completed()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def completed(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.glob("step-*") if (p / "DONE").is_file()]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def latest(self) -> Path | None:
        found = self.completed()
        return found[-1] if found else None

    def restore(self, modules: dict[str, torch.nn.Module], optimizers: dict[str, Any]) -> tuple[int, dict]:
        """Load the latest checkpoint into ``modules``/``optimizers``; returns (step, extra), (0, {}) if none."""
        latest = self.latest()
        if latest is None:
            return 0, {}
        state = torch.load(latest / "state.pt", map_location="cpu", weights_only=False)
        load_trainable_state(modules, state["params"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        set_rng_state(state["rng"])
        return int(state["step"]), state.get("extra", {})


# -- metrics and run files -------------------------------------------------------------------


class RunFiles:
    """config.json, metrics.jsonl and result.json of one run; callbacks are forwarded here too.

    With ``writer=False`` (every process but the first of a data-parallel run) nothing is
    written and no callback is called: one process speaks for the run."""

    def __init__(self, out_dir: str | os.PathLike, on_metrics: MetricsFn | None = None, *, writer: bool = True):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.writer = writer
        self.on_metrics = (on_metrics or no_metrics) if writer else no_metrics
        self.last: dict[str, float] = {}

    def write_config(self, config: Any) -> None:
        if self.writer:
            (self.dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))

    def resume_at(self, step: int) -> None:
        """Drop metric rows a killed run logged after its last checkpoint (they are logged again)."""
        if not self.writer or not self.metrics_path.is_file():
            return
        rows = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]
        kept = [row for row in rows if row.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(row) + "\n" for row in kept))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self.last.update(clean)
        if not self.writer:
            return
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps({"step": step, **clean}) + "\n")
        self.on_metrics(step, dict(clean))

    def write_result(self, result: dict[str, Any]) -> None:
        if self.writer:
            (self.dir / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True, default=str))


def begin_run(out_dir: str | os.PathLike, config: Any, on_metrics: MetricsFn | None = None, *,
              writer: bool = True) -> RunFiles:
    """The start every trainer shares: the run folder with the config saved beside the
    checkpoints (so a run is always read with what produced it), and every RNG seeded.
    ``writer=False`` for the processes of a data-parallel run that are not the first."""
    files = RunFiles(out_dir, on_metrics, writer=writer)
    files.write_config(config)
    seed_everything(config.seed)
    return files


def trl_settings(config: Any, out_dir: Path, *, on_cpu: bool) -> dict[str, Any]:
    """TRL config fields every TRL-backed stage (DPO, RLOO, GRPO) sets the same way: our
    checkpoint cadence and retention, the run's seed, learning rate and clipping, a constant
    schedule like our own loops, no activation checkpointing (TRL defaults to it; we trade
    memory for speed the same way on both sides), bf16 only for fast precision on a GPU."""
    return dict(
        output_dir=str(out_dir / "trl"),
        learning_rate=config.lr,
        max_grad_norm=config.grad_clip or 1e9,
        seed=config.seed,
        logging_steps=1,
        save_strategy="steps" if config.checkpoint_every else "no",
        save_steps=config.checkpoint_every or 1,
        save_total_limit=config.keep_checkpoints,
        report_to="none",
        use_cpu=on_cpu,
        bf16=config.precision == "fast" and not on_cpu,
        activation_checkpointing=False,
        lr_scheduler_type="constant",
    )


def trl_progress_callback(steps: StepProgress) -> Any:
    """A TRL/transformers callback that reports a step as trained at its end and as saved once
    the trainer's checkpoint of it is written (``on_save`` runs after the save), so the caller's
    progress never counts a step a resume would train again."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.trained(state.global_step, state.max_steps)

        def on_save(self, args, state, control, **kwargs):
            steps.saved(state.global_step)

    return Steps()


def save_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(staging_dir)`` and swap the folder into ``target`` with one rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    write(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


def export_causal_lm(model: torch.nn.Module, tokenizer: Any, target: Path) -> Path:
    """Save a policy as a plain transformers checkpoint (LoRA merged), loadable by the registry."""
    plain = unwrap_lora(model)

    def write(folder: Path) -> None:
        plain.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)

    return save_atomically(target, write)


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within chunks of 50 batches, shuffle batches.

    Similar lengths in a batch waste little compute on padding; the chunking keeps batches
    random across the epoch. Determined by (seed, epoch) alone, so a resumed run sees the same.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def clip_and_step(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], max_norm: float | None) -> float:
    """Clip gradients (when asked), step, zero; returns the pre-clip gradient norm."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm else float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


class Laps:
    """Seconds per phase of a training step: ``laps("generate")`` closes the phase that just ran."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.times: dict[str, float] = {}

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.times[f"time/{phase}_seconds"] = now - self.last
        self.last = now
