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

Fast path (``Labeler``). Work is split into groups of pairs sorted by context length; a group
runs in three stages, each on the KV cache of the one before, so no token is computed twice:

    G  head: chat header + preamble + exemplars       [1, g]     once per Labeler
    C  each pair's context                            [b, c]     batches of pairs
    S  each (pair, order) suffix: candidates + ending [r, s]     batches re-sorted by suffix
                                                                 length, each row on its
                                                                 pair's cached context

Only the last position's logits are computed. Stages C and S are sorted and batched separately
(``plan_batches``). With Llama-style models the runner packs rows (no padding at all, see
``fused``); otherwise C is right-padded and S left-padded, so no query ever faces an
all-masked row, and the sorting keeps padding at a few per cent. Token ids come from
tokenizing each order's *whole* prompt and splitting at the longest common token prefix, so
the fast path feeds the model exactly the ids of the plain way (``score_naive``: one unbatched
forward per order, full logits).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from pipeline.configs import LabelingConfig
from pipeline.labeling.prompts import PromptBuilder
from pipeline.progress import Progress, ProgressFn
from pipeline.labeling.runtime import (
    BatchRunner,
    EngineStats,
    HeadCache,
    KVState,
    RowRef,
    lcp,
    model_for_precision,
    pad_token_id,
    plan_batches,
)
from pipeline.tokens import eos_ids


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


def combine_orders(p_order1: float, p_order2: float | None) -> float:
    """Swap average: both probabilities are already P(candidate 1 wins)."""
    return p_order1 if p_order2 is None else (p_order1 + p_order2) / 2


