"""PPO in our own loop: REINFORCE's rollouts, value model and KL-to-SFT reward, with a clipped update.

One step, for the same batch of prompts x and k rollouts y ~ π_old(·|x) each that REINFORCE
would see at that step (``pipeline.rl.loop``), and the same penalised reward
R_total = R − β·Σ_t (log π_old(y_t) − log π_SFT(y_t)):

    A      = R_total − V_old(x)                                   one advantage per sequence
    r_bt   = π(y_bt | x_b, y_b<t) / π_old(y_bt | x_b, y_b<t)      per generated token
    policy loss = − mean_b Σ_t min(r_bt · A_b, clip(r_bt, 1 − ε, 1 + ε) · A_b)
    value loss  = mean_b max((V(x_b) − R_b)², (V_old(x_b) + clip(V(x_b) − V_old(x_b), −c, c) − R_b)²)

minimised for ``ppo_epochs`` passes over the batch, each in shuffled minibatches of at most
``ppo_minibatch_size`` prompts (ceil(batch_size / ppo_minibatch_size) near-equal ones, each
prompt with all its k rollouts, so a prompt still runs once per pass), one optimizer step per
minibatch. Under data parallelism every process makes the same number of steps, sized by the
largest share of a step's prompts. π_old, V_old and A are fixed when the rollouts are
taken; the shuffle is seeded by (seed, step), so a resumed run repeats the unbroken one.

Advantage: per sequence, A = R_total − V(x), not GAE over tokens. The reward is one number per
response and our value model reads the prompt only (REINFORCE's baseline, shared on purpose);
with γ = 1 and the whole reward at the last token, GAE's per-token advantage with λ = 1 is
R − V(s_t), which with a prompt-only V is exactly this. Smaller λ would need a per-token value
model (a value of every prefix: a forward pass over prompt + response per update, and a critic
that must learn from one scalar per sequence) and would trade the bias of that critic for less
variance; with short responses and a sequence-level reward that trade is poor, and it would
make PPO and REINFORCE differ in two things instead of one. Hence no ``gae_lambda`` knob.

Loss scale: the surrogate is summed over a response's tokens and averaged over responses, like
REINFORCE's loss, so at r = 1 (the first minibatch of a step) its gradient is REINFORCE's
exactly and the same learning rates apply. Tokens of a clipped ratio (in the direction that
would move π further) carry no gradient; ``rl/clipfrac`` is their share of generated tokens and
``rl/approx_kl`` the mean over generated tokens of (r − 1) − log r, an always ≥ 0 estimate of
KL(π_old ‖ π) per token (Schulman's "k3"), both averaged over a step's minibatches.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import torch

from pipeline.configs import RLConfig
from pipeline.progress import ProgressFn
from pipeline.rl.interface import PolicyResult, RewardFn
from pipeline.rl.loop import Learner, Rollouts, kl_penalised_reward, run_rl
from pipeline.runfiles import MetricsFn
from pipeline.steps import Laps, clip_and_step


def ppo_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantage: torch.Tensor, mask: torch.Tensor,
                    clip: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate, one advantage per sequence.

        r_bt = exp(logp_bt − old_logp_bt)
        loss = − mean_b Σ_t mask_bt · min(r_bt · A_b, clip(r_bt, 1 − ε, 1 + ε) · A_b)

    logp: (B, T) the current policy's per-token log-probs (with gradient); old_logp: (B, T) the
    rollout policy's (no gradient); advantage: (B,); mask: (B, T) 1 for generated tokens.
    Returns (loss, clipfrac, approx_kl): clipfrac = share of generated tokens where the clipped
    term is the smaller one (no gradient there), approx_kl = their mean of (r − 1) − log r.
    """
    log_ratio = logp - old_logp.detach()
    ratio = torch.exp(log_ratio)
    a = advantage.detach().unsqueeze(-1)
    unclipped, clipped = ratio * a, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * a
    loss = -(torch.minimum(unclipped, clipped) * mask).sum(-1).mean()
    with torch.no_grad():
        tokens = mask.sum().clamp(min=1)
        clipfrac = ((clipped < unclipped).float() * mask).sum() / tokens
        approx_kl = (((ratio - 1) - log_ratio) * mask).sum() / tokens
    return loss, clipfrac, approx_kl


