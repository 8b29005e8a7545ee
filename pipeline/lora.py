"""Which parameters a trainer updates: LoRA adapters, the top blocks only, or everything.

``lora_config`` turns ``LoraSettings`` into peft's config for our loops and TRL's alike.
(Decoding never merges adapters: the fused decoder adds their terms live, ``inference.adapters``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch

from pipeline.configs import LoraSettings

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel
    from transformers import PreTrainedModel
    from typing_extensions import TypeIs


def use_lora(flag: bool | None, device: torch.device) -> bool:
    """``None`` means auto: LoRA on CPU (full fine-tuning of even 135M parameters is slow there)."""
    return device.type == "cpu" if flag is None else bool(flag)


def lora_config(settings: LoraSettings, *, causal_lm: bool) -> LoraConfig:
    """The peft ``LoraConfig`` for ``settings``: the one place our LoRA knobs become peft's.

    Our own loops wrap the model with it (``add_lora``); the TRL-backed stages hand it to TRL as
    ``peft_config``, so both sides adapt the same modules the same way.
    """
    from peft import LoraConfig

    targets: str | list[str] = settings.targets
    if targets != "all-linear":
        targets = [name.strip() for name in settings.targets.split(",") if name.strip()]
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM" if causal_lm else "FEATURE_EXTRACTION",
    )


def add_lora(model: torch.nn.Module, settings: LoraSettings, *, causal_lm: bool) -> torch.nn.Module:
    """Wrap ``model`` in fresh LoRA adapters (base weights frozen), as a peft model."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(settings, causal_lm=causal_lm))


def train_only_top_layers(model: torch.nn.Module, k: int) -> torch.nn.Module:
    """Freeze the embeddings and every transformer block but the top ``k`` (the final norm and
    anything else outside the blocks stays trainable).

    Backpropagation then stops at the lowest trainable block, so a step costs about one
    forward pass plus k blocks' backward: how a small CPU trains an RM on a thousand pairs.
    The blocks are the model's longest ``ModuleList`` (``model.layers`` in Llama-style models,
    ``h`` in GPT-2 style ones), so any transformers checkpoint works.
    """
    lists = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList)]
    if not lists:
        raise ValueError("train_top_layers: the model has no list of transformer blocks")
    name, blocks = max(lists, key=lambda item: len(item[1]))
    if not 0 < k <= len(blocks):
        raise ValueError(f"train_top_layers must be between 1 and the model's {len(blocks)} blocks, got {k}")
    kept = tuple(f"{name}.{i}." for i in range(len(blocks) - k, len(blocks)))
    embeddings = {id(p) for p in cast("PreTrainedModel", model).get_input_embeddings().parameters()}
    for key, p in model.named_parameters():
        inside_blocks = key.startswith(f"{name}.")
        p.requires_grad_(key.startswith(kept) if inside_blocks else id(p) not in embeddings)
    return model


def is_peft(model: torch.nn.Module) -> TypeIs[PeftModel]:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def unwrap_lora(model: torch.nn.Module) -> PreTrainedModel:
    """Fold LoRA updates into the base weights and return the plain transformers model."""
    # model is a transformers model, LoRA-wrapped or not
    return cast("PreTrainedModel", model.merge_and_unload() if is_peft(model) else model)


