"""The labeler's plain reference: one unbatched forward per pair and order, no cache, no reuse.

``score_naive`` is what the fast ``Labeler`` (``pipeline.labeling.engine``) must equal: the
tests and ``bench/labeling.py`` compare the two on real pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.calibration import CONTENT_FREE, recalibrate
from pipeline.labeling.engine import PairLabel, Sample, answer_token_ids, two_way
from pipeline.labeling.prompts import PromptBuilder

if TYPE_CHECKING:
    from pipeline.registry import LoadedModel


@torch.inference_mode()
def score_naive(lm: LoadedModel, samples: Sequence[Sample], config: LabelingConfig, model: torch.nn.Module | None = None) -> list[PairLabel]:
    """The reference: for each pair and order one unbatched forward of the whole prompt with
    full logits [1, T, V], read at the last position. No batching, no cache, no reuse.

    Answer-step prompts only (no CoT). ``model`` overrides ``lm.model`` (e.g. a bf16-mlp copy).
    With ``config.calibrate`` the content-free prior is measured the same plain way and divided out.
    """
    if config.cot:
        raise ValueError("score_naive is the plain reference for direct answers; it has no CoT")
    model = model if model is not None else lm.model
    prompts = PromptBuilder(config, lm.tokenizer)
    answer_ids = answer_token_ids(lm.tokenizer, prompts.ending)

    def answers(sample: Sample) -> tuple[list[float], list[float], int]:
        """P("1") of the answer shown and the label mass, per order, and the prompt tokens."""
        orders = [(sample.candidate_1, sample.candidate_2), (sample.candidate_2, sample.candidate_1)]
        p1s, masses, tokens = [], [], 0
        for first, second in orders[: config.orders]:
            text = prompts.render(sample.context, first, second)
            ids = lm.tokenizer(text, add_special_tokens=prompts.add_special_tokens)["input_ids"]
            logits = model(input_ids=torch.tensor([ids], device=lm.device), use_cache=False).logits  # [1, T, V]
            (p,), (mass,) = two_way(logits[:, -1, :], answer_ids)
            p1s.append(p)
            masses.append(mass)
            tokens += len(ids)
        return p1s, masses, tokens

    prior = None
    if config.calibrate:
        free = [answers(Sample(text, text, text))[0][0] for text in CONTENT_FREE]
        prior = sum(free) / len(free)
    labels = []
    for sample in samples:
        p1s, masses, tokens = answers(sample)
        if prior is not None:
            p1s = [recalibrate(p, prior) for p in p1s]
        p_orders = [p if o == 0 else 1.0 - p for o, p in enumerate(p1s)]
        labels.append(PairLabel.from_orders(p_orders, masses, key=sample.key, prompt_tokens=tokens))
    return labels
