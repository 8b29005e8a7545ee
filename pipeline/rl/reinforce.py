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

Policy, reference and value all start from the SFT checkpoint. With LoRA the policy is the SFT
weights + an adapter and the reference is the same module with the adapter disabled (one copy
of the base weights); the value model is its own copy of the body with its own adapter. With
full fine-tuning the reference is a frozen copy.

Speed (this loop vs TRL's RLOOTrainer, see bench/rl.py): rollouts decode with a KV cache through
LoRA-merged weights; the policy's log-probs come from the one forward pass that also carries the
gradient (no separate "old log-probs" pass: one update per batch is exactly on-policy); the
reference log-probs take one batched no-grad pass with the adapter off; logits are only computed
at response positions; with several samples per prompt, each prompt is run once (generation
prefill, policy and reference passes) and its keys/values shared by its samples; the value
model reads prompts only, once per distinct prompt.
"""

from __future__ import annotations

import copy
import functools
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F

from pipeline import registry
from pipeline.checkpoints import Checkpointer
from pipeline.configs import RLConfig
from pipeline.distributed import Ranks
from pipeline.generation import sample
from pipeline.lora import add_lora, lora_merged, use_lora
from pipeline.progress import ProgressFn, StepProgress
from pipeline.reward.model import RewardModel
from pipeline.rl.interface import PolicyResult, RewardFn
from pipeline.runfiles import MetricsFn, begin_run, export_causal_lm
from pipeline.steps import Laps, clip_and_step
from pipeline.tokens import encode_prompt, eos_ids, format_prompt, pad_left, pad_right, position_ids

if TYPE_CHECKING:
    from peft import PeftModel


def response_logprobs(model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                      tokens: torch.Tensor, token_mask: torch.Tensor, repeats: int = 1,
                      temperature: float = 1.0) -> torch.Tensor:
    """(B·repeats, T) log π(y_t | x, y_<t) of sampled ``tokens`` after left-padded prompts.

    prompt_ids/mask: (B, P) distinct prompts; tokens/token_mask: (B·repeats, T), rows grouped
    by prompt. With one sample per prompt this is one forward pass over prompt + response that
    computes logits at the response positions only (``logits_to_keep``). With several, each
    prompt runs once and its keys/values are repeated for its samples (the same trick as the
    reward model's shared context): exact, and the prompt — often most of the tokens — is
    not recomputed per sample, forward or backward.
    """
    n = tokens.size(1)
    if repeats == 1:
        ids, mask = torch.cat([prompt_ids, tokens], dim=1), torch.cat([prompt_mask, token_mask], dim=1)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False,
                       logits_to_keep=n + 1).logits[:, :-1]
    else:
        out = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=position_ids(prompt_mask),
                    use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1:].repeat_interleave(repeats, dim=0)  # predicts each sample's first token
        if n > 1:
            cache = out.past_key_values
            cache.batch_repeat_interleave(repeats)
            prompt_mask = prompt_mask.repeat_interleave(repeats, dim=0)
            head_mask = token_mask[:, :-1]  # the last token predicts nothing we score
            rest = model(input_ids=tokens[:, :-1], attention_mask=torch.cat([prompt_mask, head_mask], dim=1),
                         position_ids=position_ids(head_mask, prompt_mask.sum(-1)), past_key_values=cache,
                         use_cache=True).logits
            logits = torch.cat([logits, rest], dim=1)
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    return logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def kl_penalised_reward(reward: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                        beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """R_total = R − β·KL with KL = Σ_t (log π(y_t) − log π_SFT(y_t)) over generated tokens.

    reward: (B,); logp, ref_logp, mask: (B, T) per-token log-probs of the sampled tokens and the
    1/0 mask of generated tokens (EOS included, padding after it excluded). Returns (R_total,
    KL), both (B,), without gradient: the penalty is part of the reward, not a loss term.
    """
    kl = ((logp.detach() - ref_logp.detach()) * mask).sum(-1)
    return reward - beta * kl, kl


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


def prompt_batch(lengths: Sequence[int], batch_size: int, seed: int, step: int, group_by_length: bool = True) -> list[int]:
    """Prompt indices of a step: consecutive slices of per-epoch seeded shuffles (pure in step).

    With ``group_by_length`` each epoch's shuffle is cut into chunks of 16 batches and each chunk
    sorted by prompt length, so a step's prompts have similar lengths and left padding wastes
    little compute; every prompt is still used once per epoch.
    """
    n = len(lengths)
    picked: list[int] = []
    position = step * batch_size
    while len(picked) < batch_size:
        epoch, index = divmod(position, n)
        picked.append(_epoch_order(tuple(lengths), batch_size, seed, epoch, group_by_length)[index])
        position += 1
    return picked


@functools.lru_cache(maxsize=4)
def _epoch_order(lengths: tuple[int, ...], batch_size: int, seed: int, epoch: int, group_by_length: bool) -> list[int]:
    rng = random.Random(seed * 7919 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return order
    chunk = batch_size * 16
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda j: lengths[j])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)  # similar lengths within a step, no short-to-long drift across steps
    return [i for batch in batches for i in batch]


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
    if not prompts:
        raise ValueError("no training prompts")
    ranks = Ranks.from_env()  # several processes under accelerate launch / torchrun, else one
    out_dir = Path(out_dir)
    files = begin_run(out_dir, config, on_metrics, writer=ranks.main)

    # -- models: policy, reference and value, all from the SFT checkpoint ---------------------------
    loaded = registry.load_causal_lm(config.policy, artifact_root, device=ranks.device(config.device),
                                     precision=config.precision)
    tokenizer, device = loaded.tokenizer, loaded.device
    value = RewardModel.from_causal_lm(loaded.model, tokenizer, max_length=config.max_prompt_tokens,
                                       chat_template=config.chat_template)
    if use_lora(config.lora, device):
        policy = add_lora(loaded.model, config.lora_settings(), causal_lm=True)
        reference = None  # the policy with its adapter disabled *is* the SFT model
        value.body = add_lora(value.body, config.lora_settings(), causal_lm=False)
    else:
        policy = loaded.model
        reference = copy.deepcopy(policy).requires_grad_(False)
    # Dropout off everywhere: the log-ratio to the reference must compare like with like.
    policy.eval()
    value.eval()

    policy_params = [p for p in policy.parameters() if p.requires_grad]
    value_body_params = [p for p in value.body.parameters() if p.requires_grad]
    opt_policy = torch.optim.AdamW(policy_params, lr=config.lr, weight_decay=0.0)
    opt_value = torch.optim.AdamW([{"params": value_body_params, "lr": config.value_lr},
                                   {"params": list(value.head.parameters()), "lr": config.value_head_lr}],
                                  weight_decay=0.0)
    modules, optimizers = {"policy": policy, "value": value}, {"policy": opt_policy, "value": opt_value}
    checkpoints = Checkpointer(out_dir, config.keep_checkpoints)
    start, _ = checkpoints.restore(modules, optimizers)
    files.resume_at(start)

    chat = config.chat_template
    encoded = [encode_prompt(tokenizer, format_prompt(tokenizer, c, chat), config.max_prompt_tokens) for c in prompts]
    prompt_lengths = [len(e) for e in encoded]
    stop = eos_ids(policy, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    k = config.samples_per_prompt

    steps = StepProgress(on_progress if ranks.main else None, config.steps, saved=start)

    def save(step: int) -> None:
        ranks.main_then_wait(lambda: checkpoints.save(step, modules, optimizers))
        steps.saved(step)

    tokens_generated, started = 0, time.perf_counter()
    for step in range(start, config.steps):
        laps = Laps()  # seconds per phase, logged as time/<phase>_seconds
        picked = ranks.shard(prompt_batch(prompt_lengths, config.batch_size, config.seed, step, config.group_by_length))
        rows = [i for i in picked for _ in range(k)]  # k rollouts per prompt, adjacent

        # 1. Rollouts from the current policy (a per-step generator makes a resumed run identical).
        ids, mask = pad_left([encoded[i] for i in picked], pad, device)
        generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step * 9_973 + ranks.rank)
        with lora_merged(policy):
            roll = sample(policy, ids, mask, max_new_tokens=config.max_new_tokens, min_new_tokens=config.min_new_tokens,
                          eos=stop, pad_id=pad, temperature=config.temperature, generators=generator, repeats=k)
        lengths = roll.mask.sum(-1)
        tokens_generated += int(lengths.sum())
        responses = [cast(str, tokenizer.decode(roll.tokens[r, : int(lengths[r])], skip_special_tokens=True)).strip()  # one row: one string
                     for r in range(len(rows))]
        laps("generate")

        # 2. The reward of each (context, response), from an RM or a direct scorer.
        reward = torch.tensor(reward_fn([prompts[i] for i in rows], responses), dtype=torch.float32, device=device)
        laps("reward")

        # 3. Log-probs of the sampled tokens: the policy's (with gradient) and the reference's.
        logp = response_logprobs(policy, ids, mask, roll.tokens, roll.mask, k, config.temperature)
        with torch.no_grad():
            if reference is None:  # LoRA: the SFT reference is the policy with its adapter switched off
                with cast("PeftModel", policy).disable_adapter():  # no reference: add_lora made the policy
                    ref_logp = response_logprobs(policy, ids, mask, roll.tokens, roll.mask, k, config.temperature)
            else:
                ref_logp = response_logprobs(reference, ids, mask, roll.tokens, roll.mask, k, config.temperature)
            total, kl = kl_penalised_reward(reward, logp, ref_logp, roll.mask, config.beta)
        laps("logprob")

        # 4. Baseline V(x) from the prompt, once per distinct prompt.
        if step == 0:  # start the baseline at the first batch's mean reward, whatever the prompt
            with torch.no_grad():
                value.head.weight.zero_()
                value.head.bias.fill_(ranks.mean(total.mean()))  # the same start on every process
        v = value(*pad_right([encoded[i] for i in picked], pad, device)).repeat_interleave(k)
        laps("value_forward")

        # 5. One policy-gradient step and one value-regression step.
        policy_loss, value_loss, _ = reinforce_losses(logp, roll.mask, total, v, config.whiten_advantages)
        (policy_loss + value_loss).backward()  # disjoint parameters: each loss reaches only its own model
        ranks.average_gradients(policy_params + value_body_params + list(value.head.parameters()))
        clip_and_step(opt_policy, policy_params, config.grad_clip)
        clip_and_step(opt_value, value_body_params + list(value.head.parameters()), config.grad_clip)
        laps("backward")

        done = step + 1
        files.log(done, {
            "loss/train": ranks.mean(policy_loss),
            "rl/reward": ranks.mean(reward.mean()),
            "rl/kl": ranks.mean(kl.mean()),
            "rl/total_reward": ranks.mean(total.mean()),
            "rl/value": ranks.mean(v.mean()),
            "rl/value_loss": ranks.mean(value_loss),
            "rl/response_length": ranks.mean(lengths.float().mean()),
            "time/step_seconds": sum(laps.times.values()),
            **laps.times,
        })
        steps.trained(done)
        if config.checkpoint_every and done % config.checkpoint_every == 0 and done < config.steps:
            save(done)

    elapsed = time.perf_counter() - started
    tokens_generated = round(ranks.mean(tokens_generated) * ranks.world)
    final_step = max(start, config.steps)
    if config.steps > start:
        save(final_step)
    steps.phase("exporting", 0, 1)
    model_path = ranks.main_then_wait(lambda: export_causal_lm(policy, tokenizer, out_dir / "final")) or out_dir / "final"
    steps.phase("exporting", 1, 1)
    result = PolicyResult(out_dir, model_path, final_step, start, "reinforce", dict(files.last),
                          tokens_generated / elapsed if elapsed > 0 and tokens_generated else 0.0)
    files.write_result(result.to_dict())
    return result
