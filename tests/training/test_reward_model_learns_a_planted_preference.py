"""An RM trained on the bundled model learns a planted preference (polite over rude) it was never told."""

import random

import pytest

from pipeline.configs import RewardConfig
from pipeline.reward import PreferencePair, RewardModel, human_examples, pairwise_accuracy, train_reward_model

pytestmark = pytest.mark.slow

TOPICS = [
    "fixing a flat bike tire", "baking sourdough bread", "learning to juggle", "planting tomatoes", "writing a cover letter",
    "choosing a laptop", "training a puppy", "painting a fence", "saving money on groceries", "starting to run",
    "cleaning a cast iron pan", "tying a tie", "making cold brew coffee", "reading more books", "organising a closet",
    "learning basic Spanish", "fixing a dripping tap", "keeping houseplants alive", "planning a road trip", "sleeping better",
    "writing a haiku", "brewing green tea", "sewing a button", "cooking rice", "stretching after exercise",
    "backing up photos", "studying for an exam", "making friends in a new city", "building a birdhouse", "learning chess",
    "descaling a kettle", "packing for a flight", "removing a wine stain", "meditating", "making pancakes",
    "choosing running shoes", "setting up a budget", "growing basil", "washing a wool sweater", "writing a thank-you note",
]
POLITE = [
    "Of course! I'd be glad to help you with {t}. Let's go through it together, step by step.",
    "Sure, happy to help with {t}. Here is a friendly, simple way to get started.",
    "What a great question about {t}! Thank you for asking; I'm glad to explain.",
    "Certainly. {t} is easier than it looks, and I'm happy to walk you through it kindly.",
]
RUDE = [
    "Ugh, {t}? Figure it out yourself, I'm not your servant.",
    "That's a stupid question about {t}. Stop wasting my time.",
    "Why would I help you with {t}? Go away and leave me alone.",
    "Seriously, {t}? Even an idiot knows that. Don't bother me.",
]


def planted_pairs(topics, templates, seed):
    rng = random.Random(seed)
    pairs = []
    for i, topic in enumerate(topics):
        for j in templates:
            polite, rude = POLITE[(i + j) % 4].format(t=topic), RUDE[(i + 2 * j) % 4].format(t=topic)
            context = f"Human: Can you help me with {topic}?"
            if rng.random() < 0.5:  # the polite reply sits first or second at random
                pairs.append(PreferencePair(context, polite, rude, human_choice=1))
            else:
                pairs.append(PreferencePair(context, rude, polite, human_choice=2))
    return pairs


def test_reward_model_reaches_90_percent_on_held_out_planted_pairs(bundled_spec, artifact_root, tmp_path):
    train = planted_pairs(TOPICS[:24], (0,), seed=1)  # 24 pairs
    held_out = planted_pairs(TOPICS[24:], (2,), seed=2)  # 16 unseen topics, unseen polite/rude pairings
    config = RewardConfig(model=bundled_spec, lora=True, batch_size=8, epochs=1, lr=3e-4, head_lr=3e-3,
                          max_length=128, checkpoint_every=0, seed=0)
    logged = []
    result = train_reward_model(config, human_examples(train), tmp_path / "rm", artifact_root=artifact_root,
                                eval_pairs=held_out, on_metrics=lambda step, m: logged.append(m))
    assert result.steps == 3
    assert result.accuracy.accuracy > 0.9, result.accuracy
    assert result.accuracy.n == 16 and 0 <= result.accuracy.ci_low <= result.accuracy.accuracy <= result.accuracy.ci_high
    assert any("loss/train" in m for m in logged) and "reward/accuracy" in logged[-1]

    # The exported RM reloads and scores like the trained one.
    reloaded = RewardModel.from_pretrained(str(result.model_path), artifact_root)
    assert pairwise_accuracy(reloaded, held_out).correct == result.accuracy.correct
    polite, rude = reloaded.score(["Human: Can you help me with knitting?"] * 2,
                                  ["Sure, I'd be glad to help with knitting!", "Knitting? Go away, idiot."])
    assert polite > rude
