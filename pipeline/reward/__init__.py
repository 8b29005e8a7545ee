"""Reward models: a causal-LM body + scalar head, the soft preference loss, training and evaluation.

Plain Python; never imports Django. Entry points:

    train_reward_model(RewardConfig(...), examples, out_dir, artifact_root=..., eval_pairs=...)
    RewardModel.from_pretrained(path_or_spec, artifact_root) -> .score(contexts, responses) / .as_reward_fn()
    build_examples(pairs, "human" | "ai" | "mixed:0.5", seed) -> training examples
    preference_pair(record) -> a pair of a record read by pipeline.data
    pairwise_accuracy(rm, pairs), accuracy_vs_train_size(config, examples, eval_pairs, sizes, out_dir, ...)
"""

from pipeline.reward.curve import CurvePoint, accuracy_vs_train_size
from pipeline.reward.data import (
    LabelSource,
    PreferenceExample,
    PreferencePair,
    ai_examples,
    build_examples,
    human_examples,
    preference_pair,
)
from pipeline.reward.evaluate import AccuracyResult, accuracy_from_scores, pairwise_accuracy
from pipeline.reward.losses import soft_preference_loss
from pipeline.reward.model import RewardModel, last_token_index, pool_last
from pipeline.reward.train import RewardResult, build_reward_model, train_reward_model

__all__ = [
    "AccuracyResult", "CurvePoint", "LabelSource", "PreferenceExample", "PreferencePair",
    "RewardModel", "RewardResult", "accuracy_from_scores", "accuracy_vs_train_size", "ai_examples",
    "build_examples", "build_reward_model", "human_examples", "last_token_index", "pairwise_accuracy",
    "pool_last", "preference_pair", "soft_preference_loss", "train_reward_model",
]
