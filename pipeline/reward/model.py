"""A reward model: a language-model body with a scalar head read at the last real token.

The same class is the value model of RL (scoring a prompt instead of prompt + response).

Pooling is by attention mask, never by "the first pad token": the bundled tokenizer's pad token
is its EOS token, and every scored text ends with EOS, so "first pad" would land on the wrong
position. The last real token is the last 1 in the mask, whatever the padding side.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack, cast

import torch
from torch import nn

from pipeline.lora import unwrap_lora
from pipeline.onednn_linear import linears_on_onednn
from pipeline.progress import Progress, ProgressFn, no_progress
from pipeline.runfiles import save_atomically
from pipeline.tokens import encode_prompt, encode_response, format_prompt, pad_right, position_ids

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

    from pipeline.rl.interface import RewardFn

HEAD_FILE = "reward_head.pt"
META_FILE = "reward_model.json"


class PairText(Protocol):
    """What scoring a pair reads: a PreferencePair, a Record, anything with these three texts."""

    @property
    def context(self) -> str: ...
    @property
    def candidate_1(self) -> str: ...
    @property
    def candidate_2(self) -> str: ...


class HeadOptions(TypedDict, total=False):
    """How a reward model reads its text, past the body and tokenizer (saved in META_FILE)."""

    max_length: int
    chat_template: bool


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) attention mask -> (B,) index of each row's last real token (left or right padding).

    For right padding this equals mask.sum(-1) - 1; flipping finds the last 1 for any layout.
    """
    width = mask.size(-1)
    return (width - 1) - mask.flip(-1).long().argmax(-1)


def pool_last(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, H) hidden states -> (B, H) at each row's last real token."""
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last_token_index(mask)]


