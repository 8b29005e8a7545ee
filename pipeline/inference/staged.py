"""The stages every engine runs, each on the KV cache of the one before, so no token is
computed twice:

    H  the shared prefix (``shared_prefix`` as far as the prefixes share it)   once, kept
    P  each prefix, on H                         batches of prefixes, right-padded or packed
    S  each row's suffix, on its prefix          batches re-sorted by suffix length, left-padded
                                                 or packed; decoding goes on from S's cache

Only the last position's logits are computed unless every position's are asked for. Stages
P and S are sorted and batched separately (``plan_batches``): a padded engine keeps
padding at a few per cent, and since P is right-padded and S left-padded on a real past, no
query ever faces an all-masked row. A subclass supplies ``_forward`` (the model on token rows
appended to a past) and ``pads`` (whether it computes padding).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch

from pipeline.inference.api import EngineStats, Tokens
from pipeline.inference.kv import KVState, Past, RowRef
from pipeline.inference.sampling import forbid, pick_tokens, seeded_generators

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# KV memory the prefixes of one group may hold at once (they stay cached while suffixes run).
GROUP_KV_BYTES = 768 * 2**20
GROUP_MAX_PREFIXES = 64
# A suffix row of a stage: (index of its prefix's cache in the group, its suffix tokens).
_Run = tuple[int, list[int]]


class StagedEngine:
    """``InferenceEngine`` over a ``_forward`` (see the module docstring for the stages)."""

    pads: bool  # whether forwards compute padding (batch planning minimises it)

    def __init__(self, model: PreTrainedModel, *, stop_ids: Collection[int], batch_size: int, shared_prefix: Tokens):
        self.model = model
        self.device = cast(torch.Tensor, model.get_input_embeddings().weight).device
        self.stop_ids = set(stop_ids)
        self.batch_size = batch_size
        self.shared_prefix = list(shared_prefix)
        self.stats = EngineStats()
        self._head: tuple[tuple[int, ...], KVState] | None = None
        self._kept: dict[tuple[int, ...], RowRef] = {}

    def _forward(self, rows: Sequence[Sequence[int]], past: Past, side: str, keep: str = "last", reserve: int = 0) -> tuple[torch.Tensor, KVState]:
        """rows: R token lists, appended to ``past`` (R RowRefs to gather, a KVState of R rows to
        continue in place, or None). side "left": each row's last token in the last column;
        "right": real tokens first. keep="last": logits [R, V] at each row's last token; "all":
        [R, L, V] laid out by ``side``. ``reserve`` leaves room for that many later positions."""
        raise NotImplementedError

    def _begin_call(self) -> None:
        """Before the forwards of one public call (every call goes through ``_stages``): what a
        subclass reads once per call rather than per forward."""

    def _kv_bytes_per_token(self) -> int:
        raise NotImplementedError

    # -- the interface ------------------------------------------------------------------------

    @torch.inference_mode()
    def last_logits(self, prefixes: Sequence[Tokens], suffixes: Sequence[Tokens], prefix_of: Sequence[int]) -> torch.Tensor:
        out: torch.Tensor | None = None
        for refs, rows, runs in self._stages(prefixes, suffixes, prefix_of):
            for batch, logits, _ in self._suffix_batches(refs, runs, 2 * self.batch_size):
                if out is None:
                    out = logits.new_empty(len(suffixes), logits.shape[-1])
                out[torch.tensor([rows[i] for i in batch], device=logits.device)] = logits
        return out if out is not None else torch.empty(0, 0)

    @torch.inference_mode()
    def token_logprobs(self, prefixes: Sequence[Tokens], continuations: Sequence[Tokens], prefix_of: Sequence[int],
                       *, temperature: float = 1.0) -> list[torch.Tensor]:
        if temperature <= 0:
            raise ValueError(f"token_logprobs needs a temperature > 0, got {temperature}")
        # The prefix's last token runs with the continuation (its logits predict the first
        # continuation token), so each row is one forward with logits at every position.
        if any(len(prefixes[p]) < 2 for p in prefix_of):
            raise ValueError("token_logprobs needs prefixes of >= 2 tokens")
        heads = [prefixes[p][:-1] for p in prefix_of]
        tails = [[prefixes[p][-1], *c[:-1]] for p, c in zip(prefix_of, continuations)]
        out: list[torch.Tensor] = [torch.empty(0)] * len(continuations)
        for refs, rows, runs in self._stages(heads, tails, range(len(tails))):
            for batch in plan_batches([len(t) for _, t in runs], 2 * self.batch_size, padded=self.pads):
                logits, _ = self._forward([runs[i][1] for i in batch], [refs[runs[i][0]] for i in batch], side="right", keep="all")
                for b, i in enumerate(batch):
                    targets = torch.tensor(continuations[rows[i]], device=logits.device)
                    scaled = logits[b, : len(targets)].float()
                    logp = torch.log_softmax(scaled if temperature == 1.0 else scaled / temperature, dim=-1)
                    out[rows[i]] = logp[torch.arange(len(targets), device=logits.device), targets]
        return out

    @torch.inference_mode()
    def decode(
        self,
        prefixes: Sequence[Tokens],
        suffixes: Sequence[Tokens],
        prefix_of: Sequence[int],
        max_new_tokens: int,
        *,
        n: int = 1,
        temperature: float = 0.0,
        seeds: Sequence[int] | None = None,
        stop_ids: Collection[int] | None = None,
        min_new_tokens: int = 0,
        keep_stop: bool = False,
    ) -> list[list[int]]:
        if temperature > 0 and (seeds is None or len(seeds) != n * len(suffixes)):
            raise ValueError("sampling (temperature > 0) needs one seed per continuation")
        if not 0 <= min_new_tokens <= max_new_tokens:
            raise ValueError(f"min_new_tokens must be in [0, max_new_tokens = {max_new_tokens}], got {min_new_tokens}")
        stop = self.stop_ids if stop_ids is None else set(stop_ids)
        ending = _Ending(stop, min_new_tokens, keep_stop)
        out: list[list[int]] = [[] for _ in range(n * len(suffixes))]
        for refs, rows, runs in self._stages(prefixes, suffixes, prefix_of):
            # The suffix forward gives every continuation's first token; its n continuations
            # then go on from copies of the row's cache.
            for batch, logits, state in self._suffix_batches(refs, runs, max(1, 2 * self.batch_size // n)):
                expand = torch.arange(len(batch), device=self.device).repeat_interleave(n)
                ids = [rows[i] * n + j for i in batch for j in range(n)]
                batch_seeds = [seeds[i] for i in ids] if temperature > 0 and seeds is not None else None
                generated = self._continue(logits.index_select(0, expand), state.refs(expand.tolist()), max_new_tokens, temperature, batch_seeds, ending)
                for i, tokens in zip(ids, generated):
                    out[i] = tokens
        return out

    def plan_groups(self, prefix_lengths: Sequence[int]) -> list[list[int]]:
        return plan_groups(prefix_lengths, self._kv_bytes_per_token(), GROUP_KV_BYTES, GROUP_MAX_PREFIXES)

    def release(self) -> None:
        self._kept = {}

    # -- the stages ---------------------------------------------------------------------------

    def _stages(self, prefixes: Sequence[Tokens], suffixes: Sequence[Tokens], prefix_of: Sequence[int]
                ) -> Iterator[tuple[list[RowRef], list[int], list[_Run]]]:
        """Per group of prefixes (stage P done): (refs, rows, runs) where refs are the group's
        prefix caches, rows the call's row indices in the group, and runs[i] = (index into refs,
        suffix) of row rows[i]. An empty suffix takes its prefix's last token."""
        if len(suffixes) != len(prefix_of):
            raise ValueError(f"{len(suffixes)} suffixes for {len(prefix_of)} prefix indices")
        self._begin_call()
        keys: dict[tuple[int, ...], int] = {}
        row_key, row_suffix = [], []
        for p, suffix in zip(prefix_of, suffixes):
            prefix = tuple(prefixes[p])
            if not suffix:
                prefix, suffix = prefix[:-1], prefix[-1:]
            if not prefix:
                raise ValueError("every row needs a prefix of >= 1 token besides its suffix")
            row_key.append(keys.setdefault(prefix, len(keys)))
            row_suffix.append(list(suffix))
        unique = list(keys)
        members: dict[int, list[int]] = {}
        for r, k in enumerate(row_key):
            members.setdefault(k, []).append(r)
        for group in self.plan_groups([len(u) for u in unique]):
            refs = self._prefill([unique[k] for k in group])
            local = {k: i for i, k in enumerate(group)}
            rows = [r for k in group for r in members.get(k, [])]
            yield refs, rows, [(local[row_key[r]], row_suffix[r]) for r in rows]

    def _shared(self, prefixes: Sequence[tuple[int, ...]]) -> tuple[int, KVState | None]:
        """Stage H: (n, state), the first n tokens of every prefix, shared with ``shared_prefix``,
        as a 1-row state computed once; n leaves >= 1 token of each prefix. (0, None) if none."""
        n = min(lcp(self.shared_prefix, p) for p in prefixes)
        n = min(n, min(len(p) for p in prefixes) - 1)
        if n < 1:
            return 0, None
        key = tuple(self.shared_prefix[:n])
        if self._head is None or self._head[0] != key:
            self._head = (key, self._forward([list(key)], None, side="right")[1])
        return n, self._head[1]

    def _prefill(self, prefixes: list[tuple[int, ...]]) -> list[RowRef]:
        """Stage P: a cache of every prefix, each cut to its real length (right padding or
        packing puts a row's real tokens first). The prefixes of the latest call are kept."""
        refs = {p: self._kept[p] for p in prefixes if p in self._kept}
        todo = [p for p in prefixes if p not in refs]
        if todo:
            n, head = self._shared(todo)
            for batch in plan_batches([len(p) - n for p in todo], self.batch_size, padded=self.pads):
                past = head.refs([0] * len(batch)) if head is not None else None
                _, state = self._forward([list(todo[i][n:]) for i in batch], past, side="right")
                for row, i in enumerate(batch):
                    refs[todo[i]] = RowRef(state, row, len(todo[i]))
        self._kept = refs
        return [refs[p] for p in prefixes]

    def _suffix_batches(self, refs: list[RowRef], runs: list[_Run], max_rows: int
                        ) -> Iterator[tuple[list[int], torch.Tensor, KVState]]:
        """Stage S: yields (indices into runs, last logits [B, V], state) over planned batches,
        each row on a copy of its prefix's cache."""
        for batch in plan_batches([len(s) for _, s in runs], max_rows, padded=self.pads):
            logits, state = self._forward([runs[i][1] for i in batch], [refs[runs[i][0]] for i in batch], side="left")
            yield batch, logits, state

    def _continue(self, logits: torch.Tensor, past: list[RowRef], max_new_tokens: int, temperature: float,
                  seeds: Sequence[int] | None, ending: _Ending) -> list[list[int]]:
        """Decode from ``logits`` [R, V] (each row's next-token logits) on ``past``: greedy, or
        ``sampling.pick_tokens`` with one generator per row seeded by the caller, so a row's
        tokens do not depend on its batch.

        The rows are gathered once with room for every new token; each step then writes its
        keys/values in place (no copy of the past per step), and only the last position's
        logits are computed."""
        generators = seeded_generators(seeds or [], self.device)
        out: list[list[int]] = [[] for _ in past]
        finished = [False] * len(past)
        state: list[RowRef] | KVState = past  # the gathered rows, then each step's cache
        for step in range(max_new_tokens):
            scores = logits.float()
            if step < ending.min_new_tokens:
                scores = forbid(scores, ending.stop)  # this step's own logits: changed in place
            picked = pick_tokens(scores, temperature, generators or None).tolist()
            for i, token in enumerate(picked):
                if not finished[i]:
                    finished[i] = token in ending.stop
                    if ending.keep_stop or not finished[i]:
                        out[i].append(token)
            if all(finished) or step == max_new_tokens - 1:
                break
            room = max_new_tokens if step == 0 else 0
            logits, state = self._forward([[t] for t in picked], state, side="left", reserve=room)
        return out


