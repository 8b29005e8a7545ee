"""The reduced-precision ("bf16-mlp") copy of a model, and parameter counting.

Plain Python + torch; no Django.
"""

from __future__ import annotations

import copy
import weakref
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F

from pipeline.inference import PRECISIONS

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class Bf16Linear(torch.nn.Module):
    """y = x W^T + b with W and x rounded to bfloat16 (fp32 accumulation in the matmul kernel),
    y returned in x's dtype. The residual stream, norms, RoPE and attention stay float32, so
    rounding errors do not compound through the layers the way they do in a pure-bf16 model."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias


_CONVERTED: weakref.WeakKeyDictionary[PreTrainedModel, dict[str, PreTrainedModel]] = weakref.WeakKeyDictionary()


def model_for_precision(model: PreTrainedModel, precision: str) -> PreTrainedModel:
    """The model to compute with: "exact" = float32 everywhere (the model itself when it is
    float32 already); "bf16-mlp" = a float32 copy whose feed-forward (MLP) Linear layers are
    ``Bf16Linear``; attention projections, norms, attention and the output head stay float32.

    Why only the MLP (measured on 320 HH pairs against exact): every Linear in bf16 moved p by
    0.0020 on average and flipped the chosen candidate on 4.4 % of pairs (HH pairs crowd near
    p = 0.5: 6.5 % lie within 0.002 of it); the MLP alone, 75 % of the matmul FLOPs, moved p
    by 0.0012 and flipped 0.6 %. The attention projections are the sensitive part (0.0014 for
    their 25 % of the FLOPs). A pure-bfloat16 model agreed on only ~83 %. What it gains is the
    bfloat16 matmul rate over the float32 one (``bench/labeling.py`` prints both).
    Copies are made once per (model, precision).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {PRECISIONS}")
    if precision == "exact" and next(model.parameters()).dtype == torch.float32:
        return model
    copies = _CONVERTED.setdefault(model, {})
    if precision not in copies:
        converted = copy.deepcopy(model).float().eval()
        if precision == "bf16-mlp":
            head = converted.get_output_embeddings()
            for path, module in list(converted.named_modules()):
                if _is_attention(path):
                    continue
                for name, child in list(module.named_children()):
                    # The output head stays float32: it runs on one position per row only.
                    if isinstance(child, torch.nn.Linear) and child is not head and not _is_attention(name):
                        setattr(module, name, Bf16Linear(child))
        copies[precision] = converted
    return copies[precision]


def _is_attention(path: str) -> bool:
    """Whether a module path names an attention block (self_attn, attention, attn, ...)."""
    return any("attn" in part or "attention" in part for part in path.lower().split("."))


def non_embedding_params(model: PreTrainedModel) -> int:
    """Parameters outside the input embedding (a tied output head is the embedding, not counted)."""
    embed = cast(torch.Tensor, model.get_input_embeddings().weight)
    return sum(p.numel() for p in model.parameters() if p is not embed)
