"""Training keeps the memory it frees (``pipeline.heap``): once the heap holds a step's peak, later
steps reuse it without faulting pages in again; leaving gives the memory back; every training
entry point runs that way; and the lab's processes ask PyTorch for huge pages before torch starts."""

from __future__ import annotations

import json
import os
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

ROOT = Path(__file__).resolve().parents[2]
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")

glibc_only = pytest.mark.skipif(heap._LIBC is None, reason="the C library is not glibc: nothing to set")

MB = 2**20
STEP_PAGES = (64 + 40 + 128 + 48 + 96) * MB // resource.getpagesize()

# A mock training step: blocks of a step's sizes (all above glibc's largest mmap threshold,
# 32 MiB) allocated, written, held together, then freed; prints the minor faults of each step.
# It runs in its own process with torch's huge pages off, so that a fault is one 4 KiB page.
MOCK_STEPS = """
import json, resource, sys, torch
from pipeline import heap

def step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    alive = [torch.empty(size * 2**20 // 4).fill_(1.0) for size in (64, 40, 128, 48, 96)]
    del alive
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

if sys.argv[1] == "keep":
    with heap.keep_freed_memory():
        with heap.keep_freed_memory():  # a nested use (one entry point calling another)
            growing = [step() for _ in range(4)]
        still = heap.active()
        steady = [step() for _ in range(4)]
    print(json.dumps({"growing": growing, "steady": steady, "active_inside": still, "active_after": heap.active()}))
else:
    print(json.dumps({"steps": [step() for _ in range(8)]}))
"""


def mock_steps(mode: str) -> dict:
    env = {**os.environ, heap.HUGE_PAGES_ENV: "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", MOCK_STEPS, mode], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def huge_pages(setting: str) -> bool:
    return THP_SETTING.exists() and f"[{setting}]" in THP_SETTING.read_text()


@glibc_only
def test_steps_stop_faulting_once_the_heap_holds_their_peak_until_the_outermost_use_ends():
    run = mock_steps("keep")
    assert run["active_inside"] and not run["active_after"]
    assert run["growing"][0] > STEP_PAGES // 2  # the first step faults its memory in
    assert min(run["steady"]) < STEP_PAGES // 100, run  # later ones reuse it


@glibc_only
def test_leaving_gives_the_kept_memory_back():
    with heap.keep_freed_memory():
        for _ in range(4):
            alive = [torch.empty(size * MB // 4).fill_(1.0) for size in (64, 40, 128, 48, 96)]
            del alive
        kept = resident_bytes()
    assert resident_bytes() < kept - 128 * MB


@glibc_only
@pytest.mark.skipif(huge_pages("always"), reason="with huge pages always on, a fresh block takes few faults anyway")
def test_without_it_every_step_faults_memory_in_again():
    faults = mock_steps("plain")["steps"]
    assert min(faults[2:]) > STEP_PAGES // 10, faults  # what training paid every step before


# What a process started by the lab sees: the switch, and the huge pages behind a fresh 64 MiB
# block (AnonHugePages of its own mappings), read by itself.
HUGE_PAGE_PROBE = """
import json, os, torch
def huge():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
before = huge()
block = torch.empty(64 * 2**20 // 4).fill_(1.0)
print(json.dumps({"switch": os.environ.get("THP_MEM_ALLOC_ENABLE"), "huge_bytes": huge() - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="no /proc/self/smaps_rollup to read")
def test_a_django_process_asks_for_huge_pages_before_torch_starts():
    env = {k: v for k, v in os.environ.items() if k != heap.HUGE_PAGES_ENV}  # as a shell starts the worker
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", HUGE_PAGE_PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["switch"] == "1"  # set by webapp/__init__.py, inherited by the processes it starts
    if not huge_pages("never"):  # the kernel gives them where it is allowed to
        assert probe["huge_bytes"] >= 32 * MB, probe


def test_asking_after_torch_started_says_it_is_too_late_for_this_process(monkeypatch):
    monkeypatch.delenv(heap.HUGE_PAGES_ENV, raising=False)
    assert heap.ask_for_huge_pages() is False  # torch is imported here: it has read the variable
    assert os.environ[heap.HUGE_PAGES_ENV] == "1"  # the processes this one starts still get it
    monkeypatch.setenv(heap.HUGE_PAGES_ENV, "0")
    assert heap.ask_for_huge_pages() is False  # an explicit 0 wins


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
