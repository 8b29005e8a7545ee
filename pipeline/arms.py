"""The arms of the paper as data: each arm is one training method plus one label source.

    runs_for_arms(["rlhf", "rlaif"], has_references=False)
      -> [Stage(kind='reward', labels='human'), Stage(kind='policy', method='reinforce', arm='rlhf', ...),
          Stage(kind='labels', labeler='labeler'), Stage(kind='reward', labels='ai'), ...]

The stages are what the Django side turns into runs (labeling runs, TrainingRuns); equal stages
are shared between arms (one SFT, one human-label RM for rlhf and for anything else that needs it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

METHODS = ("sft", "rl", "dpo")
DEFAULT_ALGORITHM = "reinforce"  # the paper's
# Iterative RLAIF: arms whose policy can sample new pairs for the AI labeler, and how many rounds.
ITERATIVE_ARMS = ("rlaif", "same-size-rlaif")
MAX_ITERATIONS = 5
# Which AI labels the reward model of iteration k >= 2 trains on: every AI label so far, or only
# the labels of the pairs policy k-1 made.
ITERATION_LABELS = ("all", "newest")


@dataclass(frozen=True)
class Arm:
    """One policy of the comparison."""

    name: str
    method: str  # "sft" (no training beyond SFT), "rl" (REINFORCE/PPO/RLOO/GRPO on a reward) or "dpo"
    labels: str | None  # preference labels used: "human", "ai", "mixed", or None
    reward: str | None  # RL reward: "rm" (an RM trained on `labels`), "direct" (labeler's 1-10 score), None
    labeler: str  # whose AI labels/scores: "labeler" (the experiment's) or "policy-size" (same size as the policy)
    description: str

    @property
    def trains(self) -> str:
        return {"sft": "SFT only", "rl": "RL (the run's algorithm)", "dpo": "DPO"}[self.method]

    @property
    def iterations_shown(self) -> str:
        return f"1–{MAX_ITERATIONS}" if self.name in ITERATIVE_ARMS else "1"  # iterative RLAIF (--iterations K)

    @property
    def labels_shown(self) -> str:
        return f"{self.labels or '—'}{' (policy-size labeler)' if self.labeler == 'policy-size' else ''}"


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("sft", "sft", None, None, "labeler", "the starting policy: SFT on references, or the instruction-tuned base"),
        Arm("rlhf", "rl", "human", "rm", "labeler", "RL on an RM trained on human preferences"),
        Arm("rlaif", "rl", "ai", "rm", "labeler", "distilled RLAIF: RL on an RM trained on the AI labeler's soft labels"),
        Arm("same-size-rlaif", "rl", "ai", "rm", "policy-size", "distilled RLAIF with a labeler the size of the policy"),
        Arm("direct-rlaif", "rl", None, "direct", "labeler", "RL on the labeler's direct 1-10 score, mapped to [-1, 1]; no RM"),
        Arm("dpo-ai", "dpo", "ai", None, "labeler", "DPO on the AI labels' soft preferences (soft-label loss)"),
        Arm("dpo-human", "dpo", "human", None, "labeler", "DPO on human labels"),
        Arm("mixed", "rl", "mixed", "rm", "labeler", "RL on an RM trained on a mix of human and AI labels"),
    )
}


@dataclass(frozen=True)
class Algorithm:
    """One RL algorithm an "rl" arm can train with (DPO arms always train with DPO)."""

    name: str
    trainer: str  # whose loop: "ours" (pipeline.rl.loop) or "TRL"
    description: str
    update: str  # the loss it minimises, in one line


ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm("reinforce", "ours", "REINFORCE with a value baseline and a KL-to-SFT penalty (the paper's)",
                  "−(R − β·KL − V(x)) · Σ_t log π(y_t), one update per batch of rollouts; value loss (V(x) − R_total)²"),
        Algorithm("ppo", "ours", "PPO on REINFORCE's rollouts, value model and KL-penalised reward",
                  "−Σ_t min(ρ_t·A, clip(ρ_t, 1−ε, 1+ε)·A), A = R_total − V_old(x) per sequence, several epochs of "
                  "minibatches; clipped value loss"),
        Algorithm("rloo", "TRL", "REINFORCE leave-one-out: each sample's baseline is the mean reward of the others",
                  "−(R_i − mean_{j≠i} R_j) · Σ_t log π(y_i,t), KL to SFT in the reward (TRL's RLOOTrainer)"),
        Algorithm("grpo", "TRL", "group-relative policy optimisation: rewards normalised within each prompt's samples",
                  "clipped surrogate with A_i = (R_i − mean R) / std R over the group, k3 KL in the loss (TRL's GRPOTrainer)"),
    )
}


def check_algorithm(name: str) -> str:
    if name not in ALGORITHMS:
        raise ValueError(f"algorithm: unknown {name!r}, choose one of {', '.join(ALGORITHMS)}")
    return name


def check_iterations(iterations: int, arms: Iterable[str], labels: str = "all") -> int:
    """Refuse an iteration count out of range, iterations of arms that cannot iterate, or unknown labels."""
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations: {iterations} is out of range, choose 1 to {MAX_ITERATIONS} (1 = RLAIF once)")
    if labels not in ITERATION_LABELS:
        raise ValueError(f"iteration labels: unknown {labels!r}, choose one of {', '.join(ITERATION_LABELS)}")
    if iterations > 1 and not set(arms) & set(ITERATIVE_ARMS):
        raise ValueError(f"iterations: {iterations} needs an arm that iterates ({', '.join(ITERATIVE_ARMS)}); "
                         f"the arms chosen are {', '.join(arms)}")
    return iterations


def iteration_policy(arm: str, iteration: int) -> str:
    """The name an iteration's policy is sampled and rated under: the arm itself, then ``rlaif-it2``, ..."""
    return arm if iteration == 1 else f"{arm}-it{iteration}"


