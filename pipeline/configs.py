"""Every stage's config: the knobs of a run, saved with it as config.json and read back unchanged.

Plain dataclasses without torch, so the web side can build, validate and store a config (and
check a ``--set stage.field=value`` override against the field names) without loading any
model code. The trainers import their config from here.

    labeling  LabelingConfig    an AI labeler turning a pair into a soft preference
    reward    RewardConfig      a reward model trained on preference examples
    sft       SFTConfig         supervised fine-tuning on reference outputs
    rl        RLConfig          policy RL: our REINFORCE and PPO loops, TRL's RLOO and GRPO
    dpo       DPOConfig         DPO on preference pairs (soft-label loss on soft AI labels)
    sampling  GenerationConfig  policy samples for raters

The LoRA knobs are declared once (``LoraFields``) and inherited, so every config stays flat:
``rl.lora_r=8`` sets a field of ``RLConfig`` itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, cast

from pipeline.inference import DECODE_PRECISIONS, PRECISIONS  # light: the package imports no torch

LABELING_TASKS = ("summarization", "helpful", "harmless")
LABELING_PREAMBLES = ("base", "detailed")
# Older names of a labeler precision, still accepted (stored configs, command lines) and stored as
# the new name: "fast" was bf16-mlp before it said what it computes.
PRECISION_ALIASES = {"fast": "bf16-mlp"}

if TYPE_CHECKING:
    from _typeshed import DataclassInstance  # every config is a dataclass


class ConfigMixin:
    """to_dict / from_dict / replace for the configs, so a run can store its config as JSON."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(cast("DataclassInstance", self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of to_dict; unknown keys are refused, naming them."""
        known = {f.name for f in dataclasses.fields(cast("type[DataclassInstance]", cls))}
        unknown = sorted(set(data) - known)
        if unknown:  # usually a typo; silently dropping it would run something else
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> Self:
        return cast(Self, dataclasses.replace(cast("DataclassInstance", self), **changes))


@dataclass
class LoraSettings(ConfigMixin):
    """The LoRA knobs every stage shares, as ``pipeline.lora`` reads them."""

    r: int = 16  # rank of the low-rank update
    alpha: int = 32  # scaling numerator: the update is scaled by alpha / r
    dropout: float = 0.0  # dropout on the LoRA input (0 keeps train and eval forward passes identical)
    targets: str = "all-linear"  # peft target_modules: "all-linear" or a comma-separated list of module names


@dataclass
class LoraFields:
    """The LoRA fields of every trainer's config, declared once."""

    lora: bool | None = None  # LoRA adapters (True), full fine-tuning (False), or auto: LoRA on CPU (None)
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator (update scaled by alpha / r)
    lora_targets: str = "all-linear"  # peft target modules: "all-linear" or comma-separated module names

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(r=self.lora_r, alpha=self.lora_alpha, targets=self.lora_targets)