def ppo_value_loss(value: torch.Tensor, old_value: torch.Tensor, total: torch.Tensor, clip: float) -> torch.Tensor:
    """The value regression, optionally clipped around the rollout-time value.

        V_clip = V_old + clip(V − V_old, −c, c)
        loss   = mean_b max((V_b − R_b)², (V_clip_b − R_b)²)          (c = 0: mean_b (V_b − R_b)²)

    value: (B,) V(x) now (with gradient); old_value: (B,) V(x) when the rollouts were taken;
    total: (B,) R_total, the regression target. The max keeps a value that already moved more
    than c towards the target from being pushed further by this batch.
    """
    loss = (value - total) ** 2
    if clip > 0:
        moved = old_value.detach() + torch.clamp(value - old_value.detach(), -clip, clip)
        loss = torch.maximum(loss, (moved - total) ** 2)
    return loss.mean()


def minibatch_count(config: RLConfig, world: int) -> int:
    """Minibatches per pass, the same on every process: enough for the largest share of a step's prompts."""
    largest_share = config.batch_size if config.batch_size < world else math.ceil(config.batch_size / world)
    return math.ceil(largest_share / config.ppo_minibatch_size)


def minibatches(prompts: int, count: int, seed: int, step: int, epoch: int) -> list[list[int]]:
    """Prompt positions 0..prompts-1 shuffled (seeded by seed, step and epoch: pure) and cut into
    ``count`` minibatches of near-equal size (one may be empty on a process with a smaller share)."""
    order = list(range(prompts))
    random.Random(seed * 1_000_003 + step * 101 + epoch).shuffle(order)
    size, extra = divmod(prompts, count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


def ppo_update(learner: Learner, batch: Rollouts, step: int, laps: Laps) -> dict[str, float]:
    """``ppo_epochs`` passes of clipped minibatch updates on one batch of rollouts; returns its metrics."""
    config, ranks = learner.config, learner.ranks
    with torch.no_grad():  # π_old: the policy that sampled, scored through the same (unmerged) path as π
        old_logp = learner.logprobs(batch)
    laps("logprob")
    ref_logp = learner.reference_logprobs(batch)
    laps("reference")
    total, kl = kl_penalised_reward(batch.reward, old_logp, ref_logp, batch.token_mask, config.beta)

    learner.start_baseline(total, step)
    with torch.no_grad():
        old_value = learner.values(batch)
    advantage = total - old_value
    if config.whiten_advantages and advantage.numel() > 1:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-6)
    laps("value_forward")

    seen: dict[str, list[float]] = {"loss/train": [], "rl/value_loss": [], "rl/clipfrac": [], "rl/approx_kl": []}
    count = minibatch_count(config, ranks.world)
    for epoch in range(config.ppo_epochs):
        for part in minibatches(len(batch.picked), count, config.seed, step, epoch):
            if part:  # empty only on a process whose share ran out; it still joins the average and the step
                rows = torch.tensor(batch.rows(part), device=total.device)
                mb = batch.subset(part)
                policy_loss, clipfrac, approx_kl = ppo_policy_loss(learner.logprobs(mb), old_logp[rows], advantage[rows],
                                                                   mb.token_mask, config.ppo_clip)
                value_loss = ppo_value_loss(learner.values(mb), old_value[rows], total[rows], config.ppo_value_clip)
                (policy_loss + value_loss).backward()  # disjoint parameters: each loss reaches only its own model
                for key, number in zip(seen, (policy_loss, value_loss, clipfrac, approx_kl), strict=True):
                    seen[key].append(float(number.detach()))
            ranks.average_gradients(learner.policy_params + learner.value_params)
            clip_and_step(learner.opt_policy, learner.policy_params, config.grad_clip)
            clip_and_step(learner.opt_value, learner.value_params, config.grad_clip)
    laps("backward")
    return {
        **{key: ranks.mean(sum(numbers) / max(1, len(numbers))) for key, numbers in seen.items()},
        "rl/kl": ranks.mean(kl.mean()),
        "rl/total_reward": ranks.mean(total.mean()),
        "rl/value": ranks.mean(old_value.mean()),
    }


def train_ppo(
    config: RLConfig,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> PolicyResult:
    """Run PPO from ``config.policy`` on ``prompts`` (contexts); resumable from out_dir like REINFORCE.

    ``config.steps`` counts batches of rollouts (checkpoints and resumes are per batch); each
    makes ppo_epochs × ceil(batch_size / ppo_minibatch_size) optimizer steps.
    """
    return run_rl(config, prompts, reward_fn, out_dir, algorithm="ppo", update=ppo_update,
                  artifact_root=artifact_root, on_progress=on_progress, on_metrics=on_metrics)
