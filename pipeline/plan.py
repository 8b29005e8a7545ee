"""The pipeline of an experiment as data: which stages, in which order, with which configs.

    plan_pipeline(arms=["sft", "rlhf", "rlaif"], has_references=False, size="demo")
      -> prepare-models -> ai-labels -> reward-ai -> policy-rlaif -> samples-rlaif -\
                        -> reward-human -> policy-rlhf -> samples-rlhf -------------> evaluation-round
                        -> samples-sft ------------------------------------------/

Plain Python (no Django): the web side turns each ``StageSpec`` into a stage row and a run.
The arms' needs come from ``pipeline.arms``, so an arm means the same thing here as in
``train_policy``. Sizes: ``demo`` fits the whole demo pipeline in minutes on a 2-core CPU;
``full`` uses every pair and real step counts, for GPU workers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import cast

from pipeline.arms import (
    ARMS,
    DEFAULT_ALGORITHM,
    ITERATIVE_ARMS,
    check_algorithm,
    check_iterations,
    get_arm,
    iteration_policy,
    runs_for,
)
from pipeline.curve_settings import check_labels, check_sizes
from pipeline.kinds import KINDS, config_keys, get_kind, known_fields

SIZES = ("demo", "full")
DEFAULT_ARMS = ("sft", "rlhf", "rlaif")

# Config per config key (``pipeline.kinds``) and size: fields of the key's config dataclass,
# plus its EXTRA_FIELDS.
SIZE_CONFIGS: dict[str, dict[str, dict]] = {
    "demo": {
        "labeling": {"batch_size": 8, "chunk_size": 8},
        "sft": {"max_steps": 4, "batch_size": 4, "max_length": 256},
        "reward": {"epochs": 1, "max_steps": 4, "batch_size": 8, "max_length": 256},
        "rl": {"steps": 4, "batch_size": 4, "samples_per_prompt": 2, "max_new_tokens": 24, "checkpoint_every": 2},
        "dpo": {"max_steps": 4, "batch_size": 4, "max_length": 256},
        "sampling": {"max_new_tokens": 48, "temperature": 0.7, "seed": 0, "batch_size": 8},
        "self_pairs": {"max_new_tokens": 48, "temperature": 1.0, "seed": 0, "batch_size": 8},
        "round": {"overlap": 3, "gold_share": 0.1},
        "judge": {"limit": None, "precision": "exact", "chunk_size": 16},
        "curve": {"sizes": [8, 16, 32], "labels": ["human", "ai"]},
    },
    "full": {
        "labeling": {"batch_size": 16, "chunk_size": 64},
        "sft": {"epochs": 1},
        "reward": {"epochs": 1},
        "rl": {"steps": 200, "batch_size": 8, "samples_per_prompt": 2, "max_new_tokens": 64, "checkpoint_every": 20},
        "dpo": {"epochs": 1},
        "sampling": {"max_new_tokens": 128, "temperature": 0.7, "seed": 0, "batch_size": 16},
        "self_pairs": {"max_new_tokens": 128, "temperature": 1.0, "seed": 0, "batch_size": 16},
        "round": {"overlap": 3, "gold_share": 0.1},
        "judge": {"limit": None, "precision": "exact", "chunk_size": 64},
        "curve": {"sizes": [50, 100, 200, 400], "labels": ["human", "ai"]},
    },
}


@dataclass
class StageSpec:
    """One stage of the graph: a name unique in the run, its kind, what it waits for, its config,
    and what the web app stores with it: the model roles it loads (``loads``; ``scored_by`` is
    the role whose model scores a policy's samples, for a direct-reward arm) and the progress
    total expected before it runs."""

    name: str
    kind: str  # a name in pipeline.kinds.KINDS
    depends_on: list[str]
    config: dict = field(default_factory=dict)
    loads: tuple[str, ...] | None = None  # None: the kind's own
    scored_by: str | None = None
    expected_total: int = 0

    def __post_init__(self) -> None:
        if self.loads is None:
            self.loads = get_kind(self.kind).loads

    @property
    def queue(self) -> str:
        return get_kind(self.kind).queue


def size_config(size: str, kind: str, overrides: dict | None = None) -> dict:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: choose one of {', '.join(SIZES)}")
    return {**copy.deepcopy(SIZE_CONFIGS[size][kind]), **((overrides or {}).get(kind) or {})}


def check_arms(arms: Iterable[str]) -> list[str]:
    arms = list(dict.fromkeys(arms))  # keep the order given, once each
    if not arms:
        raise ValueError(f"choose at least one arm: {', '.join(ARMS)}")
    for arm in arms:
        get_arm(arm)
    return arms


def shared_labeler_note(arms: Iterable[str], same_labeler: bool) -> str:
    """What the run form and page say when a policy-size labeler is the experiment's labeler."""
    sized = [a for a in arms if get_arm(a).labeler == "policy-size"]
    if not (same_labeler and sized):
        return ""
    return (f"{' and '.join(sized)} use the same labeler as rlaif here (the experiment's labeler is the policy's own "
            "model), so they share one labeling stage and one reward model: set a larger labeler model on the "
            "experiment to make them different experiments.")


def _suffix(labeler: str | None) -> str:
    return "-policy-size" if labeler == "policy-size" else ""


def check_overrides(overrides: dict | None) -> None:
    """Refuse a misspelt key or field now, not when its stage fails an hour into the run."""
    unknown = sorted(set(overrides or {}) - set(config_keys()))
    if unknown:
        raise ValueError(f"unknown override kinds: {', '.join(unknown)}")
    for key, fields in (overrides or {}).items():
        known = known_fields(key)  # imports the config classes (torch): only when overrides are given
        wrong = sorted(set(fields) - known)
        if wrong:
            raise ValueError(f"unknown {key} settings: {', '.join(wrong)} (known: {', '.join(sorted(known))})")


def plan_pipeline(
    *, arms: Iterable[str], has_references: bool, size: str = "demo", overrides: dict | None = None,
    algorithm: str = DEFAULT_ALGORITHM, mixed_share: float = 0.5, train_pairs: int = 0, test_prompts: int = 0,
    ai_judge: bool = False, same_labeler: bool = False, iterations: int = 1, iteration_labels: str = "all",
    train_prompts: int = 0, reward_curve: bool = False,
) -> list[StageSpec]:
    """Every stage the arms need, each once, in an order where dependencies come first.

    SFT samples are always made: the paper reports every arm's win rate against SFT.
    ``overrides`` maps a config key ("labeling", "sft", "reward", "rl", "dpo", "sampling",
    "round") to config fields that replace the size's values. ``train_pairs`` and
    ``test_prompts`` (the experiment's counts) give the stages that count them their totals.
    ``ai_judge`` adds a stage after the round in which the AI judge scores every pair of its
    items, for the report's AI-assisted (PPI++) estimates. ``same_labeler``: the experiment's
    labeler is the policy's own model, so a policy-size labeler would label exactly as it does;
    those arms share its labels and reward model instead of running the same stages twice.
    ``algorithm`` (``pipeline.arms.ALGORITHMS``) trains every RL arm; DPO arms keep "dpo".
    ``iterations`` K > 1 adds K - 1 iterations to each iterative arm, their reward models on
    ``iteration_labels`` ("all" AI labels so far or the "newest"): see ``_plan_iterations``.
    ``reward_curve`` adds the paper's Figure 5: one ``reward-curve-<labels>`` stage per label source
    of the "curve" settings (see ``_curve_stages``).
    """
    arms = check_arms(arms)
    check_algorithm(algorithm)
    check_iterations(iterations, arms, iteration_labels)
    check_overrides(overrides)
    stages: dict[str, StageSpec] = {}

    def add(spec: StageSpec) -> str:
        stages.setdefault(spec.name, spec)
        return spec.name

    prepare = add(StageSpec("prepare-models", "prepare", []))
    sft = add(StageSpec("sft", "sft", [prepare], {"config": size_config(size, "sft", overrides)})) if has_references else None
    policy_of: dict[str, str | None] = {"sft": sft}
    for arm_name in ["sft", *[a for a in arms if a != "sft"]]:
        arm = get_arm(arm_name)
        if arm.method == "sft":
            continue
        needs: dict[str, str | None] = {"labels": None, "reward": None}
        for need in runs_for(arm, has_references=False, algorithm=algorithm, mixed_share=mixed_share):
            if same_labeler and need.labeler == "policy-size":
                need = replace(need, labeler="labeler")
            if need.kind == "labels":
                needs["labels"] = add(_labels_spec(need.labeler, prepare, size, overrides))
            elif need.kind == "reward":
                deps = [prepare] + ([needs["labels"]] if needs["labels"] else [])
                labels = cast(str, need.labels)  # runs_for gives every reward stage its labels
                label_kind = labels.split(":")[0]
                needs["reward"] = add(StageSpec(
                    f"reward-{labels.replace(':', '-')}{_suffix(need.labeler)}", "reward", deps,
                    {"labels": need.labels, "labeler": need.labeler if label_kind != "human" else None,
                     "config": size_config(size, "reward", overrides)},
                ))
            elif need.kind == "policy":
                deps = [d for d in (sft or prepare, needs["reward"], needs["labels"] if need.method == "dpo" else None) if d]
                kind_key = "dpo" if need.method == "dpo" else "rl"
                policy_of[arm.name] = add(StageSpec(
                    f"policy-{arm.name}", "policy", deps,
                    {"arm": arm.name, "algorithm": need.method, "config": size_config(size, kind_key, overrides)},
                    scored_by="labeler" if arm.reward == "direct" else None,  # the labeler is this arm's reward
                ))
    sampled = [policy for arm in ["sft", *[a for a in arms if a != "sft"]] for policy in (
        _plan_iterations(arm, stages, policy_of, iterations=iterations, labels=iteration_labels, size=size,
                         overrides=overrides, algorithm=algorithm) if arm in ITERATIVE_ARMS else [arm])]
    samples = [
        add(StageSpec(f"samples-{arm}", "sampling", [policy_of.get(arm) or prepare],
                      {"policy": arm, "config": size_config(size, "sampling", overrides)}))
        for arm in sampled
    ]
    round = add(StageSpec("evaluation-round", "round", samples, {"policies": sampled, **size_config(size, "round", overrides)}))
    if ai_judge:
        add(StageSpec("ai-judge", "judge", [round], {"config": size_config(size, "judge", overrides)}))
    if reward_curve:
        for spec in _curve_stages(prepare, size, overrides, train_pairs):
            add(spec)
    counts = {"train_pairs": train_pairs, "test_prompts": test_prompts, "train_prompts": train_prompts}
    for spec in stages.values():
        spec.expected_total = _expected_total(spec, counts)
    return _ordered(list(stages.values()))


def _plan_iterations(arm: str, planned: dict[str, StageSpec], policy_of: dict[str, str | None], *, iterations: int,
                     labels: str, size: str, overrides: dict | None, algorithm: str) -> list[str]:
    """Plan iterations 2..K of an iterative arm after its first policy (``policy-ARM``, already in
    ``planned``), and return the names its policies are sampled and rated under (``rlaif``, ``rlaif-it2``, ...).

    Iteration k: policy k-1 answers every training prompt twice (``self-pairs``), the labeler
    labels those pairs (a labeling stage like the first, on these pairs only), a reward model
    trains on the AI labels so far (``labels="all"``: the first labeling and every iteration's)
    or on the newest only, and RL starts from policy k-1 against it. Names end in ``-itK``.
    """
    first = planned[f"policy-{arm}"]
    reward = next(planned[d] for d in first.depends_on if planned[d].kind == "reward")
    first_labels = next(d for d in reward.depends_on if planned[d].kind == "labeling")
    labeler = reward.config["labeler"]
    label_stages, previous, policies = [first_labels], first.name, [arm]
    for k in range(2, iterations + 1):
        suffix = f"{arm}-it{k}"
        pairs = StageSpec(f"self-pairs-{suffix}", "self-pairs", [previous],
                          {"policy": iteration_policy(arm, k - 1), "iteration": k,
                           "config": size_config(size, "self_pairs", overrides)})
        labeling = StageSpec(f"ai-labels-{suffix}", "labeling", [pairs.name],
                             {"labeler": labeler, "pairs_from": pairs.name, "iteration": k,
                              "config": size_config(size, "labeling", overrides)},
                             loads=planned[first_labels].loads)
        label_stages.append(labeling.name)
        trained_on = label_stages if labels == "all" else [labeling.name]
        rm = StageSpec(f"reward-ai-{suffix}", "reward", ["prepare-models", *trained_on],
                       {"labels": "ai", "labeler": labeler, "label_stages": list(trained_on), "iteration": k,
                        "config": size_config(size, "reward", overrides)})
        policy = StageSpec(f"policy-{suffix}", "policy", [previous, rm.name],
                           {"arm": arm, "algorithm": algorithm, "iteration": k, "config": size_config(size, "rl", overrides)})
        for spec in (pairs, labeling, rm, policy):
            planned.setdefault(spec.name, spec)
        policies.append(iteration_policy(arm, k))
        policy_of[policies[-1]] = previous = policy.name
    return policies


def _labels_spec(labeler: str | None, prepare: str, size: str, overrides: dict | None) -> StageSpec:
    """The stage that AI-labels the training pairs with ``labeler`` (the experiment's, or "policy-size")."""
    return StageSpec(f"ai-labels{_suffix(labeler)}", "labeling", [prepare],
                     {"labeler": labeler, "config": size_config(size, "labeling", overrides)},
                     loads=("policy",) if labeler == "policy-size" else ("labeler",))


def _curve_stages(prepare: str, size: str, overrides: dict | None, train_pairs: int) -> list[StageSpec]:
    """Figure 5: a stage per label source, each a reward model per size trained with the size's
    "reward" settings. A source other than human waits for the run's own AI labels (added here
    when no arm asked for them). Sizes left to the size's default stop at the training pairs;
    sizes given are refused when larger (``train_pairs`` 0: not known, not checked)."""
    curve = size_config(size, "curve", overrides)
    given = "sizes" in ((overrides or {}).get("curve") or {})
    sizes = curve["sizes"] if given or not train_pairs else [n for n in curve["sizes"] if n <= train_pairs] or [train_pairs]
    sizes = list(check_sizes(sizes, train_pairs=train_pairs or None))
    specs = []
    for labels in check_labels(curve["labels"], pinned=False):
        deps = [prepare]
        if labels != "human":
            specs.append(_labels_spec("labeler", prepare, size, overrides))
            deps.append(specs[-1].name)
        specs.append(StageSpec(f"reward-curve-{labels.replace(':', '-')}", "reward-curve", deps,
                               {"labels": labels, "sizes": sizes, "config": size_config(size, "reward", overrides)}))
    return specs


def _expected_total(spec: StageSpec, counts: dict[str, int]) -> int:
    """What the progress bar counts before the stage starts (the stage corrects it when it runs)."""
    # An iteration's labeling stage labels the pairs its policy made: one per training prompt at most.
    how = "train_prompts" if spec.config.get("pairs_from") else get_kind(spec.kind).counts
    config = spec.config.get("config", {})
    if how == "steps":
        return int(config.get("steps") or config.get("max_steps") or 0)
    if how == "sizes":
        return len(spec.config["sizes"])
    if how not in counts:
        return 1
    return min(counts[how], config["limit"]) if config.get("limit") else counts[how]


KIND_ORDER = tuple(kind.name for kind in KINDS)


def _ordered(specs: list[StageSpec]) -> list[StageSpec]:
    """Dependencies first; among stages that are ready, the paper's order of kinds, then the order added."""
    done: list[StageSpec] = []
    names: set[str] = set()
    pending = list(specs)
    while pending:
        ready = [s for s in pending if set(s.depends_on) <= names]
        if not ready:
            raise ValueError(f"stage graph has a cycle among {[s.name for s in pending]}")
        first = min(ready, key=lambda s: KIND_ORDER.index(s.kind))
        pending.remove(first)
        done.append(first)
        names.add(first.name)
    return done
