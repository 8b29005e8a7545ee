"""The RL config shared by every algorithm (our REINFORCE loop, TRL's RLOO and GRPO), and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.training_utils import ConfigMixin, LoraSettings

ALGORITHMS = ("reinforce", "rloo", "grpo")

RewardFn = Callable[[list[str], list[str]], list[float]]
"""reward_fn(contexts, responses) -> one float per response (an RM's score or a direct 1-10 score in [-1, 1])."""


@dataclass
class RLConfig(ConfigMixin):
    """Every knob of a policy RL run (saved with the run as config.json)."""

    policy: str = "smollm2-135m-instruct"  # the SFT policy (spec or checkpoint dir): initialises policy, value and KL reference
    steps: int = 8  # optimizer steps (one batch of fresh rollouts each)
    batch_size: int = 4  # prompts per step (rollouts per step = batch_size × samples_per_prompt)
    samples_per_prompt: int = 2  # responses per prompt (RLOO/GRPO need >= 2; ours runs each prompt once for all)
    max_new_tokens: int = 48  # cap on a rollout's length in tokens
    min_new_tokens: int = 0  # EOS is forbidden before this many tokens (benchmarks use it to equalise lengths)
    temperature: float = 1.0  # sampling temperature of rollouts (log-probs are taken at the same temperature)
    beta: float = 0.05  # KL penalty strength: reward = R(x, y) - beta * KL(pi || pi_SFT)
    lr: float = 1e-4  # policy learning rate (1e-4 suits LoRA; use ~1e-6..1e-5 for full fine-tuning)
    value_lr: float = 1e-4  # value-model body learning rate
    value_head_lr: float = 1e-3  # value head learning rate
    lora: bool | None = None  # LoRA (True), full fine-tuning (False), or auto: LoRA on CPU (None)
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator
    lora_targets: str = "all-linear"  # peft target modules
    grad_clip: float = 1.0  # max gradient norm (0 = no clipping)
    whiten_advantages: bool = False  # normalise advantages per batch (off: the paper's plain baseline)
    group_by_length: bool = True  # batch prompts of similar length together (less padding; each still once per epoch)
    max_prompt_tokens: int = 256  # prompts longer than this are cut from the left
    chat_template: bool = True  # format contexts with the tokenizer's chat template
    seed: int = 0  # seeds LoRA init, prompt order and rollout sampling (per step, so resumes are exact)
    checkpoint_every: int = 4  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # checkpoints kept on disk
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", ...
    precision: str = "exact"  # "exact" = float32, "fast" = bfloat16 weights

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(r=self.lora_r, alpha=self.lora_alpha, targets=self.lora_targets)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.samples_per_prompt < 1 or self.max_new_tokens < 1:
            raise ValueError("RLConfig needs steps >= 0, batch_size >= 1, samples_per_prompt >= 1, max_new_tokens >= 1")
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError("min_new_tokens cannot exceed max_new_tokens")


@dataclass
class PolicyResult:
    """What a policy-training run (RL, DPO or SFT) produced."""

    out_dir: Path
    model_path: Path  # a plain transformers checkpoint (LoRA merged): registry.load_causal_lm(str(model_path), ...)
    steps: int  # optimizer steps in total (across restarts)
    resumed_from: int  # step the run continued from (0 = fresh)
    algorithm: str
    metrics: dict[str, float] = field(default_factory=dict)  # last logged values
    tokens_per_second: float = 0.0  # generated tokens per second of this call (RL only)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "model_path": str(self.model_path), "steps": self.steps,
                "resumed_from": self.resumed_from, "algorithm": self.algorithm, "metrics": self.metrics,
                "tokens_per_second": self.tokens_per_second}
