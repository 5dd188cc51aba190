"""The hostile input corpus: ``python -m tests.corpus.make DIR`` writes its files.

Each case is one input file and what must become of every record in it: the DLQ
kind and a piece of the reason for each dead letter by position (every other
record is a result), or, for a file that cannot be read at all, a piece of the
one-line error (exit 2). The expectations are written here by hand;
``tests/test_corpus.py`` checks the engine against them. The files are written
when needed rather than committed: some are megabytes of one repeated character.
"""

from __future__ import annotations

import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

GOOD: dict[str, Any] = {
    "id": "t1", "client_id": "acme", "amount": "12.00", "currency": "USD", "country": "US",
    "mcc": 5411, "channel": "web", "ts": "2026-01-01T03:00:00Z", "account_age_days": 400,
    "txn_count_24h": 1, "vip": False, "score": 0.5,
}
HEADER = ",".join(GOOD)
ROW = "t1,acme,12.00,USD,US,5411,web,2026-01-01T03:00:00Z,400,1,false,0.5"
SCHEMA_BAD = "schema"


def row(**over: str) -> str:
    """The good CSV row with some fields replaced (by name)."""
    values = dict(zip(GOOD, ROW.split(","), strict=True))
    values.update(over)
    return ",".join(values.values())


def jline(**over: Any) -> str:
    return json.dumps({**GOOD, **over})


CSV: dict[str, tuple[bytes, dict[str, Any]]] = {
    "invalid_utf8": ((HEADER + "\n" + ROW + "\n").encode() + row(currency="U\xffD").encode(
        "latin-1") + b"\n" + (ROW + "\n").encode(), {"1": ["parse", "not valid UTF-8"]}),
    "bom_crlf": (("\ufeff" + HEADER + "\r\n" + ROW + "\r\n" + ROW + "\r\n").encode(), {}),
    "nan_infinity": ("\n".join([HEADER, row(score="NaN"), row(score="Infinity"),
                                row(score="-inf"), row(score="1e999"), ""]).encode(),
                     {"0": [SCHEMA_BAD, "'NaN' is not a number"],
                      "1": [SCHEMA_BAD, "'Infinity' is not a number"],
                      "2": [SCHEMA_BAD, "'-inf' is not a number"],
                      "3": [SCHEMA_BAD, "NaN and infinities are not accepted"]}),
    "out_of_range": ("\n".join([HEADER, row(mcc="9223372036854775808"),
                                row(mcc="-9223372036854775809"), row(amount="12.001"),
                                row(amount="92233720368547758.08"), row(mcc="9223372036854775807"),
                                ""]).encode(),
                     {"0": [SCHEMA_BAD, "out of the 64-bit integer range"],
                      "1": [SCHEMA_BAD, "out of the 64-bit integer range"],
                      "2": [SCHEMA_BAD, "more than 2 digits after the point"],
                      "3": [SCHEMA_BAD, "field 'amount'"]}),
    "huge_string": ((HEADER + "\n" + row(country="X" * 4_000_000) + "\n" + ROW + "\n").encode(),
                    {}),
    "null_words_are_text": ("\n".join([HEADER, row(country="NA"), row(currency="NULL"),
                                       row(channel="null"), row(vip=""), ""]).encode(),
                            {"3": [SCHEMA_BAD, "field 'vip' is null"]}),
    "wrong_types": ("\n".join([HEADER, row(mcc="12x"), row(vip="yes"), row(ts="yesterday"),
                               row(amount="twelve"), row(client_id=""), ""]).encode(),
                    {"0": [SCHEMA_BAD, "field 'mcc'"], "1": [SCHEMA_BAD, "field 'vip'"],
                     "2": [SCHEMA_BAD, "field 'ts'"], "3": [SCHEMA_BAD, "field 'amount'"],
                     "4": [SCHEMA_BAD, "field 'client_id' is null"]}),
    "ragged_rows": ("\n".join([HEADER, ROW + ",extra", ROW[:20], "", ROW, '"unclosed,' + ROW,
                               ""]).encode(),
                    {"0": ["parse", "expected 12 fields, found 13"],
                     "1": ["parse", "expected 12 fields, found 5"],
                     "2": ["parse", "expected 12 fields, found 0"],
                     "4": ["parse", "expected 12 fields"]}),
    "missing_column": ((HEADER.replace(",amount", "") + "\n" + ROW.replace(",12.00", "") + "\n"
                        ).encode(), {"0": [SCHEMA_BAD, "field 'amount' is missing"]}),
    "extra_column": ((HEADER + ",comment\n" + ROW + ",hello\n").encode(), {}),
    "truncated": ((HEADER + "\n" + ROW + "\n" + ROW[:30]).encode(),
                  {"1": ["parse", "expected 12 fields, found 8"]}),
    "header_only": ((HEADER + "\n").encode(), {}),
    "empty": (b"", {}),
    "repeated_column": ((HEADER + ",id\n" + ROW + ",t2\n").encode(),
                        {"error": "the CSV header repeats 'id'"}),
    "header_not_utf8": (b"id,client\xff_id\n", {"error": "the CSV header is not valid UTF-8"}),
}

