"""The parts of a training step every trainer shares: batch order, the clipped optimizer step,
per-phase timing, and for the TRL-backed stages (DPO, RLOO, GRPO) the same choices in TRL's terms.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipeline.progress import StepProgress

if TYPE_CHECKING:  # transformers loads only when a TRL stage runs
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

    from pipeline.configs import DPOConfig, RLConfig


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within chunks of 50 batches, shuffle batches.

    Similar lengths in a batch waste little compute on padding; the chunking keeps batches
    random across the epoch. Determined by (seed, epoch) alone, so a resumed run sees the same.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
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


def trl_settings(config: DPOConfig | RLConfig, out_dir: Path, *, on_cpu: bool) -> dict[str, Any]:
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


def trl_progress_callback(steps: StepProgress) -> TrainerCallback:
    """A TRL/transformers callback that reports a step as trained at its end and as saved once
    the trainer's checkpoint of it is written (``on_save`` runs after the save), so the caller's
    progress never counts a step a resume would train again."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                        **kwargs: object) -> None:
            steps.trained(state.global_step, state.max_steps)

        def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: object) -> None:
            steps.saved(state.global_step)

    return Steps()
