"""TRL's RLOO and GRPO run through the same train_policy interface, reward callable and metric keys."""

import pytest

from pipeline import registry
from pipeline.configs import RLConfig
from pipeline.rl import train_policy

PROMPTS = ["Say something.", "Hello there!", "Write a word.", "What time is it?"]


def letter_share(contexts, responses):
    assert len(contexts) == len(responses) and all(c in PROMPTS for c in contexts)  # raw contexts, not templates
    return [sum(ch.isalpha() for ch in r) / max(1, len(r)) for r in responses]


@pytest.mark.parametrize("algorithm", ["rloo", "grpo"])
def test_trl_algorithm_trains_and_logs_our_metric_keys(algorithm, tiny_model_dir, artifact_root, tmp_path):
    config = RLConfig(policy=str(tiny_model_dir), steps=2, batch_size=2, samples_per_prompt=2, max_new_tokens=6,
                      lr=1e-4, lora=True, checkpoint_every=0, seed=0)
    logged, progress = {}, []
    result = train_policy(config, PROMPTS, letter_share, tmp_path / algorithm, algorithm=algorithm,
                          artifact_root=artifact_root, on_metrics=lambda s, m: logged.setdefault(s, m),
                          on_progress=progress.append)
    assert result.algorithm == algorithm and result.steps == 2
    assert sorted(logged) == [1, 2]
    # checkpoint_every=0: no TRL checkpoint, so nothing counts as kept until the model is exported
    assert [(p.done, p.phase_done) for p in progress if p.phase == "training"] == [(0, 1), (0, 2)]
    assert progress[-1].phase == "exporting" and progress[-1].phase_done == 1
    for metrics in logged.values():
        assert {"loss/train", "rl/reward", "rl/kl", "rl/response_length"} <= set(metrics)
    assert registry.load_causal_lm(str(result.model_path), artifact_root).model is not None


def test_an_unknown_algorithm_is_refused(tiny_model_dir, artifact_root, tmp_path):
    with pytest.raises(ValueError, match="unknown algorithm"):
        train_policy(RLConfig(policy=str(tiny_model_dir)), PROMPTS, letter_share, tmp_path, algorithm="trpo",
                     artifact_root=artifact_root)
