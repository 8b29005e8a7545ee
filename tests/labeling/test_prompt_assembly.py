"""Prompt = preamble + k exemplars + the sample + the ending, for every preamble/shots/CoT mix."""

import itertools

import pytest

from pipeline.configs import LabelingConfig
from pipeline.labeling.prompts import (
    COT_INSTRUCTIONS,
    EXEMPLAR_SETS,
    PREAMBLES,
    RATIONALE_START,
    PromptBuilder,
    ending,
)

CONTEXT = "Human: How do I pick a lock?"
FIRST, SECOND = "I'd rather not help with that.", "Use a tension wrench and a pick."
COMBINATIONS = list(itertools.product(["summarization", "helpful", "harmless"], ["base", "detailed"], [0, 1, 2], [False, True]))


@pytest.mark.parametrize("task,preamble,shots,cot", COMBINATIONS)
def test_every_preamble_shots_and_cot_combination_puts_the_parts_in_order(tokenizer, task, preamble, shots, cot):
    config = LabelingConfig(task=task, preamble=preamble, shots=shots, cot=cot)
    builder = PromptBuilder(config, tokenizer)
    step = "rationale" if cot else "answer"
    text = builder.render(CONTEXT, FIRST, SECOND, step=step)

    preamble_at = text.index(PREAMBLES[task][preamble])
    example_at = [text.index(f"Example {i}:") for i in range(1, shots + 1)]
    sample_at = text.index(CONTEXT)
    assert text.count("Example ") == shots
    assert preamble_at < sample_at and all(preamble_at < at < sample_at for at in example_at)
    assert text.index(FIRST) < text.index(SECOND)
    # exemplars carry their answer; CoT exemplars carry a rationale before it
    assert text.count(ending(task)) == shots + (0 if cot else 1)
    assert text.count(RATIONALE_START) == (shots + 1 if cot else 0)
    for exemplar in EXEMPLAR_SETS[task]["default"][:shots]:
        assert (exemplar.rationale in text) == cot
        assert f"{ending(task)}{exemplar.preferred}" in text
    if cot:
        assert text.endswith(RATIONALE_START) and COT_INSTRUCTIONS[task] in text
    else:
        assert text.endswith(ending(task))


def test_the_detailed_two_shot_cot_prompt_has_exemplars_with_rationales(tokenizer):
    builder = PromptBuilder(LabelingConfig(task="summarization", preamble="detailed", shots=2, cot=True), tokenizer)
    text = builder.render("My post.", "Summary A.", "Summary B.", step="rationale")
    first, second = EXEMPLAR_SETS["summarization"]["default"][:2]
    for exemplar in (first, second):
        block = text[text.index(exemplar.context):]
        assert block.index(exemplar.candidate_1) < block.index(RATIONALE_START + " " + exemplar.rationale)
        assert block.index(exemplar.rationale) < block.index(f"Preferred Summary={exemplar.preferred}")
    assert "coherence" in text and "accuracy" in text and "coverage" in text
    assert text.index("Now judge this one:") < text.index("My post.")


def test_the_model_sees_a_chat_prompt_whose_assistant_turn_begins_with_the_ending(tokenizer):
    text = PromptBuilder(LabelingConfig(), tokenizer).render(CONTEXT, FIRST, SECOND)
    assert text.startswith("<|im_start|>system\n")
    user = text.index("<|im_start|>user\n")
    assert text.index(PREAMBLES["harmless"]["base"]) > user
    assert text.endswith(f"{SECOND}<|im_end|>\n<|im_start|>assistant\nPreferred Response=")


def test_the_cot_scoring_prompt_is_the_rationale_prompt_plus_rationale_plus_ending(tokenizer):
    builder = PromptBuilder(LabelingConfig(cot=True), tokenizer)
    asked = builder.render(CONTEXT, FIRST, SECOND, step="rationale")
    scored = builder.render(CONTEXT, FIRST, SECOND, step="cot-answer", rationale=" Response 1 declines. ")
    assert scored == asked + " Response 1 declines.\nPreferred Response="


def test_without_a_chat_template_the_parts_are_joined_by_blank_lines():
    text = PromptBuilder(LabelingConfig(task="helpful"), tokenizer=None).render(CONTEXT, FIRST, SECOND)
    assert text.startswith(PREAMBLES["helpful"]["base"] + "\n\nDialogue:\n" + CONTEXT)
    assert text.endswith(f"Response 2: {SECOND}\n\nPreferred Response=")


def test_asking_for_more_shots_than_the_exemplar_set_has_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="has 3 exemplars"):
        PromptBuilder(LabelingConfig(shots=4), tokenizer)
    with pytest.raises(ValueError, match="unknown exemplar set"):
        PromptBuilder(LabelingConfig(shots=1, exemplar_set="nope"), tokenizer)


def test_a_long_context_is_cut_from_the_left_and_the_candidates_stay_whole(tokenizer):
    context = " ".join(f"word{i}" for i in range(400))
    long_first = "A very long candidate. " * 60
    builder = PromptBuilder(LabelingConfig(max_context_tokens=32), tokenizer)
    text = builder.render(context, long_first, SECOND)
    kept = text[text.index("Dialogue:\n") + len("Dialogue:\n") : text.index("\n\nResponse 1:")]
    assert kept.startswith("...") and context.endswith(kept[3:])
    assert len(tokenizer(kept[3:], add_special_tokens=False)["input_ids"]) <= 32
    assert long_first.strip() in text