@dataclass(frozen=True)
class LabelingConfig(ConfigMixin):
    """How an AI labeler turns (context, candidate 1, candidate 2) into a soft preference."""

    task: str = "harmless"  # "summarization" | "helpful" | "harmless": picks preamble, exemplars, ending
    preamble: str = "base"  # "base" (which one is better?) or "detailed" (annotator-style criteria)
    shots: int = 0  # number of few-shot exemplars placed before the sample (0 = zero-shot)
    cot: bool = False  # two-step chain of thought: decode a rationale, then score with it in the prompt
    self_consistency: int = 1  # rationales sampled per order and averaged (1 = off, greedy rationale)
    temperature: float = 1.0  # sampling temperature of self-consistency rationales (unused when greedy)
    swap: bool = True  # score both candidate orders and average, to cancel position bias
    precision: str = "exact"  # "exact" = float32, same numbers as the plain way; "bf16-mlp" = bfloat16 MLP matmuls
    batch_size: int = 8  # pairs per forward batch (length-sorted); rows in a batch = pairs x orders x samples
    max_rationale_tokens: int = 64  # cap on the tokens decoded for one rationale
    seed: int = 0  # seeds rationale sampling (per pair, so results do not depend on batching)
    max_context_tokens: int | None = 1024  # contexts longer than this are cut from the left; candidates stay whole
    exemplar_set: str = "default"  # name of the exemplar set of the task that few-shot exemplars come from
    calibrate: bool = False  # contextual calibration: divide out the answer prior read on content-free samples

    def __post_init__(self) -> None:
        if self.precision in PRECISION_ALIASES:
            object.__setattr__(self, "precision", PRECISION_ALIASES[self.precision])
        problems = []
        if self.task not in LABELING_TASKS:
            problems.append(f"task must be one of {LABELING_TASKS}, got {self.task!r}")
        if self.preamble not in LABELING_PREAMBLES:
            problems.append(f"preamble must be one of {LABELING_PREAMBLES}, got {self.preamble!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.shots < 0:
            problems.append(f"shots must be >= 0, got {self.shots}")
        if self.self_consistency < 1:
            problems.append(f"self_consistency must be >= 1, got {self.self_consistency}")
        if self.self_consistency > 1 and not self.cot:
            problems.append("self_consistency > 1 samples rationales, so it needs cot=True")
        if self.self_consistency > 1 and not self.temperature > 0:
            problems.append(f"self_consistency > 1 needs temperature > 0, got {self.temperature}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_rationale_tokens < 1:
            problems.append(f"max_rationale_tokens must be >= 1, got {self.max_rationale_tokens}")
        if self.max_context_tokens is not None and self.max_context_tokens < 1:
            problems.append(f"max_context_tokens must be >= 1 or None, got {self.max_context_tokens}")
        if problems:
            raise ValueError("invalid LabelingConfig: " + "; ".join(problems))

    @property
    def orders(self) -> int:
        """How many candidate orders each pair is scored in (2 with swap, else 1)."""
        return 2 if self.swap else 1


@dataclass
class RewardConfig(LoraFields, ConfigMixin):
    """Every knob of a reward-model training run."""

    model: str = "smollm2-135m-instruct"  # base: a registry spec or checkpoint directory (the SFT policy or the labeler)
    train_top_layers: int = 0  # >0: no LoRA; fine-tune only the top K blocks + final norm + head (cheap on CPU)
    lr: float = 1e-4  # learning rate of the body (1e-4 suits LoRA; use ~1e-5 for full fine-tuning)
    head_lr: float = 1e-3  # learning rate of the new scalar head
    weight_decay: float = 0.0  # AdamW weight decay
    epochs: int = 1  # passes over the training examples
    max_steps: int | None = None  # stop after this many steps in total (None: epochs decide)
    batch_size: int = 8  # preference pairs per step
    micro_batch_size: int | None = None  # pairs per forward/backward within a step (None: all): the same step, memory ~ this
    max_length: int = 512  # tokens of prompt + candidate; prompts are cut from the left to fit
    grad_clip: float = 1.0  # max gradient norm (0 = no clipping)
    share_prefix: bool = True  # run each pair's shared context once (off: concatenate, for odd architectures)
    seed: int = 0  # seeds the head, the batch order and LoRA init
    checkpoint_every: int = 50  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    eval_batch_size: int = 16  # pairs per batch when scoring held-out pairs
    chat_template: bool = True  # format contexts with the tokenizer's chat template
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", "cuda:1"...
    precision: str = "exact"  # "exact" = float32, "fast" = bfloat16 weights
    curve_sizes: tuple[int, ...] = ()  # Figure 5: train on nested subsets of these sizes, accuracy at each (empty: one model on all)

    def __post_init__(self) -> None:
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"RewardConfig micro_batch_size must be >= 1 (or None for the whole batch), got {self.micro_batch_size}")


@dataclass
class SFTConfig(LoraFields, ConfigMixin):
    """Every knob of a supervised fine-tuning run."""

    model: str = "smollm2-135m-instruct"  # the base model (spec or checkpoint dir)
    lr: float = 1e-4  # learning rate (1e-4 suits LoRA; ~1e-5 for full fine-tuning)
    epochs: int = 1  # passes over the examples
    max_steps: int | None = None  # stop after this many steps in total (None: epochs decide)
    batch_size: int = 8  # examples per step
    max_length: int = 512  # prompt + reference tokens; the prompt is cut from the left, the reference to half
    grad_clip: float = 1.0  # max gradient norm (0 = none)
    seed: int = 0  # seeds batch order and LoRA init
    checkpoint_every: int = 50  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    chat_template: bool = True  # format contexts with the tokenizer's chat template
    device: str = "auto"  # "auto", "cpu", "cuda", ...
    precision: str = "exact"  # "exact" = float32, "fast" = bfloat16 weights


@dataclass
class RLConfig(LoraFields, ConfigMixin):
    """Every knob of a policy RL run, whichever algorithm (ours: REINFORCE, PPO; TRL: RLOO, GRPO) runs it."""

    policy: str = "smollm2-135m-instruct"  # the SFT policy (spec or checkpoint dir): initialises policy, value and KL reference
    steps: int = 8  # optimizer steps (one batch of fresh rollouts each)
    batch_size: int = 4  # prompts per step (rollouts per step = batch_size × samples_per_prompt)
    samples_per_prompt: int = 2  # responses per prompt (RLOO/GRPO need >= 2; ours runs each prompt once for all)
    max_new_tokens: int = 48  # cap on a rollout's length in tokens
    min_new_tokens: int = 0  # EOS is forbidden before this many tokens (benchmarks use it to equalise lengths)
    temperature: float = 1.0  # sampling temperature of rollouts (log-probs are taken at the same temperature)
    rollout_precision: str = "exact"  # how rollouts are decoded: "exact" = float32; "bf16" = bfloat16 matmuls and KV cache (faster; the loss's log-probs stay float32)
    beta: float = 0.05  # KL penalty strength: reward = R(x, y) - beta * KL(pi || pi_SFT)
    lr: float = 1e-4  # policy learning rate (1e-4 suits LoRA; use ~1e-6..1e-5 for full fine-tuning)
    value_lr: float = 1e-4  # value-model body learning rate
    value_head_lr: float = 1e-3  # value head learning rate
    grad_clip: float = 1.0  # max gradient norm (0 = no clipping)
    whiten_advantages: bool = False  # normalise advantages per batch (off: the paper's plain baseline)
    ppo_epochs: int = 2  # PPO only: passes over each batch of rollouts, each in shuffled minibatches of one optimizer step
    ppo_minibatch_size: int = 2  # PPO only: most prompts per minibatch (each with all its rollouts); a batch splits into near-equal ones
    ppo_clip: float = 0.2  # PPO only: epsilon of the clipped probability ratio clip(pi / pi_old, 1 - eps, 1 + eps)
    ppo_value_clip: float = 0.2  # PPO only: V(x) may move this far from its rollout-time value before its loss is clipped (0 = off)
    group_by_length: bool = True  # batch prompts of similar length together (less padding; each still once per epoch)
    max_prompt_tokens: int = 256  # prompts longer than this are cut from the left
    chat_template: bool = True  # format contexts with the tokenizer's chat template
    seed: int = 0  # seeds LoRA init, prompt order and rollout sampling (per step, so resumes are exact)
    checkpoint_every: int = 4  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", ...
    precision: str = "exact"  # "exact" = float32, "fast" = bfloat16 weights

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.samples_per_prompt < 1 or self.max_new_tokens < 1:
            raise ValueError("RLConfig needs steps >= 0, batch_size >= 1, samples_per_prompt >= 1, max_new_tokens >= 1")
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError("min_new_tokens cannot exceed max_new_tokens")
        if self.ppo_epochs < 1 or self.ppo_minibatch_size < 1 or not self.ppo_clip > 0 or self.ppo_value_clip < 0:
            raise ValueError("RLConfig needs ppo_epochs >= 1, ppo_minibatch_size >= 1, ppo_clip > 0, ppo_value_clip >= 0")
        if self.rollout_precision not in DECODE_PRECISIONS:
            raise ValueError(f"RLConfig rollout_precision must be one of {DECODE_PRECISIONS}, got {self.rollout_precision!r}")


@dataclass
class DPOConfig(LoraFields, ConfigMixin):
    """Every knob of a DPO run."""

    policy: str = "smollm2-135m-instruct"  # the SFT policy (spec or checkpoint dir): start point and frozen reference
    beta: float = 0.1  # strength of the pull towards the reference (higher = stay closer)
    soft_labels: bool = True  # soft AI labels train with the soft-label loss -(p log s(bD) + (1-p) log s(-bD)); False: argmax, ties dropped
    lr: float = 5e-5  # learning rate (LoRA; use ~5e-7..5e-6 for full fine-tuning)
    epochs: int = 1  # passes over the pairs
    max_steps: int | None = None  # stop after this many steps (None: epochs decide)
    batch_size: int = 4  # pairs per step
    max_length: int = 512  # prompt + response tokens (TRL truncates the end beyond this)
    grad_clip: float = 1.0  # max gradient norm
    seed: int = 0  # seeds data order and LoRA init
    checkpoint_every: int = 50  # steps between checkpoints (0 = none)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    chat_template: bool = True  # format contexts with the tokenizer's chat template
    device: str = "auto"  # "auto", "cpu", "cuda", ...
    precision: str = "exact"  # "exact" = float32; "fast" = bf16 mixed precision on CUDA


@dataclass
class GenerationConfig(ConfigMixin):
    """How policy samples for raters are generated."""

    max_new_tokens: int = 128  # cap on a response's length in tokens
    temperature: float = 0.7  # sampling temperature (0 = greedy)
    seed: int = 0  # with the prompt text, fixes each response (independent of batching and order)
    batch_size: int = 8  # prompts decoded together (left-padded, length-sorted)
    max_prompt_tokens: int = 768  # prompts longer than this are cut from the left
    chat_template: bool = True  # apply the tokenizer's chat template (False: prompts are already formatted)