def answer_token_ids(tokenizer, ending: str = "=", answers: Sequence[str] = ("1", "2")) -> list[list[int]]:
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

    In float64 from the log-softmax, so a tiny mass neither underflows nor loses its ratio.
    """
    logp = torch.log_softmax(logits.double(), dim=-1)
    m1 = torch.logsumexp(logp[:, answer_ids[0]], dim=-1)
    m2 = torch.logsumexp(logp[:, answer_ids[1]], dim=-1)
    both = torch.logaddexp(m1, m2)
    return torch.exp(m1 - both).tolist(), torch.exp(both).tolist()


def row_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed fixed by content, so sampling does not depend on batching or work order."""
    digest = hashlib.sha256(repr((seed,) + parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# -- the fast labeler -----------------------------------------------------------------------

# KV memory a group of pairs may hold at once (their contexts stay cached while suffixes run).
GROUP_KV_BYTES = 768 * 2**20
GROUP_MAX_PAIRS = 64


@dataclass
class _Encoded:
    """A sample tokenized: the ids shared by all its orders, and each order's remaining ids."""

    sample: Sample
    prefix: str
    shared: list[int]
    suffixes: list[list[int]]  # per order: the answer step, or the rationale request with CoT
    full_lengths: list[int]  # whole prompt length per order


@dataclass
class _Contexts:
    """Stage C of a group: where each pair's cached context row is, cut to its real length
    (the batches were right-padded or packed, so a row's real tokens come first)."""

    refs: list[RowRef]

    def rows(self, pairs: list[int]) -> list[RowRef]:
        return [self.refs[p] for p in pairs]


class Labeler:
    """Labels pairs with an LLM, fast (see the module docstring for the stages).

    ``Labeler(lm, config).label(samples, on_progress)`` -> one PairLabel per sample, in order.
    ``lm`` is a ``registry.LoadedModel`` (anything with .model, .tokenizer, .device).
    ``config.batch_size`` bounds the pairs in a stage-C forward; stage S takes up to twice as
    many rows. ``stats`` counts what was run (real and padded tokens, forwards).
    ``packed=False`` runs the transformers forward even where the packed one applies (the
    generic path every other causal LM takes; see ``runtime.BatchRunner``).
    """

    def __init__(self, lm, config: LabelingConfig, packed: bool = True):
        self.config = config
        self.tokenizer = lm.tokenizer
        self.device = lm.device
        self.model = model_for_precision(lm, config.precision)
        self.prompts = PromptBuilder(config, lm.tokenizer)
        self.answer_ids = answer_token_ids(lm.tokenizer, self.prompts.ending)
        self.eos = eos_ids(self.model, lm.tokenizer)
        self.stats = EngineStats()
        self.runner = BatchRunner(self.model, pad_token_id(lm.tokenizer, self.eos), self.device, self.stats, packed=packed)
        self.head = HeadCache(self.runner, self._tokenize(self.prompts.head))

    def _tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=self.prompts.add_special_tokens)["input_ids"]

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
        """Label every sample; ``on_progress`` hears the pairs labelled after each group."""
        encoded = [self._encode(s) for s in samples]
        results: list[PairLabel | None] = [None] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].shared))
        done = 0
        for group in self._groups([encoded[i] for i in order]):
            for i, label in zip(order[done : done + len(group)], self._label_group(group)):
                results[i] = label
            done += len(group)
            if on_progress is not None:
                on_progress(Progress.durable(done, len(encoded), "labeling"))
        return results  # type: ignore[return-value]

    def _groups(self, encoded: list[_Encoded]) -> list[list[_Encoded]]:
        """Consecutive runs of the length-sorted pairs whose padded context caches fit the budget."""
        if not encoded:
            return []
        per_token = self.head.get([encoded[0].shared])[1].bytes_per_token()
        groups: list[list[_Encoded]] = [[]]
        for e in encoded:
            full = len(groups[-1]) >= GROUP_MAX_PAIRS or (len(groups[-1]) + 1) * len(e.shared) * per_token > GROUP_KV_BYTES
            if groups[-1] and full:
                groups.append([])
            groups[-1].append(e)
        return groups

    def _contexts(self, encoded: list[_Encoded]) -> _Contexts:
        """Stage C: every pair's context on the head cache, right-padded (or packed), in planned batches."""
        n, head = self.head.get([e.shared for e in encoded])
        refs: list[RowRef | None] = [None] * len(encoded)
        for batch in plan_batches([len(e.shared) - n for e in encoded], self.config.batch_size, padded=self.runner.pads):
            rows = [encoded[i].shared[n:] for i in batch]
            _, state = self.runner.forward(rows, head.refs([0] * len(batch)), side="right")
            for row, i in enumerate(batch):
                refs[i] = RowRef(state, row, len(encoded[i].shared))
        return _Contexts(refs)  # type: ignore[arg-type]

    def _suffix_batches(self, ctx: _Contexts, pair_of_row: list[int], suffixes: list[list[int]], max_rows: int):
        """Stage S: yields (row indices, last logits [R, V], state) over planned batches of the
        suffix rows (left-padded, or packed), each row on its pair's cached context (gathered, trimmed)."""
        for batch in plan_batches([len(s) for s in suffixes], max_rows, padded=self.runner.pads):
            past = ctx.rows([pair_of_row[r] for r in batch])
            logits, state = self.runner.forward([suffixes[r] for r in batch], past, side="left")
            yield batch, logits, state

    def _score_rows(self, ctx: _Contexts, pair_of_row: list[int], suffixes: list[list[int]]):
        """P("1") and label mass of each suffix row."""
        p1, mass = [0.0] * len(suffixes), [0.0] * len(suffixes)
        for batch, logits, _ in self._suffix_batches(ctx, pair_of_row, suffixes, 2 * self.config.batch_size):
            for r, p, m in zip(batch, *two_way(logits, self.answer_ids)):
                p1[r], mass[r] = p, m
        return p1, mass

    def _label_group(self, encoded: list[_Encoded]) -> list[PairLabel]:
        ctx = self._contexts(encoded)
        orders = self.config.orders
        rows = [(b, o) for b in range(len(encoded)) for o in range(orders)]
        self.stats.naive_tokens += sum(sum(e.full_lengths) for e in encoded)
        if self.config.cot:
            per_row, gen_tokens, step2_tokens = self._chain_of_thought(encoded, ctx, rows)
        else:
            p1, mass = self._score_rows(ctx, [b for b, _ in rows], [encoded[b].suffixes[o] for b, o in rows])
            per_row = {r: ([p1[i]], [mass[i]], []) for i, r in enumerate(rows)}
            gen_tokens = step2_tokens = {r: 0 for r in rows}

        labels = []
        for b, e in enumerate(encoded):
            p_orders, masses, rationales = [], [], []
            for o in range(orders):
                ps, ms, texts = per_row[(b, o)]
                p = sum(ps) / len(ps)
                p_orders.append(p if o == 0 else 1.0 - p)  # order 2 shows candidate 1 second
                masses.extend(ms)
                rationales.extend(texts)
            p_order2 = p_orders[1] if orders == 2 else None
            labels.append(
                PairLabel(
                    p=combine_orders(p_orders[0], p_order2),
                    p_order1=p_orders[0],
                    p_order2=p_order2,
                    label_mass=sum(masses) / len(masses),
                    rationales=rationales,
                    prompt_tokens=sum(e.full_lengths) + sum(step2_tokens[(b, o)] for o in range(orders)),
                    generated_tokens=sum(gen_tokens[(b, o)] for o in range(orders)),
                    key=e.sample.key,
                )
            )
        return labels

    # two-step chain of thought --------------------------------------------------------------
    def _chain_of_thought(self, encoded: list[_Encoded], ctx: _Contexts, rows: list[tuple[int, int]]):
        k = self.config.self_consistency
        samples = [(b, o, j) for b, o in rows for j in range(k)]  # row r's j-th sample is r * k + j
        generated: list[list[int]] = [[] for _ in samples]
        # Step 1: the rationale request once per (pair, order); the k decodes continue from it.
        suffixes = [encoded[b].suffixes[o] for b, o in rows]
        max_rows = max(1, 2 * self.config.batch_size // k)
        for batch, logits, state in self._suffix_batches(ctx, [b for b, _ in rows], suffixes, max_rows):
            expand = torch.arange(len(batch), device=self.device).repeat_interleave(k)
            ids = [r * k + j for r in batch for j in range(k)]
            seeds = [self._seed(encoded[samples[i][0]].sample, *samples[i][1:]) for i in ids]
            for i, out in zip(ids, self._decode(logits.index_select(0, expand), state.refs(expand.tolist()), seeds)):
                generated[i] = out
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
        p1, mass = self._score_rows(ctx, [b for b, _, _ in samples], suffixes)

        per_row = {r: ([], [], []) for r in rows}
        gen_tokens = {r: 0 for r in rows}
        for i, (b, o, _) in enumerate(samples):
            per_row[(b, o)][0].append(p1[i])
            per_row[(b, o)][1].append(mass[i])
            per_row[(b, o)][2].append(texts[i])
            gen_tokens[(b, o)] += len(generated[i])
        return per_row, gen_tokens, step2_tokens

    def _seed(self, sample: Sample, order: int, j: int) -> int:
        return row_seed(self.config.seed, sample.context, sample.candidate_1, sample.candidate_2, order, j)

    def _decode(self, logits: torch.Tensor, past: list[RowRef], seeds: list[int]) -> list[list[int]]:
        """Greedy (self_consistency 1) or temperature sampling, up to max_rationale_tokens or EOS.

        The rows are gathered once with room for the whole rationale; each step then writes its
        keys/values in place (no copy of the past per step).

        Sampling is Gumbel-max, ``argmax(logits / T + g)`` with g ~ Gumbel(0, 1) drawn from one
        generator per row seeded by content, so a pair's rationales do not depend on its batch.
        """
        greedy = self.config.self_consistency == 1
        generators = []
        for seed in [] if greedy else seeds:
            generators.append(torch.Generator(device=self.device))
            generators[-1].manual_seed(seed)
        out: list[list[int]] = [[] for _ in seeds]
        finished = [False] * len(seeds)
        for step in range(self.config.max_rationale_tokens):
            scores = logits.float()
            if not greedy:
                u = torch.stack([torch.rand(scores.shape[-1], generator=g, device=self.device) for g in generators])
                scores = scores / self.config.temperature - torch.log(-torch.log(u.clamp_min(1e-20)))
            picked = scores.argmax(dim=-1).tolist()
            for i, token in enumerate(picked):
                if not finished[i]:
                    if token in self.eos:
                        finished[i] = True
                    else:
                        out[i].append(token)
            if all(finished) or step == self.config.max_rationale_tokens - 1:
                break
            room = self.config.max_rationale_tokens if step == 0 else 0
            logits, past = self.runner.forward([[t] for t in picked], past, side="left", reserve=room)
        return out

    def _clean(self, ids: list[int]) -> str:
        """The rationale text: special tokens dropped, on one line, cut where the model starts
        giving the answer itself (the ending is appended after it in step 2)."""
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        cut = text.find(self.prompts.ending)
        if cut >= 0:
            text = text[:cut]
        return " ".join(text.split())


# -- the plain way -------------------------------------------------------------------------


@torch.inference_mode()
def score_naive(lm, samples: Sequence[Sample], config: LabelingConfig, model: torch.nn.Module | None = None) -> list[PairLabel]:
    """The reference: for each pair and order one unbatched forward of the whole prompt with
    full logits [1, T, V], read at the last position. No batching, no cache, no reuse.

    Answer-step prompts only (no CoT). ``model`` overrides ``lm.model`` (e.g. a "fast" copy).
    """
    if config.cot:
        raise ValueError("score_naive is the plain reference for direct answers; it has no CoT")
    model = model if model is not None else lm.model
    prompts = PromptBuilder(config, lm.tokenizer)
    answer_ids = answer_token_ids(lm.tokenizer, prompts.ending)
    labels = []
    for sample in samples:
        orders = [(sample.candidate_1, sample.candidate_2), (sample.candidate_2, sample.candidate_1)]
        p_orders, masses, tokens = [], [], 0
        for o, (first, second) in enumerate(orders[: config.orders]):
            text = prompts.render(sample.context, first, second)
            ids = lm.tokenizer(text, add_special_tokens=prompts.add_special_tokens)["input_ids"]
            logits = model(input_ids=torch.tensor([ids], device=lm.device), use_cache=False).logits  # [1, T, V]
            (p,), (mass,) = two_way(logits[:, -1, :], answer_ids)
            p_orders.append(p if o == 0 else 1.0 - p)
            masses.append(mass)
            tokens += len(ids)
        p_order2 = p_orders[1] if len(p_orders) == 2 else None
        labels.append(
            PairLabel(
                p=combine_orders(p_orders[0], p_order2),
                p_order1=p_orders[0],
                p_order2=p_order2,
                label_mass=sum(masses) / len(masses),
                prompt_tokens=tokens,
                key=sample.key,
            )
        )
    return labels
