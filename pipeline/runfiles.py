"""What a training run writes under its output directory, and the callbacks that mirror it.

Plain Python (torch, transformers): never imports Django. The Django side passes
``on_progress(Progress)`` (``pipeline.progress``) and ``on_metrics(step, dict)`` callables and reads
what these helpers write:

    out_dir/
      config.json            the stage's config (to_dict), written when the run starts
      metrics.jsonl          one {"step": n, "loss/train": ...} object per logged step
      checkpoints/step-N/    periodic trainable state (``pipeline.checkpoints``)
      final/                 the exported model (a directory ``from_pretrained`` reads)
      result.json            the final metrics, written when the run ends
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from pipeline.checkpoints import seed_everything
from pipeline.lora import unwrap_lora

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class StageConfig(Protocol):
    """What a run's start reads of any stage config (``pipeline.configs``): its dict and seed."""

    seed: int

    def to_dict(self) -> dict[str, Any]: ...

MetricsFn = Callable[[int, dict], None]


def no_metrics(step: int, metrics: dict) -> None:  # default on_metrics
    pass


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

    def write_config(self, config: StageConfig) -> None:
        if self.writer:
            (self.dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))

    def resume_at(self, step: int) -> None:
        """Drop metric rows a killed run logged after its last checkpoint (they are logged again)."""
        if not self.writer or not self.metrics_path.is_file():
            return
        rows = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]
        kept = [row for row in rows if row.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(row) + "\n" for row in kept))

    def log(self, step: int, metrics: Mapping[str, float | None]) -> None:
        """Record one step's metrics; a None (a value this step did not produce) is left out."""
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


def begin_run(out_dir: str | os.PathLike, config: StageConfig, on_metrics: MetricsFn | None = None, *,
              writer: bool = True) -> RunFiles:
    """The start every trainer shares: the run folder with the config saved beside the
    checkpoints (so a run is always read with what produced it), and every RNG seeded.
    ``writer=False`` for the processes of a data-parallel run that are not the first."""
    files = RunFiles(out_dir, on_metrics, writer=writer)
    files.write_config(config)
    seed_everything(config.seed)
    return files


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


def export_causal_lm(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, target: Path) -> Path:
    """Save a policy as a plain transformers checkpoint (LoRA merged), loadable by the registry."""
    plain = unwrap_lora(model)

    def write(folder: Path) -> None:
        plain.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)

    return save_atomically(target, write)
