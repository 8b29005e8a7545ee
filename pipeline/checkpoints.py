"""Resumable training: seeding, RNG state, and periodic atomic checkpoints of the trainable state.

A run's checkpoints live under ``out_dir/checkpoints/step-N/`` (``state.pt`` plus a ``DONE``
marker written last); calling a trainer again with the same ``out_dir`` continues from the
latest complete one with the same batches and random numbers.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with torch here
        pass


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(modules: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """Only the parameters being trained: LoRA adapters + heads, or every weight when full."""
    return {
        name: {key: p.detach().cpu().clone() for key, p in module.named_parameters() if p.requires_grad}
        for name, module in modules.items()
    }


def load_trainable_state(modules: dict[str, torch.nn.Module], saved: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, module in modules.items():
        params = {key: p for key, p in module.named_parameters() if p.requires_grad}
        missing, extra = sorted(set(params) - set(saved[name])), sorted(set(saved[name]) - set(params))
        if missing or extra:
            raise ValueError(
                f"checkpoint does not match the {name} being trained (was the config changed?): "
                f"missing {missing[:3]}, unexpected {extra[:3]}"
            )
        with torch.no_grad():
            for key, p in params.items():
                p.copy_(saved[name][key].to(p.device, p.dtype))


class Checkpointer:
    """Periodic, atomic checkpoints of a run's trainable state under ``out_dir/checkpoints``.

    A checkpoint holds the trainable parameters, optimizer states, the step and the RNG states.
    It is written to a staging folder and renamed into place, with a DONE marker written last,
    so a run killed while saving leaves the previous checkpoint as "latest".
    """

    def __init__(self, out_dir: str | os.PathLike, keep: int = 2):
        self.root = Path(out_dir) / "checkpoints"
        self.keep = max(1, keep)

    def save(self, step: int, modules: dict[str, torch.nn.Module], optimizers: dict[str, Any], extra: dict | None = None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / f"step-{step:08d}"
        staging = self.root / f".step-{step:08d}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        torch.save(
            {
                "step": step,
                "params": trainable_state(modules),
                "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                "rng": rng_state(),
                "extra": extra or {},
            },
            staging / "state.pt",
        )
        (staging / "DONE").write_text(str(step))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        for old in self.completed()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def completed(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.glob("step-*") if (p / "DONE").is_file()]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def latest(self) -> Path | None:
        found = self.completed()
        return found[-1] if found else None

    def restore(self, modules: dict[str, torch.nn.Module], optimizers: dict[str, Any]) -> tuple[int, dict]:
        """Load the latest checkpoint into ``modules``/``optimizers``; returns (step, extra), (0, {}) if none."""
        latest = self.latest()
        if latest is None:
            return 0, {}
        state = torch.load(latest / "state.pt", map_location="cpu", weights_only=False)
        load_trainable_state(modules, state["params"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        set_rng_state(state["rng"])
        return int(state["step"]), state.get("extra", {})
