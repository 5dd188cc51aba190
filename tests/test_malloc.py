"""glibc's malloc keeps the memory batches free (pyengine/batch/malloc.py).

mallopt changes the whole process, so each case runs in its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

import pyengine.engine
from pyengine.engine import Engine
from tests.conftest import ROOT

# Frees 16 MiB, then takes 16 MiB again and writes every byte: how many pages fault
# the second time, i.e. were handed back to the system in between.
_REFAULTS = """
import json, resource
import numpy as np
from pyengine.batch.malloc import tune_malloc
tuned = tune_malloc()
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
first = np.ones(16 * 2**20, np.uint8)
del first
before = faults()
second = np.ones(16 * 2**20, np.uint8)
print(json.dumps([tuned, faults() - before]))
"""


def _refaults(**env: str) -> tuple[bool, int]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYENGINE_MALLOC", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", _REFAULTS], cwd=ROOT, env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    tuned, faults = json.loads(out)
    return tuned, faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_tuned_malloc_keeps_freed_memory_for_the_next_allocation() -> None:
    tuned, tuned_faults = _refaults()
    untuned, untuned_faults = _refaults(PYENGINE_MALLOC="system")
    assert (tuned, untuned) == (True, False)
    # glibc's defaults give the freed array back (each page faults again); tuned, it is
    # reused as it is
    assert tuned_faults * 10 < untuned_faults


def test_the_users_own_malloc_settings_are_left_alone() -> None:
    tuned, _ = _refaults(GLIBC_TUNABLES="glibc.malloc.arena_max=2")
    assert tuned is False


def test_an_engine_tunes_malloc(monkeypatch: pytest.MonkeyPatch,
                                examples_compiled: Any) -> None:
    calls: list[None] = []
    monkeypatch.setattr(pyengine.engine, "tune_malloc", lambda: calls.append(None))
    Engine(examples_compiled)
    assert len(calls) == 1
