"""Two-step chain of thought keeps its rationales; self-consistency samples k of them."""

import pytest
import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler, answer_token_ids, two_way

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cot_labels(lm, six_pairs):
    labeler = Labeler(lm, LabelingConfig(cot=True, max_rationale_tokens=24, batch_size=2))
    return labeler, labeler.label(six_pairs[:1])


def test_cot_decodes_and_keeps_a_non_empty_rationale_per_order(cot_labels):
    _, labels = cot_labels
    for label in labels:
        assert len(label.rationales) == 2 and all(r.strip() for r in label.rationales)
        assert 0 < label.generated_tokens <= 2 * 24
        assert 0.0 <= label.p <= 1.0 and label.label_mass > 0


def test_the_cot_answer_is_read_after_the_kept_rationale(lm, cot_labels, six_pairs):
    """Scoring prompt + kept rationale + ending with a plain forward gives the same p_order1."""
    labeler, labels = cot_labels
    sample, label = six_pairs[0], labels[0]
    text = labeler.prompts.render(
        sample.context, sample.candidate_1, sample.candidate_2, step="cot-answer", rationale=label.rationales[0]
    )
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[:, -1, :]
    (p,), _ = two_way(logits, answer_token_ids(lm.tokenizer, labeler.prompts.ending))
    assert label.p_order1 == pytest.approx(p, abs=1e-3)


def test_self_consistency_with_k_2_keeps_2_sampled_rationales_and_is_reproducible(lm, six_pairs):
    config = LabelingConfig(cot=True, self_consistency=2, temperature=1.0, swap=False, max_rationale_tokens=12)
    first = Labeler(lm, config).label(six_pairs[:1])[0]
    again = Labeler(lm, config).label(six_pairs[:1])[0]
    assert len(first.rationales) == 2 and all(r.strip() for r in first.rationales)
    assert first.rationales == again.rationales
    assert first.p == pytest.approx(again.p, abs=1e-6)
