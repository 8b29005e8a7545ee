"""The AI labeler's scorer: a soft preference over {1, 2} from any causal LM, fast.

Score. After the ending (``Preferred Response=``) the next-token distribution is read at the
answer tokens only::

    m_i = sum_{v in V_i} softmax(logits)_v        V_i = the token ids that spell answer i
    P(1) = m_1 / (m_1 + m_2)                      (= softmax over the two logits when |V_i| = 1)
    label_mass = m_1 + m_2                        (the share of belief that went to an answer)

``V_i`` comes from the labeler's own tokenizer (``answer_token_ids``): the token that follows
the ending in context, the bare "1", and " 1" with a leading space, each kept when it is a
single token, and summed when there are several. Our endings end in "=", so the natural next
token is the bare digit; a SentencePiece-style tokenizer with a single-token "▁1" gets both.
For SmolLM2: V_1 = {33}, V_2 = {34} (" 1" is two tokens, "Ġ" + "1", so it is no candidate).

Position swap. Order 1 shows (c1, c2), order 2 shows (c2, c1); order 2's P("2") is the
probability that c1 wins, so ``p = (p_order1 + p_order2) / 2``, and labelling (c2, c1) gives
1 - p. Chain of thought (two steps): decode a rationale after the CoT request (greedy, or k
samples at temperature T for self-consistency), then score ``prompt + rationale + ending``;
the k distributions are averaged per order, then over the orders.

Fast path (``Labeler``). Each pair is tokenized per order and split into the ids its orders
share (the prefix: chat header, preamble, exemplars, context) and each order's remaining ids
(the suffix: candidates + ending). The inference engine (``pipeline.inference``) computes each
prefix once, on the kept head (chat header + preamble + exemplars), and each suffix on its
pair's prefix, reading only the last position's logits. Pairs go to it in groups whose cached
prefixes fit its memory, so a chain of thought's two steps reuse the same cached prefixes.
Token ids come from tokenizing each order's *whole* prompt and splitting at the longest common
token prefix, so the fast path feeds the model exactly the ids of the plain way
(``reference.score_naive``: one unbatched forward per order, full logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, cast

import torch

from pipeline.configs import LabelingConfig
from pipeline.inference.api import EngineStats
from pipeline.inference.engines import build_engine
from pipeline.inference.sampling import row_seed
from pipeline.inference.staged import lcp
from pipeline.labeling.calibration import CONTENT_FREE, recalibrate
from pipeline.labeling.prompts import PromptBuilder
from pipeline.progress import Progress, ProgressFn

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from pipeline.registry import LoadedModel


@dataclass(frozen=True)
class Sample:
    """One pair to label: a context and two candidates (candidate 1 is shown first in order 1)."""

    context: str
    candidate_1: str
    candidate_2: str
    key: str | None = None


@dataclass
class PairLabel:
    """The soft AI label of one pair.

    p, p_order1, p_order2 are all P(candidate 1 is preferred); p_order2 comes from the swapped
    order (candidate 1 shown second), already mapped back, and is None when swap is off.
    rationales: order 1's rationales, then order 2's (self_consistency each; empty without CoT).
    prompt_tokens: tokens of every prompt the answer was read from or a rationale decoded from,
    counted in full as a hosted API would bill them; generated_tokens: rationale tokens decoded.
    """

    p: float
    p_order1: float
    p_order2: float | None
    label_mass: float
    rationales: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    key: str | None = None

    @property
    def choice(self) -> int | None:
        """1 or 2, the candidate the AI prefers; None for an exact tie (p == 0.5)."""
        return 1 if self.p > 0.5 else 2 if self.p < 0.5 else None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_orders(cls, p_orders: Sequence[float], masses: Sequence[float], *, key: str | None, prompt_tokens: int,
                    rationales: Sequence[str] = (), generated_tokens: int = 0) -> PairLabel:
        """The label of one pair from its orders' P(candidate 1) (one or two, order 2 already
        mapped back) and every answer's label mass."""
        p_order2 = p_orders[1] if len(p_orders) == 2 else None
        return cls(p=combine_orders(p_orders[0], p_order2), p_order1=p_orders[0], p_order2=p_order2,
                   label_mass=sum(masses) / len(masses), rationales=list(rationales), prompt_tokens=prompt_tokens,
                   generated_tokens=generated_tokens, key=key)


