"""The on-policy loop our REINFORCE and PPO share: models, rollouts, rewards, KL, checkpoints.

Each step t of ``run_rl``: pick a batch of prompts (``prompt_batch``: similar lengths grouped,
each prompt once per epoch), sample k = samples_per_prompt responses per prompt from the current
policy, score them with ``reward_fn``, then hand the batch to the algorithm's ``update``
(REINFORCE: one gradient step, ``pipeline.rl.reinforce``; PPO: several clipped epochs of
minibatches, ``pipeline.rl.ppo``), log what it measured and checkpoint. Both algorithms thus
see the same rollouts for the same seed and step, the same value model and the same
KL-to-SFT-penalised reward (``kl_penalised_reward``), so their runs differ only in the update.

Policy, reference and value all start from the SFT checkpoint. With LoRA the policy is the SFT
weights + an adapter and the reference is the same module with the adapter disabled (one copy
of the base weights); the value model is its own copy of the body with its own adapter. With
full fine-tuning the reference is a frozen copy.
"""

from __future__ import annotations

import copy
import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from pipeline import registry
from pipeline.checkpoints import Checkpointer
from pipeline.configs import RLConfig
from pipeline.distributed import Ranks
from pipeline.generation import decode_prompts, generation_engine
from pipeline.inference.sampling import row_seed
from pipeline.logprobs import token_logprobs
from pipeline.lora import add_lora, use_lora
from pipeline.onednn_linear import linears_on_onednn
from pipeline.progress import ProgressFn, StepProgress
from pipeline.reward.model import RewardModel
from pipeline.rl.interface import PolicyResult, RewardFn
from pipeline.runfiles import MetricsFn, begin_run, export_causal_lm
from pipeline.steps import Laps
from pipeline.tokens import encode_prompt, eos_ids, format_prompt, pad_left, pad_right, position_ids

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase


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
        return _scored(logits, tokens, temperature)
    out = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=position_ids(prompt_mask),
                use_cache=True, logits_to_keep=1)
    # the prompt's last position predicts each sample's first token
    first = _scored(out.logits[:, -1:].repeat_interleave(repeats, dim=0), tokens[:, :1], temperature)
    if n == 1:
        return first
    cache = out.past_key_values
    cache.batch_repeat_interleave(repeats)
    prompt_mask = prompt_mask.repeat_interleave(repeats, dim=0)
    head_mask = token_mask[:, :-1]  # the last token predicts nothing we score
    rest = model(input_ids=tokens[:, :-1], attention_mask=torch.cat([prompt_mask, head_mask], dim=1),
                 position_ids=position_ids(head_mask, prompt_mask.sum(-1)), past_key_values=cache,
                 use_cache=True).logits
    # scored apart and joined as log-probs: joining the logits would copy a vocabulary-sized tensor
    return torch.cat([first, _scored(rest, tokens[:, 1:], temperature)], dim=1)


