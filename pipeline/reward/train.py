"""Training a reward model on preference examples (soft AI labels, hard human labels, or a mix).

    result = train_reward_model(RewardConfig(model="smollm2-135m-instruct"), examples, out_dir,
                                artifact_root=..., eval_pairs=held_out_human_pairs)
    result.model_path   # a directory RewardModel.from_pretrained reads

One step = one batch of pairs: score both candidates (the shared context runs once), take the
soft preference loss, step AdamW. Checkpoints every ``checkpoint_every`` steps; calling again
with the same ``out_dir`` continues from the last checkpoint (same batches, same RNG).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from pipeline.checkpoints import Checkpointer, seed_everything
from pipeline.configs import RewardConfig
from pipeline.distributed import Ranks
from pipeline.heap import keep_freed_memory
from pipeline.lora import add_lora, train_only_top_layers, use_lora
from pipeline.progress import ProgressFn, StepProgress
from pipeline.reward.data import PreferenceExample, PreferencePair
from pipeline.reward.evaluate import AccuracyResult, pairwise_accuracy
from pipeline.reward.losses import soft_preference_loss
from pipeline.reward.model import RewardModel
from pipeline.runfiles import MetricsFn, RunFiles
from pipeline.steps import clip_and_step, length_grouped_batches


@dataclass
class RewardResult:
    """What a reward-model run produced."""

    out_dir: Path
    model_path: Path  # out_dir/final: RewardModel.from_pretrained(model_path, ...)
    steps: int  # optimizer steps taken in total (across restarts)
    resumed_from: int  # step the run continued from (0 = fresh)
    metrics: dict[str, float] = field(default_factory=dict)  # last logged values
    accuracy: AccuracyResult | None = None  # on the held-out pairs, when given
    pairs_per_second: float = 0.0  # training throughput of this call
    model: RewardModel | None = None  # the trained model, still in memory

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "model_path": str(self.model_path), "steps": self.steps,
            "resumed_from": self.resumed_from, "metrics": self.metrics, "pairs_per_second": self.pairs_per_second,
            "accuracy": self.accuracy.to_dict() if self.accuracy else None,
        }


def build_reward_model(config: RewardConfig, artifact_root: str | Path) -> RewardModel:
    """The base body + fresh head, LoRA-wrapped when configured, in train mode."""
    seed_everything(config.seed)
    rm = RewardModel.from_pretrained(config.model, artifact_root, device=config.device, precision=config.precision,
                                     max_length=config.max_length, chat_template=config.chat_template)
    if config.train_top_layers:
        train_only_top_layers(rm.body, config.train_top_layers)
    elif use_lora(config.lora, rm.device):
        rm.body = add_lora(rm.body, config.lora_settings(), causal_lm=False)
    return rm.train()


def _scores_and_backward(rm: RewardModel, encoded: list, labels: torch.Tensor, batch: list[int],
                         config: RewardConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The step's loss over ``batch`` (the mean over its pairs), its gradient accumulated in
    micro-batches of ``config.micro_batch_size`` pairs: activations are held for one micro-batch
    at a time (a batch of 8 long HH pairs held ~20 GB at once), and each part's loss is weighted
    by its share of the batch, so the gradient is the whole batch's. Returns detached scores
    (r1, r2), the labels p and the loss."""
    size = config.micro_batch_size or len(batch)
    parts = []
    for start in range(0, len(batch), size):
        part = batch[start : start + size]
        r1, r2 = rm.pair_scores([encoded[i] for i in part], config.share_prefix)
        p = labels[part].to(r1.device)
        loss = soft_preference_loss(r1, r2, p) * (len(part) / len(batch))
        loss.backward()
        parts.append((r1.detach(), r2.detach(), p, loss.detach()))
    r1, r2, p = (torch.cat([part[k] for part in parts]) for k in range(3))
    return r1, r2, p, torch.stack([part[3] for part in parts]).sum()