def combine_orders(p_order1: float, p_order2: float | None) -> float:
    """Swap average: both probabilities are already P(candidate 1 wins)."""
    return p_order1 if p_order2 is None else (p_order1 + p_order2) / 2


def answer_token_ids(tokenizer: PreTrainedTokenizerBase, ending: str = "=", answers: Sequence[str] = ("1", "2")) -> list[list[int]]:
    """The single-token spellings of each answer: in context after ``ending``, bare, and with a
    leading space. One list of ids per answer; raises if an answer has none or two share one."""
    found: list[list[int]] = []
    before = tokenizer.encode(ending, add_special_tokens=False)
    for answer in answers:
        after = tokenizer.encode(ending + answer, add_special_tokens=False)
        spellings = [after[len(before):] if after[: len(before)] == before else []]
        spellings.append(tokenizer.encode(answer, add_special_tokens=False))
        spellings.append(tokenizer.encode(" " + answer, add_special_tokens=False))
        ids: list[int] = []
        for spelled in spellings:
            if len(spelled) == 1 and spelled[0] not in ids:
                ids.append(spelled[0])
        if not ids:
            raise ValueError(f"the tokenizer has no single token for the answer {answer!r}")
        found.append(ids)
    flat = [i for ids in found for i in ids]
    if len(flat) != len(set(flat)):
        raise ValueError(f"the answers {answers} share a token id: {found}")
    return found


def two_way(logits: torch.Tensor, answer_ids: list[list[int]]) -> tuple[list[float], list[float]]:
    """logits [R, V] at the answer position -> (P(answer 1), label mass), one per row.

    In float64 from the log-softmax, so a tiny mass neither underflows nor loses its ratio;
    64 rows at a time, so the float64 copy stays small however many rows come.
    """
    p1: list[float] = []
    mass: list[float] = []
    for block in logits.split(64):
        logp = torch.log_softmax(block.double(), dim=-1)
        m1 = torch.logsumexp(logp[:, answer_ids[0]], dim=-1)
        m2 = torch.logsumexp(logp[:, answer_ids[1]], dim=-1)
        both = torch.logaddexp(m1, m2)
        p1 += torch.exp(m1 - both).tolist()
        mass += torch.exp(both).tolist()
    return p1, mass


# -- the fast labeler -----------------------------------------------------------------------


# A row of a group: (pair index in the group, order 0 or 1).
_Row = tuple[int, int]
# One row's chain-of-thought samples: P("1"), label mass and rationale of each.
_RowSamples = tuple[list[float], list[float], list[str]]


@dataclass
class _Encoded:
    """A sample tokenized: the ids shared by all its orders, and each order's remaining ids."""

    sample: Sample
    prefix: str
    shared: list[int]
    suffixes: list[list[int]]  # per order: the answer step, or the rationale request with CoT
    full_lengths: list[int]  # whole prompt length per order


