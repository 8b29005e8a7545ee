"""The fast engine in exact mode gives the plain way's probabilities (one unbatched forward per
order, full logits) within 1e-3, on real HH pairs."""

import pytest

from pipeline.configs import LabelingConfig
from pipeline.inference.engines import PackedEngine
from pipeline.labeling.engine import Labeler

pytestmark = pytest.mark.slow


def test_exact_mode_matches_the_plain_way_within_1e_3(exact_labeler, six_pairs, naive_labels):
    progress = []
    before = exact_labeler.stats.real_tokens
    ours = exact_labeler.label(six_pairs, on_progress=lambda p: progress.append((p.done, p.total)))
    for plain, fast in zip(naive_labels, ours):
        assert fast.key == plain.key
        assert abs(fast.p - plain.p) <= 1e-3
        assert abs(fast.p_order1 - plain.p_order1) <= 1e-3
        assert abs(fast.p_order2 - plain.p_order2) <= 1e-3
        assert abs(fast.label_mass - plain.label_mass) <= 1e-3
        assert fast.prompt_tokens == plain.prompt_tokens
    assert progress[-1] == (6, 6)
    # shared prefixes run once: far fewer tokens than the plain way's two whole prompts per pair
    assert exact_labeler.stats.real_tokens - before < 0.75 * sum(label.prompt_tokens for label in naive_labels)


def test_batch_size_does_not_change_the_labels(lm, six_pairs, naive_labels):
    one_by_one = Labeler(lm, LabelingConfig(batch_size=1)).label(six_pairs[:3])
    assert max(abs(a.p - b.p) for a, b in zip(one_by_one, naive_labels)) <= 1e-3


def test_fast_mode_stays_close_to_exact(lm, six_pairs, naive_labels):
    fast = Labeler(lm, LabelingConfig(precision="fast")).label(six_pairs[:3])
    assert max(abs(a.p - b.p) for a, b in zip(fast, naive_labels)) <= 0.02


def test_the_padded_fallback_for_other_architectures_matches_the_plain_way(lm, six_pairs, naive_labels):
    # Checkpoints the fused forward does not cover run the transformers path with padding.
    padded = Labeler(lm, LabelingConfig(), packed=False).label(six_pairs[:3])
    for plain, ours in zip(naive_labels, padded):
        assert abs(ours.p - plain.p) <= 1e-3
        assert abs(ours.p_order1 - plain.p_order1) <= 1e-3
        assert abs(ours.p_order2 - plain.p_order2) <= 1e-3


def test_the_packed_path_a_gpu_runs_matches_the_plain_way_on_the_cpu_too(lm, six_pairs, naive_labels):
    # What build_engine picks on CUDA (torch ops only, one batched attention per layer), forced
    # here on the CPU: the same labels, and the prefixes still computed once per pair.
    labeler = Labeler(lm, LabelingConfig(batch_size=4), portable=True)
    assert isinstance(labeler.engine, PackedEngine) and labeler.engine.fused.batched
    ours = labeler.label(six_pairs)
    for plain, fast in zip(naive_labels, ours):
        assert abs(fast.p - plain.p) <= 1e-3
        assert abs(fast.p_order1 - plain.p_order1) <= 1e-3
        assert abs(fast.p_order2 - plain.p_order2) <= 1e-3
        assert abs(fast.label_mass - plain.label_mass) <= 1e-3
    assert labeler.stats.padded_tokens == 0
    assert labeler.stats.real_tokens < 0.75 * sum(label.prompt_tokens for label in naive_labels)