JSONL: dict[str, tuple[bytes, dict[str, Any]]] = {
    "hostile_lines": (b"\n".join([
        jline().encode(), b"\xff\xfe{not utf8}", b"", b"[1, 2]", b"null", b'"text"', b"42",
        b'{"id": "a", "id": "b"}', b"{" * 5000, b"[" * 100_000 + b"]" * 100_000,
        jline(amount="1e999").encode(), "\ufeff".encode() + jline().encode(),
        jline().encode() + b"\r", jline(score=float("nan")).encode(),
        jline(score=float("inf")).encode(), jline(mcc=2**63).encode(),
        jline(amount="12.001").encode(), jline(amount=12.5).encode(),
        jline(note="x" * 3_000_000).encode(), jline(vip="false").encode(),
        jline(mcc=None).encode(), jline(extra={"deep": [1, {"x": None}]}).encode(),
        json.dumps({k: v for k, v in GOOD.items() if k != "ts"}).encode(),
        jline(note={"a": 1}).encode(), b'{"id": "t1", "client_id": "acme", "amount": "12.0',
    ]) + b"\n", {
        "1": ["parse", "invalid JSON"], "2": ["parse", "invalid JSON"],
        "3": [SCHEMA_BAD, "must be a JSON object"], "4": [SCHEMA_BAD, "must be a JSON object"],
        "5": [SCHEMA_BAD, "must be a JSON object"], "6": [SCHEMA_BAD, "must be a JSON object"],
        "7": [SCHEMA_BAD, "field 'client_id' is missing"], "8": ["parse", "invalid JSON"],
        "9": ["parse", "nested too deeply"], "10": [SCHEMA_BAD, "field 'amount'"],
        "11": ["parse", "invalid JSON"], "13": [SCHEMA_BAD, "field 'score'"],
        "14": [SCHEMA_BAD, "field 'score'"], "15": [SCHEMA_BAD, "64-bit integer range"],
        "16": [SCHEMA_BAD, "more than 2 digits"], "20": [SCHEMA_BAD, "field 'mcc' is null"],
        "22": [SCHEMA_BAD, "field 'ts' is missing"], "23": [SCHEMA_BAD, "field 'note'"],
        "24": ["parse", "invalid JSON"],
    }),
    # JSON escapes can spell a lone surrogate (not a character: no UTF-8 holds it); a
    # pair spells one character, and a field no rule reads is never converted.
    "lone_surrogates": (b"\n".join([
        jline(currency="U\ud800").encode(), jline(note="\udfff").encode(),
        jline(note="\ud83d\ude00 ok").encode(), jline(extra="\ud800").encode(),
    ]) + b"\n", {
        "0": [SCHEMA_BAD, "field 'currency': U+D800 is a lone surrogate"],
        "1": [SCHEMA_BAD, "field 'note': U+DFFF is a lone surrogate"],
    }),
    # A file's first line may start with a byte order mark (read as a CSV header is); a
    # later line may not.
    "bom_first_line": ("\ufeff".encode() + jline().encode() + b"\n" + "\ufeff".encode()
                       + jline().encode() + b"\n", {"1": ["parse", "invalid JSON"]}),
    "empty": (b"", {}),
}