class PromptEngine:
    """What the labeler and the direct scorer share: an inference engine over the config's
    precision and batch size, with the prompts' common head kept as its shared prefix."""

    def __init__(self, lm: LoadedModel, config: LabelingConfig, head: str, add_special_tokens: bool, packed: bool,
                 portable: bool | None = None):
        self.config = config
        self.tokenizer = lm.tokenizer
        self.add_special_tokens = add_special_tokens
        self.engine = build_engine(
            lm.model,
            lm.tokenizer,
            precision=config.precision,
            packed=packed,
            portable=portable,
            batch_size=config.batch_size,
            shared_prefix=self._tokenize(head),
        )

    @property
    def stats(self) -> EngineStats:
        return self.engine.stats

    def _tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=self.add_special_tokens)["input_ids"]

    def _with_continuations(self, prompt: str, continuations: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """(prompt ids, each continuation's ids), a continuation taken as the tail of the tokenized
        ``prompt + continuation``, so it is exactly what the model would read after the prompt."""
        ids = self._tokenize(prompt)
        tails = []
        for text in continuations:
            full = self._tokenize(prompt + text)
            if full[: len(ids)] != ids:
                raise ValueError(f"the answer {text!r} merges with the prompt's last token; cannot score it apart")
            tails.append(full[len(ids):])
        return ids, tails


class Labeler(PromptEngine):
    """Labels pairs with an LLM, fast (see the module docstring).

    ``Labeler(lm, config).label(samples, on_progress)`` -> one PairLabel per sample, in order.
    ``lm`` is a ``registry.LoadedModel`` (anything with .model, .tokenizer). ``config.batch_size``
    bounds the pairs in a forward of contexts; answer rows take up to twice as many. ``stats``
    counts what the engine ran (real and padded tokens, forwards). ``packed=False`` runs the
    transformers forward even where the packed one applies (the padded path every other causal
    LM takes; see ``pipeline.inference.engines``); ``portable=True`` runs the packed path as on
    a GPU (torch ops only, batched attention) wherever the model is.
    """

    def __init__(self, lm: LoadedModel, config: LabelingConfig, packed: bool = True, *, portable: bool | None = None):
        self.prompts = PromptBuilder(config, lm.tokenizer)
        self.answer_ids = answer_token_ids(lm.tokenizer, self.prompts.ending)
        super().__init__(lm, config, self.prompts.head, self.prompts.add_special_tokens, packed, portable)
        self._prior: float | None = None

    def content_free_prior(self) -> float:
        """P("1") that this prompt gives a content-free sample (``calibration.CONTENT_FREE``, the
        mean of their order-1 answers): the prior contextual calibration divides out. Measured
        once per labeler."""
        if self._prior is None:
            labels = self._label_all([Sample(text, text, text) for text in CONTENT_FREE], prior=None)
            self._prior = sum(label.p_order1 for label in labels) / len(labels)
        return self._prior

    def _orders(self, sample: Sample) -> list[tuple[str, str]]:
        both = [(sample.candidate_1, sample.candidate_2), (sample.candidate_2, sample.candidate_1)]
        return both[: self.config.orders]

    def _encode(self, sample: Sample) -> _Encoded:
        prefix = self.prompts.prefix(sample.context)
        step = "rationale" if self.config.cot else "answer"
        fulls = [self._tokenize(prefix + self.prompts.suffix(a, b, step=step)) for a, b in self._orders(sample)]
        # Split in token space, so the fast path runs exactly the plain way's ids even for a
        # tokenizer that merges across the string boundary. With both orders the common part
        # also takes in "\n\nResponse 1:" and any words both candidates begin with.
        n = lcp(*fulls) if len(fulls) == 2 else lcp(self._tokenize(prefix), fulls[0])
        n = min(n, min(len(f) for f in fulls) - 1)  # each order keeps >= 1 token to score
        return _Encoded(sample, prefix, fulls[0][:n], [f[n:] for f in fulls], [len(f) for f in fulls])

    @torch.inference_mode()
    def label(self, samples: Sequence[Sample], on_progress: ProgressFn | None = None) -> list[PairLabel]:
        """Label every sample; ``on_progress`` hears the pairs labelled after each group.
        With ``config.calibrate`` each single-order answer has the content-free prior divided out."""
        prior = self.content_free_prior() if self.config.calibrate else None
        return self._label_all(samples, prior=prior, on_progress=on_progress)

    def _label_all(self, samples: Sequence[Sample], *, prior: float | None,
                   on_progress: ProgressFn | None = None) -> list[PairLabel]:
        encoded = [self._encode(s) for s in samples]
        results: list[PairLabel | None] = [None] * len(encoded)
        done = 0
        try:
            for group in self.engine.plan_groups([len(e.shared) for e in encoded]):
                for i, label in zip(group, self._label_group([encoded[i] for i in group], prior)):
                    results[i] = label
                done += len(group)
                if on_progress is not None:
                    on_progress(Progress.durable(done, len(encoded), "labeling"))
        finally:
            self.engine.release()  # the last group's cached contexts
        labels = [label for label in results if label is not None]
        if len(labels) != len(results):  # plan_groups covers every pair, so this cannot happen
            raise RuntimeError(f"{len(results) - len(labels)} pairs were left unlabelled")
        return labels

    def _label_group(self, encoded: list[_Encoded], prior: float | None) -> list[PairLabel]:
        orders = self.config.orders
        rows = [(b, o) for b in range(len(encoded)) for o in range(orders)]
        if self.config.cot:
            per_row, gen_tokens, step2_tokens = self._chain_of_thought(encoded, rows)
        else:
            p1, mass = self._score(encoded, [b for b, _ in rows], [encoded[b].suffixes[o] for b, o in rows])
            per_row = {r: ([p1[i]], [mass[i]], []) for i, r in enumerate(rows)}
            gen_tokens = step2_tokens = {r: 0 for r in rows}

        labels = []
        for b, e in enumerate(encoded):
            p_orders, masses, rationales = [], [], []
            for o in range(orders):
                ps, ms, texts = per_row[(b, o)]
                if prior is not None:  # P("1") of the answer shown, whichever order
                    ps = [recalibrate(x, prior) for x in ps]
                p = sum(ps) / len(ps)
                p_orders.append(p if o == 0 else 1.0 - p)  # order 2 shows candidate 1 second
                masses.extend(ms)
                rationales.extend(texts)
            labels.append(PairLabel.from_orders(
                p_orders, masses, key=e.sample.key, rationales=rationales,
                prompt_tokens=sum(e.full_lengths) + sum(step2_tokens[(b, o)] for o in range(orders)),
                generated_tokens=sum(gen_tokens[(b, o)] for o in range(orders)),
            ))
        return labels

    def _score(self, encoded: list[_Encoded], pair_of_row: list[int], suffixes: list[list[int]]
               ) -> tuple[list[float], list[float]]:
        """P("1") and label mass of each suffix row, on its pair's context."""
        logits = self.engine.last_logits([e.shared for e in encoded], suffixes, pair_of_row)
        return two_way(logits, self.answer_ids)

    # two-step chain of thought --------------------------------------------------------------
    def _chain_of_thought(self, encoded: list[_Encoded], rows: list[_Row]
                          ) -> tuple[dict[_Row, _RowSamples], dict[_Row, int], dict[_Row, int]]:
        """Per (pair, order) row: its samples' (P("1"), mass, rationale) lists, the tokens it
        generated, and the tokens of its step-2 prompts."""
        k = self.config.self_consistency
        samples = [(b, o, j) for b, o in rows for j in range(k)]  # row r's j-th sample is r * k + j
        # Step 1: the rationale request once per (pair, order); k decodes continue from it.
        generated = self.engine.decode(
            [e.shared for e in encoded],
            [encoded[b].suffixes[o] for b, o in rows],
            [b for b, _ in rows],
            self.config.max_rationale_tokens,
            n=k,
            temperature=self.config.temperature if k > 1 else 0.0,
            seeds=[self._seed(encoded[b].sample, o, j) for b, o, j in samples],
        )
        texts = [self._clean(ids) for ids in generated]

        # Step 2: score prompt + rationale + ending, on the cached contexts again.
        suffixes, step2_tokens = [], {r: 0 for r in rows}
        for (b, o, _), text in zip(samples, texts):
            first, second = self._orders(encoded[b].sample)[o]
            full = self._tokenize(encoded[b].prefix + self.prompts.suffix(first, second, step="cot-answer", rationale=text))
            shared = encoded[b].shared
            if full[: len(shared)] != shared:
                raise RuntimeError("the CoT scoring prompt does not start with the shared prefix tokens")
            suffixes.append(full[len(shared):])
            step2_tokens[(b, o)] += len(full)
        p1, mass = self._score(encoded, [b for b, _, _ in samples], suffixes)

        per_row: dict[_Row, _RowSamples] = {r: ([], [], []) for r in rows}
        gen_tokens = {r: 0 for r in rows}
        for i, (b, o, _) in enumerate(samples):
            per_row[(b, o)][0].append(p1[i])
            per_row[(b, o)][1].append(mass[i])
            per_row[(b, o)][2].append(texts[i])
            gen_tokens[(b, o)] += len(generated[i])
        return per_row, gen_tokens, step2_tokens

    def _seed(self, sample: Sample, order: int, j: int) -> int:
        return row_seed(self.config.seed, sample.context, sample.candidate_1, sample.candidate_2, order, j)

    def _clean(self, ids: list[int]) -> str:
        """The rationale text: special tokens dropped, on one line, cut where the model starts
        giving the answer itself (the ending is appended after it in step 2)."""
        # One id list decodes to one string; transformers declares str | list[str] for every input.
        text = cast(str, self.tokenizer.decode(ids, skip_special_tokens=True))
        cut = text.find(self.prompts.ending)
        if cut >= 0:
            text = text[:cut]
        return " ".join(text.split())
