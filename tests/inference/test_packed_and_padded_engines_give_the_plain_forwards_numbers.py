"""The inference engine's interface on every implementation (the packed fused forward, the same
on torch ops alone as it runs on a GPU, and the padded transformers fallback): token rows in,
the plain unbatched forward's numbers out, and a row's results do not depend on the rows
beside it or on what is cached."""

import pytest
import torch

from pipeline.inference.engines import build_engine

pytestmark = pytest.mark.slow

HEAD = "<|im_start|>system\nYou answer in one short sentence.<|im_end|>\n<|im_start|>user\n"
QUESTIONS = ["What colour is the sky?", "Name a large animal that lives in the sea, please.", "Why do cats purr?"]


@pytest.fixture(scope="module")
def tokenize(bundled_lm):
    return lambda text: bundled_lm.tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module", params=["packed", "portable", "padded"])
def engine(request, bundled_lm, tokenize):
    engine = build_engine(bundled_lm.model, bundled_lm.tokenizer, packed=request.param != "padded",
                          portable=request.param == "portable", batch_size=2, shared_prefix=tokenize(HEAD))
    assert type(engine).__name__ == ("PaddedEngine" if request.param == "padded" else "PackedEngine")
    return engine


@pytest.fixture(scope="module")
def prefixes(tokenize):
    return [tokenize(HEAD + q + "<|im_end|>\n") for q in QUESTIONS]


def plain_logits(lm, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return lm.model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]  # [T, V]


def test_last_logits_are_the_plain_forwards_and_an_empty_suffix_is_the_prefix_alone(engine, bundled_lm, tokenize, prefixes):
    suffixes = [tokenize("<|im_start|>assistant\n"), tokenize("<|im_start|>assistant\nThe"), [], tokenize("<|im_start|>")]
    prefix_of = [0, 1, 2, 1]
    logits = engine.last_logits(prefixes, suffixes, prefix_of)
    assert logits.shape == (4, bundled_lm.model.config.vocab_size)
    for row, (p, s) in enumerate(zip(prefix_of, suffixes)):
        plain = plain_logits(bundled_lm, prefixes[p] + s)[-1]
        assert torch.allclose(torch.log_softmax(logits[row], -1), torch.log_softmax(plain, -1), atol=1e-3)


def test_token_logprobs_are_the_plain_forwards(engine, bundled_lm, tokenize, prefixes):
    continuations = [tokenize("<|im_start|>assistant\nBlue."), tokenize("<|im_start|>assistant\nA whale.")]
    logprobs = engine.token_logprobs(prefixes, continuations, [0, 1])
    for p, c, ours in zip([0, 1], continuations, logprobs):
        ids = prefixes[p] + c
        logp = torch.log_softmax(plain_logits(bundled_lm, ids).double(), -1)
        plain = torch.stack([logp[t - 1, ids[t]] for t in range(len(prefixes[p]), len(ids))])
        assert ours.shape == (len(c),) and torch.allclose(ours.double(), plain, atol=1e-3)


def test_decoding_does_not_depend_on_the_batch_and_seeds_fix_samples(engine, tokenize, prefixes):
    opener = tokenize("<|im_start|>assistant\n")
    together = engine.decode(prefixes, [opener] * 3, [0, 1, 2], 8)
    alone = engine.decode(prefixes[1:2], [opener], [0], 8)
    assert together[1] == alone[0] and all(0 < len(t) <= 8 for t in together)
    sampled = engine.decode(prefixes, [opener] * 3, [0, 1, 2], 8, n=2, temperature=1.0, seeds=[1, 2, 3, 4, 5, 6])
    again = engine.decode(prefixes[2:], [opener], [0], 8, n=2, temperature=1.0, seeds=[5, 6])
    assert len(sampled) == 6 and sampled[4:] == again


def test_a_second_call_on_the_same_prefixes_runs_only_the_suffixes(engine, tokenize, prefixes):
    suffixes = [tokenize("<|im_start|>assistant\n")] * 3
    engine.last_logits(prefixes, suffixes, [0, 1, 2])
    before = engine.stats.real_tokens
    engine.last_logits(prefixes, suffixes, [0, 1, 2])
    assert engine.stats.real_tokens - before == sum(len(s) for s in suffixes)
    engine.release()
    before = engine.stats.real_tokens
    engine.last_logits(prefixes, suffixes, [0, 1, 2])
    assert engine.stats.real_tokens - before > sum(len(s) for s in suffixes)
