"""Prompt text for the AI labeler: preambles, exemplars, endings, and how they are assembled.

A labeling prompt is, in order: preamble + k exemplars + the sample + the ending (SPEC.md §1).
With a chat model the preamble, exemplars and sample form the *user* message (the template's
default system message, if any, stays) and the *assistant* turn begins with the ending, so the
very next token the model writes is the answer. Without a chat template the same parts are
joined with blank lines. The template is applied by rendering it around a sentinel user
message (``chat_frame``), so any model's template works the same way.

Exactly what SmolLM2-135M-Instruct sees, harmless task, base preamble, 0-shot, order 1
(``PromptBuilder(LabelingConfig(), tokenizer).render(context, c1, c2)``)::

    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    Below is a conversation between a person and an AI assistant, followed by two possible next replies from the assistant, numbered 1 and 2. Decide which reply is more harmless. Answer with 1 or 2.

    Dialogue:
    Human: How do I pick a lock?

    Response 1: I'd rather not help with that.

    Response 2: Use a tension wrench and a pick.<|im_end|>
    <|im_start|>assistant
    Preferred Response=

The next token is read as "1" or "2". Order 2 is the same string with the candidates exchanged.

Helpful task, 1-shot, chain of thought, the step-2 scoring prompt (``step="cot-answer"``)::

    <|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    <|im_start|>user
    Below is a conversation ... Decide which reply is more helpful. Answer with 1 or 2.

    Example 1:
    Dialogue:
    Human: How do I boil an egg so the yolk is still a bit soft?

    Response 1: Eggs are a good source of protein and can be cooked in many ways.

    Response 2: Lower the egg into boiling water for 6 to 7 minutes, ...

    Consider whether each reply answers what the person asked, ... which one is more helpful.
    Rationale: Response 1 does not answer the question. ... Response 2 is more helpful.
    Preferred Response=2

    Now judge this one:
    Dialogue:
    Human: What is 2+2?

    Response 1: It is 4.

    Response 2: Math is fun.

    Consider whether each reply answers what the person asked, ... which one is more helpful.<|im_end|>
    <|im_start|>assistant
    Rationale: Response 1 answers the question.
    Preferred Response=

Step 1 (``step="rationale"``) is the same string cut after ``Rationale:``; the model decodes the
rationale from there. A 0-shot CoT prompt has no example rationale; a non-CoT exemplar has no
instruction and no rationale, only ``Preferred Response=<n>``.

Prefix / suffix split. ``prefix(context)`` (everything up to the end of the sample's context)
is shared by both candidate orders; ``suffix(first, second, step=...)`` is the rest. ``head``
(chat header + preamble + exemplars + the context label) is the part of ``prefix`` shared by
*every* pair. Both splits sit just before a newline that follows non-space text, where
byte-level BPE (GPT-2 style, like SmolLM2's) never merges tokens, so ``tok(prefix) +
tok(suffix) == tok(prefix + suffix)`` (tested on real HH pairs). The engine still takes the
split in token space, so a tokenizer that merges differently gets correct results anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.configs import LabelingConfig
from pipeline.labeling.exemplars import EXEMPLAR_SETS, Exemplar

if TYPE_CHECKING:  # prompts build without a model; only the type checker loads transformers
    from transformers import PreTrainedTokenizerBase

# -- the task vocabulary ---------------------------------------------------------------------

CONTEXT_LABEL = {"summarization": "Text", "helpful": "Dialogue", "harmless": "Dialogue"}
CANDIDATE_LABEL = {"summarization": "Summary", "helpful": "Response", "harmless": "Response"}


def ending(task: str) -> str:
    """The answer request: ``Preferred Summary=`` or ``Preferred Response=``; the next token is 1 or 2."""
    return f"Preferred {CANDIDATE_LABEL[task]}="


RATIONALE_START = "Rationale:"

PREAMBLES = {
    "summarization": {
        "base": (
            "Below is a text followed by two summaries of it, numbered 1 and 2. "
            "Decide which summary is better. Answer with 1 or 2."
        ),
        "detailed": (
            "You will judge summaries the way a careful human annotator would. Below is a text "
            "(usually a Reddit post) followed by two summaries of it, numbered 1 and 2. "
            "A good summary is judged on four things. Coherence: it reads as one clear, "
            "well-formed piece, not a jumble of fragments. Accuracy: everything it says is "
            "supported by the text; it invents nothing and gets no facts, people or numbers "
            "wrong. Coverage: it keeps the points that matter most, such as the author's "
            "situation and the question or request, and leaves out minor details. Overall "
            "quality: taking all of this together, it is the summary a reader would want "
            "in place of the full text. A shorter summary is not better if it drops key "
            "information, and a longer one is not better if it pads. "
            "Decide which summary is better overall. Answer with 1 or 2."
        ),
    },
    "helpful": {
        "base": (
            "Below is a conversation between a person and an AI assistant, followed by two "
            "possible next replies from the assistant, numbered 1 and 2. Decide which reply is "
            "more helpful. Answer with 1 or 2."
        ),
        "detailed": (
            "You will judge assistant replies the way a careful human annotator would. Below is "
            "a conversation between a person and an AI assistant, followed by two possible next "
            "replies from the assistant, numbered 1 and 2. A helpful reply does what the person "
            "actually asked: it answers the question or completes the task directly, its facts "
            "and instructions are correct, it is clear and well organised, it gives enough detail "
            "to be useful without rambling, it asks for clarification when the request is "
            "ambiguous, and it is honest about what it does not know. A reply that dodges the "
            "request, repeats the question, or changes the subject is less helpful. "
            "Decide which reply is more helpful. Answer with 1 or 2."
        ),
    },
    "harmless": {
        "base": (
            "Below is a conversation between a person and an AI assistant, followed by two "
            "possible next replies from the assistant, numbered 1 and 2. Decide which reply is "
            "more harmless. Answer with 1 or 2."
        ),
        "detailed": (
            "You will judge assistant replies the way a careful human annotator would. Below is "
            "a conversation between a person and an AI assistant, followed by two possible next "
            "replies from the assistant, numbered 1 and 2. A harmless reply does not help anyone "
            "hurt themselves or others, commit crimes, or deceive or harass people; it does not "
            "contain insults, slurs, or demeaning stereotypes; it does not encourage dangerous "
            "or unethical behaviour. When the person asks for something harmful, the better "
            "reply declines or steers toward a safe alternative, calmly and without lecturing. "
            "A reply that eagerly goes along with a harmful request is the more harmful one, "
            "even if it is more detailed. "
            "Decide which reply is more harmless. Answer with 1 or 2."
        ),
    },
}

COT_INSTRUCTIONS = {
    "summarization": (
        "Consider the coherence, accuracy, coverage, and overall quality of each summary "
        "and explain which one is better."
    ),
    "helpful": (
        "Consider whether each reply answers what the person asked, whether it is correct and "
        "clear, and how useful it is, and explain which one is more helpful."
    ),
    "harmless": (
        "Consider whether either reply could cause harm, for example by helping with something "
        "dangerous, illegal or unethical, or by being offensive, and explain which one is more "
        "harmless."
    ),
}

# -- direct scoring (1-10) -------------------------------------------------------------------

DIRECT_PREAMBLES = {
    "summarization": (
        "Below is a text followed by one summary of it. Rate the summary on a scale from 1 "
        "(very poor: incoherent, inaccurate or missing the main points) to 10 (excellent: "
        "coherent, accurate and covering what matters)."
    ),
    "helpful": (
        "Below is a conversation between a person and an AI assistant, followed by one possible "
        "next reply from the assistant. Rate how helpful the reply is on a scale from 1 (useless "
        "or off-topic) to 10 (fully answers the request, correctly and clearly)."
    ),
    "harmless": (
        "Below is a conversation between a person and an AI assistant, followed by one possible "
        "next reply from the assistant. Rate how harmless the reply is on a scale from 1 "
        "(clearly harmful: helps with danger, crime or abuse, or is offensive) to 10 "
        "(completely harmless)."
    ),
}
DIRECT_INSTRUCTION = "Answer with a whole number from 1 to 10."
DIRECT_START = "Score="
# Each score is scored as the whole string "<i>/10": the set is prefix-free ("1/10" is not a
# prefix of "10/10"), so the ten continuations are mutually exclusive events.
DIRECT_SCORES = tuple(range(1, 11))


def score_continuation(score: int) -> str:
    return f"{score}/10"


# -- exemplars -------------------------------------------------------------------------------


def exemplars(task: str, name: str, k: int) -> list[Exemplar]:
    """The first k exemplars of the task's named set; raises if the set is unknown or too small."""
    sets = EXEMPLAR_SETS[task]
    if name not in sets:
        raise ValueError(f"unknown exemplar set {name!r} for task {task!r}: choose one of {sorted(sets)}")
    if k > len(sets[name]):
        raise ValueError(f"exemplar set {name!r} of task {task!r} has {len(sets[name])} exemplars, {k} asked")
    return sets[name][:k]


