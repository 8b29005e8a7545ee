"""Small helpers shared by the statistics modules: serialisation, intervals, bootstrap weights.

Nothing here knows about policies or raters; it is plumbing that every table needs.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = [
    "Serializable",
    "Interval",
    "to_jsonable",
    "z_quantile",
    "wilson_interval",
    "prompt_bootstrap_weights",
    "percentile_interval",
]


def to_jsonable(value: Any) -> Any:
    """Turn a result value into plain JSON data.

    Dataclasses become dicts, tuples/lists/arrays become lists, numpy scalars become Python
    scalars, and non-finite floats (NaN, ±inf) become ``None`` because JSON has no spelling
    for them and a report page should show "—" rather than crash.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


class Serializable:
    """Mixin for the frozen result dataclasses: ``to_dict()`` gives JSON-ready data."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


#: What numpy's ``default_rng`` accepts as a seed.
Seed = int | np.random.SeedSequence | np.random.Generator | None


@dataclass(frozen=True)
class Interval(Serializable):
    """A two-sided confidence interval ``[low, high]``; NaN bounds when undefined."""

    low: float
    high: float

    def mirrored(self) -> Interval:
        """The interval of ``1 − x`` when this one is for ``x`` (used for B-vs-A rows)."""
        return Interval(1.0 - self.high, 1.0 - self.low)


def z_quantile(confidence: float) -> float:
    """Two-sided normal critical value ``z = Φ⁻¹(1 − (1 − confidence)/2)`` (1.96 at 95 %)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return float(special.ndtri(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion (vectorised over arrays).

    The one Wilson interval of the project: win rates, harmless rates, labeler alignment and
    reward-model accuracy all use it. With ``p̂ = k/n`` and ``z`` the two-sided critical value::

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p̂(1 − p̂)/n + z²/4n²)

    Returns ``(low, high)`` as floats for scalar input, arrays otherwise.
    Unlike the Wald interval it stays inside [0, 1] and behaves at p̂ = 0 or 1; there the bound is
    exactly 0 or 1 (the formula's rounding would leave 1e-17 off).

    ``n = 0`` gives ``(nan, nan)``: no trials, no interval. NaN rather than (0, 1) so a table
    cannot mistake it for a measured "anything between 0 and 1"; ``to_jsonable`` writes it as
    null and the report pages show "—".
    """
    z = z_quantile(confidence)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2n = z * z / n
        denom = 1.0 + z2n
        centre = (p + z2n / 2.0) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
        low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    low = np.where(n > 0, low, np.nan)
    high = np.where(n > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


_BLOCK_CELLS = 256_000


def prompt_bootstrap_weights(n_prompts: int, n_boot: int, seed: Seed) -> np.ndarray:
    """Cluster-bootstrap weights: row ``b`` counts how often each prompt is drawn in resample ``b``.

    Drawing ``n_prompts`` prompts with replacement and counting them is a multinomial draw;
    we draw the indices and count them with one ``bincount`` (offset per row) because that
    is several times faster than ``Generator.multinomial`` for thousands of prompts.
    Shape ``(n_boot, n_prompts)``, dtype float64, ready for ``weights @ per_prompt_counts``.
    """
    rng = np.random.default_rng(seed)
    if n_boot <= 0 or n_prompts <= 0:
        return np.zeros((max(n_boot, 0), max(n_prompts, 0)))
    weights = np.empty((n_boot, n_prompts))
    # A block of rows at a time: the same draws as one (n_boot, n_prompts) call, but the index and
    # count temporaries stay a few MB instead of ~100 MB at 2,000 x 2,000 (half the time).
    rows = max(1, min(n_boot, _BLOCK_CELLS // n_prompts))
    offsets = np.arange(rows)[:, None] * n_prompts
    for start in range(0, n_boot, rows):
        m = min(rows, n_boot - start)
        draws = rng.integers(0, n_prompts, size=(m, n_prompts))
        draws += offsets[:m]
        weights[start : start + m] = np.bincount(draws.ravel(), minlength=m * n_prompts).reshape(m, n_prompts)
    return weights


def percentile_interval(samples: np.ndarray, confidence: float = 0.95, axis: int = 0) -> tuple[Any, Any]:
    """Percentile bootstrap interval along ``axis``, ignoring NaN replicates.

    Replicates can be NaN when a resample happens to contain no comparison of a pair;
    dropping them is the usual convention. All-NaN gives NaN bounds.
    """
    alpha = (1.0 - confidence) / 2.0
    samples = np.asarray(samples, dtype=float)
    if samples.shape[axis] == 0:
        shape = list(samples.shape)
        del shape[axis]
        nan = np.full(shape, np.nan)
        return nan, nan.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": a legitimate NaN here
        low = np.nanquantile(samples, alpha, axis=axis)
        high = np.nanquantile(samples, 1.0 - alpha, axis=axis)
    return low, high

