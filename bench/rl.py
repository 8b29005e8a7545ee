"""RL throughput: our REINFORCE loop (and our PPO) vs TRL's RLOOTrainer, generated tokens per second at equal work.

    .venv/bin/python bench/rl.py [--steps 4] [--warmup 0] [--prompts 4] [--generations 2] [--max-new-tokens 48] [--threads N]

Both run on the bundled model with the same settings: the same real HH prompts (contexts short
enough that neither side truncates), the same prompts per step and completions per prompt,
exactly ``--max-new-tokens`` generated tokens per completion (EOS suppressed until then, so both
generate the same number of tokens per step), the same LoRA adapters, temperature, learning rate
and KL accounting (reward − β·Σ_t log π/π_SFT, reference = adapter disabled), and the same cheap
reward function (so the RL machinery is what is measured). The prompt set is exactly one epoch
(steps × prompts per step), so both sides process the same prompts, each once; each side may
batch them as it likes (ours groups similar lengths, TRL samples at random). Each side runs in
its own subprocess (clean peak memory), ``--rounds`` times in ABBA order so drifting background
load hits both alike; tokens/s = all generated tokens ÷ all summed step times (a median-step
figure is printed alongside). ``--warmup N`` runs N more steps first on every side and leaves them
out of the figures: a process's first 2-3 steps grow its heap to the run's peak (page faults,
see ``pipeline.heap``), so a short run measures mostly that and a warmed-up one the steady state
of a long training run. The last line is one JSON object with both throughputs and ``speedup`` = ours ÷ TRL's.

The PPO row (``ours_ppo_tokens_per_s``, ``ppo_speedup`` = our PPO ÷ TRL's RLOO) runs our loop with
``algorithm="ppo"`` on the same rollouts per step (same prompts, completions and tokens): its
time per step adds the old-policy log-prob pass and ``ppo_epochs`` × minibatches updates
(RLConfig's defaults), the price of reusing each batch of rollouts several times. Its runs
join the ABBA order (ours, TRL, PPO, PPO, TRL, ours, ...). ``--no-ppo`` leaves it out.

The bf16 row (``ours_bf16_tokens_per_s``, ``bf16_speedup`` = ours with bf16 rollouts ÷ TRL's
RLOO) is our REINFORCE with ``rollout_precision="bf16"``: rollouts decoded with bfloat16
matmuls, the loss's log-probs still float32. ``--no-bf16`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import comparison, peak_of, run_sides  # noqa: E402

HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def letter_share(contexts: list[str], responses: list[str]) -> list[float]:
    """A cheap, deterministic reward: the share of letters in the response."""
    return [sum(ch.isalpha() for ch in r) / max(1, len(r)) for r in responses]


def bench_prompts(tokenizer, n: int, max_tokens: int) -> list[str]:
    from pipeline.data import read
    from pipeline.tokens import encode_prompt, format_prompt

    picked = []
    for record in islice(read(HH, "hh"), 400):
        if len(encode_prompt(tokenizer, format_prompt(tokenizer, record.context))) <= max_tokens:
            picked.append(record.context)
        if len(picked) == n:
            break
    return picked


def learner_parser(description: str, batches_help: str) -> argparse.ArgumentParser:
    """The options of the benches that time one part of the RL step on a learner's rollouts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batches", type=int, default=6, help=batches_help)
    parser.add_argument("--prompts", type=int, default=4, help="prompts per batch")
    parser.add_argument("--generations", type=int, default=2, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-prompt-tokens", type=int, default=128)
    return parser


def bench_learner(args: argparse.Namespace):
    """(learner, contexts): the RL loop's models on the bundled model with LoRA, and enough real
    HH prompts for ``args.batches`` batches of rollouts of exactly ``args.max_new_tokens`` tokens."""
    from transformers import AutoTokenizer

    from pipeline import registry
    from pipeline.configs import RLConfig
    from pipeline.distributed import Ranks
    from pipeline.rl.loop import build_learner

    artifact_root = ROOT / "var" / "artifacts"
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    contexts = bench_prompts(tokenizer, args.prompts * args.batches, args.max_prompt_tokens)
    config = RLConfig(lora=True, batch_size=args.prompts, samples_per_prompt=args.generations,
                      max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, device="cpu",
                      max_prompt_tokens=args.max_prompt_tokens)
    return build_learner(config, contexts, artifact_root, Ranks()), contexts


def alternate_sides(learner, contexts: list[str], args: argparse.Namespace, sides: dict, skip_first: bool = False) -> tuple[dict[str, float], float]:
    """Both ``sides`` (name -> function of a batch of rollouts returning (B·k, T) log-probs) on
    each of ``args.batches`` batches, in alternating order; returns each side's summed seconds
    (the first batch left out with ``skip_first``: warm-up) and the largest difference between
    their log-probs of generated tokens."""
    from pipeline.steps import Laps

    first, second = sides
    seconds = {name: 0.0 for name in sides}
    largest = 0.0
    for b in range(args.batches):
        picked = list(range(b * args.prompts, (b + 1) * args.prompts))
        batch = learner.rollout(picked, b, contexts, lambda c, r: [0.0] * len(r), Laps())
        out = {}
        for name in ((first, second) if b % 2 == 0 else (second, first)):
            start = time.perf_counter()
            out[name] = sides[name](batch)
            if b > 0 or not skip_first:
                seconds[name] += time.perf_counter() - start
        real = batch.token_mask.bool()
        largest = max(largest, float((out[first][real] - out[second][real]).abs().max()))
        print(f"batch {b}: " + ", ".join(f"{name} {seconds[name]:.2f} s" for name in sides) + " so far", flush=True)
    return seconds, largest


def run_phase(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pipeline import registry
    from pipeline.configs import RLConfig
    from pipeline.rl import train_policy

    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    # One epoch of distinct prompts; short enough that nothing is truncated.
    steps = args.warmup + args.steps
    prompts = bench_prompts(tokenizer, args.prompts * steps, args.max_prompt_tokens)
    config = RLConfig(
        policy=registry.DEFAULT_MODEL, steps=steps, batch_size=args.prompts,
        samples_per_prompt=args.generations, max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.max_new_tokens, temperature=1.0, beta=0.05, lr=1e-5, lora=True,
        max_prompt_tokens=args.max_prompt_tokens, checkpoint_every=0, seed=0,
        rollout_precision="bf16" if args.phase == "bf16" else "exact",
    )
    step_seconds: list[float] = []
    phases: dict[str, list[float]] = {}

    def on_metrics(step: int, metrics: dict) -> None:
        if "time/step_seconds" in metrics and step > args.warmup:  # steps count from 1
            step_seconds.append(metrics["time/step_seconds"])
            for key, value in metrics.items():
                if key.startswith("time/") and key != "time/step_seconds":
                    phases.setdefault(key.removeprefix("time/").removesuffix("_seconds"), []).append(value)

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        algorithm = {"ours": "reinforce", "bf16": "reinforce", "ppo": "ppo", "trl": "rloo"}[args.phase]
        result = train_policy(config, prompts, letter_share, out, algorithm=algorithm,
                              artifact_root=artifact_root, on_metrics=on_metrics)
    tokens_per_step = args.prompts * args.generations * args.max_new_tokens
    return {
        "phase": args.phase,
        "steps_measured": len(step_seconds),
        "tokens_per_step": tokens_per_step,
        "step_seconds": [round(s, 3) for s in step_seconds],
        "phase_seconds": {phase: round(statistics.median(v), 3) for phase, v in phases.items()},
        "tokens_per_second": tokens_per_step * len(step_seconds) / sum(step_seconds),
        "tokens_per_second_median_step": tokens_per_step / statistics.median(step_seconds),
        "response_length": result.metrics.get("rl/response_length"),
        "kl": result.metrics.get("rl/kl"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def pool(runs: list[dict]) -> dict:
    """One side's runs combined: all generated tokens over all step time; peaks are maxima."""
    seconds = [s for r in runs for s in r["step_seconds"]]
    tokens = sum(r["tokens_per_step"] * r["steps_measured"] for r in runs)
    per_step = runs[0]["tokens_per_step"]
    return {**runs[0], "tokens_per_second": tokens / sum(seconds),
            "tokens_per_second_median_step": per_step / statistics.median(seconds),
            **peak_of(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="measured steps per side (the prompt set is (warmup + steps) x prompts)")
    parser.add_argument("--warmup", type=int, default=0, help="steps run first on every side and left out of the figures")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per step")
    parser.add_argument("--generations", type=int, default=2, help="completions per prompt (RLOO needs >= 2)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--max-prompt-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, in ABBA order (pooled)")
    parser.add_argument("--no-ppo", action="store_true", help="leave out the PPO row (REINFORCE vs RLOO only)")
    parser.add_argument("--no-bf16", action="store_true", help="leave out the row of REINFORCE with bf16 rollouts")
    parser.add_argument("--phase", choices=["ours", "trl", "ppo", "bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # child process: run one side, print its JSON
        print(json.dumps(run_phase(args)))
        return

    started = time.perf_counter()
    sides = ("ours", "trl") + (() if args.no_ppo else ("ppo",)) + (() if args.no_bf16 else ("bf16",))
    runs = run_sides(__file__, ["--steps", str(args.steps), "--warmup", str(args.warmup), "--prompts", str(args.prompts), "--generations", str(args.generations),
         "--max-new-tokens", str(args.max_new_tokens), "--max-prompt-tokens", str(args.max_prompt_tokens),
         "--threads", str(args.threads)], args.rounds, sides)
    results = {phase: pool(r) for phase, r in runs.items()}
    ours, trl = results["ours"], results["trl"]
    print(json.dumps({
        "benchmark": "rl_generated_tokens_per_second",
        "model": "smollm2-135m-instruct",
        "settings": {"prompts_per_step": args.prompts, "completions_per_prompt": args.generations,
                     "new_tokens": args.max_new_tokens, "lora": True, "beta": 0.05, "steps_measured": args.steps,
                     "warmup_steps": args.warmup,
                     "threads": ours["threads"]},
        "ours_tokens_per_s": round(ours["tokens_per_second"], 2),
        "ours_median_phase_seconds": ours["phase_seconds"],  # of its first run: where a step's time goes
        "trl_rloo_tokens_per_s": round(trl["tokens_per_second"], 2),
        **comparison(ours, trl, "tokens_per_second", args.rounds, started),
        **(ppo_row(results["ppo"], trl) if "ppo" in results else {}),
        **(bf16_row(results["bf16"], trl) if "bf16" in results else {}),
    }))


def ppo_row(ppo: dict, trl: dict) -> dict:
    """Our PPO beside TRL's RLOO: its throughput and the ratio, pooled and per median step."""
    return {
        "ours_ppo_tokens_per_s": round(ppo["tokens_per_second"], 2),
        "ppo_speedup": round(ppo["tokens_per_second"] / trl["tokens_per_second"], 3),
        "ppo_speedup_median_step": round(ppo["tokens_per_second_median_step"] / trl["tokens_per_second_median_step"], 3),
        "ours_ppo_peak_rss_mb": round(ppo["peak_rss_mb"]),
    }


def bf16_row(bf16: dict, trl: dict) -> dict:
    """Our REINFORCE with bf16 rollouts beside TRL's RLOO."""
    return {
        "ours_bf16_tokens_per_s": round(bf16["tokens_per_second"], 2),
        "bf16_speedup": round(bf16["tokens_per_second"] / trl["tokens_per_second"], 3),
        "bf16_speedup_median_step": round(bf16["tokens_per_second_median_step"] / trl["tokens_per_second_median_step"], 3),
    }


if __name__ == "__main__":
    main()
