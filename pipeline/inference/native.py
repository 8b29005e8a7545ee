"""Native CPU kernels of the fused decoder, built on the machine where they run, or None.

One extension (``kernels.cpp`` binds them):

* ``decode_attention`` (``decode_attention.cpp``): a decoding step's attention over the packed
  KV slabs, one query token per row over exactly its real keys, float32. torch's SDPA takes ~2x
  its time there (the cpp file says why), ~1/5 of a float32 decoding step at batch 8.
* ``pack_few_rows`` / ``few_rows_linear`` (``few_rows_linear.cpp``): products of a few rows
  (decoding steps) with float32 or bf16 weights, reading the weights as contiguous streams fetched
  ahead; ~1.7x less time than oneDNN at 8 rows on a Zen 4, where oneDNN's matmul work and weight
  reads do not overlap.

The sources are compiled once per machine with ``torch.utils.cpp_extension`` (a C++ compiler and
ninja; ~30 s) into torch's extension cache (``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``), for this CPU's instruction set (the module name carries a hash of
the CPU's model and flags and of the sources, so a shared cache never hands one CPU another's
build); concurrent processes wait on torch's build lock, later ones load the built library. Where
it cannot be built (no compiler) ``kernel()`` returns None, once, with a log line, and the decoder
runs SDPA and oneDNN.

Plain torch; no Django. Only ``pipeline.inference.fused`` and ``proj`` use it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

SOURCES = [Path(__file__).with_name(name) for name in ("kernels.cpp", "decode_attention.cpp", "few_rows_linear.cpp")]
_LOCK = threading.Lock()
_BUILT: list[ModuleType | None] = []  # [] until the first call, then [module or None]


def _cpu_fingerprint() -> str:
    """A short hash of the CPU's model and instruction flags (``-march=native`` builds for them)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]


def kernel() -> ModuleType | None:
    """The built extension (``.decode_attention``, ``.pack_few_rows``, ``.few_rows_linear``), or
    None where it cannot be built. Built (or loaded) at the first call; thread-safe."""
    if not _BUILT:
        with _LOCK:
            if not _BUILT:
                _BUILT.append(_build())
    return _BUILT[0]


def _build() -> ModuleType | None:
    sources = hashlib.sha256(b"".join(path.read_bytes() for path in SOURCES)).hexdigest()[:8]
    name = f"lab_kernels_{_cpu_fingerprint()}_{sources}"
    # torch runs ``ninja`` from PATH; the one requirements.txt installs sits beside this Python
    here, path = str(Path(sys.executable).parent), os.environ.get("PATH")
    try:
        from torch.utils.cpp_extension import load

        os.environ["PATH"] = os.pathsep.join([here, path] if path else [here])
        return load(name=name, sources=[str(path) for path in SOURCES], extra_cflags=["-O3", "-march=native", "-fopenmp"], verbose=False)
    except Exception as exc:  # no compiler or ninja, a failed build: the decoder runs SDPA instead
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("native kernels unavailable, decoding runs torch's SDPA and oneDNN: %s", first)
        return None
    finally:
        if path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = path
