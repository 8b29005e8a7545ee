"""Every trainer's progress counts as done only the steps whose checkpoint is on disk: at each
report, ``done`` is exactly the step a resume would continue from, while ``phase_done`` shows
the steps trained so far; the evaluation and the export after training report their own counts."""

from pathlib import Path

import pytest
from transformers.trainer_utils import get_last_checkpoint

from pipeline.checkpoints import Checkpointer
from pipeline.configs import DPOConfig, RewardConfig, RLConfig, SFTConfig
from pipeline.dpo import train_dpo
from pipeline.reward import PreferenceExample, PreferencePair, train_reward_model
from pipeline.rl import train_policy
from pipeline.sft import SFTExample, train_sft

PROMPTS = ["Say something.", "Hello there!", "Write a word.", "What time is it?", "Name a colour.", "Count to three."]
EXAMPLES = [PreferenceExample(f"Human: question {i}?", f"Helpful answer {i}.", f"Rude answer {i}!", p=1.0 if i % 2 else 0.0)
            for i in range(8)]


def on_disk(out_dir: Path) -> int:
    """The step a resume of ``out_dir`` starts from: our checkpoints, or TRL's."""
    latest = Checkpointer(out_dir).latest()
    if latest is not None:
        return int(latest.name.split("-")[1])
    trl = out_dir / "trl"
    last = get_last_checkpoint(str(trl)) if trl.is_dir() else None
    return int(Path(last).name.split("-")[-1]) if last else 0


def recorder(out_dir: Path, seen: list):
    def on_progress(progress):
        seen.append((progress, on_disk(out_dir)))

    return on_progress


def train(kind: str, model: str, out_dir: Path, artifact_root, on_progress):
    if kind == "reward":
        config = RewardConfig(model=model, lora=True, batch_size=2, max_steps=4, checkpoint_every=2, seed=1)
        held_out = [PreferencePair(e.context, e.candidate_1, e.candidate_2, 1 if e.p > 0.5 else 2) for e in EXAMPLES[:3]]
        return train_reward_model(config, EXAMPLES, out_dir, artifact_root=artifact_root, eval_pairs=held_out,
                                  on_progress=on_progress)
    if kind == "sft":
        config = SFTConfig(model=model, lora=True, batch_size=2, epochs=2, max_steps=4, checkpoint_every=2, seed=1)
        examples = [SFTExample(p, f"A reply to {p}") for p in PROMPTS]
        return train_sft(config, examples, out_dir, artifact_root=artifact_root, on_progress=on_progress)
    if kind == "dpo":
        config = DPOConfig(policy=model, lora=True, batch_size=2, max_steps=4, checkpoint_every=2, max_length=64, seed=1)
        return train_dpo(config, EXAMPLES, out_dir, artifact_root=artifact_root, on_progress=on_progress)
    config = RLConfig(policy=model, steps=4, batch_size=2, samples_per_prompt=2, max_new_tokens=4, lora=True,
                      checkpoint_every=2, seed=1)
    return train_policy(config, PROMPTS, lambda contexts, responses: [0.0] * len(responses), out_dir,
                        algorithm=kind, artifact_root=artifact_root, on_progress=on_progress)


@pytest.mark.parametrize("kind", ["reward", "sft", "reinforce", "dpo", "rloo"])
def test_done_is_always_the_step_a_resume_would_start_from(kind, tiny_model_dir, artifact_root, tmp_path):
    seen: list = []
    result = train(kind, str(tiny_model_dir), tmp_path / kind, artifact_root, recorder(tmp_path / kind, seen))
    assert result.steps == 4

    for progress, saved in seen:
        assert progress.done == saved, (kind, progress, saved)  # never more, never less than the disk holds
        assert progress.total == 4
    training = [p for p, _ in seen if p.phase == "training"]
    # Steps 1 and 3 are reported trained before their checkpoint exists: the page shows them
    # as running ahead of the saved count, not as done.
    assert [(p.phase_done, p.done) for p in training if p.phase_done % 2] == [(1, 0), (3, 2)]
    assert training[-1].done == 4
    phases = list(dict.fromkeys(p.phase for p, _ in seen))
    expected = ["training", "evaluating", "exporting"] if kind == "reward" else ["training", "exporting"]
    assert phases == expected
    if kind == "reward":
        evaluating = [p for p, _ in seen if p.phase == "evaluating"]
        assert (evaluating[-1].phase_done, evaluating[-1].phase_total) == (3, 3)
    assert (seen[-1][0].phase_done, seen[-1][0].phase_total) == (1, 1)  # the export reports its end
