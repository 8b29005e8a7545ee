"""Sampling: how a policy turns a prompt batch into responses (the prompt itself is ``pipeline.tokens``).

``decode_prompts`` is what RL rollouts and ``generate_samples`` call. It decodes through the
inference engine (``pipeline.inference``): each distinct prompt prefilled once and shared by its
samples, rows packed without padding, a preallocated KV cache written in place, fused q|k|v and
MLP projections, logits at the last position only. Models the engine cannot run exactly in
float32 (other dtypes) take ``sample``, a small KV-cached loop over the transformers forward.
Both pick tokens with ``pipeline.inference.sampling.pick_tokens`` from one generator per row, so
the same seeds give the same tokens on either path and in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch

from pipeline.configs import GenerationConfig
from pipeline.inference import DECODE_PRECISIONS
from pipeline.inference.engines import build_engine
from pipeline.inference.sampling import forbid, pick_tokens, row_seed, seeded_generators
from pipeline.lora import is_peft
from pipeline.progress import Progress, ProgressFn, no_progress
from pipeline.tokens import encode_prompt, eos_ids, format_prompt, pad_left, position_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from pipeline.inference.api import InferenceEngine


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
            logits = forbid(logits, eos)  # benchmarks force equal lengths this way
        token = pick_tokens(logits, temperature, generators)
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


def decode_prompts(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    seeds: Sequence[int] | None = None,
    min_new_tokens: int = 0,
    repeats: int = 1,
    precision: str = "exact",
) -> Rollout:
    """``repeats`` samples of each prompt (token ids, unpadded), rows grouped by prompt
    ([p0s0, p0s1, p1s0, ...]) as ``sample`` returns them; ``seeds[r]`` fixes row r (needed when
    temperature > 0). Through the inference engine where it runs the model (float32), else
    ``sample``; the same tokens either way. EOS ids: ``eos_ids(model, tokenizer)``.
    ``precision`` (``DECODE_PRECISIONS``): "bf16" decodes with bfloat16 matmuls, faster where
    the hardware multiplies bf16 natively, sampling from logits within ~1e-2 of the model's."""
    stop = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop[0]
    rows = len(prompts) * repeats
    if temperature > 0 and (seeds is None or len(seeds) != rows):
        raise ValueError(f"sampling needs one seed per row: {rows} rows, {0 if seeds is None else len(seeds)} seeds")
    device = next(model.parameters()).device
    if precision not in DECODE_PRECISIONS:
        raise ValueError(f"unknown decoding precision {precision!r}: use one of {DECODE_PRECISIONS}")
    engine = generation_engine(model, tokenizer, rows, prompts[0] if prompts else (), precision)
    if engine is None:
        ids, mask = pad_left(prompts, pad, device)
        generators = seeded_generators(seeds, device) if temperature > 0 and seeds is not None else None
        return sample(model, ids, mask, max_new_tokens=max_new_tokens, eos=stop, pad_id=pad, temperature=temperature,
                      min_new_tokens=min_new_tokens, generators=generators, repeats=repeats)
    generated = engine.decode(prompts, [[] for _ in prompts], range(len(prompts)), max_new_tokens, n=repeats,
                              temperature=temperature, seeds=seeds if temperature > 0 else None, stop_ids=stop,
                              min_new_tokens=min_new_tokens, keep_stop=True)
    ids, mask = pad_left([p for p in prompts for _ in range(repeats)], pad, device)
    width = max((len(g) for g in generated), default=0)
    tokens = torch.full((rows, width), pad, dtype=torch.long, device=device)
    gen_mask = torch.zeros((rows, width), dtype=torch.long, device=device)
    for r, row in enumerate(generated):
        tokens[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        gen_mask[r, : len(row)] = 1
    finished = torch.tensor([bool(row) and row[-1] in stop for row in generated], dtype=torch.bool, device=device)
    return Rollout(ids, mask, tokens, gen_mask, finished)


def generation_engine(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: int,
                      shared_prefix: Sequence[int] = (), precision: str = "exact") -> InferenceEngine | None:
    """An engine decoding ``rows`` rows in one batch, or None where it would not compute the
    model's own float32 numbers (other dtypes: the engine would run a float32 copy, which goes
    stale as the policy trains). A LoRA policy runs as its base model with the adapters in it:
    the packed forward adds their terms live (``inference.adapters``), merged or not, and
    adapters it does not compute take the padded engine's transformers forward. ``shared_prefix``:
    tokens most prompts start with (a chat header), computed once."""
    if next(model.parameters()).dtype != torch.float32:
        return None
    base = cast("PreTrainedModel", model.get_base_model() if is_peft(model) else model)
    # one decoding batch for every row: suffix batches take 2 x batch_size rows
    return build_engine(base, tokenizer, precision=precision, batch_size=max(1, -(-rows // 2)), shared_prefix=shared_prefix)


# -- samples for human evaluation --------------------------------------------------------------


@dataclass
class Sample:
    """One policy response to one context."""

    context: str
    text: str  # the response, special tokens removed, stripped
    num_tokens: int  # generated tokens, EOS excluded
    finished: bool  # ended with EOS (False: cut at max_new_tokens)


def generate_samples(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    contexts: Sequence[str],
    config: GenerationConfig | None = None,
    on_progress: ProgressFn | None = None,
) -> list[Sample]:
    """One response per context, in input order (length-sorted batches of ``config.batch_size``).
    Each response is fixed by (config.seed, its context): the same whatever the batch."""
    return [answers[0] for answers in generate_answer_sets(model, tokenizer, contexts, config, on_progress)]


def generate_answer_sets(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    contexts: Sequence[str],
    config: GenerationConfig | None = None,
    on_progress: ProgressFn | None = None,
    answers: int = 1,
) -> list[list[Sample]]:
    """``answers`` responses per context, in input order; answer j is the one ``generate_samples``
    gives with seed ``config.seed + j`` (fixed by that seed and the context), but each prompt is
    prefilled once for all its answers and they decode in one batch."""
    config = config or GenerationConfig()
    on_progress = on_progress or no_progress
    was_training = model.training
    model.eval()
    prompts = [encode_prompt(tokenizer, format_prompt(tokenizer, c, config.chat_template), config.max_prompt_tokens) for c in contexts]
    order = sorted(range(len(contexts)), key=lambda i: len(prompts[i]))
    results: list[list[Sample]] = [[] for _ in contexts]
    for start in range(0, len(order), config.batch_size):
        chunk = order[start : start + config.batch_size]
        seeds = [row_seed(config.seed + j, contexts[i]) for i in chunk for j in range(answers)]
        roll = decode_prompts(model, tokenizer, [prompts[i] for i in chunk], max_new_tokens=config.max_new_tokens,
                              temperature=config.temperature, seeds=seeds, repeats=answers)
        for row in range(len(chunk) * answers):  # rows grouped by prompt: [p0a0, p0a1, p1a0, ...]
            i = chunk[row // answers]
            n = int(roll.mask[row].sum())
            body = roll.tokens[row, :n].tolist()
            if roll.finished[row]:
                body = body[:-1]  # the EOS
            # One id list decodes to one string; transformers declares str | list[str] for every input.
            text = cast(str, tokenizer.decode(body, skip_special_tokens=True)).strip()
            results[i].append(Sample(contexts[i], text, len(body), bool(roll.finished[row])))
        on_progress(Progress.durable(min(start + config.batch_size, len(order)), len(order), "sampling"))
    model.train(was_training)
    return results


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
