"""The bulk JSON paths (Java's reader, then Arrow's) against the single-transaction path,
text by text. Each test that reads through ``reader`` runs twice: with Arrow's reader
alone, and with Java's first (a JVM test)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch import jsonlines
from pyengine.batch.convert import Columns, convert_batch, merge_columns
from pyengine.batch.jsonlines import JsonLines, columns_from_json
from pyengine.jvm.jsontext import JsonRecordsReader
from pyengine.pipeline import load_program
from pyengine.records import convert_value
from pyengine.spec.program import Schema
from tests.helpers import rows
from tests.strategies import ODD, TYPICAL, records

SCHEMA: Schema = load_program("examples/rules").schema


def one_by_one(texts: list[Any]) -> Columns:
    """What every text gives on the single-transaction path."""
    n = len(texts)
    return merge_columns(SCHEMA, n, [], *jsonlines._one_by_one(SCHEMA, JsonLines(texts),
                                                              range(n)))


@pytest.fixture(scope="module", params=["arrow", pytest.param("java", marks=pytest.mark.jvm)])
def reader(request: pytest.FixtureRequest) -> JsonRecordsReader | None:
    """No reader (Arrow's only), or Java's for the examples' schema."""
    if request.param == "arrow":
        return None
    compiled = request.getfixturevalue("examples_compiled")
    return JsonRecordsReader.of(compiled.loader, SCHEMA)


def assert_same(texts: list[Any], reader: JsonRecordsReader | None) -> None:
    bulk = columns_from_json(SCHEMA, JsonLines(texts), reader)
    assert rows(bulk, SCHEMA) == rows(one_by_one(texts), SCHEMA)


# Texts Arrow's reader and Python's json read differently, or that need care.
HOSTILE = [
    "", "   ", "null", "[]", "5", '"x"', "{}", "{", '{"id": "a"} {"id": "b"}', '{"id": "a"}{}',
    '{"id": "a", "id": "b"}', '{"id": "a", "\\u0069d": "b"}', '{"\\u0069d": "a"}',
    '{"x": NaN}', '{"x": Inf}', '{"x": -Infinity}', '{"score": Infinity}', '{"x": 1e999}',
    '{"score": 1e-400}', '{"note": "a\tb"}', '{"note": "\\ud800"}', '{"x": "\\udc00"}',
    '\ufeff{"id": "a"}', ' \t{"id": "a"}\t ', '{"id": "a"} // c', '{"id": "a",}',
    "{'id': 'a'}", '{"mcc": 01}', '{"mcc": +1}', '{"mcc": 1.0}', '{"mcc": 1e2}',
    '{"mcc": 99999999999999999999}', '{"vip": 1}', '{"vip": "true"}', '{"amount": 12.5}',
    '{"amount": "12.345"}', '{"ts": 5}', '{"x": ' + "[" * 300 + "]" * 300 + "}",
    '{"x": ' + "[" * 5000 + "]" * 5000 + "}", '{"x": {"y": [1, {"z": null}]}}',
]


def complete() -> dict[str, Any]:
    return {"id": "t1", "client_id": "acme", "amount": "12.50", "currency": "USD",
            "country": "US", "mcc": 5411, "channel": "web", "ts": "2026-01-01T00:00:00Z",
            "account_age_days": 3, "txn_count_24h": 1, "vip": False, "score": 0.5}


def hostile_texts() -> list[str]:
    whole = json.dumps(complete())
    texts = list(HOSTILE)
    for text in HOSTILE[7:]:  # the objects, with every schema field around them
        if text.startswith("{") and text.endswith("}") and text != "{}":
            texts.append(whole[:-1] + ", " + text[1:])
    return [*texts, whole, whole[:-1] + "\n}", whole + "\r", whole.replace(", ", ",\n")]


@pytest.mark.parametrize("kind", [str, bytes])
def test_hostile_texts_read_as_one_by_one(kind: type, reader: JsonRecordsReader | None) -> None:
    texts = hostile_texts()
    if kind is bytes:
        texts = [t.encode("utf-8", "surrogatepass") for t in texts]
        texts += [b'{"note": "\xff"}', b'{"note": "\xed\xa0\x80"}', b'{"x": "\xc3\xa9"}',
                  json.dumps(complete()).encode("utf-16"), b'\xef\xbb\xbf{"id": "a"}']
    assert_same(texts, reader)
    assert_same(texts[::-1], reader)


def test_surrogate_escaped_lines_read_as_one_by_one(reader: JsonRecordsReader | None) -> None:
    # A JSONL file's bytes that are not UTF-8 reach the reader as surrogate escapes.
    line = json.dumps(complete())[:-1] + ', "note": "caf\udce9"}'
    assert_same([line, json.dumps(complete())], reader)


def test_typical_batch_takes_the_bulk_path_in_order(reader: JsonRecordsReader | None) -> None:
    texts = [json.dumps({**complete(), "id": f"t{i}", "mcc": i}) for i in range(5000)]
    columns = columns_from_json(SCHEMA, JsonLines(texts), reader)
    assert columns.ok.all() and columns.columns["id"].plain
    assert columns.columns["mcc"].values.tolist() == list(range(5000))
    assert rows(columns, SCHEMA) == rows(one_by_one(texts), SCHEMA)


def test_a_refused_text_in_a_block_leaves_its_neighbours_on_the_bulk_path(
        reader: JsonRecordsReader | None) -> None:
    texts = [json.dumps({**complete(), "id": f"t{i}"}) for i in range(3 * jsonlines.BLOCK)]
    for row in (0, 5, jsonlines.BLOCK - 1, jsonlines.BLOCK, len(texts) - 1):
        texts[row] = texts[row][:-1] + ",}"  # a trailing comma: not JSON
    texts[7] = texts[7].replace('"mcc": 5411', '"mcc": 5411.5')  # Arrow names no row
    texts[9] = texts[9][:-1] + "} {}"  # two objects on one line
    columns = columns_from_json(SCHEMA, JsonLines(texts), reader)
    assert sorted(columns.unparsed) == [0, 5, 9, jsonlines.BLOCK - 1, jsonlines.BLOCK,
                                        len(texts) - 1]
    assert columns.errors[7] == "field 'mcc': expected an integer, got a number"
    assert rows(columns, SCHEMA) == rows(one_by_one(texts), SCHEMA)


def test_texts_not_ending_in_a_brace_are_left_to_one_by_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A truncated message is a common malformed one; were Arrow asked, it would
    # parse the block up to it, refuse it, and parse that part again.
    texts = [json.dumps({**complete(), "id": f"t{i}"}) for i in range(2 * jsonlines.BLOCK)]
    truncated = [0, 5, jsonlines.BLOCK - 1, jsonlines.BLOCK, len(texts) - 1]
    for row in truncated:
        texts[row] = texts[row][:-3]
    texts[9] += " \t"  # an object with blanks after it: read one by one, and read
    blocks: list[bytes] = []
    read = jsonlines._read

    def spy(options: Any, block: memoryview, count: int) -> Any:
        blocks.append(bytes(block))
        return read(options, block, count)

    monkeypatch.setattr(jsonlines, "_read", spy)
    columns = columns_from_json(SCHEMA, JsonLines(texts))
    assert sorted(columns.unparsed) == truncated
    assert rows(columns, SCHEMA)[9][:3] == (True, None, None)
    handed = b"\n".join(blocks).split(b"\n")
    assert len(handed) == len(texts) - len(truncated) - 1  # each good text once
    assert all(text.endswith(b"}") for text in handed)
    assert rows(columns, SCHEMA) == rows(one_by_one(texts), SCHEMA)


@st.composite
def texts(draw: Any) -> str:
    """A record as JSON, sometimes spoiled the way hostile producers do."""
    raw = draw(records(SCHEMA))
    text = json.dumps(raw, default=str, ensure_ascii=draw(st.booleans()))
    spoil = draw(st.integers(0, 9))
    if spoil == 0:
        return text[: draw(st.integers(0, len(text)))]
    if spoil == 1:
        return text[:-1] + ", " + draw(st.sampled_from(HOSTILE[7:]))[1:]
    if spoil == 2:
        return draw(st.sampled_from(HOSTILE))
    return text


@settings(max_examples=150, deadline=None)
@given(st.lists(texts(), min_size=1, max_size=40), st.booleans())
def test_bulk_path_agrees_with_one_by_one(reader: JsonRecordsReader | None, batch: list[str],
                                          as_bytes: bool) -> None:
    texts_ = [t.encode("utf-8", "surrogatepass") for t in batch] if as_bytes else batch
    assert_same(texts_, reader)


NUMBER_TEXTS = st.one_of(
    st.integers(-(2**64), 2**64).map(str), st.floats().map(repr),
    st.floats(allow_nan=False).map(lambda f: format(f, "e")),
    st.from_regex(r"[+-]?[0-9]{0,25}(\.[0-9]{0,8})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["true", "false", "True", "1", "+5", "-0", "007", ".5", "5.", "1e400",
                     "-1e400", "nan", "inf", "Infinity", "٣", " 5", "5 ", ""]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TYPICAL["decimal"], TYPICAL["timestamp"], NUMBER_TEXTS,
                          ODD.filter(lambda v: isinstance(v, str))), min_size=1, max_size=20))
