"""glibc's malloc told to keep the memory a batch frees for the next one.

A chunk's numpy arrays (converted columns, the arrays Java writes its results into) are
megabytes each. With glibc's defaults, malloc hands the top of its heap back to the
system whenever more than twice its (adaptive) mmap threshold lies free there: after a
batch, its freed results; within one, a chunk's columns. The next chunk takes the same
memory again, and every page of it faults and is zeroed at its first write. An
``evaluate_batch`` of 2M rows in the caller's thread took about 7,000 such faults, 20-30
ms of its 340 (benchmarks.md, fourteenth session).

:func:`tune_malloc` raises the trim threshold and fixes the mmap threshold at the top
of its adaptive range, so that freed memory up to ``TRIM_THRESHOLD`` stays with the
process for the next allocation. Memory is kept, not taken: a 10M-record ``run``
peaked within 20 MiB of its peak without it, but the resident memory does not fall
back after a large batch. ``PYENGINE_MALLOC=system``, or any ``glibc.malloc`` setting
in ``GLIBC_TUNABLES``, leaves malloc as it is.
"""

from __future__ import annotations

import ctypes
import os

# mallopt's parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Free memory at the heap's top kept, not trimmed: more than a 2M-row batch frees.
TRIM_THRESHOLD = 128 * 2**20
# Allocations below this come from the heap (and are kept); above it, from their own
# mapping (given back on free). glibc's adaptive threshold never goes higher.
MMAP_THRESHOLD = 32 * 2**20


def tune_malloc() -> bool:
    """Keep freed memory (see the module's docstring); True when malloc was tuned here,
    False when the user chose otherwise or the C library is not glibc. Each process
    needs it once; calling it again does no harm."""
    if os.environ.get("PYENGINE_MALLOC") == "system":
        return False
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False  # the user's own settings
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    if not hasattr(libc, "gnu_get_libc_version"):  # musl, macOS: their malloc differs
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
