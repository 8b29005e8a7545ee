"""TRL's RLOOTrainer and GRPOTrainer behind our stage interface (same RLConfig, reward_fn, out_dir, result).

Mapping (TRL 1.16 field names, trl/trainer/rloo_config.py and grpo_config.py):

    RLConfig.steps              -> max_steps
    batch_size × samples        -> per_device_train_batch_size (completions per step)
    max(2, samples_per_prompt)  -> num_generations (both need >= 2 completions per prompt)
    max_new_tokens              -> max_completion_length;  min_new_tokens -> generation_kwargs
    temperature, beta, lr, seed -> temperature, beta, learning_rate, seed
    lora                        -> peft_config (the reference is then the adapter-disabled model, as in ours)

Our ``reward_fn(contexts, responses)`` becomes a TRL reward function: the dataset carries the raw
context next to the formatted prompt, and TRL passes extra dataset columns to reward functions
as keyword arguments. TRL's logs are renamed to our keys; TRL's ``kl`` is a per-token mean, so
``rl/kl`` = kl × mean completion length = the mean per-sequence KL, like ours (RLOO's estimator is
the same log-ratio sum as ours; GRPO's is Schulman's k3, applied in the loss, not the reward).
Checkpoints are TRL's (``out_dir/trl/checkpoint-N``); a rerun resumes from the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from pipeline import registry
from pipeline.configs import RLConfig
from pipeline.distributed import Ranks
from pipeline.lora import lora_config, use_lora
from pipeline.progress import ProgressFn, StepProgress
from pipeline.rl.interface import PolicyResult, RewardFn
from pipeline.runfiles import MetricsFn, RunFiles, begin_run, export_causal_lm
from pipeline.steps import trl_progress_callback, trl_settings
from pipeline.tokens import format_prompt

if TYPE_CHECKING:
    from transformers import Trainer as HfTrainer
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


def _reward_adapter(reward_fn: RewardFn) -> Callable[..., list[float]]:
    """Our reward_fn as a TRL reward function, which TRL calls with the dataset's columns by name."""

    def reward(prompts: list[str], completions: list[str], context: list[str], **_: object) -> list[float]:
        return [float(x) for x in reward_fn(list(context), [c.strip() for c in completions])]

    reward.__name__ = "reward"  # TRL logs rewards/<name>/mean
    return reward


@dataclass
class _Throughput:
    """What the callback measures for the result: when each step began, the tokens generated."""

    step_started: dict[int, float] = field(default_factory=dict)
    tokens: float = 0.0


def _callback(files: RunFiles, counter: _Throughput) -> TrainerCallback:
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        """TRL's log dicts -> our namespaced metrics."""

        def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                          **kwargs: object) -> None:
            counter.step_started[state.global_step + 1] = time.perf_counter()

        def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                   logs: dict[str, float] | None = None, **kwargs: object) -> None:
            logs = logs or {}
            if "reward" not in logs and "loss" not in logs:
                return  # the end-of-training summary
            length = logs.get("completions/mean_length", 0.0)
            ours = {
                "loss/train": logs.get("loss"),
                "rl/reward": logs.get("reward"),
                "rl/kl": logs["kl"] * length if "kl" in logs else None,
                "rl/response_length": length,
                "rl/entropy": logs.get("entropy"),
            }
            started = counter.step_started.get(state.global_step)
            if started is not None:
                ours["time/step_seconds"] = time.perf_counter() - started
            counter.tokens += length * args.per_device_train_batch_size
            files.log(state.global_step, {k: v for k, v in ours.items() if v is not None})

    return Bridge()


def train_with_trl(
    algorithm: str,
    config: RLConfig,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
    trainer_overrides: dict | None = None,
) -> PolicyResult:
    """Train with TRL's ``rloo`` or ``grpo`` trainer; ``trainer_overrides`` sets any other TRL config field."""
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint

    # both are used only through transformers' Trainer interface
    TrlConfig: type[TrainingArguments]
    Trainer: Callable[..., HfTrainer]
    if algorithm == "rloo":
        from trl import RLOOConfig as TrlConfig
        from trl import RLOOTrainer as Trainer
    elif algorithm == "grpo":
        from trl import GRPOConfig as TrlConfig
        from trl import GRPOTrainer as Trainer
    else:
        raise ValueError(f"unknown TRL algorithm {algorithm!r}: use 'rloo' or 'grpo'")

    ranks = Ranks.from_env()  # TRL's trainer spreads itself over the processes accelerate started
    out_dir = Path(out_dir)
    files = begin_run(out_dir, config, on_metrics, writer=ranks.main)
    loaded = registry.load_causal_lm(config.policy, artifact_root, device=ranks.device(config.device),
                                     precision=config.precision)
    tokenizer, model = loaded.tokenizer, loaded.model
    on_cpu = loaded.device.type == "cpu"
    generations = max(2, config.samples_per_prompt)

    data = Dataset.from_dict({
        "prompt": [format_prompt(tokenizer, c, config.chat_template) for c in prompts],
        "context": list(prompts),
    })
    generation_kwargs = {"min_new_tokens": config.min_new_tokens} if config.min_new_tokens else None
    settings = trl_settings(config, out_dir, on_cpu=on_cpu) | dict(
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size * generations,
        num_generations=generations,
        max_completion_length=config.max_new_tokens,
        temperature=config.temperature,
        top_k=0,
        beta=config.beta,
        disable_dropout=True,
        generation_kwargs=generation_kwargs,
        warmup_steps=0,
        optim="adamw_torch",
        weight_decay=0.0,
        dataloader_num_workers=0,
    )
    settings.update(trainer_overrides or {})
    peft_config = lora_config(config.lora_settings(), causal_lm=True) if use_lora(config.lora, loaded.device) else None

    last = get_last_checkpoint(str(out_dir / "trl")) if (out_dir / "trl").is_dir() else None
    start = int(Path(last).name.split("-")[-1]) if last else 0
    steps = StepProgress(on_progress if ranks.main else None, config.steps, saved=start)
    counter = _Throughput()
    trainer = Trainer(
        model=model,
        reward_funcs=_reward_adapter(reward_fn),
        args=TrlConfig(**settings),
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[_callback(files, counter), trl_progress_callback(steps)],
    )
    files.resume_at(start)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    elapsed = time.perf_counter() - started
    steps.phase("exporting", 0, 1)
    trained = cast(torch.nn.Module, trainer.model)  # the trainer holds the model it was given
    model_path = ranks.main_then_wait(lambda: export_causal_lm(trained, tokenizer, out_dir / "final"))
    steps.phase("exporting", 1, 1)
    result = PolicyResult(out_dir, model_path or out_dir / "final", int(trainer.state.global_step), start, algorithm,
                          dict(files.last), counter.tokens / elapsed if elapsed > 0 else 0.0)
    files.write_result(result.to_dict())
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result