def test_text_columns_convert_as_values_do(values: list[str]) -> None:
    # CSV (every field) and JSON (decimals, timestamps) give text: the vectorized reading
    # must agree with convert_value on every text, accepted or not.
    for name in ("amount", "ts", "mcc", "score", "vip"):
        t = SCHEMA.fields[name].type
        col = convert_batch(SCHEMA, pa.record_batch({name: pa.array(values)})).columns[name]
        for i, v in enumerate(values):
            try:
                expected = convert_value(v, t)
            except Exception as exc:
                assert not col.present[i] and col.problems[i] == str(exc), (name, v)
                continue
            assert col.present[i] and col.values[i] == expected, (name, v)
            if t.kind == "float":  # -0.0 == 0.0: the sign must survive too
                assert np.signbit(col.values[i]) == np.signbit(expected), (name, v)


# JSON value texts, for any field: numbers in every form, the texts of numbers,
# decimals and timestamps (valid or not), and others.
EDGE_VALUES = [
    "null", "true", "false", "[]", "{}", "0", "-0", "01", "-01", "1.0", "-0.0", "1e2", "1E+2",
    "1e-2", "1.", ".5", "+1", "1e400", "-1e400", "1e-400", "123456789012345678",
    "1234567890123456789", "9007199254740993", "12345678901234567890.5", "0.1", "NaN",
    '"a\\"b"', '"\\u0041"', '"é"', '"\t"', '"\\ud800"', '""', '"x"', '"12.50"', '"-12.5"',
    '"-0.00"', '"12."', '".5"', '"+1"', '"12.345"', '"1e2"', '"007.10"', '" 1"',
    '"123456789012345678.5"', '"92233720368547758.07"', '"92233720368547758.08"',
    '"2026-01-01T00:00:00Z"', '"2026-01-01t00:00:00z"', '"2026-01-01 00:00:00Z"',
    '"2026-01-01T00:00:00"', '"2026-01-01T00:00:00.1234567Z"', '"2026-01-01T00:00:00.5+05:30"',
    '"0001-01-01T00:00:00+01:00"', '"0000-01-01T00:00:00Z"', '"9999-12-31T23:59:59-01:00"',
    '"2024-02-29T00:00:00Z"', '"2023-02-29T00:00:00Z"', '"2026-04-31T00:00:00Z"',
    '"2026-01-01T24:00:00Z"', '"2026-01-01T23:60:00Z"', '"2026-06-30T23:59:60Z"',
    '"2026-01-01T00:00:00+24:00"', '"2026-01-01T00:00:00-23:59"', '"2026-13-01T00:00:00Z"',
]
TIMESTAMP_TEXTS = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?([Zz]|[+-][0-9]{2}"
    r":[0-9]{2})?", fullmatch=True)
