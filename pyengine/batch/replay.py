"""``dlq replay``: run the dead letters of a finished run again, after a fix.

The dead letters' records become the input of a new run: OUT2/replay-input.jsonl
holds one line per line of OUT/dlq.jsonl (the record as JSON, or its raw text
when it never parsed), and positions in OUT2 are line numbers of that file, so
OUT2 keeps the run invariants: every dead letter ends exactly once in OUT2's
results or OUT2's dead-letter queue. Rerunning resumes like ``run``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pyengine.batch.inputs import InputError
from pyengine.batch.job import DLQ, JobConfig, check_output, writing_alone
from pyengine.records import parse_json

REPLAY_INPUT = "replay-input.jsonl"


def prepare_replay(out: Path, out2: Path) -> Path:
    """Write OUT2's input from OUT's dead letters (once; kept for resumes)."""
    source = out / DLQ
    if not source.exists():
        raise InputError(f"{out}: no {DLQ} here; is it the output of a run?")
    target = out2 / REPLAY_INPUT
    if target.exists():
        return target
    if out2.resolve() == out.resolve():
        raise InputError(f"{out2}: the output of the run replayed; choose a new --output")
    tmp = target.with_name(target.name + ".tmp")
    check_output(out2, [tmp.name])
    lines = _records(source)
    with writing_alone(out2):
        tmp.write_text("".join(line.replace("\n", " ") + "\n" for line in lines),
                       encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, target)
    return target


def _records(source: Path) -> list[str]:
    """The record of each dead letter of ``source`` (a dlq.jsonl): as JSON, or its raw
    text when it never parsed."""
    lines = []
    with open(source, encoding="utf-8", errors="surrogateescape") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                letter = parse_json(line)  # ValueError also for JSON nested too deeply
            except ValueError as exc:
                raise InputError(f"{source}:{number}: not a dead letter: {exc}") from exc
            if not isinstance(letter, dict) or "record" not in letter:
                raise InputError(f"{source}:{number}: not a dead letter: a JSON object with "
                                 "a 'record' is expected")
            record = letter["record"]
            lines.append(record if isinstance(record, str) else json.dumps(record))
    return lines


def replay_config(out: Path, out2: Path, workers: int, sla: float,
                  compression: str) -> JobConfig:
    """The job that re-evaluates OUT's dead letters into OUT2."""
    return JobConfig(prepare_replay(out, out2), out2, workers, checkpoint_every=1_000_000,
                     sla_seconds=sla, compression=compression)
