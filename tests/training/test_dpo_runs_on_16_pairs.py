"""DPO (TRL's DPOTrainer) trains a policy on 16 preference pairs against the frozen SFT reference."""

import json

from pipeline import registry
from pipeline.configs import DPOConfig
from pipeline.dpo import dpo_rows, train_dpo
from pipeline.reward import PreferencePair, build_examples


def sixteen_pairs():
    pairs = []
    for i in range(16):
        polite, rude = f"Happy to help with task {i}!", f"Do task {i} yourself."
        # Alternate the positions; AI labels are soft, humans hard.
        if i % 2:
            pairs.append(PreferencePair(f"Human: help with task {i}?", polite, rude, human_choice=1, ai_p1=0.7))
        else:
            pairs.append(PreferencePair(f"Human: help with task {i}?", rude, polite, human_choice=2, ai_p1=0.4))
    return pairs


def test_ai_labels_become_hard_by_argmax_and_pick_chosen_and_rejected(tiny_model_dir):
    from transformers import AutoTokenizer

    examples = build_examples(sixteen_pairs(), "ai", hard=True)
    assert {e.p for e in examples} == {0.0, 1.0} and len(examples) == 16
    rows = dpo_rows(AutoTokenizer.from_pretrained(tiny_model_dir), examples)
    assert all(c.startswith("Happy") and r.startswith("Do task") for c, r in zip(rows["chosen"], rows["rejected"]))
    assert rows["prompt"][0].endswith("<|im_start|>assistant\n")  # the chat template opened the assistant turn


def test_dpo_runs_on_16_pairs_and_exports_a_loadable_policy(tiny_model_dir, artifact_root, tmp_path):
    examples = build_examples(sixteen_pairs(), "human")
    config = DPOConfig(policy=str(tiny_model_dir), lora=True, batch_size=4, epochs=1, beta=0.1, lr=1e-3,
                       max_length=64, checkpoint_every=2)
    steps = []
    result = train_dpo(config, examples, tmp_path / "dpo", artifact_root=artifact_root,
                       on_metrics=lambda step, m: steps.append((step, m)), on_progress=lambda progress: None)
    assert result.steps == 4 and result.algorithm == "dpo"
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert all("loss/train" in m and "reward/accuracy" in m for _, m in steps)
    assert json.loads((tmp_path / "dpo" / "result.json").read_text())["steps"] == 4
    loaded = registry.load_causal_lm(str(result.model_path), artifact_root)
    assert not hasattr(loaded.model, "peft_config")  # LoRA merged into a plain checkpoint
