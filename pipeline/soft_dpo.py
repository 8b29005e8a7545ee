"""Soft-label DPO: each pair's AI preference p weighs both directions of the DPO loss.

    Δ = (log πθ(y_1|x) − log π_ref(y_1|x)) − (log πθ(y_2|x) − log π_ref(y_2|x))
    L = − ( p · log σ(β·Δ) + (1 − p) · log σ(−β·Δ) ),      p = P_AI(y_1 ≻ y_2)

the cross-entropy between the AI labeler's distribution over {y_1, y_2} and the Bradley–Terry
preference implied by the policy's implicit reward β·(log πθ − log π_ref), just as the reward
model trains on soft AI labels. At p = 1 (p = 0) it is TRL's "sigmoid" DPO loss with y_1 (y_2)
chosen; making labels hard by argmax throws away how sure the labeler was (0.51 and 0.99 become
the same label), and p = 0.5 pairs, dropped by the hard path, here pull Δ towards 0.

TRL's DPOTrainer computes its loss inline in ``_compute_loss`` with no per-example weight, so
``soft_dpo_trainer`` subclasses it: TRL still tokenises, batches ([chosen; rejected] rows),
computes the reference log-probs (the adapter-disabled policy under LoRA, a frozen copy
otherwise), checkpoints and resumes; our subclass carries each row's p through the collator and
replaces the loss (``loss_type`` "sigmoid" only, no length-desensitisation ``ld_alpha``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from trl import DPOTrainer


def soft_dpo_loss(policy_1: torch.Tensor, policy_2: torch.Tensor, ref_1: torch.Tensor, ref_2: torch.Tensor,
                  p: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean soft-label DPO loss over a batch of pairs.

        Δ_b = (policy_1_b − ref_1_b) − (policy_2_b − ref_2_b)
        L   = mean_b −( p_b · log σ(β·Δ_b) + (1 − p_b) · log σ(−β·Δ_b) )

    policy_1, policy_2: (B,) summed log-probs of each pair's two responses under the policy (with
    gradient); ref_1, ref_2: (B,) the same under the frozen reference; p: (B,) the probability
    that response 1 is preferred. p = 1 gives TRL's sigmoid loss −log σ(β·Δ).
    """
    delta = (policy_1 - ref_1.detach()) - (policy_2 - ref_2.detach())
    p = p.to(delta.dtype)
    return -(p * F.logsigmoid(beta * delta) + (1 - p) * F.logsigmoid(-beta * delta)).mean()


_NOT_MODEL_INPUTS = {"completion_mask", "ref_chosen_logps", "ref_rejected_logps", "p"}


def soft_dpo_trainer(**kwargs: Any) -> DPOTrainer:
    """A TRL DPOTrainer (same arguments) whose loss is ``soft_dpo_loss`` with each row's ``p`` column.

    The dataset's rows carry prompt / chosen / rejected / p, with p = P(chosen ≻ rejected).
    """
    from trl import DPOTrainer

    class SoftDPOTrainer(DPOTrainer):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            if self.loss_types != ["sigmoid"] or self.ld_alpha is not None:
                raise ValueError("soft-label DPO replaces TRL's sigmoid loss only (no other loss_type, no ld_alpha)")
            collate = self.data_collator

            def with_p(examples: list[dict[str, Any]]) -> dict[str, Any]:
                return {**collate(examples), "p": torch.tensor([float(e["p"]) for e in examples])}

            self.data_collator = with_p

        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            columns = self._signature_columns
            if columns is not None and "p" not in columns:  # else Trainer drops the column before the collator sees it
                columns.append("p")

        def compute_ref_log_probs(self, model: torch.nn.Module, inputs: dict[str, Any]) -> Any:
            return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != "p"})

        def _compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool) -> Any:
            # The same log-prob computation as TRL's _compute_loss (sigmoid, no ld_alpha), then the soft loss.
            completion_mask = inputs["completion_mask"]
            shift_mask = completion_mask[..., 1:]
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            model_kwargs = {k: v for k, v in inputs.items() if k not in _NOT_MODEL_INPUTS}
            outputs = model(**model_kwargs, use_cache=False, labels=labels, fused_lm_head=True)
            chosen, rejected = outputs.log_probs[:, -shift_mask.size(1):].sum(dim=1).chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                ref_chosen, ref_rejected = self.compute_ref_log_probs(model, inputs)
            p = inputs["p"].to(chosen.device)
            loss = soft_dpo_loss(chosen, rejected, ref_chosen, ref_rejected, p, self.beta)

            # TRL's reward metrics, for our bridge: margin of the preferred (chosen, p >= 0.5) response.
            mode = "train" if model.training else "eval"
            margins = self.beta * ((chosen - ref_chosen) - (rejected - ref_rejected)).detach()
            self._metrics[mode]["rewards/margins"].append(self.accelerator.gather(margins).mean().item())
            self._metrics[mode]["rewards/accuracies"].append(self.accelerator.gather((margins > 0).float()).mean().item())
            return (loss, outputs) if return_outputs else loss

    return SoftDPOTrainer(**kwargs)
