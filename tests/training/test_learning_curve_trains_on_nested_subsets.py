"""The paper's Figure 5 helper: RM accuracy against the number of training pairs, on nested subsets."""

from pipeline.configs import RewardConfig
from pipeline.reward import PreferencePair, accuracy_vs_train_size, build_examples


def test_one_rm_per_size_each_evaluated_on_the_same_held_out_pairs(tiny_model_dir, artifact_root, tmp_path):
    pairs = [PreferencePair(f"Human: q{i}", f"kind answer {i}", f"rude answer {i}", human_choice=1) for i in range(12)]
    held_out = [PreferencePair(f"Human: t{i}", f"rude reply {i}", f"kind reply {i}", human_choice=2) for i in range(6)]
    seen, reports = [], []
    points = accuracy_vs_train_size(
        RewardConfig(model=str(tiny_model_dir), lora=True, batch_size=4, checkpoint_every=0),
        build_examples(pairs, "human"), held_out, sizes=[8, 4, 50], out_dir=tmp_path, artifact_root=artifact_root,
        on_metrics=lambda n, m: seen.append(n), on_progress=reports.append,
    )
    assert [p.n for p in points] == [4, 8, 12] == seen  # sorted; a size above the data is capped
    assert all(p.accuracy.n == 6 for p in points)
    assert all((tmp_path / f"n-{p.n}" / "final" / "reward_head.pt").is_file() for p in points)
    configs = [(tmp_path / f"n-{p.n}" / "metrics.jsonl").read_text().count('"loss/train"') for p in points]
    assert configs == [1, 2, 3]  # steps = ceil(n / batch): each run trained on exactly its subset
    # Progress counts finished models, and passes on each model's steps while it trains, so a
    # caller's heartbeat and cancel check keep running during a long model.
    assert [r.done for r in reports] == sorted(r.done for r in reports) and reports[-1].done == reports[-1].total == 3
    assert any(r.phase == "training" and r.done == 0 and r.phase_done > 0 for r in reports)
