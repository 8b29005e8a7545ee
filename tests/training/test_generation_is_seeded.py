"""Policy samples for raters are reproducible: same seed and prompt, same text, whatever the batch."""

import pytest

from pipeline import registry
from pipeline.configs import GenerationConfig
from pipeline.generation import generate_samples
from pipeline.tokens import format_prompt

CONTEXTS = ["Human: Tell me a joke.", "Human: What is the capital of France?\n\nAssistant: Paris.\n\nHuman: And of Italy?",
            "Summarise: the cat sat on the mat all day long.", "Human: hi"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, artifact_root):
    return registry.load_causal_lm(str(tiny_model_dir), artifact_root)


def test_the_same_seed_gives_the_same_text(tiny):
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=7, batch_size=4)
    first = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS, config)
    second = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS, config)
    assert [s.text for s in first] == [s.text for s in second]
    assert all(s.num_tokens > 0 for s in first)


def test_a_different_seed_gives_different_text(tiny):
    a = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=1))
    b = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=2))
    assert [s.text for s in a] != [s.text for s in b]


def test_a_response_does_not_depend_on_batch_size_or_order(tiny):
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=3, batch_size=4)
    together = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS, config)
    alone = generate_samples(tiny.model, tiny.tokenizer, CONTEXTS[::-1], config.replace(batch_size=1))[::-1]
    assert [s.text for s in together] == [s.text for s in alone]


def test_token_counts_and_the_eos_cut_are_reported(bundled_lm):
    samples = generate_samples(bundled_lm.model, bundled_lm.tokenizer, ["Human: What is the capital of France?"],
                               GenerationConfig(max_new_tokens=24, temperature=0.0))
    assert "Paris" in samples[0].text
    ids = bundled_lm.tokenizer(samples[0].text, add_special_tokens=False)["input_ids"]
    assert abs(samples[0].num_tokens - len(ids)) <= 1  # re-tokenising the stripped text may merge a space


def test_hh_dialogues_become_chat_turns(tiny):
    prompt = format_prompt(tiny.tokenizer, CONTEXTS[1])
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in prompt
    assert "<|im_start|>assistant\nParis.<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert format_prompt(tiny.tokenizer, "already formatted", chat_template=False) == "already formatted"