@keep_freed_memory()
def train_reward_model(
    config: RewardConfig,
    examples: Sequence[PreferenceExample],
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    eval_pairs: Sequence[PreferencePair] | None = None,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> RewardResult:
    """Train an RM on ``examples`` (label p = P(candidate 1 preferred)); resumes from out_dir's last checkpoint.

    ``eval_pairs`` (human-labelled, held out) are scored at the end: ``reward/accuracy`` with a
    95% Wilson interval. Metrics per step: ``loss/train``, ``reward/train_accuracy`` (share of
    examples whose higher-scored candidate is the label's favourite; p = 0.5 counts as neither),
    ``reward/margin``.
    """
    if not examples:
        raise ValueError("no training examples: the label source gave no labelled pairs")
    ranks = Ranks.from_env()  # several processes under accelerate launch / torchrun, else one
    out_dir = Path(out_dir)
    files = RunFiles(out_dir, on_metrics, writer=ranks.main)
    files.write_config(config)
    rm = build_reward_model(replace(config, device=ranks.device(config.device)), artifact_root)

    body_params = [p for p in rm.body.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": body_params, "lr": config.lr}, {"params": rm.head.parameters(), "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )
    checkpoints = Checkpointer(out_dir, config.keep_checkpoints)
    start_step, _ = checkpoints.restore({"rm": rm}, {"adamw": optimizer})
    files.resume_at(start_step)

    encoded = [rm.encode_pair(e.context, e.candidate_1, e.candidate_2) for e in examples]
    labels = torch.tensor([e.p for e in examples], dtype=torch.float32)
    lengths = [len(a) + max(len(b), len(c)) for a, b, c in encoded]
    steps_per_epoch = -(-len(examples) // config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    steps = StepProgress(on_progress if ranks.main else None, total, saved=start_step)

    def save(step: int) -> None:
        ranks.main_then_wait(lambda: checkpoints.save(step, {"rm": rm}, {"adamw": optimizer}))
        steps.saved(step)

    step, started, pairs_seen = start_step, time.perf_counter(), 0
    params = body_params + list(rm.head.parameters())
    while step < total:
        step_started = time.perf_counter()
        epoch, index = divmod(step, steps_per_epoch)
        whole = length_grouped_batches(lengths, config.batch_size, config.seed, epoch)[index]
        batch = ranks.shard(whole)
        r1, r2, p, loss = _scores_and_backward(rm, encoded, labels, batch, config)
        ranks.average_gradients(params)
        clip_and_step(optimizer, params, config.grad_clip)
        step += 1
        pairs_seen += len(whole)
        with torch.no_grad():
            decided = p != 0.5
            agree = ((r1 > r2) == (p > 0.5)) & decided
            train_accuracy = agree.sum().item() / max(1, int(decided.sum()))
        files.log(step, {"loss/train": ranks.mean(loss), "reward/train_accuracy": ranks.mean(train_accuracy),
                         "reward/margin": ranks.mean((r1 - r2).abs().mean()), "epoch": epoch,
                         "time/step_seconds": time.perf_counter() - step_started})
        steps.trained(step)
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
            save(step)
    elapsed = time.perf_counter() - started
    if step > start_step:
        save(step)

    def evaluate_and_save() -> tuple[AccuracyResult | None, Path]:
        accuracy: AccuracyResult | None = None
        if eval_pairs:
            accuracy = pairwise_accuracy(rm, eval_pairs, batch_size=config.eval_batch_size,
                                         share_prefix=config.share_prefix, on_progress=steps.counter("evaluating"))
            files.log(step, {"reward/accuracy": accuracy.accuracy, "reward/accuracy_low": accuracy.ci_low,
                             "reward/accuracy_high": accuracy.ci_high})
        steps.phase("exporting", 0, 1)
        model_path = rm.save(out_dir / "final", extra={"base": config.model, "steps": step})
        steps.phase("exporting", 1, 1)
        return accuracy, model_path

    accuracy, model_path = ranks.main_then_wait(evaluate_and_save) or (None, out_dir / "final")
    result = RewardResult(out_dir, model_path, step, start_step, dict(files.last), accuracy,
                          pairs_seen / elapsed if elapsed > 0 else 0.0, rm.eval())
    files.write_result(result.to_dict())
    return result
