"""The paper's RL: REINFORCE with a learned value baseline and a KL penalty to the SFT policy.

One step, for a batch of training prompts x (similar lengths grouped, each prompt once per
epoch) and k = samples_per_prompt responses y ~ π(·|x) each (k = 2 by default, so every
algorithm sees the same rollouts per step; k = 1 is the textbook one-sample form):

    R_total(x, y) = R(x, y) − β · KL(x, y)
    KL(x, y)      = Σ_t [ log π(y_t | x, y_<t) − log π_SFT(y_t | x, y_<t) ]     (t over generated tokens)
    A             = R_total − V(x)
    policy loss   = − mean_batch( A · Σ_t log π(y_t | x, y_<t) )
    value loss    = mean_batch( (V(x) − R_total)² )

KL estimator: the sum over the sampled tokens of the log-ratio is the single-sample Monte-Carlo
estimate of KL(π(·|x) ‖ π_SFT(·|x)) over whole responses (the "k1" estimator): unbiased, and
negative for some samples. TRL's RLOOTrainer penalises rewards with the same quantity, so the
two are comparable. The penalty enters the reward (it is not differentiated directly);
REINFORCE carries its gradient.

Baseline: V(x) is predicted from the prompt alone (a value model = the SFT body + a scalar head
at the prompt's last token). A baseline that does not depend on the sampled response keeps the
gradient unbiased while removing the prompt's share of the reward's variance; the reward is one
number per sequence, so a per-token baseline would only add estimation noise. The head starts
as the constant "first batch's mean reward" (zero weights, bias = that mean), so early
advantages are centred and the value model learns the prompt-dependent part from there.

The rollouts, the models (policy, SFT reference, value — all from the SFT checkpoint), the
KL-penalised reward and the checkpoints are the loop's (``pipeline.rl.loop``), shared with PPO
(``pipeline.rl.ppo``); this module is REINFORCE's update.

Speed (this loop vs TRL's RLOOTrainer, see bench/rl.py): rollouts decode on the inference
engine's packed forward (``pipeline.generation.decode_prompts``), the LoRA adapters' terms added live
(optionally on bf16 weights: ``rollout_precision``); the policy's log-probs come from the one forward pass that also carries the
gradient (no separate "old log-probs" pass: one update per batch is exactly on-policy), and
that pass and the value model's run their linear layers on oneDNN (``pipeline.onednn_linear``:
2.2-2.5x MKL's float32 rate on AMD CPUs, forward and backward; bench/onednn_linear.py); the
reference log-probs take one no-grad pass on the inference engine's packed float32 forward with
the adapter off (1.16x the plain batched pass, bench/reference_logprobs.py: both are compute-bound); logits are only computed
at response positions; with several samples per prompt, each prompt is run once (generation
prefill, policy and reference passes) and its keys/values shared by its samples; the value
model reads prompts only, once per distinct prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from pipeline.configs import RLConfig
from pipeline.progress import ProgressFn
from pipeline.rl.interface import PolicyResult, RewardFn
from pipeline.rl.loop import Learner, Rollouts, kl_penalised_reward, prompt_batch, response_logprobs, run_rl
from pipeline.runfiles import MetricsFn
from pipeline.steps import Laps, clip_and_step


def reinforce_losses(logp: torch.Tensor, mask: torch.Tensor, total: torch.Tensor, value: torch.Tensor,
                     whiten: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """REINFORCE with a learned baseline.

        A = R_total − V(x)                       (V detached: the baseline is not trained by this loss)
        policy loss = − mean_b( A_b · Σ_t log π(y_bt) )
        value loss  = mean_b( (V(x_b) − R_total_b)² )

    logp, mask: (B, T); total, value: (B,). ``whiten`` standardises A over the batch. Returns
    (policy loss, value loss, A).
    """
    advantage = total - value.detach()
    if whiten and advantage.numel() > 1:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-6)
    policy_loss = -(advantage * (logp * mask).sum(-1)).mean()
    return policy_loss, F.mse_loss(value, total), advantage


def reinforce_update(learner: Learner, batch: Rollouts, step: int, laps: Laps) -> dict[str, float]:
    """One policy-gradient step and one value-regression step on a batch of rollouts; returns its metrics."""
    config, ranks = learner.config, learner.ranks
    # Log-probs of the sampled tokens: the policy's (with gradient: the pass that scores is the one that learns).
    logp = learner.logprobs(batch)
    laps("logprob")
    ref_logp = learner.reference_logprobs(batch)
    laps("reference")
    total, kl = kl_penalised_reward(batch.reward, logp, ref_logp, batch.token_mask, config.beta)

    learner.start_baseline(total, step)
    v = learner.values(batch)  # V(x) from the prompt, once per distinct prompt
    laps("value_forward")

    policy_loss, value_loss, _ = reinforce_losses(logp, batch.token_mask, total, v, config.whiten_advantages)
    (policy_loss + value_loss).backward()  # disjoint parameters: each loss reaches only its own model
    ranks.average_gradients(learner.policy_params + learner.value_params)
    clip_and_step(learner.opt_policy, learner.policy_params, config.grad_clip)
    clip_and_step(learner.opt_value, learner.value_params, config.grad_clip)
    laps("backward")
    return {
        "loss/train": ranks.mean(policy_loss),
        "rl/kl": ranks.mean(kl.mean()),
        "rl/total_reward": ranks.mean(total.mean()),
        "rl/value": ranks.mean(v.mean()),
        "rl/value_loss": ranks.mean(value_loss),
    }


def train_reinforce(
    config: RLConfig,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> PolicyResult:
    """Run REINFORCE-with-baseline from ``config.policy`` on ``prompts`` (contexts); resumable from out_dir."""
    return run_rl(config, prompts, reward_fn, out_dir, algorithm="reinforce", update=reinforce_update,
                  artifact_root=artifact_root, on_progress=on_progress, on_metrics=on_metrics)


__all__ = ["RLConfig", "kl_penalised_reward", "prompt_batch", "reinforce_losses", "reinforce_update", "response_logprobs",
           "train_reinforce"]
