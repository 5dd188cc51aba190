"""Helpers to write small rules directories in tests."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from pyengine.batch.convert import Columns
from pyengine.bench.rulesgen import SCHEMA as BENCH_SCHEMA
from pyengine.jvm.rules import java_kind
from pyengine.spec.program import Schema

# The schema of examples/rules, also used by the build benchmark.
SCHEMA = BENCH_SCHEMA

TXN = {
    "id": "t1", "client_id": "c", "amount": "12.00", "currency": "USD", "country": "US",
    "mcc": 5411, "channel": "web", "ts": "2026-01-01T03:00:00Z", "account_age_days": 400,
    "txn_count_24h": 1, "vip": False, "score": 0.5,
}


def write_rules(root: Path, files: dict[str, str], schema: str | None = SCHEMA) -> Path:
    """Create a rules directory with ``schema.yaml`` and the given files (dedented)."""
    root.mkdir(parents=True, exist_ok=True)
    if schema is not None:
        (root / "schema.yaml").write_text(schema, encoding="utf-8")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def one_rule(when: str, action: str = "flag", extra: str = "") -> str:
    """A rule set file 'c' serving client 'c' with one rule."""
    return f"ruleset: c\nrules:\n  - id: r\n    when: {when}\n    action: {action}\n{extra}"


def rows(columns: Columns, schema: Schema) -> list[Any]:
    """Each row of converted columns as (ok, error, parse error, present values), with
    strings decoded and floats with their sign (-0.0 == 0.0): what two ways of converting
    a batch must agree on."""
    out = []
    for i in range(columns.n):
        values = {}
        for name, f in schema.fields.items():
            col = columns.columns[name]
            if col.present[i]:
                v = col.row_values()[i]
                kind = java_kind(f.type)
                values[name] = (col.dictionary[int(v)].as_py() if kind == "String"
                                else (v.item(), math.copysign(1.0, v)) if kind == "double"
                                else v.item())
        out.append((bool(columns.ok[i]), columns.errors.get(i), columns.unparsed.get(i),
                    values if columns.ok[i] else None))
    return out