VALUE_TEXTS = st.one_of(
    NUMBER_TEXTS, NUMBER_TEXTS.map(json.dumps), TYPICAL["decimal"].map(json.dumps),
    TYPICAL["timestamp"].map(json.dumps), TIMESTAMP_TEXTS.map(json.dumps),
    st.sampled_from(EDGE_VALUES))


def with_value(name: str, value: str) -> str:
    """A complete record but for field ``name``, whose value is the JSON text ``value``."""
    fields = {**complete(), "note": None}
    return "{" + ", ".join(f'"{k}": {value if k == name else json.dumps(v)}'
                           for k, v in fields.items()) + "}"


def test_each_fields_edge_values_read_as_one_by_one(reader: JsonRecordsReader | None) -> None:
    # Java's reader must read each as Python does, or leave it to the other paths.
    assert_same([with_value(name, value) for name in SCHEMA.fields for value in EDGE_VALUES],
                reader)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(SCHEMA.fields)), VALUE_TEXTS), min_size=1,
                max_size=20))
def test_each_fields_value_texts_read_as_one_by_one(
        reader: JsonRecordsReader | None, edits: list[tuple[str, str]]) -> None:
    assert_same([with_value(name, value) for name, value in edits], reader)


@pytest.mark.parametrize("spoiled", [
    '{"x": Inf}', '{"x": -Inf}', '{"x": NaN}', '{"x": Infinity}', '{"x": [[[[[[[[1]]]]]]]]}',
    '{"x": ' + "[" * 300 + "]" * 300 + "}", '{"x": ' + "[" * 2000 + "]" * 2000 + "}",
    '{"x": "\r"}', '{"x":\n1}', ' {"x": 1}', "", "null", '{"x": "é"}',
])
@pytest.mark.parametrize("at", [0, 1, -1])
def test_one_spoiled_text_among_plain_ones(spoiled: str, at: int,
                                           reader: JsonRecordsReader | None) -> None:
    # Plain batches are checked in bulk: each check must see a single spoiled text.
    texts = [json.dumps({**complete(), "id": f"t{i}"}) for i in range(50)]
    texts[at] = texts[at][:-1] + ", " + spoiled[1:] if spoiled.startswith("{") else spoiled
    assert_same(texts, reader)
    assert_same([t.encode() for t in texts], reader)


def test_a_text_files_bytes_read_as_its_lines_do(reader: JsonRecordsReader | None) -> None:
    # JSONL lines come as bytes; those that are not UTF-8 must read as the text file's
    # surrogate escapes do (a schema error in a read field, unseen in another), not be
    # refused as a Kafka message's bytes are.
    lines = [*hostile_texts(), json.dumps(complete())[:-1] + ', "note": "caf\udce9"}',
             json.dumps(complete())[:-1] + ', "other": "\udcff"}', '\udcff{"id": "a"}']
    as_bytes = [line.encode("utf-8", "surrogateescape") for line in lines]
    from_bytes = columns_from_json(SCHEMA, JsonLines(as_bytes, text_file=True), reader)
    from_text = columns_from_json(SCHEMA, JsonLines(lines), reader)
    assert rows(from_bytes, SCHEMA) == rows(from_text, SCHEMA)
    assert from_bytes.ok[-2]  # the unread field's stray byte is not an error
