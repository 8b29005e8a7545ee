"""The kinds of pipeline stage, declared once: everything the plan, the web app and the workers
need to know about a kind that does not depend on a particular run.

Per kind: its label, the queue its stage is sent to (``gpu`` for work that wants an accelerator,
``default`` for light work), what its progress counts and how the expected total is known
before it runs, which model of the experiment it loads, and which size-config keys configure
it (each key names a config dataclass, see ``CONFIG_CLASSES``). The order of ``KINDS`` is the
paper's order, which breaks ties between stages that are ready at once.

Adding a kind: a row here, a branch in ``pipeline.plan`` that plans its stages, and its
executor in ``webapp/pipeline/services/stages.py`` (``EXECUTORS``). Everything else (the
model's choices, the queues, the run page's units) derives from this table.

Plain Python, no torch: the web process reads it on every page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pipeline.configs import DPOConfig, GenerationConfig, LabelingConfig, RewardConfig, RLConfig, SFTConfig

QUEUES = ("gpu", "default")
# The roles of the experiment's models: which one a stage loads (spec resolved by the web app).
ROLES = ("policy", "labeler", "reward")
# How a stage's expected progress total is known before it starts.
# "one" stands for work not known before it starts (the stage corrects its total when it runs).
# "sizes": one unit per reward model of a curve (its settings' sizes).
COUNTS = ("train_pairs", "train_prompts", "test_prompts", "steps", "sizes", "one")


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # shown on the run page and in the admin
    queue: str  # the Celery queue its stage is sent to
    unit: str  # what its progress counts, as shown
    counts: str  # how its expected total is known: one of COUNTS
    loads: tuple[str, ...]  # the model roles it loads (a stage may differ, e.g. a policy-size labeler)
    config_keys: tuple[str, ...] = ()  # keys of SIZE_CONFIGS and of overrides that configure it


KINDS: tuple[Kind, ...] = (
    Kind("prepare", "Prepare models", "default", "steps", "one", ROLES),
    Kind("labeling", "AI labels", "gpu", "pairs", "train_pairs", ("labeler",), ("labeling",)),
    Kind("sft", "SFT policy", "gpu", "steps", "steps", ("policy",), ("sft",)),
    Kind("reward", "Reward model", "gpu", "steps", "steps", ("reward",), ("reward",)),
    # Figure 5, opt-in: one stage per label source, each training a reward model per size (with the
    # "reward" key's training settings); its "curve" key holds the sizes and label sources.
    Kind("reward-curve", "Reward-model curve", "gpu", "models", "sizes", ("reward",), ("curve",)),
    Kind("policy", "Policy", "gpu", "steps", "steps", ("policy",), ("rl", "dpo")),
    Kind("sampling", "Samples", "gpu", "prompts", "test_prompts", ("policy",), ("sampling",)),
    # Iterative RLAIF: two responses per training prompt from a policy, stored as new pairs to label.
    Kind("self-pairs", "Self-generated pairs", "gpu", "prompts", "train_prompts", ("policy",), ("self_pairs",)),
    Kind("round", "Evaluation round", "default", "round", "one", (), ("round",)),
    Kind("judge", "AI judge", "gpu", "pairs", "one", ("labeler",), ("judge",)),
)
BY_NAME = {kind.name: kind for kind in KINDS}

# Fields a config key takes beyond its dataclass's: the chunk_size of the kinds that fan out
# (items per chunk, services.fanout: labeling's pairs, sampling's prompts, the judge's round items;
# what a killed stage resumes from), labeling's limit; the round and the AI judge (its
# limit: items scored, none = all) have no dataclass at all.
EXTRA_FIELDS = {"labeling": {"chunk_size", "limit"}, "sampling": {"chunk_size"}, "round": {"overlap", "gold_share", "with_reference"},
                "judge": {"limit", "precision", "chunk_size"}, "curve": {"sizes", "labels"}}


def get_kind(name: str) -> Kind:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown stage kind {name!r}: one of {', '.join(BY_NAME)}") from None


def config_keys() -> tuple[str, ...]:
    return tuple(key for kind in KINDS for key in kind.config_keys)


# The config dataclass behind each config key (pipeline.configs imports no torch).
CONFIG_CLASSES: dict[str, type] = {"labeling": LabelingConfig, "sft": SFTConfig, "reward": RewardConfig, "rl": RLConfig,
                                   "dpo": DPOConfig, "sampling": GenerationConfig,
                                   "self_pairs": GenerationConfig}


def known_fields(key: str) -> set[str]:
    """The fields a config key accepts (for overrides: a misspelt one is refused up front)."""
    cls = CONFIG_CLASSES.get(key)
    fields = {f.name for f in dataclasses.fields(cls)} if cls else set()
    return fields | EXTRA_FIELDS.get(key, set())