class RewardModel(nn.Module):
    """body (a transformers base model, optionally LoRA-wrapped) + Linear(hidden, 1)."""

    def __init__(self, body: nn.Module, tokenizer: PreTrainedTokenizerBase, *, max_length: int = 512, chat_template: bool = True):
        super().__init__()
        self.body = body
        hidden = cast("PretrainedConfig", body.config).get_text_config().hidden_size  # a transformers body's config
        self.head = nn.Linear(hidden, 1)
        # A small random head (like a sequence-classification head) keeps initial scores near 0.
        nn.init.normal_(self.head.weight, std=1.0 / (hidden + 1) ** 0.5)
        nn.init.zeros_(self.head.bias)
        self.head.to(next(body.parameters()).device, next(body.parameters()).dtype)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.chat_template = chat_template

    # -- building, saving, loading -------------------------------------------------------------

    @classmethod
    def from_causal_lm(cls, lm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                       **kwargs: Unpack[HeadOptions]) -> RewardModel:
        """A new RM (or value model) whose body is a copy of ``lm``'s body (its LM head dropped)."""
        return cls(copy.deepcopy(lm.base_model), tokenizer, **kwargs)

    @classmethod
    def from_pretrained(cls, spec: str, artifact_root: str | Path, *, device: str = "auto",
                        precision: str = "exact", **kwargs: Unpack[HeadOptions]) -> RewardModel:
        """A saved RM directory (body + head), or a new head on any causal-LM spec the registry knows."""
        from transformers import AutoModel, AutoTokenizer

        from pipeline import registry

        location = Path(spec)
        if not (location / META_FILE).is_file():
            location = Path(registry.resolve(spec, artifact_root).location)
        torch_device = registry.resolve_device(device)
        dtype = registry.resolve_dtype(precision, torch_device)
        tokenizer = AutoTokenizer.from_pretrained(str(location))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        body = AutoModel.from_pretrained(str(location), dtype=dtype).to(torch_device)
        meta = {}
        if (location / META_FILE).is_file():
            meta = json.loads((location / META_FILE).read_text())
            kwargs = {"max_length": meta["max_length"], "chat_template": meta["chat_template"], **kwargs}
        model = cls(body, tokenizer, **kwargs)
        if meta:
            model.head.load_state_dict(torch.load(location / HEAD_FILE, map_location=torch_device))
        return model.eval()

    def save(self, target: str | Path, extra: dict | None = None) -> Path:
        """Body (LoRA merged) + head + tokenizer in one directory that ``from_pretrained`` reads."""
        body = unwrap_lora(self.body)
        self.body = body

        def write(folder: Path) -> None:
            body.save_pretrained(folder, safe_serialization=True)
            self.tokenizer.save_pretrained(folder)
            torch.save(self.head.state_dict(), folder / HEAD_FILE)
            meta = {"kind": "reward_model", "pooling": "last-real-token", "max_length": self.max_length,
                    "chat_template": self.chat_template, **(extra or {})}
            (folder / META_FILE).write_text(json.dumps(meta, indent=2))

        return save_atomically(Path(target), write)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # -- scoring -------------------------------------------------------------------------------

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and mask (any padding side) -> (B,) scores at the last real token. Scoring,
        training and the RL value model all come through here or ``forward_shared_prefix``: on a
        CPU their linear layers run on oneDNN, and so does the backward (``onednn_linear``)."""
        with linears_on_onednn(self.device):
            hidden = self.body(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask), use_cache=False
            ).last_hidden_state
            return self.head(pool_last(hidden, attention_mask)).squeeze(-1).float()

    def forward_shared_prefix(
        self, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor, cont_ids: torch.Tensor, cont_mask: torch.Tensor, repeats: int
    ) -> torch.Tensor:
        """Score ``repeats`` continuations of each prefix, running each prefix through the body once.

        prefix_ids/mask: (B, P) right-padded; cont_ids/mask: (B·repeats, C) right-padded, rows
        grouped by prefix ([b0c0, b0c1, b1c0, ...]). Returns (B·repeats,) scores.

        A preference pair's two candidates share their whole context, which in dialogue data is
        most of the tokens: the context's keys/values are computed once (with gradients) and
        repeated for each candidate, so a pair costs about one context plus two responses instead
        of two of each. Numerically the same scores as ``forward`` on the concatenations (tested).
        Right padding of the prefix leaves pad slots in the middle of a row; the mask hides them
        and positions count only real tokens, so each candidate sees exactly its context.
        """
        with linears_on_onednn(self.device):
            return self._shared_prefix_scores(prefix_ids, prefix_mask, cont_ids, cont_mask, repeats)

    def _shared_prefix_scores(self, prefix_ids: torch.Tensor, prefix_mask: torch.Tensor, cont_ids: torch.Tensor,
                              cont_mask: torch.Tensor, repeats: int) -> torch.Tensor:
        out = self.body(
            input_ids=prefix_ids, attention_mask=prefix_mask, position_ids=position_ids(prefix_mask), use_cache=True
        )
        cache = out.past_key_values
        cache.batch_repeat_interleave(repeats)
        prefix_mask = prefix_mask.repeat_interleave(repeats, dim=0)
        offset = prefix_mask.sum(-1)
        full_mask = torch.cat([prefix_mask, cont_mask], dim=1)
        hidden = self.body(
            input_ids=cont_ids,
            attention_mask=full_mask,
            position_ids=position_ids(cont_mask, offset),
            past_key_values=cache,
            use_cache=True,
        ).last_hidden_state
        return self.head(pool_last(hidden, cont_mask)).squeeze(-1).float()

    def encode(self, context: str, response: str) -> tuple[list[int], list[int]]:
        """(prompt ids, response ids + EOS), the prompt cut from the left to fit ``max_length``."""
        response_ids = encode_response(self.tokenizer, response, self.max_length // 2)
        prompt = format_prompt(self.tokenizer, context, self.chat_template)
        return encode_prompt(self.tokenizer, prompt, self.max_length - len(response_ids)), response_ids

    def encode_pair(self, context: str, candidate_1: str, candidate_2: str) -> tuple[list[int], list[int], list[int]]:
        """(prompt ids, candidate 1 ids + EOS, candidate 2 ids + EOS); each candidate fits ``max_length`` with the prompt."""
        c1 = encode_response(self.tokenizer, candidate_1, self.max_length // 2)
        c2 = encode_response(self.tokenizer, candidate_2, self.max_length // 2)
        prompt = format_prompt(self.tokenizer, context, self.chat_template)
        return encode_prompt(self.tokenizer, prompt, self.max_length - max(len(c1), len(c2))), c1, c2

    def pair_scores(self, encoded: Sequence[tuple[list[int], list[int], list[int]]], share_prefix: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable (B,) scores of candidate 1 and candidate 2 for encoded pairs."""
        pad = self.tokenizer.pad_token_id
        if share_prefix:
            prefix_ids, prefix_mask = pad_right([e[0] for e in encoded], pad, self.device)
            cont_ids, cont_mask = pad_right([c for e in encoded for c in (e[1], e[2])], pad, self.device)
            scores = self.forward_shared_prefix(prefix_ids, prefix_mask, cont_ids, cont_mask, repeats=2)
        else:
            ids, mask = pad_right([e[0] + c for e in encoded for c in (e[1], e[2])], pad, self.device)
            scores = self(ids, mask)
        return scores[0::2], scores[1::2]

    @torch.inference_mode()
    def score_pairs(self, pairs: Sequence[PairText], batch_size: int = 16, share_prefix: bool = True,
                    on_progress: ProgressFn | None = None) -> tuple[list[float], list[float]]:
        """Scores of both candidates of objects with .context/.candidate_1/.candidate_2 (order kept)."""
        on_progress = on_progress or no_progress
        was_training = self.training
        self.eval()
        encoded = [self.encode_pair(p.context, p.candidate_1, p.candidate_2) for p in pairs]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + max(len(encoded[i][1]), len(encoded[i][2])))
        s1, s2 = [0.0] * len(encoded), [0.0] * len(encoded)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            a, b = self.pair_scores([encoded[i] for i in chunk], share_prefix)
            for i, x, y in zip(chunk, a.tolist(), b.tolist()):
                s1[i], s2[i] = x, y
            on_progress(Progress.durable(min(start + batch_size, len(order)), len(order), "evaluating"))
        self.train(was_training)
        return s1, s2

    @torch.inference_mode()
    def score(self, contexts: Sequence[str], responses: Sequence[str], batch_size: int = 16,
              on_progress: ProgressFn | None = None) -> list[float]:
        """Scores of (context, response) pairs, batched and length-sorted (order preserved)."""
        on_progress = on_progress or no_progress
        was_training = self.training
        self.eval()
        rows = [sum(self.encode(c, r), []) for c, r in zip(contexts, responses, strict=True)]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        scores = [0.0] * len(rows)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = pad_right([rows[i] for i in chunk], pad, self.device)
            for i, s in zip(chunk, self(ids, mask).tolist()):
                scores[i] = s
            on_progress(Progress.durable(min(start + batch_size, len(order)), len(order), "evaluating"))
        self.train(was_training)
        return scores

    def as_reward_fn(self, batch_size: int = 16) -> RewardFn:
        """This RM as the plain ``reward_fn(contexts, responses) -> list[float]`` RL takes."""

        def reward_fn(contexts: list[str], responses: list[str]) -> list[float]:
            return self.score(contexts, responses, batch_size=batch_size)

        return reward_fn