def _table(**over: pa.Array) -> pa.Table:
    columns = {k: pa.array([v]) for k, v in GOOD.items()}
    columns.update(over)
    return pa.table(columns)


PARQUET: dict[str, tuple[pa.Table | bytes, dict[str, Any]]] = {
    "amount_decimal_scale_4": (_table(amount=pa.array([decimal.Decimal("12.0001")],
                                                      pa.decimal128(10, 4))),
                               {"0": [SCHEMA_BAD, "more than 2 digits after the point"]}),
    "amount_decimal_ok": (_table(amount=pa.array([decimal.Decimal("12.0")],
                                                 pa.decimal128(10, 1))), {}),
    "mcc_uint64_beyond_int64": (_table(mcc=pa.array([2**64 - 1], pa.uint64())),
                                {"0": [SCHEMA_BAD, "64-bit integer range"]}),
    "mcc_as_text": (_table(mcc=pa.array(["5411"])), {}),
    "vip_as_int": (_table(vip=pa.array([1])), {"0": [SCHEMA_BAD, "field 'vip'"]}),
    "score_nan": (_table(score=pa.array([float("nan")])), {"0": [SCHEMA_BAD, "NaN"]}),
    "score_infinity": (_table(score=pa.array([float("-inf")])), {"0": [SCHEMA_BAD, "NaN"]}),
    "ts_nanoseconds_with_zone": (_table(ts=pa.array([1767236400123456000],
                                                    pa.timestamp("ns", "Asia/Tokyo"))), {}),
    "note_as_list": (_table(note=pa.array([["a"]])), {"0": [SCHEMA_BAD, "field 'note'"]}),
    "note_as_struct": (_table(note=pa.array([{"x": 1}])), {"0": [SCHEMA_BAD, "field 'note'"]}),
    "missing_column": (_table().drop_columns(["amount"]),
                       {"0": [SCHEMA_BAD, "field 'amount' is missing"]}),
    "extra_column": (_table(extra=pa.array([[1, 2]])), {}),
    "null_id": (_table(id=pa.array([None], pa.string())), {"0": [SCHEMA_BAD, "'id' is null"]}),
    "huge_string": (_table(country=pa.array(["X" * 4_000_000])), {}),
    "large_and_dictionary_strings": (_table(currency=pa.array(["USD"], pa.large_string()),
                                            country=pa.array(["US"]).dictionary_encode()), {}),
    "no_rows": (_table().slice(0, 0), {}),
    "repeated_column": (pa.Table.from_arrays([*_table().columns, pa.array(["13.00"])],
                                             [*_table().column_names, "amount"]),
                        {"error": "the Parquet schema repeats 'amount'"}),
    "truncated": (b"", {"error": "cannot be read"}),  # filled from a good file below
    "empty": (b"", {"error": "cannot be read"}),
    "not_parquet": (b"PAR1 but nothing else", {"error": "cannot be read"}),
}


def write_corpus(directory: Path) -> dict[str, dict[str, Any]]:
    """Write every corpus file into ``directory``; returns the expectations by file name."""
    directory.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict[str, Any]] = {}
    for suffix, cases in (("csv", CSV), ("jsonl", JSONL)):
        for name, (data, expect) in cases.items():
            (directory / f"{name}.{suffix}").write_bytes(data)
            expected[f"{name}.{suffix}"] = expect
    for name, (content, expect) in PARQUET.items():
        path = directory / f"{name}.parquet"
        if isinstance(content, pa.Table):
            pq.write_table(content, path)
        elif name == "truncated":
            pq.write_table(_table(), path)
            whole = path.read_bytes()
            path.write_bytes(whole[: len(whole) // 2])
        else:
            path.write_bytes(content)
        expected[path.name] = expect
    return expected


def names() -> list[str]:
    """The corpus file names."""
    return [f"{name}.{suffix}" for suffix, cases in (("csv", CSV), ("jsonl", JSONL),
                                                     ("parquet", PARQUET)) for name in cases]


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    (target / "expected.json").parent.mkdir(parents=True, exist_ok=True)
    (target / "expected.json").write_text(json.dumps(write_corpus(target), indent=1) + "\n")