def arms_markdown() -> str:
    """The arms and algorithms tables as the README shows them (a test keeps the README equal to this)."""
    lines = ["| Arm | Trains | Labels | Reward | Iterations | What it is |", "|---|---|---|---|---|---|"]
    for arm in ARMS.values():
        lines.append(f"| `{arm.name}` | {arm.trains} | {arm.labels_shown} | {arm.reward or '—'} | {arm.iterations_shown} "
                     f"| {arm.description} |")
    lines += ["", "| Algorithm | Loop | What it is | Loss / update |", "|---|---|---|---|"]
    for algorithm in ALGORITHMS.values():
        lines.append(f"| `{algorithm.name}` | {algorithm.trainer} | {algorithm.description} | {algorithm.update} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Stage:
    """One run an arm needs. Equal stages are one run, shared by the arms that need it."""

    kind: str  # "sft", "labels" (an AI labeling run), "reward" (an RM) or "policy"
    labels: str | None = None  # for "reward"/"policy": "human", "ai" or "mixed:SHARE"
    labeler: str | None = None  # for "labels"/"reward"/"policy" on AI labels: "labeler" or "policy-size"
    method: str | None = None  # for "policy": "reinforce", "ppo", "rloo", "grpo" or "dpo"
    reward: str | None = None  # for RL "policy": "rm" or "direct"
    arm: str | None = None  # for "policy": the arm it trains


def get_arm(name: str) -> Arm:
    try:
        return ARMS[name]
    except KeyError:
        raise ValueError(f"unknown arm {name!r}: choose one of {', '.join(ARMS)}") from None


def runs_for(arm: Arm | str, *, has_references: bool, algorithm: str = DEFAULT_ALGORITHM,
             mixed_share: float = 0.5) -> list[Stage]:
    """The runs ``arm`` needs, in dependency order.

    ``has_references``: the experiment has reference outputs, so SFT is trained first (otherwise
    the instruction-tuned base is the SFT policy and no run is needed for it).
    ``algorithm``: the RL algorithm for "rl" arms. ``mixed_share``: human share of the "mixed" arm.
    """
    arm = get_arm(arm) if isinstance(arm, str) else arm
    stages = [Stage("sft")] if has_references else []
    if arm.method == "sft":
        return stages
    labels = f"mixed:{mixed_share:g}" if arm.labels == "mixed" else arm.labels
    labeler = arm.labeler if arm.labels in ("ai", "mixed") or arm.reward == "direct" else None
    if arm.labels in ("ai", "mixed"):
        stages.append(Stage("labels", labeler=labeler))
    if arm.reward == "rm":
        stages.append(Stage("reward", labels=labels, labeler=labeler))
    method = "dpo" if arm.method == "dpo" else algorithm
    stages.append(Stage("policy", labels=labels, labeler=labeler, method=method, reward=arm.reward, arm=arm.name))
    return stages


def runs_for_arms(arms: Iterable[Arm | str], *, has_references: bool, algorithm: str = DEFAULT_ALGORITHM,
                  mixed_share: float = 0.5) -> list[Stage]:
    """The runs of several arms, shared stages once, in dependency order (the knobs as ``runs_for``)."""
    seen: dict[Stage, None] = {}
    for arm in arms:
        for stage in runs_for(arm, has_references=has_references, algorithm=algorithm, mixed_share=mixed_share):
            seen.setdefault(stage, None)
    return list(seen)
