"""The KL reference's log-probabilities (no gradient) come from the inference engine's packed
float32 forward, each prompt once for its samples, and match a plain forward of the reference
model within 1e-4: the frozen SFT copy under full fine-tuning, and the policy with its adapters
switched off under LoRA (trained adapters must not leak in), at temperature 1 and below."""

from itertools import islice

import pytest
import torch

from pipeline.configs import RLConfig
from pipeline.data import read
from pipeline.distributed import Ranks
from pipeline.generation import generation_engine
from pipeline.rl.loop import build_learner, response_logprobs
from pipeline.steps import Laps

pytestmark = pytest.mark.slow


def _contexts(path, count: int) -> list[str]:
    """The first HH dialogues short enough to keep the test quick."""
    return [r.context for r in islice(read(path, "hh"), 200) if len(r.context) < 400][:count]


@pytest.mark.parametrize(("lora", "temperature"), [(True, 1.0), (False, 0.7)])
def test_reference_logprobs_match_a_plain_forward_of_the_reference(hh_path, artifact_root, lora, temperature):
    config = RLConfig(lora=lora, temperature=temperature, batch_size=2, samples_per_prompt=2, max_new_tokens=12, device="cpu")
    contexts = _contexts(hh_path, 2)
    learner = build_learner(config, contexts, artifact_root, Ranks())
    if lora:  # adapters as if trained: their term must be switched off for the reference
        torch.manual_seed(0)
        with torch.no_grad():
            for name, p in learner.policy.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.02)
    batch = learner.rollout([0, 1], 0, contexts, lambda c, r: [0.0] * len(r), Laps())

    ref = learner.reference_logprobs(batch)
    assert ref.shape == batch.tokens.shape and ref.dtype == torch.float32

    reference = learner.reference if learner.reference is not None else learner.policy
    assert generation_engine(reference, learner.tokenizer, 4) is not None, "the engine's path, not the fallback"
    with torch.no_grad():
        if lora:
            with reference.disable_adapter():
                plain = response_logprobs(reference, batch.ids, batch.mask, batch.tokens, batch.token_mask, 2, temperature)
        else:
            plain = response_logprobs(reference, batch.ids, batch.mask, batch.tokens, batch.token_mask, 2, temperature)
    mask = batch.token_mask.bool()
    assert mask.sum() > 0
    assert torch.allclose(ref[mask], plain[mask], atol=1e-4), (ref[mask] - plain[mask]).abs().max()
    assert (ref[~mask] == 0).all()
    if lora:  # the policy itself (adapters on) scores the responses differently
        with torch.no_grad():
            policy = learner.logprobs(batch)
        assert (policy[mask] - ref[mask]).abs().max() > 1e-3
