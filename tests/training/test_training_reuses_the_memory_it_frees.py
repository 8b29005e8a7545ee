"""Training keeps the memory it frees (``pipeline.heap``): once the heap holds a step's peak, later
steps reuse it without faulting pages in again; leaving gives the memory back; every training
entry point runs that way."""

from __future__ import annotations

import ast
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline import heap
from pipeline.configs import DPOConfig, RewardConfig, RLConfig, SFTConfig
from pipeline.dpo import train_dpo
from pipeline.reward.data import PreferenceExample
from pipeline.reward.train import train_reward_model
from pipeline.rl import train_policy
from pipeline.sft import SFTExample, train_sft

glibc_only = pytest.mark.skipif(heap._LIBC is None, reason="the C library is not glibc: nothing to set")

MB = 2**20
STEP_PAGES = (64 + 40 + 128 + 48 + 96) * MB // resource.getpagesize()


def faults_of_a_step() -> int:
    """Minor page faults taken by a mock training step: blocks of a step's sizes (all above
    glibc's largest mmap threshold, 32 MiB) allocated, written, held together, then freed."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    alive = []
    for size in (64, 40, 128, 48, 96):
        block = torch.empty(size * MB // 4)
        block.fill_(1.0)
        alive.append(block)
    del alive, block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def huge_pages_always() -> bool:
    path = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return path.exists() and "[always]" in path.read_text()


def in_a_fresh_process(scenario: str) -> object:
    """What the named function of this module returns when run in a new Python process.

    The fault counts are measured there because in a process that ran other tests first,
    memory those tests keep alive (a decoder's packed weights, made while training) can pin the
    heap: blocks freed below it are already faulted in and get reused whatever the settings, so
    a first step may fault little and a step without ``keep_freed_memory`` may fault nothing."""
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
              f"from test_training_reuses_the_memory_it_frees import {scenario}; print(repr({scenario}()))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def kept_steps() -> dict:
    with heap.keep_freed_memory():
        with heap.keep_freed_memory():  # a nested use (one entry point calling another)
            growing = [faults_of_a_step() for _ in range(4)]
        still_active = heap.active()
        steady = [faults_of_a_step() for _ in range(4)]
    return {"growing": growing, "steady": steady, "active_after_inner": still_active, "active_after_outer": heap.active()}


def kept_then_left() -> dict:
    with heap.keep_freed_memory():
        for _ in range(4):
            faults_of_a_step()
        kept = resident_bytes()
    return {"kept": kept, "after": resident_bytes()}


def plain_steps() -> list[int]:
    return [faults_of_a_step() for _ in range(8)]


@glibc_only
def test_steps_stop_faulting_once_the_heap_holds_their_peak_until_the_outermost_use_ends():
    seen = in_a_fresh_process("kept_steps")
    assert seen["active_after_inner"] and not seen["active_after_outer"], seen
    assert seen["growing"][0] > STEP_PAGES // 2, seen  # the first step faults its memory in
    assert min(seen["steady"]) < STEP_PAGES // 100, seen  # later ones reuse it


@glibc_only
def test_leaving_gives_the_kept_memory_back():
    seen = in_a_fresh_process("kept_then_left")
    assert seen["after"] < seen["kept"] - 128 * MB, seen


@glibc_only
@pytest.mark.skipif(huge_pages_always(), reason="with huge pages always on, a fresh block takes few faults anyway")
def test_without_it_every_step_faults_memory_in_again():
    faults = in_a_fresh_process("plain_steps")
    assert min(faults[2:]) > STEP_PAGES // 10, faults  # what training paid every step before


PREFERENCES = [PreferenceExample(f"Human: question {i}?", f"Helpful answer {i}.", f"Rude answer {i}!", p=1.0 if i % 2 else 0.0)
               for i in range(4)]


def run_sft(model: str, root: Path, out: Path, seen: list[bool]) -> None:
    examples = [SFTExample(f"Say {i}.", f"{i}.") for i in range(4)]
    train_sft(SFTConfig(model=model, batch_size=2, epochs=1, checkpoint_every=0), examples, out, artifact_root=root,
              on_metrics=lambda s, m: seen.append(heap.active()))


def run_reward_model(model: str, root: Path, out: Path, seen: list[bool]) -> None:
    train_reward_model(RewardConfig(model=model, batch_size=2, epochs=1, checkpoint_every=0, device="cpu"), PREFERENCES, out,
                       artifact_root=root, on_metrics=lambda s, m: seen.append(heap.active()))


def run_dpo(model: str, root: Path, out: Path, seen: list[bool]) -> None:
    train_dpo(DPOConfig(policy=model, batch_size=2, max_steps=1, checkpoint_every=0), PREFERENCES, out, artifact_root=root,
              on_metrics=lambda s, m: seen.append(heap.active()))


def run_policy(model: str, root: Path, out: Path, seen: list[bool]) -> None:
    config = RLConfig(policy=model, steps=1, batch_size=2, samples_per_prompt=2, max_new_tokens=4, checkpoint_every=0)
    train_policy(config, ["Say something.", "Hello there!"], lambda c, r: [0.0] * len(r), out, artifact_root=root,
                 on_metrics=lambda s, m: seen.append(heap.active()))


@glibc_only
@pytest.mark.parametrize("run", [run_sft, run_reward_model, run_dpo, run_policy], ids=["sft", "reward_model", "dpo", "policy"])
def test_every_training_entry_point_keeps_freed_memory_while_it_runs(run, tiny_model_dir, artifact_root, tmp_path):
    seen: list[bool] = []
    run(str(tiny_model_dir), artifact_root, tmp_path / "run", seen)
    assert seen and all(seen)
    assert not heap.active()
