"""Soft-label DPO: at p = 1 (p = 0) it is TRL's sigmoid DPO loss with candidate 1 (2) chosen, a soft p
mixes the two directions, and dpo-ai's soft AI labels reach the loss as p."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

import pipeline.soft_dpo as soft_dpo
from pipeline.configs import DPOConfig
from pipeline.dpo import dpo_rows, train_dpo
from pipeline.reward import build_examples
from pipeline.soft_dpo import soft_dpo_loss
from tests.training.test_dpo_runs_on_16_pairs import sixteen_pairs

BETA = 0.1
# Summed log-probs of two pairs: policy and reference, responses 1 and 2.
POLICY_1, POLICY_2 = torch.tensor([-10.0, -7.0]), torch.tensor([-12.0, -5.0])
REF_1, REF_2 = torch.tensor([-11.0, -6.0]), torch.tensor([-11.5, -6.5])
DELTA = (POLICY_1 - REF_1) - (POLICY_2 - REF_2)  # [1 − (−0.5), −1 − 1.5] = [1.5, −2.5]


def trl_sigmoid_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """TRL 1.16's sigmoid DPO loss, which it computes inline (no standalone function) in
    DPOTrainer._compute_loss (trl/trainer/dpo_trainer.py, line 1388 in 1.16.x):
        delta_score = chosen_scores - rejected_scores      # the log-ratios, f_divergence "reverse_kl"
        per_sequence_loss = -F.logsigmoid(self.beta * delta_score)
        loss += per_sequence_loss.mean() * loss_weight
    """
    delta_score = (chosen_logps - ref_chosen_logps) - (rejected_logps - ref_rejected_logps)
    return (-F.logsigmoid(beta * delta_score)).mean()


def test_the_cited_trl_lines_are_trls_current_sigmoid_loss():
    from trl import DPOTrainer

    source = inspect.getsource(DPOTrainer._compute_loss)
    assert "per_sequence_loss = -F.logsigmoid(self.beta * delta_score)" in source
    assert "delta_score = chosen_scores - rejected_scores" in source


def test_hard_labels_give_trls_sigmoid_loss_in_either_direction():
    ones, zeros = torch.ones(2), torch.zeros(2)
    assert DELTA.tolist() == [1.5, -2.5]
    at_one = soft_dpo_loss(POLICY_1, POLICY_2, REF_1, REF_2, ones, BETA)
    torch.testing.assert_close(at_one, trl_sigmoid_loss(POLICY_1, POLICY_2, REF_1, REF_2, BETA))
    at_zero = soft_dpo_loss(POLICY_1, POLICY_2, REF_1, REF_2, zeros, BETA)  # response 2 preferred: TRL with it chosen
    torch.testing.assert_close(at_zero, trl_sigmoid_loss(POLICY_2, POLICY_1, REF_2, REF_1, BETA))


def test_a_soft_p_mixes_the_two_directions():
    p = torch.tensor([0.7, 0.25])
    loss = soft_dpo_loss(POLICY_1, POLICY_2, REF_1, REF_2, p, BETA)

    def log_sigmoid(x):
        return -math.log1p(math.exp(-x))

    # pair 1: −(0.7·log σ(0.15) + 0.3·log σ(−0.15)); pair 2: −(0.25·log σ(−0.25) + 0.75·log σ(0.25))
    pair_1 = -(0.7 * log_sigmoid(0.15) + 0.3 * log_sigmoid(-0.15))  # = 0.6433
    pair_2 = -(0.25 * log_sigmoid(-0.25) + 0.75 * log_sigmoid(0.25))  # = 0.6356
    assert loss.item() == pytest.approx((pair_1 + pair_2) / 2, rel=1e-6)
    # p = 0.5 is minimised at Δ = 0: the gradient there is zero.
    policy_1 = POLICY_1.clone().requires_grad_(True)
    soft_dpo_loss(policy_1, POLICY_2, REF_1 + DELTA, REF_2, torch.full((2,), 0.5), BETA).backward()
    assert policy_1.grad.abs().max().item() < 1e-7


def test_soft_ai_labels_keep_their_p_and_ties(tiny_model_dir):
    from transformers import AutoTokenizer

    examples = build_examples(sixteen_pairs(), "ai")  # p1 = 0.7 (polite first) or 0.4 (rude first)
    rows = dpo_rows(AutoTokenizer.from_pretrained(tiny_model_dir), examples, soft=True)
    assert all(c.startswith("Happy") for c in rows["chosen"]) and sorted(set(rows["p"])) == [0.6, 0.7]


def test_dpo_ai_trains_on_the_soft_p(tiny_model_dir, artifact_root, tmp_path, monkeypatch):
    seen = []
    real = soft_dpo.soft_dpo_loss

    def recording(*args):
        seen.extend(args[4].tolist())
        return real(*args)

    monkeypatch.setattr(soft_dpo, "soft_dpo_loss", recording)
    config = DPOConfig(policy=str(tiny_model_dir), lora=True, batch_size=4, max_steps=2, beta=0.1, lr=1e-3,
                       max_length=64, checkpoint_every=0)
    logged = []
    result = train_dpo(config, build_examples(sixteen_pairs(), "ai"), tmp_path / "dpo", artifact_root=artifact_root,
                       on_metrics=lambda step, m: logged.append(m))
    assert result.steps == 2 and len(seen) == 8 and {round(p, 6) for p in seen} == {0.6, 0.7}
    assert all(math.isfinite(m["loss/train"]) and m["reward/accuracy"] is not None for m in logged)
