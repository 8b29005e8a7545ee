"""Sampling: how a policy turns a prompt batch into responses (the prompt itself is ``pipeline.tokens``).

``sample`` is a small KV-cached decoding loop (prefill once, then one token per step) used by RL
rollouts and by ``generate_samples``. It is leaner per step than ``model.generate`` (no logits
processors or stopping-criteria machinery), which matters on CPU where a 135M model spends much
of each decoding step in per-op overhead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch

from pipeline.configs import GenerationConfig
from pipeline.progress import Progress, ProgressFn, no_progress
from pipeline.tokens import encode_prompt, eos_ids, format_prompt, pad_left, position_ids

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class Rollout:
    """Sampled continuations of a left-padded prompt batch."""

    prompt_ids: torch.Tensor  # (B, P) left-padded prompts
    prompt_mask: torch.Tensor  # (B, P)
    tokens: torch.Tensor  # (B, T) sampled tokens, pad after a row's EOS
    mask: torch.Tensor  # (B, T) 1 for generated tokens up to and including EOS
    finished: torch.Tensor  # (B,) bool: ended with EOS (False: hit max_new_tokens)


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos: Sequence[int],
    pad_id: int,
    temperature: float = 1.0,
    min_new_tokens: int = 0,
    generators: Sequence[torch.Generator] | torch.Generator | None = None,
    repeats: int = 1,
) -> Rollout:
    """Sample up to ``max_new_tokens`` per row with a KV cache; temperature 0 is greedy.

    ``repeats``: samples per prompt. Each distinct prompt is prefilled once and its cache
    repeated, so rows come out grouped ([p0s0, p0s1, p1s0, ...]); the returned prompt tensors
    are repeated to match. ``generators``: one torch.Generator for the batch, or one per row
    (so a row's text does not depend on which rows share its batch). Runs under no_grad, not
    inference_mode, so the returned tokens can feed a later forward pass that needs gradients.
    """
    device = prompt_ids.device
    eos_t = torch.tensor(list(eos), device=device)
    out = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=position_ids(prompt_mask),
                use_cache=True, logits_to_keep=1)
    cache, logits = out.past_key_values, out.logits[:, -1, :]
    if repeats > 1:
        cache.batch_repeat_interleave(repeats)
        logits = logits.repeat_interleave(repeats, dim=0)
        prompt_ids = prompt_ids.repeat_interleave(repeats, dim=0)
        prompt_mask = prompt_mask.repeat_interleave(repeats, dim=0)
    batch = prompt_ids.size(0)
    mask = prompt_mask.clone()
    next_pos = mask.sum(-1, keepdim=True)  # (B, 1): position of the token about to be written
    tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    finished_at = torch.full((batch,), max_new_tokens, dtype=torch.long, device=device)
    for t in range(max_new_tokens):
        logits = logits.float()
        if t < min_new_tokens:
            logits[:, eos_t] = float("-inf")  # benchmarks force equal lengths this way
        token = _pick(logits, temperature, generators)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        tokens[:, t] = token
        just_ended = ~done & torch.isin(token, eos_t)
        finished_at[just_ended] = t
        done |= just_ended
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        mask = torch.cat([mask, (~done | just_ended).long().unsqueeze(1)], dim=1)
        out = model(
            input_ids=token.unsqueeze(1),
            attention_mask=mask,
            position_ids=next_pos,
            past_key_values=cache,
            use_cache=True,
        )
        cache, logits = out.past_key_values, out.logits[:, -1, :]
        next_pos = next_pos + 1
    width = int(min(max_new_tokens, (finished_at.max() + 1).item()))
    steps = torch.arange(width, device=device).unsqueeze(0)
    gen_mask = (steps <= finished_at.unsqueeze(1)).long()
    return Rollout(prompt_ids, prompt_mask, tokens[:, :width], gen_mask, finished_at < max_new_tokens)


def _pick(logits: torch.Tensor, temperature: float,
          generators: Sequence[torch.Generator] | torch.Generator | None) -> torch.Tensor:
    """Greedy at temperature 0; else inverse-CDF sampling from softmax(logits / temperature).

    One uniform number per row against the cumulative distribution: the same distribution as
    torch.multinomial, which instead draws one exponential per vocabulary entry (≈7 ms a step
    for 8 rows × 49k tokens on one CPU core). The CDF is summed in float64 so rounding cannot
    shift mass between tokens; u is in (0, 1], so zero-probability tokens are never picked.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    cdf = torch.softmax(logits / temperature, dim=-1).double().cumsum(-1)
    rows, device = logits.size(0), logits.device
    if generators is None or isinstance(generators, torch.Generator):
        u = torch.rand(rows, generator=generators, device=device, dtype=torch.float64)
    else:  # one generator per row
        u = torch.cat([torch.rand(1, generator=g, device=device, dtype=torch.float64) for g in generators])
    u = (1.0 - u) * cdf[:, -1]
    return torch.searchsorted(cdf, u.unsqueeze(-1)).squeeze(-1).clamp(max=logits.size(-1) - 1)


# -- samples for human evaluation --------------------------------------------------------------


@dataclass
class Sample:
    """One policy response to one context."""

    context: str
    text: str  # the response, special tokens removed, stripped
    num_tokens: int  # generated tokens, EOS excluded
    finished: bool  # ended with EOS (False: cut at max_new_tokens)


def row_generator(seed: int, text: str, device: torch.device) -> torch.Generator:
    """A generator seeded by (seed, prompt text): same seed and prompt, same sample."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return g


def generate_samples(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    contexts: Sequence[str],
    config: GenerationConfig | None = None,
    on_progress: ProgressFn | None = None,
) -> list[Sample]:
    """One response per context, in input order (batched with left padding, length-sorted)."""
    config = config or GenerationConfig()
    on_progress = on_progress or no_progress
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    prompts = [encode_prompt(tokenizer, format_prompt(tokenizer, c, config.chat_template), config.max_prompt_tokens) for c in contexts]
    order = sorted(range(len(contexts)), key=lambda i: len(prompts[i]))
    stop = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    results: list[Sample | None] = [None] * len(contexts)
    for start in range(0, len(order), config.batch_size):
        chunk = order[start : start + config.batch_size]
        ids, mask = pad_left([prompts[i] for i in chunk], pad, device)
        gens = [row_generator(config.seed, contexts[i], device) for i in chunk]
        roll = sample(model, ids, mask, max_new_tokens=config.max_new_tokens, eos=stop, pad_id=pad,
                      temperature=config.temperature, generators=gens)
        for row, i in enumerate(chunk):
            n = int(roll.mask[row].sum())
            body = roll.tokens[row, :n].tolist()
            if roll.finished[row]:
                body = body[:-1]  # the EOS
            # One id list decodes to one string; transformers declares str | list[str] for every input.
            text = cast(str, tokenizer.decode(body, skip_special_tokens=True)).strip()
            results[i] = Sample(contexts[i], text, len(body), bool(roll.finished[row]))
        on_progress(Progress.durable(min(start + config.batch_size, len(order)), len(order), "sampling"))
    model.train(was_training)
    return [r for r in results if r is not None]


def generate_for_checkpoint(
    spec: str,
    artifact_root: str,
    contexts: Sequence[str],
    config: GenerationConfig | None = None,
    device: str = "auto",
    on_progress: ProgressFn | None = None,
) -> list[Sample]:
    """Load a policy checkpoint (a registry spec or a directory) and sample one response per context."""
    from pipeline import registry

    loaded = registry.load_causal_lm(spec, artifact_root, device=device)
    return generate_samples(loaded.model, loaded.tokenizer, contexts, config, on_progress)
