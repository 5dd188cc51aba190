"""``generate``: synthetic transactions of the example schema, deterministic for a seed.

Good records are drawn with numpy (millions per second) as typed Arrow columns.
``bad_fraction`` of them are spoiled, in turn, into every kind of bad record the
format allows: in every format a ``schema`` error (a null required field) and an
``evaluation`` error (globex's velocity rule divides by ``account_age_days``,
here 0); in CSV and JSONL also a ``parse`` error (a malformed line) and values
that don't convert (too many decimal digits, an int that is text).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pyengine.batch import MAX_CLIENTS
from pyengine.batch.chunk import json_safe
from pyengine.batch.inputs import InputError
from pyengine.errors import ConfigError

CLIENTS = ["acme", "acme-eu", "globex", "initech", "initrode"]
_US_2026 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
_US_YEAR = 365 * 86_400_000_000


def _choice(rng: np.random.Generator, values: list[str], weights: list[float],
            n: int) -> pa.Array:
    p = np.asarray(weights, dtype=float)
    codes = rng.choice(len(values), size=n, p=p / p.sum()).astype(np.int32)
    return pa.DictionaryArray.from_arrays(codes, pa.array(values)).cast(pa.string())


def _decimal(unscaled: np.ndarray, scale: int) -> pa.Array:
    words = np.empty((len(unscaled), 2), np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(unscaled),
                                 [None, pa.py_buffer(words.tobytes())])


def transactions(count: int, clients: int = 5, seed: int = 1) -> pa.Table:
    """``count`` good transactions for ``clients`` client ids (beyond 5: unregistered ones)."""
    if not 1 <= clients <= MAX_CLIENTS:
        raise ConfigError(f"{clients!r} clients: from 1 to {MAX_CLIENTS:,} are allowed")
    if seed < 0:
        raise ConfigError(f"seed {seed!r}: a seed is a whole number from 0")
    rng = np.random.default_rng(seed)
    names = (CLIENTS + [f"client-{i:03d}" for i in range(max(0, clients - len(CLIENTS)))])
    names = names[: max(1, clients)]
    ids = pc.binary_join_element_wise(f"s{seed}-", pa.array(np.arange(count)).cast(pa.string()),
                                      "")
    amount = np.round(rng.lognormal(4.5, 1.6, count) * 100).astype(np.int64)
    note_kind = rng.random(count)
    notes = np.where(note_kind < 0.02, "PO-123456", np.where(note_kind < 0.03, "test order",
                     np.where(note_kind < 0.06, "team lunch #EXP", "")))
    note = pa.array(notes).cast(pa.string())
    note = pc.if_else(pc.equal(note, ""), pa.scalar(None, pa.string()), note)
    return pa.table({
        "id": ids,
        "client_id": _choice(rng, names, [1.0] * len(names), count),
        "amount": _decimal(amount, 2),
        "currency": _choice(rng, ["USD", "EUR", "GBP", "JPY"], [6, 2, 1, 1], count),
        "country": _choice(rng, ["US", "DE", "GB", "FR", "NG", "BY", "IR", "USA"],
                           [60, 10, 10, 10, 4, 3, 2, 1], count),
        "mcc": pa.array(rng.choice([5411, 5812, 7995, 6051, 6011, 4111, 5999], count)),
        "channel": _choice(rng, ["web", "pos", "atm", "mobile"], [4, 3, 1, 2], count),
        "ts": pa.array(_US_2026 + rng.integers(0, _US_YEAR, count), pa.int64()).cast(
            pa.timestamp("us", tz="UTC")),
        "account_age_days": pa.array(rng.integers(1, 5000, count)),
        "txn_count_24h": pa.array(rng.poisson(5, count) + (rng.random(count) < 0.01) * 60),
        "vip": pa.array(rng.random(count) < 0.05),
        "score": pa.array(rng.beta(2, 8, count)),
        "note": note,
    })


def _spoil_columns(table: pa.Table, bad: np.ndarray, kinds: np.ndarray) -> pa.Table:
    """Typed spoilers: a null amount (schema) or globex with a zero-day-old account."""
    schema_rows = np.zeros(table.num_rows, bool)
    schema_rows[bad[kinds == 0]] = True
    eval_rows = np.zeros(table.num_rows, bool)
    eval_rows[bad[kinds == 1]] = True
    amount = pc.if_else(pa.array(schema_rows), pa.scalar(None, table.schema.field("amount").type),
                        table.column("amount"))
    client = pc.if_else(pa.array(eval_rows), "globex", table.column("client_id"))
    age = pc.if_else(pa.array(eval_rows), 0, table.column("account_age_days"))
    table = table.set_column(table.schema.get_field_index("amount"), "amount", amount)
    table = table.set_column(table.schema.get_field_index("client_id"), "client_id", client)
    return table.set_column(table.schema.get_field_index("account_age_days"),
                            "account_age_days", age)


def _text_spoiler(kind: int, line: str, suffix: str) -> str:
    """Kinds 2 and 3 for text formats: a parse error, a value that doesn't convert."""
    if kind == 2:
        return '{"id": "broken", "amount": 12.5' if suffix == ".jsonl" else "broken,row"
    if suffix == ".jsonl":
        record = json.loads(line)
        record["amount"] = "12.345"
        return json.dumps(record)
    return _csv_bad_amount(line)


