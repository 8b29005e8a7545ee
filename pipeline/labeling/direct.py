"""Direct scoring for direct RLAIF: the LLM rates one response 1-10, and that becomes a reward.

For a (context, response) the prompt (``prompts.DirectPromptBuilder``) ends with the assistant
turn opened at ``Score=``. Each score i in 1..10 is scored as the *whole* continuation
``"<i>/10"``, token by token::

    log P(i) = sum_j log p(t_ij | prompt, t_i1 .. t_i(j-1))      t_i = tokens of "<i>/10"

The ten strings are prefix-free ("1/10" is not a prefix of "10/10"), so they are mutually
exclusive events, and the two-token "10" ("1", "0" for SmolLM2) is scored as a whole instead
of being confused with "1". Then::

    P(i)   = exp(log P(i)) / sum_k exp(log P(k))          normalised over the ten
    s      = sum_i i * P(i)                               expected score in [1, 10]
    reward = (s - 5.5) / 4.5                              linear map onto [-1, 1]
    mass   = sum_k exp(log P(k))                          how much the model meant a score at all

Fast path: the head (chat header + preamble) is cached once; prompts run in length-sorted,
left-padded (or packed) batches (last logits only = the first continuation token); then the
ten continuations of each prompt run as right-padded rows on that prompt's cache, with logits at
every continuation position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.prompts import DIRECT_SCORES, DirectPromptBuilder, score_continuation
from pipeline.labeling.runtime import (
    BatchRunner,
    EngineStats,
    HeadCache,
    model_for_precision,
    pad_token_id,
    plan_batches,
)
from pipeline.tokens import eos_ids


@dataclass
class DirectScore:
    """One response's rating: P(score = 1..10) (sums to 1), expected score, reward in [-1, 1]."""

    probs: list[float]
    expected: float
    reward: float
    mass: float = 0.0
    prompt_tokens: int = 0
    scores: list[int] = field(default_factory=lambda: list(DIRECT_SCORES))

    def to_dict(self) -> dict:
        return asdict(self)


def score_from_logprobs(logprobs: Sequence[float], scores: Sequence[int] = DIRECT_SCORES) -> DirectScore:
    """Normalise the ten continuation log-probabilities into a DirectScore."""
    lp = torch.tensor(list(logprobs), dtype=torch.float64)
    total = torch.logsumexp(lp, dim=0)
    probs = torch.exp(lp - total)
    expected = float((probs * torch.tensor(list(scores), dtype=torch.float64)).sum())
    low, high = min(scores), max(scores)
    middle, half = (low + high) / 2, (high - low) / 2
    return DirectScore(
        probs=probs.tolist(),
        expected=expected,
        reward=(expected - middle) / half,
        mass=float(torch.exp(total)),
        scores=list(scores),
    )


class DirectScorer:
    """``DirectScorer(lm, config).score(contexts, responses) -> list[DirectScore]``.

    Uses config.task (which preamble), precision, batch_size and max_context_tokens.
    ``packed=False``: the transformers forward even for Llama-style models (as in ``Labeler``).
    """

    def __init__(self, lm, config: LabelingConfig, packed: bool = True):
        self.config = config
        self.tokenizer = lm.tokenizer
        self.device = lm.device
        self.model = model_for_precision(lm, config.precision)
        self.prompts = DirectPromptBuilder(config, lm.tokenizer)
        eos = eos_ids(self.model, lm.tokenizer)
        self.stats = EngineStats()
        self.runner = BatchRunner(self.model, pad_token_id(lm.tokenizer, eos), self.device, self.stats, packed=packed)
        self.head = HeadCache(self.runner, self._tokenize(self.prompts.head))

    def _tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=self.prompts.add_special_tokens)["input_ids"]

    def _encode(self, context: str, response: str) -> tuple[list[int], list[list[int]]]:
        """(prompt ids, the ten continuation id lists), each continuation taken as the tail of
        the tokenized prompt + "<i>/10", so it is exactly what the model would read."""
        prompt = self.prompts.prompt(context, response)
        ids = self._tokenize(prompt)
        continuations = []
        for score in DIRECT_SCORES:
            full = self._tokenize(prompt + score_continuation(score))
            if full[: len(ids)] != ids:
                raise ValueError(f"the score {score} merges with the prompt's last token; cannot score it apart")
            continuations.append(full[len(ids):])
        return ids, continuations

    @torch.inference_mode()
    def score(self, contexts: Sequence[str], responses: Sequence[str]) -> list[DirectScore]:
        if len(contexts) != len(responses):
            raise ValueError("contexts and responses must have the same length")
        encoded = [self._encode(c, r) for c, r in zip(contexts, responses)]
        results: list[DirectScore | None] = [None] * len(encoded)
        for batch in plan_batches([len(ids) for ids, _ in encoded], self.config.batch_size, padded=self.runner.pads):
            for i, logprobs in zip(batch, self._batch([encoded[i] for i in batch])):
                results[i] = score_from_logprobs(logprobs)
                results[i].prompt_tokens = len(encoded[i][0])
        return results  # type: ignore[return-value]

    def _batch(self, encoded: list[tuple[list[int], list[list[int]]]]) -> list[list[float]]:
        n, head = self.head.get([ids for ids, _ in encoded])
        # The prompts, left-padded: the last column gives each prompt's first-token distribution.
        first, state = self.runner.forward([ids[n:] for ids, _ in encoded], head.refs([0] * len(encoded)), side="left")
        first = torch.log_softmax(first.float(), dim=-1)  # [B, V]
        out: list[list[float]] = []
        for b, (_, continuations) in enumerate(encoded):
            # Ten rows on this prompt's cache; logits at every position but the last are needed.
            rows = [c[:-1] for c in continuations]
            logp = torch.zeros(len(continuations), dtype=torch.float64)
            for r, c in enumerate(continuations):
                logp[r] = first[b, c[0]]
            runnable = [r for r in range(len(rows)) if rows[r]]
            if runnable:
                past = state.refs([b] * len(runnable))
                logits, _ = self.runner.forward([rows[r] for r in runnable], past, side="right", keep="all")
                steps = torch.log_softmax(logits.float(), dim=-1)  # [R, L, V]
                for i, r in enumerate(runnable):
                    targets = continuations[r][1:]
                    logp[r] += steps[i, torch.arange(len(targets)), torch.tensor(targets)].double().sum()
            out.append(logp.tolist())
        return out
