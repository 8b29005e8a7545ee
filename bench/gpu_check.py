"""The CUDA check: every GPU code path of the lab run once on the bundled model, in minutes.

    scripts/gpu-check.sh   (or: make gpu-check; or: .venv/bin/python bench/gpu_check.py [--pairs 64])

Without a CUDA device it prints "no CUDA device" and exits 2 at once. With one, on that device:

  labeling    --pairs real HH pairs labelled in float32 (each p within 1e-3 of the CPU
              reference, the exact engine on the CPU) and with bfloat16 feed-forward matmuls
              (precision "bf16-mlp": the same choice as the reference on >= 97 % of pairs),
              pairs/s of each against the plain transformers loop (``score_naive``: one
              forward per order) and against the padded engine, on the same GPU; the engine
              built there must be the packed one on torch ops (``FusedDecoder.portable``)
  reward      4 steps of reward-model training (LoRA, human labels)
  reinforce   4 steps of REINFORCE, and ppo: 4 steps of PPO (cheap letter-share reward)
  dpo         4 steps of DPO
  sampling    one response to each of 16 test prompts
  demo        the demo pipeline ``make run`` starts (run_experiment demo --size demo), end to end
              through one real Celery worker process with TRAINING_PROCESSES=auto, on a SQLite
              file and the filesystem broker in a temporary folder: its wall time from
              queued to finished and each stage's status (``--demo-timeout`` caps the wait)

Each step records its throughput and its peak GPU memory (the demo: its wall time); the last
stdout line is one JSON object with all of them and ``ok`` (every exactness check held and the
demo pipeline succeeded). Exit 0 when ok, 1 otherwise. Sized to end well under 8 minutes on
one modern GPU (a 135M model, a few steps each).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"
NO_CUDA = 2
STEPS = 4
DEVICE = "cuda"  # said outright, not "auto": a step that ran on the CPU would pass unseen


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--artifacts", default=os.environ.get("ARTIFACT_ROOT", str(ROOT / "var" / "artifacts")))
    parser.add_argument("--demo-timeout", type=float, default=300, help="longest wait for the demo pipeline, in seconds")
    return parser.parse_args(argv)


def measured(name: str, work: Callable[[], dict]) -> dict:
    """Run one step of the check; its figures plus wall seconds and peak GPU memory."""
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    figures = work()
    torch.cuda.synchronize()
    figures["wall_s"] = round(time.perf_counter() - start, 2)
    figures["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    log(f"{name}: " + str({k: v for k, v in figures.items() if k != "labels"}))
    return figures


def labeling_checks(args: argparse.Namespace, model: str) -> dict:
    """The labeler's two precisions on the GPU against the CPU reference, and pairs/s against the
    plain loop: "exact" (float32) and "bf16-mlp" (bfloat16 feed-forward matmuls, the lab's fast
    labeler; a wholly bfloat16 model flips far more choices, see pipeline/inference/precision.py)."""
    from pipeline import registry
    from pipeline.configs import LabelingConfig
    from pipeline.data import read
    from pipeline.inference.engines import PackedEngine, build_engine
    from pipeline.labeling.data import labeled_samples
    from pipeline.labeling.engine import Labeler
    from pipeline.labeling.reference import score_naive

    samples = [s for s, _ in labeled_samples(islice(read(args.data, "hh"), args.pairs))]
    exact = LabelingConfig()  # 0-shot, base preamble, both orders
    cpu = registry.load_causal_lm(model, args.artifacts, device="cpu", precision="exact")
    reference = Labeler(cpu, exact).label(samples)
    del cpu
    gpu = registry.load_causal_lm(model, args.artifacts, device=DEVICE, precision="exact")
    engine = build_engine(gpu.model, gpu.tokenizer, precision="exact")
    results: dict = {"pairs": len(samples), "engine": type(engine).__name__,
                     "engine_is_packed": isinstance(engine, PackedEngine) and engine.fused.batched}
    plain = measured("naive loop fp32", lambda: {"labels": score_naive(gpu, samples, exact)})
    plain.pop("labels")
    results["naive_pairs_per_s"] = round(len(samples) / plain["wall_s"], 2)
    Labeler(gpu, exact, packed=False).label(samples[:2])  # the padded engine, warmed up alike
    padded = measured("padded engine fp32", lambda: {"labels": Labeler(gpu, exact, packed=False).label(samples)})
    padded.pop("labels")
    results["padded_fp32_pairs_per_s"] = round(len(samples) / padded["wall_s"], 2)
    for name, config in (("fp32", exact), ("bf16", exact.replace(precision="bf16-mlp"))):
        Labeler(gpu, config).label(samples[:2])  # warm-up: kernels, allocator, the bf16 copy

        def ours(config=config) -> dict:
            return {"labels": Labeler(gpu, config).label(samples)}

        mine = measured(f"labeling {name}", ours)
        labels = mine.pop("labels")
        results[f"{name}_pairs_per_s"] = round(len(samples) / mine["wall_s"], 2)
        results[f"{name}_speedup_vs_naive"] = round(plain["wall_s"] / mine["wall_s"], 2)
        results[f"{name}_speedup_vs_padded_fp32"] = round(padded["wall_s"] / mine["wall_s"], 2)
        results[f"{name}_peak_cuda_mb"] = mine["peak_cuda_mb"]
        if name == "fp32":
            diff = max(abs(a - b) for x, y in zip(labels, reference)
                       for a, b in ((x.p, y.p), (x.p_order1, y.p_order1), (x.p_order2, y.p_order2)) if a is not None and b is not None)
            results["fp32_max_abs_diff"] = float(f"{diff:.3g}")
            results["fp32_ok"] = diff <= 1e-3
        else:
            same = sum(x.choice == y.choice for x, y in zip(labels, reference)) / len(samples)
            results["bf16_same_choice"] = round(same, 4)
            results["bf16_ok"] = same >= 0.97
    results["naive_peak_cuda_mb"] = plain["peak_cuda_mb"]
    return results


def hh_examples(args: argparse.Namespace, n: int):
    from pipeline.data import read
    from pipeline.reward.data import human_examples, preference_pair

    return human_examples(preference_pair(record) for record in islice(read(args.data, "hh"), n))


def hh_contexts(args: argparse.Namespace, n: int) -> list[str]:
    from pipeline.data import read

    return [record.context for record in islice(read(args.data, "hh"), n)]


def letter_share(contexts: list[str], responses: list[str]) -> list[float]:
    """A cheap, deterministic reward (as bench/rl.py's): the RL machinery is what is checked."""
    return [sum(ch.isalpha() for ch in r) / max(1, len(r)) for r in responses]


def training_checks(args: argparse.Namespace, model: str, out: Path) -> dict:
    """4 steps of each trainer on the GPU (they place their models with the registry's 'auto' device)."""
    from pipeline.configs import DPOConfig, RewardConfig, RLConfig
    from pipeline.dpo import train_dpo
    from pipeline.reward import train_reward_model
    from pipeline.rl import train_policy

    batch = 4
    examples = hh_examples(args, STEPS * batch)
    prompts = hh_contexts(args, STEPS * batch)
    results = {}

    def reward() -> dict:
        config = RewardConfig(model=model, lora=True, batch_size=batch, max_length=256, max_steps=STEPS, checkpoint_every=0,
                              device=DEVICE)
        train_reward_model(config, examples, out / "reward", artifact_root=args.artifacts)
        return {}

    results["reward"] = measured("reward model", reward)
    results["reward"]["pairs_per_s"] = round(STEPS * batch / results["reward"]["wall_s"], 2)
    for algorithm in ("reinforce", "ppo"):
        config = RLConfig(policy=model, steps=STEPS, batch_size=batch, samples_per_prompt=2, max_new_tokens=32,
                          min_new_tokens=32, lora=True, max_prompt_tokens=192, checkpoint_every=0, seed=0, device=DEVICE)

        def rl(config=config, algorithm=algorithm) -> dict:
            train_policy(config, prompts, letter_share, out / algorithm, algorithm=algorithm, artifact_root=args.artifacts)
            return {}

        figures = measured(algorithm, rl)
        figures["tokens_per_s"] = round(STEPS * batch * 2 * 32 / figures["wall_s"], 1)
        results[algorithm] = figures

    def dpo() -> dict:
        config = DPOConfig(policy=model, max_steps=STEPS, batch_size=batch, max_length=256, checkpoint_every=0, device=DEVICE)
        train_dpo(config, examples, out / "dpo", artifact_root=args.artifacts)
        return {}

    results["dpo"] = measured("dpo", dpo)
    results["dpo"]["pairs_per_s"] = round(STEPS * batch / results["dpo"]["wall_s"], 2)
    return results


def sampling_check(args: argparse.Namespace, model: str) -> dict:
    from pipeline import registry
    from pipeline.configs import GenerationConfig
    from pipeline.generation import generate_samples

    lm = registry.load_causal_lm(model, args.artifacts, device=DEVICE, precision="exact")
    contexts = hh_contexts(args, 16)
    config = GenerationConfig(max_new_tokens=64)

    def sample() -> dict:
        samples = generate_samples(lm.model, lm.tokenizer, contexts, config)
        return {"responses": len(samples)}

    figures = measured("sampling", sample)
    figures["prompts_per_s"] = round(len(contexts) / figures["wall_s"], 2)
    return figures


def demo_pipeline_check(artifacts: str, *, timeout: float, arms: Sequence[str] = (), settings: Sequence[str] = ()) -> dict:
    """The demo pipeline as ``make run`` starts it (``arms`` and ``settings``, run_experiment's --arms
    and --set, only narrow it for a quick test), through one real worker process started the way
    ``make run`` starts it, with TRAINING_PROCESSES=auto (one training process per GPU it sees),
    in a lab of its own: a SQLite file and the filesystem broker in a temporary folder (the
    integration tests' lab: PostgreSQL + Redis instead where TEST_DATABASE_URL and
    TEST_CELERY_BROKER_URL are set). Its wall time runs from queuing the run to its end."""
    from tests.orchestration.lab import Lab  # the integration tests' lab of real processes

    with tempfile.TemporaryDirectory(prefix="gpu-check-demo-") as folder:
        lab = Lab(Path(folder), str(Path(artifacts).resolve()))
        lab.env["TRAINING_PROCESSES"] = "auto"
        try:
            lab.manage("migrate", "--noinput", "-v", "0")
            lab.manage("load_demo")
            worker = lab.start_worker("worker")
            begun = time.perf_counter()
            command = ["run_experiment", "demo", "--size", "demo", "--wait", "--timeout", str(timeout), "-v", "0"]
            command += ["--arms", *arms] if arms else []
            command += [arg for setting in settings for arg in ("--set", setting)]
            waited = lab.manage(*command, timeout=timeout + 120, check=False)
            wall = time.perf_counter() - begun
            status = next(iter(lab.sql("SELECT status FROM pipeline_pipelinerun")), ("not started",))[0]
            stages = dict(lab.sql("SELECT name, status FROM pipeline_pipelinestage ORDER BY position"))
            if status != "succeeded":
                log(f"demo pipeline {status}:\n{waited.stdout[-2000:]}{waited.stderr[-2000:]}\n"
                    f"--- worker log\n{worker.log_path.read_text()[-4000:]}")
        finally:
            lab.close()
    figures = {"status": status, "ok": status == "succeeded", "wall_s": round(wall, 1), "stages": stages,
               "training_processes": "auto", "backend": lab.backend}
    log(f"demo pipeline: {figures}")
    return figures


def main() -> int:
    args = parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: the GPU check needs one (torch.cuda.is_available() is False)", file=sys.stderr)
        return NO_CUDA
    from pipeline import registry

    begun = time.perf_counter()
    model = registry.DEFAULT_MODEL
    registry.prepare(model, args.artifacts)  # the bundled model, as `make model` prepares it
    summary: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "model": model}
    summary["labeling"] = labeling_checks(args, model)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as out:
        summary.update(training_checks(args, model, Path(out)))
    summary["sampling"] = sampling_check(args, model)
    summary["peak_cuda_mb"] = max(v.get("peak_cuda_mb", 0) for v in summary.values() if isinstance(v, dict))
    summary["demo_pipeline"] = demo_pipeline_check(args.artifacts, timeout=args.demo_timeout)
    summary["ok"] = bool(summary["labeling"]["fp32_ok"] and summary["labeling"]["bf16_ok"]
                         and summary["labeling"]["engine_is_packed"] and summary["demo_pipeline"]["ok"])
    summary["wall_s"] = round(time.perf_counter() - begun, 1)
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