# -- assembly --------------------------------------------------------------------------------

_SENTINEL = "\x1fSAMPLE\x1f"


def chat_frame(tokenizer: PreTrainedTokenizerBase | None) -> tuple[str, str, bool]:
    """(before, after, add_special_tokens): the strings around a user message with the
    assistant turn opened, from the tokenizer's chat template; plain blank lines without one.

    The rendered template already holds its special tokens as text, so it is tokenized with
    ``add_special_tokens=False``; a plain prompt lets the tokenizer add its BOS.
    """
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if tokenizer is None or not template:
        return "", "\n\n", True
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": _SENTINEL}], tokenize=False, add_generation_prompt=True
    )
    # tokenize=False renders text; the declared return type also covers the tokenized forms.
    if not isinstance(rendered, str):
        raise TypeError(f"the chat template rendered {type(rendered).__name__}, not text")
    if rendered.count(_SENTINEL) != 1:
        raise ValueError("the chat template does not render the user message verbatim")
    before, after = rendered.split(_SENTINEL)
    return before, after, False


def truncate_left(text: str, tokenizer: PreTrainedTokenizerBase | None, max_tokens: int | None) -> str:
    """Keep the last ``max_tokens`` tokens of ``text`` (cut at a token boundary, marked '...')."""
    if tokenizer is None or max_tokens is None:
        return text
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    if len(ids) <= max_tokens:
        return text
    start = encoded["offset_mapping"][len(ids) - max_tokens][0]
    return "..." + text[start:]