def _scored(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probs of ``tokens`` under ``logits`` (this pass's own: the backward reuses their memory)."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    return token_logprobs(logits, tokens, overwrite=True)


def kl_penalised_reward(reward: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                        beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """R_total = R − β·KL with KL = Σ_t (log π(y_t) − log π_SFT(y_t)) over generated tokens.

    reward: (B,); logp, ref_logp, mask: (B, T) per-token log-probs of the sampled tokens and the
    1/0 mask of generated tokens (EOS included, padding after it excluded). Returns (R_total,
    KL), both (B,), without gradient: the penalty is part of the reward, not a loss term.
    """
    kl = ((logp.detach() - ref_logp.detach()) * mask).sum(-1)
    return reward - beta * kl, kl


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


@dataclass
class Rollouts:
    """One step's sampled responses: k adjacent rows per distinct prompt, and their rewards."""

    picked: list[int]  # indices into the run's prompts, one per distinct prompt
    ids: torch.Tensor  # (B, P) left-padded prompt tokens
    mask: torch.Tensor  # (B, P)
    tokens: torch.Tensor  # (B·k, T) sampled tokens, pad after a row's EOS
    token_mask: torch.Tensor  # (B·k, T) 1 for generated tokens up to and including EOS
    reward: torch.Tensor  # (B·k,) reward_fn's score of each response
    k: int  # samples per prompt

    def rows(self, prompts: Sequence[int]) -> list[int]:
        """Rollout rows of the given prompt positions (0..B-1), in that order."""
        return [j * self.k + s for j in prompts for s in range(self.k)]

    def subset(self, prompts: Sequence[int]) -> Rollouts:
        """The rollouts of some prompts only (a PPO minibatch), each still with all k samples."""
        rows = torch.tensor(self.rows(prompts), device=self.tokens.device)
        index = torch.tensor(list(prompts), device=self.ids.device)
        return Rollouts([self.picked[j] for j in prompts], self.ids[index], self.mask[index], self.tokens[rows],
                        self.token_mask[rows], self.reward[rows], self.k)


@dataclass
class Learner:
    """A run's models and optimizers (policy, SFT reference, value) and its tokenised prompts."""

    config: RLConfig
    ranks: Ranks
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    policy: torch.nn.Module
    reference: torch.nn.Module | None  # None with LoRA: the policy with its adapter disabled is the SFT model
    value: RewardModel
    opt_policy: torch.optim.Optimizer
    opt_value: torch.optim.Optimizer
    policy_params: list[torch.nn.Parameter]
    value_params: list[torch.nn.Parameter]  # the value body's trainable parameters, then its head's
    encoded: list[list[int]]  # each training prompt, formatted and tokenised
    stop: list[int]  # EOS token ids
    pad: int

    def logprobs(self, batch: Rollouts) -> torch.Tensor:
        """(B·k, T) the policy's per-token log-probs of the batch's responses (with gradient if
        enabled; its linear layers on oneDNN on a CPU, forward and backward)."""
        with linears_on_onednn(self.device):
            return response_logprobs(self.policy, batch.ids, batch.mask, batch.tokens, batch.token_mask, batch.k,
                                     self.config.temperature)

    @torch.no_grad()
    def reference_logprobs(self, batch: Rollouts) -> torch.Tensor:
        """(B·k, T) the SFT reference's per-token log-probs of the batch's responses (0 after a
        row's end). No gradient flows here, so they come from the inference engine's packed
        float32 forward where it runs the model (each prompt once, no padding), else from the
        plain forward: the same numbers within 1e-4."""
        if self.reference is None:  # LoRA: the SFT reference is the policy with its adapter switched off
            with cast("PeftModel", self.policy).disable_adapter():  # no reference: add_lora made the policy
                return self._engine_logprobs(self.policy, batch)
        return self._engine_logprobs(self.reference, batch)

    def _engine_logprobs(self, model: torch.nn.Module, batch: Rollouts) -> torch.Tensor:
        prompts = [self.encoded[i] for i in batch.picked]
        engine = generation_engine(model, self.tokenizer, len(batch.tokens), prompts[0])
        if engine is None:
            return response_logprobs(model, batch.ids, batch.mask, batch.tokens, batch.token_mask, batch.k,
                                     self.config.temperature)
        lengths = batch.token_mask.sum(-1).tolist()
        responses = [batch.tokens[r, : int(n)].tolist() for r, n in enumerate(lengths)]
        temperature = self.config.temperature if self.config.temperature > 0 else 1.0  # as response_logprobs
        rows = engine.token_logprobs(prompts, responses, [r // batch.k for r in range(len(responses))],
                                     temperature=temperature)
        out = torch.zeros(batch.tokens.shape, dtype=torch.float32, device=batch.tokens.device)
        for r, logp in enumerate(rows):
            out[r, : len(logp)] = logp
        return out

    def start_baseline(self, total: torch.Tensor, step: int) -> None:
        """At step 0, set the value head to the constant "this batch's mean R_total" (zero weights)."""
        if step == 0:  # early advantages centred, whatever the prompt; the same start on every process
            with torch.no_grad():
                self.value.head.weight.zero_()
                self.value.head.bias.fill_(self.ranks.mean(total.mean()))

    def values(self, batch: Rollouts) -> torch.Tensor:
        """(B·k,) V(x) of each rollout's prompt, computed once per distinct prompt."""
        return self.value(*pad_right([self.encoded[i] for i in batch.picked], self.pad, self.device)).repeat_interleave(batch.k)

    def rollout(self, picked: list[int], step: int, prompts: Sequence[str], reward_fn: RewardFn, laps: Laps) -> Rollouts:
        """k responses per picked prompt from the current policy, and their rewards."""
        config, k = self.config, self.config.samples_per_prompt
        ids, mask = pad_left([self.encoded[i] for i in picked], self.pad, self.device)
        # A seed per (step, process, row) makes a resumed run sample exactly what the unbroken
        # run sampled, and a row's sample independent of the rest of its batch.
        seeds = [row_seed(config.seed, "rollout", step, self.ranks.rank, j, s) for j in range(len(picked)) for s in range(k)]
        # a LoRA policy decodes unmerged: the packed engine adds the adapters' terms live
        roll = decode_prompts(self.policy, self.tokenizer, [self.encoded[i] for i in picked],
                              max_new_tokens=config.max_new_tokens, min_new_tokens=config.min_new_tokens,
                              temperature=config.temperature, seeds=seeds, repeats=k, precision=config.rollout_precision)
        lengths = roll.mask.sum(-1)
        responses = [cast(str, self.tokenizer.decode(roll.tokens[r, : int(lengths[r])], skip_special_tokens=True)).strip()
                     for r in range(len(picked) * k)]  # one row: one string
        laps("generate")
        contexts = [prompts[i] for i in picked for _ in range(k)]
        reward = torch.tensor(reward_fn(contexts, responses), dtype=torch.float32, device=self.device)
        laps("reward")
        return Rollouts(picked, ids, mask, roll.tokens, roll.mask, reward, k)


def build_learner(config: RLConfig, prompts: Sequence[str], artifact_root: str | Path, ranks: Ranks) -> Learner:
    """Policy, reference and value from ``config.policy`` (the SFT checkpoint), with their optimizers."""
    loaded = registry.load_causal_lm(config.policy, artifact_root, device=ranks.device(config.device),
                                     precision=config.precision)
    tokenizer, device = loaded.tokenizer, loaded.device
    value = RewardModel.from_causal_lm(loaded.model, tokenizer, max_length=config.max_prompt_tokens,
                                       chat_template=config.chat_template)
    reference: torch.nn.Module | None
    if use_lora(config.lora, device):
        policy = add_lora(loaded.model, config.lora_settings(), causal_lm=True)
        reference = None
        value.body = add_lora(value.body, config.lora_settings(), causal_lm=False)
    else:
        policy = loaded.model
        reference = copy.deepcopy(policy).requires_grad_(False)
    # Dropout off everywhere: the log-ratio to the reference (and PPO's to the old policy) must compare like with like.
    policy.eval()
    value.eval()

    policy_params = [p for p in policy.parameters() if p.requires_grad]
    value_body_params = [p for p in value.body.parameters() if p.requires_grad]
    opt_policy = torch.optim.AdamW(policy_params, lr=config.lr, weight_decay=0.0)
    opt_value = torch.optim.AdamW([{"params": value_body_params, "lr": config.value_lr},
                                   {"params": list(value.head.parameters()), "lr": config.value_head_lr}],
                                  weight_decay=0.0)
    encoded = [encode_prompt(tokenizer, format_prompt(tokenizer, c, config.chat_template), config.max_prompt_tokens)
               for c in prompts]
    stop = eos_ids(policy, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    return Learner(config, ranks, tokenizer, device, policy, reference, value, opt_policy, opt_value, policy_params,
                   value_body_params + list(value.head.parameters()), encoded, stop, pad)


UpdateFn = Callable[[Learner, Rollouts, int, Laps], dict[str, float]]
"""update(learner, rollouts, step, laps) -> metrics: the algorithm's optimizer step(s) on one batch of rollouts."""


def run_rl(
    config: RLConfig,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    out_dir: str | Path,
    *,
    algorithm: str,
    update: UpdateFn,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> PolicyResult:
    """Run ``config.steps`` steps of rollouts + ``update`` from ``config.policy``; resumable from out_dir."""
    if not prompts:
        raise ValueError("no training prompts")
    ranks = Ranks.from_env()  # several processes under accelerate launch / torchrun, else one
    out_dir = Path(out_dir)
    files = begin_run(out_dir, config, on_metrics, writer=ranks.main)
    learner = build_learner(config, prompts, artifact_root, ranks)
    modules: dict[str, torch.nn.Module] = {"policy": learner.policy, "value": learner.value}
    optimizers = {"policy": learner.opt_policy, "value": learner.opt_value}
    checkpoints = Checkpointer(out_dir, config.keep_checkpoints)
    start, _ = checkpoints.restore(modules, optimizers)
    files.resume_at(start)
    prompt_lengths = [len(e) for e in learner.encoded]
    steps = StepProgress(on_progress if ranks.main else None, config.steps, saved=start)

    def save(step: int) -> None:
        ranks.main_then_wait(lambda: checkpoints.save(step, modules, optimizers))
        steps.saved(step)

    tokens_generated, started = 0, time.perf_counter()
    for step in range(start, config.steps):
        laps = Laps()  # seconds per phase, logged as time/<phase>_seconds
        picked = ranks.shard(prompt_batch(prompt_lengths, config.batch_size, config.seed, step, config.group_by_length))
        batch = learner.rollout(picked, step, prompts, reward_fn, laps)
        lengths = batch.token_mask.sum(-1)
        tokens_generated += int(lengths.sum())
        measured = update(learner, batch, step, laps)
        done = step + 1
        files.log(done, {
            **measured,
            "rl/reward": ranks.mean(batch.reward.mean()),
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
    policy, tokenizer = learner.policy, learner.tokenizer
    model_path = ranks.main_then_wait(lambda: export_causal_lm(policy, tokenizer, out_dir / "final")) or out_dir / "final"
    steps.phase("exporting", 1, 1)
    result = PolicyResult(out_dir, model_path, final_step, start, algorithm, dict(files.last),
                          tokens_generated / elapsed if elapsed > 0 and tokens_generated else 0.0)
    files.write_result(result.to_dict())
    return result
