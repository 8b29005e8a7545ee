"""Direct scoring: P(score) for every score 1..10 from the full continuation "<i>/10",
normalised; expected score mapped onto [-1, 1]."""

import pytest
import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.direct import DirectScorer, score_from_logprobs
from pipeline.labeling.prompts import score_continuation


def test_all_belief_on_ten_is_reward_one_on_one_is_minus_one_and_uniform_is_zero():
    never = -1e9
    assert score_from_logprobs([never] * 9 + [0.0]).reward == pytest.approx(1.0)
    assert score_from_logprobs([0.0] + [never] * 9).reward == pytest.approx(-1.0)
    uniform = score_from_logprobs([-2.3] * 10)
    assert uniform.expected == pytest.approx(5.5) and uniform.reward == pytest.approx(0.0)


def test_ten_is_a_two_token_continuation_for_the_bundled_tokenizer(tokenizer):
    assert tokenizer.encode("10", add_special_tokens=False) == [33, 32]
    assert tokenizer.encode(score_continuation(10), add_special_tokens=False)[:2] == [33, 32]


@pytest.mark.slow
def test_direct_scores_are_distributions_with_rewards_in_minus_one_to_one(lm, six_pairs):
    scorer = DirectScorer(lm, LabelingConfig())
    samples = six_pairs[:2]
    scores = scorer.score([s.context for s in samples], [s.candidate_1 for s in samples])
    for score in scores:
        assert len(score.probs) == 10 and sum(score.probs) == pytest.approx(1.0, abs=1e-9)
        assert -1.0 <= score.reward <= 1.0
        assert score.expected == pytest.approx(sum(i * p for i, p in zip(range(1, 11), score.probs)))
        assert score.reward == pytest.approx((score.expected - 5.5) / 4.5)
        assert score.probs[9] != pytest.approx(score.probs[0], abs=1e-6)


@pytest.mark.slow
def test_ten_is_scored_as_a_whole_continuation(lm, six_pairs):
    """P("10") comes from "1", "0", "/", "1", "0": checked against plain full forwards."""
    scorer = DirectScorer(lm, LabelingConfig())
    sample = six_pairs[0]
    (score,) = scorer.score([sample.context], [sample.candidate_1])
    prompt = scorer.prompts.prompt(sample.context, sample.candidate_1)
    prompt_ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    logprobs = []
    with torch.inference_mode():
        for i in range(1, 11):
            ids = lm.tokenizer(prompt + score_continuation(i), add_special_tokens=False)["input_ids"]
            logp = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0].double(), dim=-1)
            logprobs.append(sum(float(logp[t - 1, ids[t]]) for t in range(len(prompt_ids), len(ids))))
            if i == 10:
                assert ids[len(prompt_ids) : len(prompt_ids) + 2] == [33, 32]
    plain = score_from_logprobs(logprobs)
    assert score.probs == pytest.approx(plain.probs, abs=1e-4)
    # Reading only the next token would give "1" the belief of "1/10", "10/10" and more.
    with torch.inference_mode():
        first = torch.softmax(lm.model(input_ids=torch.tensor([prompt_ids])).logits[0, -1].double(), dim=-1)[33]
    p_one, p_ten = (float(torch.exp(torch.tensor(logprobs[k]))) for k in (0, 9))
    assert p_one + p_ten <= float(first) + 1e-9