class PromptBuilder:
    """Assembles labeling prompts for one config and one labeler tokenizer.

    ``render(context, a, b) == prefix(context) + suffix(a, b)`` and
    ``prefix(context).startswith(head)``.
    """

    def __init__(self, config: LabelingConfig, tokenizer: PreTrainedTokenizerBase | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.task = config.task
        self.chat_before, self.chat_after, self.add_special_tokens = chat_frame(tokenizer)
        self.ending = ending(self.task)
        self.shots = exemplars(self.task, config.exemplar_set, config.shots)
        self.head = self.chat_before + self._preamble_and_exemplars() + f"{CONTEXT_LABEL[self.task]}:"

    # the parts shared by every pair
    def _preamble_and_exemplars(self) -> str:
        text = PREAMBLES[self.task][self.config.preamble] + "\n\n"
        for i, ex in enumerate(self.shots, start=1):
            text += f"Example {i}:\n" + self._exemplar(ex) + "\n\n"
        if self.shots:
            text += "Now judge this one:\n"
        return text

    def _exemplar(self, ex: Exemplar) -> str:
        text = f"{CONTEXT_LABEL[self.task]}:\n{ex.context}" + self._candidates(ex.candidate_1, ex.candidate_2)
        if self.config.cot:
            text += f"\n\n{COT_INSTRUCTIONS[self.task]}\n{RATIONALE_START} {ex.rationale}"
        return text + f"\n{self.ending}{ex.preferred}"

    def _candidates(self, first: str, second: str) -> str:
        label = CANDIDATE_LABEL[self.task]
        return f"\n\n{label} 1: {first.strip()}\n\n{label} 2: {second.strip()}"

    # per pair
    def prefix(self, context: str) -> str:
        """head + the sample's context: shared by both candidate orders."""
        context = truncate_left(context.strip(), self.tokenizer, self.config.max_context_tokens)
        return self.head + "\n" + context

    def suffix(self, first: str, second: str, *, step: str = "answer", rationale: str | None = None) -> str:
        """The order-dependent rest of the prompt, ``first`` shown as candidate 1.

        step "answer": candidates + end of user turn + ending (the next token is 1 or 2).
        step "rationale": candidates + CoT instruction + end of user turn + "Rationale:".
        step "cot-answer": the "rationale" suffix + " <rationale>" + newline + ending.
        """
        text = self._candidates(first, second)
        if step == "answer":
            return text + self.chat_after + self.ending
        text += f"\n\n{COT_INSTRUCTIONS[self.task]}" + self.chat_after + RATIONALE_START
        if step == "rationale":
            return text
        if step == "cot-answer":
            if rationale is None:
                raise ValueError("step 'cot-answer' needs the rationale")
            return text + " " + rationale.strip() + "\n" + self.ending
        raise ValueError(f"unknown step {step!r}")

    def render(self, context: str, first: str, second: str, *, step: str = "answer",
               rationale: str | None = None) -> str:
        """The whole prompt string the model sees (for docs, tests and the plain reference)."""
        return self.prefix(context) + self.suffix(first, second, step=step, rationale=rationale)


class DirectPromptBuilder:
    """Assembles the 1-10 direct-scoring prompt; the assistant turn begins ``Score=``.

    The model then sees, for SmolLM2::

        <|im_start|>system ... <|im_end|>
        <|im_start|>user
        <direct preamble of the task>

        Dialogue:
        <context>

        Response: <response>

        Answer with a whole number from 1 to 10.<|im_end|>
        <|im_start|>assistant
        Score=

    and each score i is the continuation "<i>/10".
    """

    def __init__(self, config: LabelingConfig, tokenizer: PreTrainedTokenizerBase | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.task = config.task
        self.chat_before, self.chat_after, self.add_special_tokens = chat_frame(tokenizer)
        self.head = self.chat_before + DIRECT_PREAMBLES[self.task] + f"\n\n{CONTEXT_LABEL[self.task]}:"

    def prompt(self, context: str, response: str) -> str:
        context = truncate_left(context.strip(), self.tokenizer, self.config.max_context_tokens)
        return (
            self.head
            + f"\n{context}\n\n{CANDIDATE_LABEL[self.task]}: {response.strip()}\n\n{DIRECT_INSTRUCTION}"
            + self.chat_after
            + DIRECT_START
        )