@dataclass(frozen=True)
class _Ending:
    """When a continuation ends: at a stop id (kept in its tokens or not), never before
    ``min_new_tokens`` tokens (stop ids are forbidden until then)."""

    stop: set[int]
    min_new_tokens: int = 0
    keep_stop: bool = False


# -- planning (pure Python over lengths) ----------------------------------------------------


def lcp(*seqs: Sequence[int]) -> int:
    """Length of the longest common prefix of token sequences."""
    n = min(len(s) for s in seqs)
    for i in range(n):
        first = seqs[0][i]
        if any(s[i] != first for s in seqs[1:]):
            return i
    return n


def plan_batches(lengths: Sequence[int], max_rows: int, overhead: int = 64, padded: bool = True) -> list[list[int]]:
    """Split items into batches of similar length, at most ``max_rows`` each, minimising

        sum over batches of (rows x longest) + overhead

    i.e. the padded tokens computed plus a per-forward cost in token-equivalents (small
    forwards use the matrix units less well). Exact DP over the length-sorted items (the best
    split into contiguous runs). Returns lists of indices into ``lengths``.

    ``padded=False`` (a packed engine computes no padding): the fewest forwards, as even in
    rows as possible, still over the length-sorted items (similar rows share a slab width).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if not padded:
        count = -(-len(order) // max_rows)
        bounds = [round(k * len(order) / count) for k in range(count + 1)] if order else [0]
        return [order[a:b] for a, b in zip(bounds, bounds[1:])]
    xs = [lengths[i] for i in order]
    best = [0.0] + [math.inf] * len(xs)
    cut = [0] * (len(xs) + 1)
    for j in range(1, len(xs) + 1):
        for i in range(max(0, j - max_rows), j):
            cost = best[i] + (j - i) * xs[j - 1] + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches, j = [], len(xs)
    while j > 0:
        batches.append(order[cut[j] : j])
        j = cut[j]
    return batches[::-1]


def plan_groups(lengths: Sequence[int], bytes_per_token: int, budget: int, max_items: int) -> list[list[int]]:
    """Consecutive runs of the length-sorted items whose caches fit ``budget`` bytes together,
    counting every item at the group's longest length (the cache a padded forward holds), at
    most ``max_items`` each. Returns lists of indices into ``lengths``; ascending lengths."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        full = not groups or len(groups[-1]) >= max_items or (len(groups[-1]) + 1) * lengths[i] * bytes_per_token > budget
        if full:
            groups.append([])
        groups[-1].append(i)
    return groups