def _csv_bad_amount(line: str) -> str:
    fields = line.split(",")
    fields[2] = "12.345"  # amount is the third column
    return ",".join(fields)


def write_transactions(path: Path, count: int, clients: int = 5, seed: int = 1,
                       bad_fraction: float = 0.0) -> dict[str, int]:
    """Write ``count`` transactions to ``path`` (.parquet, .csv or .jsonl)."""
    if path.suffix not in (".parquet", ".csv", ".jsonl"):
        raise InputError(f"{path}: choose a .parquet, .csv or .jsonl file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table, bad = _spoiled_table(count, clients, seed, bad_fraction, text=False)
        pq.write_table(table, path, row_group_size=131_072, compression="zstd")
        return {"records": count, "bad": bad}
    lines, bad = text_lines(count, clients, seed, bad_fraction, path.suffix)
    header = [",".join(transactions(0).column_names)] if path.suffix == ".csv" else []
    path.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    return {"records": count, "bad": bad}


def text_lines(count: int, clients: int, seed: int, bad_fraction: float,
               suffix: str = ".jsonl") -> tuple[list[str], int]:
    """Transactions as JSONL (or CSV) lines, with the number of bad ones."""
    table, _ = _spoiled_table(count, clients, seed, bad_fraction, text=True)
    rng = np.random.default_rng(seed + 1)
    bad = np.flatnonzero(rng.random(count) < bad_fraction)
    kinds = np.arange(len(bad)) % 4
    lines = _text_lines(table, suffix)
    for row, kind in zip(bad.tolist(), kinds.tolist(), strict=True):
        if kind >= 2:
            lines[row] = _text_spoiler(kind, lines[row], suffix)
    return lines, len(bad)


def _spoiled_table(count: int, clients: int, seed: int, bad_fraction: float,
                   text: bool) -> tuple[pa.Table, int]:
    """The transactions with the column-level bad records (schema and evaluation errors)."""
    if not 0.0 <= bad_fraction <= 1.0:
        raise InputError("--bad-fraction must be between 0 and 1")
    table = transactions(count, clients, seed)
    rng = np.random.default_rng(seed + 1)
    bad = np.flatnonzero(rng.random(count) < bad_fraction)
    kinds = np.arange(len(bad)) % (4 if text else 2)
    return _spoil_columns(table, bad, kinds), len(bad)


def _text_lines(table: pa.Table, suffix: str) -> list[str]:
    if suffix == ".jsonl":
        return [json.dumps(json_safe(row)) for row in table.to_pylist()]
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                    quoting_style="needed"))
    text: str = sink.getvalue().to_pybytes().decode()
    return text.splitlines()
