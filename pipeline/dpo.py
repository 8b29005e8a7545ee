"""DPO: optimise the policy directly on preference pairs against the frozen SFT reference (TRL's DPOTrainer).

    examples = build_examples(pairs, "ai")                # soft AI labels p = P(candidate 1 preferred)
    result = train_dpo(DPOConfig(policy=sft_path), examples, out_dir, artifact_root=...)

Loss (TRL's "sigmoid" DPO): −log σ(β·[(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))]).
Hard labels (every p is 0 or 1, or ``soft_labels=False``): each example's preferred candidate
(p > 0.5) is "chosen"; p = 0.5 is skipped. Soft labels (some 0 < p < 1 and ``soft_labels``, the
default): the soft-label loss of ``pipeline.soft_dpo``, −(p·log σ(β·Δ) + (1 − p)·log σ(−β·Δ)),
which is the sigmoid loss at p ∈ {0, 1} and keeps how sure the labeler was otherwise.
With LoRA the reference is the adapter-disabled policy (TRL does this when it gets a peft_config);
with full fine-tuning TRL builds a frozen copy from the same checkpoint.
Checkpoints are TRL's (out_dir/trl/checkpoint-N); a rerun resumes from the last one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pipeline import registry
from pipeline.configs import DPOConfig
from pipeline.distributed import Ranks
from pipeline.heap import keep_freed_memory
from pipeline.lora import lora_config, use_lora
from pipeline.progress import ProgressFn, StepProgress
from pipeline.reward.data import PreferenceExample
from pipeline.rl.interface import PolicyResult
from pipeline.runfiles import MetricsFn, begin_run, export_causal_lm
from pipeline.soft_dpo import soft_dpo_trainer
from pipeline.steps import trl_progress_callback, trl_settings
from pipeline.tokens import format_prompt

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, TrainerControl, TrainerState, TrainingArguments


def dpo_rows(tokenizer: PreTrainedTokenizerBase, examples: Sequence[PreferenceExample], chat_template: bool = True,
             soft: bool = False) -> dict[str, list[Any]]:
    """prompt / chosen / rejected columns; the candidate with p > 0.5 is "chosen".

    Hard (``soft=False``): p = 0.5 is skipped. Soft: every example is kept, with a "p" column
    = P(chosen ≻ rejected) = max(p, 1 − p), for ``pipeline.soft_dpo``.
    """
    rows: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": [], **({"p": []} if soft else {})}
    for e in examples:
        if e.p == 0.5 and not soft:
            continue
        chosen, rejected = (e.candidate_1, e.candidate_2) if e.p >= 0.5 else (e.candidate_2, e.candidate_1)
        rows["prompt"].append(format_prompt(tokenizer, e.context, chat_template))
        rows["chosen"].append(chosen)
        rows["rejected"].append(rejected)
        if soft:
            rows["p"].append(max(e.p, 1.0 - e.p))
    return rows


def check_prompts_fit(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], max_length: int | None) -> None:
    """Refuse a ``max_length`` that leaves no room for any response: TRL would then train on nothing
    (``num_samples=0``) without saying why."""
    if max_length is None:
        return
    lengths = sorted(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    if lengths[0] >= max_length:
        raise ValueError(
            f"dpo.max_length is {max_length} tokens, but every prompt is at least that long (shortest {lengths[0]}, "
            f"typical {lengths[len(lengths) // 2]}, longest {lengths[-1]} tokens), so no response would fit: "
            f"set dpo.max_length above {lengths[-1]} plus the responses' length"
        )


@keep_freed_memory()
def train_dpo(
    config: DPOConfig,
    examples: Sequence[PreferenceExample],
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
    trainer_overrides: dict | None = None,
) -> PolicyResult:
    """Train a policy with DPO on ``examples`` (soft-label loss when labels are soft and ``config.soft_labels``);
    ``trainer_overrides`` sets other TRL fields."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import DPOConfig as TrlDPOConfig
    from trl import DPOTrainer

    ranks = Ranks.from_env()  # TRL's trainer spreads itself over the processes accelerate started
    out_dir = Path(out_dir)
    files = begin_run(out_dir, config, on_metrics, writer=ranks.main)
    loaded = registry.load_causal_lm(config.policy, artifact_root, device=ranks.device(config.device),
                                     precision=config.precision)
    tokenizer, model = loaded.tokenizer, loaded.model
    soft = config.soft_labels and any(0.0 < e.p < 1.0 for e in examples)  # all 0/1: the sigmoid loss is the same
    rows = dpo_rows(tokenizer, examples, config.chat_template, soft=soft)
    if not rows["prompt"]:
        raise ValueError("no decided preference pairs for DPO (all labels were 0.5 or none were given)")
    check_prompts_fit(tokenizer, rows["prompt"], config.max_length)
    on_cpu = loaded.device.type == "cpu"

    peft_config = lora_config(config.lora_settings(), causal_lm=True) if use_lora(config.lora, loaded.device) else None

    settings = trl_settings(config, out_dir, on_cpu=on_cpu) | dict(
        beta=config.beta,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        per_device_train_batch_size=config.batch_size,
        max_length=config.max_length,
        dataloader_num_workers=0,
    )
    settings.update(trainer_overrides or {})
    last = get_last_checkpoint(str(out_dir / "trl")) if (out_dir / "trl").is_dir() else None
    start = int(Path(last).name.split("-")[-1]) if last else 0
    steps = StepProgress(on_progress if ranks.main else None, 0, saved=start)

    class Bridge(TrainerCallback):
        def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                   logs: dict[str, float] | None = None, **kwargs: object) -> None:
            logs = logs or {}
            if "loss" not in logs:
                return
            files.log(state.global_step, {
                "loss/train": logs["loss"],
                "reward/accuracy": logs.get("rewards/accuracies"),
                "reward/margin": logs.get("rewards/margins"),
            })

    trainer = (soft_dpo_trainer if soft else DPOTrainer)(
        model=model,
        args=TrlDPOConfig(**settings),
        train_dataset=Dataset.from_dict(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[Bridge(), trl_progress_callback(steps)],
    )
    files.resume_at(start)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    steps.phase("exporting", 0, 1)
    model_path = ranks.main_then_wait(lambda: export_causal_lm(cast("torch.nn.Module", trainer.model), tokenizer, out_dir / "final"))
    steps.phase("exporting", 1, 1)
    result = PolicyResult(out_dir, model_path or out_dir / "final", int(trainer.state.global_step), start, "dpo",
                          dict(files.last))
    files.write_result({**result.to_dict(), "seconds": time.perf_counter() - started})
    return result
