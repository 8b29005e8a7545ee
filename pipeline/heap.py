"""Training keeps the memory it frees, so a step does not fault the same pages in again.

Why. glibc's malloc hands large freed blocks back to the kernel: an allocation above the mmap
threshold (which glibc raises by itself, up to 32 MiB) is its own mapping, unmapped on free,
and the heap is trimmed whenever the free space at its top passes 128 KiB. The kernel then
gives the next allocation fresh zeroed pages, one page fault per 4 KiB on first touch. A
training step allocates and frees the same few GB every step (activations, logits, gradients),
so it paid those faults every step. Measured on the 2-core CPU machine (bench/rl.py's
settings, 8 REINFORCE steps): the value model's forward after the policy's took 2.4-5.2 s in
half the steps instead of 0.3-0.6 s, with ~155,000 minor faults and 2.7-3.4 s of system time
in one call; the 8 steps took 100.8 s, and 87.9 s with the memory kept (only the first steps,
while the heap grows to the peak, fault; none after).

``keep_freed_memory`` (a context manager and a decorator) stops both while it is active:
no mmap for large blocks (``M_MMAP_MAX`` = 0, so they come from the heap and are reused) and no
trimming (``M_TRIM_THRESHOLD`` = -1). The process then holds its peak between steps, as
PyTorch's caching allocator does on a GPU. On the way out it puts glibc's limits back and
returns the free memory (``malloc_trim``), so a long-lived worker does not keep one stage's
peak for the next. One caveat: once set, glibc stops moving the mmap threshold by itself
(it stays where it was). Elsewhere than glibc (macOS, musl) it does nothing.

Plain Python + ctypes; no Django.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import ContextDecorator
from typing import Any

# mallopt parameters (glibc's malloc.h) and glibc's defaults for the two this module sets
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536


def _glibc() -> Any | None:
    """The process's C library if it is glibc (it has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    needed = ("gnu_get_libc_version", "mallopt", "malloc_trim")
    return libc if all(hasattr(libc, name) for name in needed) else None


_LIBC = _glibc()
_lock = threading.Lock()
_depth = 0  # nested uses (a training entry point calling another) set and restore once


class keep_freed_memory(ContextDecorator):  # noqa: N801 - used like a function: ``with keep_freed_memory():``
    """While active, freed memory stays in the process for reuse (see the module docstring)."""

    def __enter__(self) -> keep_freed_memory:
        global _depth
        with _lock:
            _depth += 1
            if _depth == 1 and _LIBC is not None:
                _LIBC.mallopt(M_MMAP_MAX, 0)
                _LIBC.mallopt(M_TRIM_THRESHOLD, -1)
        return self

    def __exit__(self, *exc: object) -> None:
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0 and _LIBC is not None:
                _LIBC.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                _LIBC.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                _LIBC.malloc_trim(0)


def active() -> bool:
    """Whether glibc is told to keep freed memory right now."""
    return _LIBC is not None and _depth > 0
