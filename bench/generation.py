"""Generation throughput: our decoding (``pipeline.generation.decode_prompts``, on the inference
engine) vs ``model.generate`` and vs TRL's rollout generation, beside the memory-bandwidth bound.

    .venv/bin/python bench/generation.py [--batches 8 32] [--new-tokens 48 128] [--generations 2]
                                         [--threads N] [--rounds 1] [--sides ...] [--out FILE] [--quick]

Same real HH prompts (chat-formatted, <= ``--max-prompt-tokens``) on every side, ``--generations``
samples of each, rows = batch (so batch 8 = 4 prompts x 2 samples), temperature 1, and exactly
``new_tokens`` tokens per row (EOS held back until then), so every side generates the same tokens:

  ours      ``decode_prompts``: each prompt prefilled once and shared by its samples, rows packed,
            the KV cache preallocated and written in place, last-position logits only; float32.
  ours_bf16 the same with ``precision="bf16"``: the decoder's projections and output head in
            bfloat16 (prefill on oneDNN's packed copy; decoding steps on Intel CPUs on MKL's
            bf16 GEMM, elsewhere at <= 8 rows on the native few-row kernel, float32 out), KV
            cache and attention in bfloat16, the rest float32 (what
            ``RLConfig.rollout_precision = "bf16"`` decodes with).
  generate  ``model.generate(do_sample=True, num_return_sequences=generations)`` on left-padded
            prompts (transformers' own loop and cache).
  trl       TRL RLOOTrainer's rollout call: ``model.generate`` with the GenerationConfig its
            ``_generate`` builds from RLOOConfig's defaults (top_p 1, top_k 0, no min_p,
            repetition_penalty 1), on each prompt repeated once per completion, as TRL batches them.
  ct2       the peer: CTranslate2 (a C++ inference engine for transformers models, ``pip install
            ctranslate2``, in requirements-dev.txt), the bundled model converted to its format
            once per run, float32, sampling from the full distribution, the prompt prefilled at
            once (``include_prompt_in_result=False``), each prompt repeated once per completion,
            ``intra_threads`` = torch's threads. Left out (with a line saying so) when the package
            is not installed. Its share of the float32 bound shows what a dedicated engine
            reaches on the machine at hand.
  ct2_int8  the same with ``compute_type="int8_float32"`` (8-bit weights: its fastest CPU mode).

tokens/s = rows x new_tokens / wall seconds of the whole call (prefill included), best of
``--rounds``. The bound: a decoding step must read every weight and each row's KV cache once,
so steps/s <= copy bandwidth / (weight bytes + rows x mean context x KV bytes per token), and
tokens/s <= rows x that; weights and KV cache take 4 bytes a number for float32, 2 for the bf16
side (each side against the bytes it reads). The copy bandwidth is measured here (a 1 GiB tensor
copy, larger than a CPU's last-level cache as the float32 weights are, read + write bytes,
torch's threads): at the start (best of 5) and again at the start of every round (best of 3), since on
a shared machine it moves by +-20 % from minute to minute (neighbours' memory traffic) and the
tokens/s with it. So the shares are taken per round, each call against the bandwidth measured
just before it: ``ours_share_of_bound`` = the median over rounds of ours / its bound that round
(likewise ``ours_bf16_...``); ``ours_share_of_best_bound`` = the best tokens/s over the bound at
the highest bandwidth seen (the strictest reading). ``ours_vs_generate`` and ``ours_vs_trl`` are
medians of the per-round ratios (the sides of one round run back to back). The bound leaves out
the prefill, so a short run with long prompts sits further below it. ``ct2_share_of_bound`` is
the peer's share of the same float32 bound; ``ours_vs_ct2`` / ``ours_bf16_vs_ct2_int8`` compare
with it.

Where the rest of a step goes: ``projections_ms_per_step`` (``bf16_...`` for the bf16 decoder)
times a step's matmuls alone, every projection and the output head on the batch's rows through
the decoder's own kernels, back to back, once per round; ``projections_gb_s`` is the rate they
stream the weights at (against the copy bandwidth: how near the kernels themselves come to the
bound), and ``ours_share_of_projections`` is ours against a decoder that did nothing but those
matmuls (per round, median; the rest is attention, norms, sampling, Python and the prefill).
``onednn_projections_ms_per_step`` times the float32 matmuls once more with every product on
oneDNN (where the native few-row kernel runs them in a step: CPUs but Intel's, where it is
built), and ``projections_vs_onednn`` is oneDNN's time over the decoder's (per round, median).
The last line printed is one JSON object (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def copy_bandwidth(megabytes: int = 1024, repeats: int = 5) -> float:
    """Bytes per second of a large tensor copy (bytes read + bytes written), best of ``repeats``."""
    src = torch.ones(megabytes * 2**20 // 4)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - started)
    return 2 * src.numel() * src.element_size() / best


def bench_prompts(tokenizer, count: int, max_tokens: int) -> list[list[int]]:
    from pipeline.tokens import fitting_chat_prompts

    try:
        return fitting_chat_prompts(HH, tokenizer, count, max_tokens)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


PEERS = {"ct2": "float32", "ct2_int8": "int8_float32"}  # side -> CTranslate2 compute type
SIDES = ("ours", "ours_bf16", "generate", "trl", *PEERS)
# side -> (the prefix of its bound's keys, the sides its tokens/s is compared with)
COMPARED = {"ours": ("", ("generate", "trl", "ct2")), "ours_bf16": ("bf16_", ("generate", "trl", "ct2_int8")),
            "ct2": ("", ("generate",))}


def peer_generators(model_dir: Path, out: Path) -> dict[str, Any]:
    """CTranslate2 generators of the model in ``model_dir`` (converted into ``out``), one per
    ``PEERS`` side; empty when ctranslate2 is not installed."""
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        return {}
    TransformersConverter(str(model_dir)).convert(str(out), quantization="float32", force=True)
    return {side: ctranslate2.Generator(str(out), device="cpu", compute_type=compute, inter_threads=1,
                                        intra_threads=torch.get_num_threads())
            for side, compute in PEERS.items()}


def sides(model, tokenizer, prompts: list[list[int]], k: int, new_tokens: int, peers: dict[str, Any] | None = None) -> dict:
    """One call per side; each a function of no arguments."""
    from transformers import GenerationConfig
    from trl import RLOOConfig

    from pipeline.generation import decode_prompts
    from pipeline.inference.sampling import row_seed
    from pipeline.tokens import eos_ids, pad_left

    stop, pad = eos_ids(model, tokenizer), tokenizer.pad_token_id
    ids, mask = pad_left(prompts, pad, torch.device("cpu"))
    repeated = pad_left([p for p in prompts for _ in range(k)], pad, torch.device("cpu"))
    seeds = [row_seed(0, "bench", r) for r in range(len(prompts) * k)]
    defaults = RLOOConfig.__dataclass_fields__
    trl_config = GenerationConfig(
        max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True, pad_token_id=pad,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=stop, temperature=1.0,
        top_p=defaults["top_p"].default, top_k=defaults["top_k"].default, min_p=defaults["min_p"].default,
        repetition_penalty=defaults["repetition_penalty"].default, disable_compile=True,
    )

    def ours(precision: str = "exact") -> None:
        roll = decode_prompts(model, tokenizer, prompts, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                              temperature=1.0, seeds=seeds, repeats=k, precision=precision)
        assert roll.tokens.shape == (len(prompts) * k, new_tokens)

    def generate() -> None:
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                           num_return_sequences=k, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           eos_token_id=stop, pad_token_id=pad)

    def trl() -> None:
        with torch.no_grad():
            model.generate(input_ids=repeated[0], attention_mask=repeated[1], generation_config=trl_config)

    start_tokens = [tokenizer.convert_ids_to_tokens(p) for p in prompts for _ in range(k)]

    def ct2(generator: Any) -> None:
        results = generator.generate_batch(start_tokens, max_length=new_tokens, min_length=new_tokens, sampling_topk=0,
                                           sampling_temperature=1.0, include_prompt_in_result=False)
        assert all(len(r.sequences_ids[0]) == new_tokens for r in results)

    calls = {"ours": ours, "ours_bf16": lambda: ours("bf16"), "generate": generate, "trl": trl}
    return calls | {side: (lambda g=generator: ct2(g)) for side, generator in (peers or {}).items()}


def bound(model, prompts: list[list[int]], k: int, new_tokens: int, bandwidth: float, dtype: torch.dtype = torch.float32) -> dict:
    """The memory-bandwidth bound of decoding these rows with weights and KV cache in ``dtype``
    (see the module docstring)."""
    from pipeline.inference.kv import kv_bytes_per_token

    weights = sum(p.numel() for p in model.parameters()) * dtype.itemsize
    mean_context = sum(len(p) for p in prompts) / len(prompts) + new_tokens / 2
    rows = len(prompts) * k
    step_bytes = weights + rows * mean_context * kv_bytes_per_token(model.config, dtype)
    return {"weight_bytes": weights, "bytes_per_step": round(step_bytes),
            "bound_tokens_per_s": round(rows * bandwidth / step_bytes, 1)}


def projections_seconds(model, rows: int, weights: torch.dtype | None, repeats: int = 3, few_rows: bool = True) -> float:
    """Seconds of one decoding step's matmuls alone: every layer's projections (q|k|v, o, gate|up,
    down) and the output head, on ``rows`` rows, through the fused decoder's own kernels
    (``weights``: None for float32, torch.bfloat16 for the bf16 decoder), one after the other with
    nothing between them, so the weights stream from memory as in a step; best of ``repeats``.
    What a step would take if attention, norms, sampling and Python cost nothing.
    ``few_rows=False``: every product on oneDNN, not on the native few-row kernel (the naive way
    it replaces)."""
    from pipeline.inference import proj
    from pipeline.inference.fused import FusedDecoder

    decoder = FusedDecoder.build(model, weights)
    if decoder is None:
        return float("nan")
    hidden, inner = torch.randn(rows, model.config.hidden_size), torch.randn(rows, model.config.intermediate_size)

    def step() -> None:
        residual = hidden.clone()
        for layer in decoder.layers:
            layer.qkv(hidden)
            residual = layer.o.add_to(residual, hidden)
            layer.gate_up(hidden)
            residual = layer.down.add_to(residual, inner)
        decoder.head(hidden)

    limits = proj.NATIVE_ROWS, proj.NATIVE_BF16_ROWS
    if not few_rows:
        proj.NATIVE_ROWS = proj.NATIVE_BF16_ROWS = 0
    try:
        step()
        return min(timed(step) for _ in range(repeats))
    finally:
        proj.NATIVE_ROWS, proj.NATIVE_BF16_ROWS = limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="rows decoded together")
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[48, 128])
    parser.add_argument("--generations", type=int, default=2, help="samples per prompt (rows = prompts x this)")
    parser.add_argument("--max-prompt-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=1, help="calls per side and setting (best kept)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=SIDES)
    parser.add_argument("--quick", action="store_true", help="batch 8, 16 new tokens, ours (both) and generate only")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.new_tokens, args.sides = [8], [16], ["ours", "ours_bf16", "generate"]
    if args.threads:
        torch.set_num_threads(args.threads)

    from pipeline import registry

    artifact_root = ROOT / "var" / "artifacts"
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    loaded = registry.load_causal_lm(registry.DEFAULT_MODEL, artifact_root)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    converted = tempfile.TemporaryDirectory()
    peers = peer_generators(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location, Path(converted.name)) \
        if any(side in PEERS for side in args.sides) else {}
    if any(side in PEERS and side not in peers for side in args.sides):
        print("ctranslate2 is not installed (pip install -r requirements-dev.txt): no ct2 sides", flush=True)
        args.sides = [side for side in args.sides if side not in PEERS]
    bandwidth = copy_bandwidth()
    print(f"copy bandwidth {bandwidth / 1e9:.2f} GB/s, {torch.get_num_threads()} threads", flush=True)
    pool = bench_prompts(tokenizer, max(args.batches) // args.generations, args.max_prompt_tokens)
    for warm in ("ours", "ours_bf16", *peers):  # builds each fused decoder (and warms each peer) outside the timings
        sides(model, tokenizer, pool[:1], 1, 2, peers)[warm]()

    results = []
    for batch in args.batches:
        prompts = pool[: batch // args.generations]
        for new_tokens in args.new_tokens:
            calls = sides(model, tokenizer, prompts, args.generations, new_tokens, peers)
            row: dict = {"batch": len(prompts) * args.generations, "new_tokens": new_tokens,
                         "mean_prompt_tokens": round(sum(map(len, prompts)) / len(prompts), 1)}
            seconds: dict[str, list[float]] = {name: [] for name in args.sides}
            bandwidths = []
            kernels: dict[str, list[float]] = {"": [], "bf16_": [], "onednn_": []}
            for _ in range(args.rounds):  # the sides take turns, so drifting load hits them alike
                bandwidths.append(copy_bandwidth(repeats=3))  # the bound as it is this round
                for prefix, weights in (("", None), ("bf16_", torch.bfloat16)):
                    kernels[prefix].append(projections_seconds(model, row["batch"], weights))
                kernels["onednn_"].append(projections_seconds(model, row["batch"], None, few_rows=False))
                for name in args.sides:
                    seconds[name].append(timed(calls[name]))
            tokens = row["batch"] * new_tokens
            for name in args.sides:
                row[f"{name}_tokens_per_s"] = round(tokens / min(seconds[name]), 1)
            row["copy_bandwidth_gb_s"] = [round(b / 1e9, 2) for b in bandwidths]
            best = max([bandwidth, *bandwidths])
            for prefix, dtype in (("", torch.float32), ("bf16_", torch.bfloat16)):
                row.update({f"{prefix}{key}": value for key, value in bound(model, prompts, args.generations, new_tokens, best, dtype).items()})
                # the step's matmuls alone, and the rate at which they stream the weights
                row[f"{prefix}projections_ms_per_step"] = [round(t * 1e3, 1) for t in kernels[prefix]]
                row[f"{prefix}projections_gb_s"] = round(row[f"{prefix}weight_bytes"] / statistics.median(kernels[prefix]) / 1e9, 1)
            row["onednn_projections_ms_per_step"] = [round(t * 1e3, 1) for t in kernels["onednn_"]]
            row["projections_vs_onednn"] = round(statistics.median(o / k for k, o in zip(kernels[""], kernels["onednn_"])), 2)
            for side, (prefix, others) in COMPARED.items():
                if side not in args.sides:
                    continue
                step_bytes = row[f"{prefix}bytes_per_step"]
                shares = [tokens / s * step_bytes / (row["batch"] * b) for s, b in zip(seconds[side], bandwidths)]
                row[f"{side}_share_of_bound"] = round(statistics.median(shares), 3)
                row[f"{side}_share_of_best_bound"] = round(row[f"{side}_tokens_per_s"] / row[f"{prefix}bound_tokens_per_s"], 3)
                if side in ("ours", "ours_bf16"):  # against the matmul kernels' own rate, this round
                    row[f"{side}_share_of_projections"] = round(statistics.median(
                        tokens / s * k / row["batch"] for s, k in zip(seconds[side], kernels[prefix])), 3)
                for other in others:
                    if other in args.sides:
                        row[f"{side}_vs_{other}"] = round(statistics.median(o / s for s, o in zip(seconds[side], seconds[other])), 2)
            print(json.dumps(row), flush=True)
            results.append(row)
    report = {"benchmark": "generation_tokens_per_second", "model": registry.DEFAULT_MODEL,
              "threads": torch.get_num_threads(), "copy_bandwidth_gb_s": round(bandwidth / 1e9, 2),
              "generations_per_prompt": args.generations, "rounds": args.rounds, "rows": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
