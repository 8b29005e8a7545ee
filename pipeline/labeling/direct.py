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

Fast path: the inference engine (``pipeline.inference``) keeps the head (chat header +
preamble), computes each prompt once on it, and runs the ten continuations of each prompt as
rows on that prompt's cache, reading the log-probability of every continuation token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import PromptEngine
from pipeline.labeling.prompts import DIRECT_SCORES, DirectPromptBuilder, score_continuation

if TYPE_CHECKING:
    from pipeline.registry import LoadedModel


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


class DirectScorer(PromptEngine):
    """``DirectScorer(lm, config).score(contexts, responses) -> list[DirectScore]``.

    Uses config.task (which preamble), precision, batch_size and max_context_tokens.
    ``packed=False``: the transformers forward even for Llama-style models (as in ``Labeler``).
    """

    def __init__(self, lm: LoadedModel, config: LabelingConfig, packed: bool = True):
        self.prompts = DirectPromptBuilder(config, lm.tokenizer)
        super().__init__(lm, config, self.prompts.head, self.prompts.add_special_tokens, packed)

    def _encode(self, context: str, response: str) -> tuple[list[int], list[list[int]]]:
        """(prompt ids, the ten continuation id lists), each continuation taken as the tail of
        the tokenized prompt + "<i>/10", so it is exactly what the model would read."""
        return self._with_continuations(self.prompts.prompt(context, response),
                                        [score_continuation(score) for score in DIRECT_SCORES])

    @torch.inference_mode()
    def score(self, contexts: Sequence[str], responses: Sequence[str]) -> list[DirectScore]:
        if len(contexts) != len(responses):
            raise ValueError("contexts and responses must have the same length")
        encoded = [self._encode(c, r) for c, r in zip(contexts, responses)]
        prompts = [ids for ids, _ in encoded]
        continuations = [c for _, cs in encoded for c in cs]
        prompt_of = [i for i, (_, cs) in enumerate(encoded) for _ in cs]
        try:
            logprobs = self.engine.token_logprobs(prompts, continuations, prompt_of)
        finally:
            self.engine.release()
        results = []
        for i, ids in enumerate(prompts):
            rows = logprobs[i * len(DIRECT_SCORES) : (i + 1) * len(DIRECT_SCORES)]
            result = score_from_logprobs([float(row.double().sum()) for row in rows])
            result.prompt_tokens = len(ids)
            results.append(result)
        return results
