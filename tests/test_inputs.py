"""CSV blocks: Arrow's reading (with the rows it refuses) against Python's csv, line by line."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch import csvlines
from pyengine.batch.convert import Columns, merge_columns
from pyengine.batch.csvlines import CsvLines, columns_from_csv
from pyengine.batch.generate import text_lines as generated_lines
from pyengine.batch.generate import transactions
from pyengine.batch.inputs import text_lines
from pyengine.pipeline import load_program
from pyengine.spec.program import Schema
from tests.helpers import rows

SCHEMA: Schema = load_program("examples/rules").schema
NAMES = tuple(transactions(0).column_names)
LINES, _ = generated_lines(50, 5, 1, 0.0, ".csv")
FIELD = st.one_of(st.sampled_from(["", "a", "12.50", "12.345", "NA", "NULL", "x y", "é", '"q"',
                                   '"a,b"', '"say ""hi"""', "'s'", "+5", "1e400", "true",
                                   "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z"]),
                  st.text(st.characters(blacklist_categories=("Cs",),
                                        blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"
                                        "\u2028\u2029"), max_size=6))


@st.composite
def csv_lines(draw: Any) -> str:
    """A generated line, sometimes with a field changed, dropped or added, or odd."""
    fields = draw(st.sampled_from(LINES)).split(",")
    spoil = draw(st.integers(0, 7))
    at = draw(st.integers(0, len(fields) - 1))
    if spoil == 0:
        fields[at] = draw(FIELD)
    elif spoil == 1:
        del fields[at]
    elif spoil == 2:
        fields.insert(at, draw(FIELD))
    elif spoil == 3:
        return draw(st.sampled_from(["", " ", '"unclosed,a', ",,,,,,,,,,,,", "a,b"]))
    return ",".join(fields)


def line_by_line(block: CsvLines) -> Columns:
    n = len(block)
    return merge_columns(SCHEMA, n, [], *csvlines._line_by_line(SCHEMA, block, range(n)))


def outcome(columns: Columns) -> list[Any]:
    return rows(columns, SCHEMA)


@settings(max_examples=200, deadline=None)
@given(st.lists(csv_lines(), min_size=1, max_size=30))
def test_csv_block_reads_as_line_by_line(lines: list[str]) -> None:
    block = CsvLines([(line + "\n").encode() for line in lines], NAMES)
    assert outcome(columns_from_csv(SCHEMA, block)) == outcome(line_by_line(block))
    for i in range(len(block)):  # a dead letter's record is the line as csv reads it
        if i not in line_by_line(block).unparsed:
            assert list(block.record(i)) == list(NAMES)


def test_refused_rows_stay_in_their_chunk() -> None:
    good = (LINES[0] + "\n").encode()
    block = CsvLines([good, b"a,b\n", good, good, b"a,b,c\n", good], NAMES)
    arrow, refused = csvlines._arrow(block)
    assert arrow is not None and arrow.num_rows == 4 and refused == [1, 4]
    columns = columns_from_csv(SCHEMA, block)
    assert columns.unparsed == {1: f"malformed CSV row: expected {len(NAMES)} fields, found 2",
                                4: f"malformed CSV row: expected {len(NAMES)} fields, found 3"}
    assert np.flatnonzero(columns.ok).tolist() == [0, 2, 3, 5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"{}", b"\n", b"\r", b"\r\n", b"\n\r", b"\xff",
                                 b"\xe9", b"\xc3\xa9", b"\xef\xbb\xbf", b"\x85", b" "]),
                max_size=40), st.integers(1, 8), st.booleans())
def test_text_lines_split_as_a_text_file_does(parts: list[bytes], size: int,
                                              keepends: bool) -> None:
    data = b"".join(parts)
    # JSONL is read as a text file, CSV as one opened with newline="" (ends kept as is).
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape",
                            newline="" if keepends else None)
    text_mode = list(text) if keepends else [line.rstrip("\r\n") for line in text]
    lines = [line for block in text_lines(io.BytesIO(data), size, keepends) for line in block]
    assert [line.decode("utf-8", "surrogateescape") for line in lines] == text_mode
