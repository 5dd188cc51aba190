"""CSV blocks: Arrow's reading with its refused rows against Python's csv, line by line."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyengine.batch.inputs import Parsed, Unparsed, _csv_block, _csv_lines

NAMES = ["id", "amount", "note"]
FIELD = st.one_of(st.sampled_from(["", "a", "12.50", "NA", "NULL", "x y", "é", '"q"',
                                   '"a,b"', '"say ""hi"""', "'s'"]),
                  st.text(st.characters(blacklist_categories=("Cs",),
                                        blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"
                                        "\u2028\u2029"), max_size=6))
LINE = st.one_of(
    st.lists(FIELD, min_size=3, max_size=3).map(",".join),  # usually a good row
    st.lists(FIELD, min_size=0, max_size=5).map(",".join),  # often ragged
    st.sampled_from(['"unclosed,a,b', "a,b", "a,b,c,d", " ", ",,", ",,,"]),
)


def records(items: list[Any]) -> list[Any]:
    """Each position's outcome: its record (values as text) or its parse failure."""
    out = []
    for item in items:
        if isinstance(item, Unparsed):
            out.append((item.position, "unparsed", item.text, item.reason))
            continue
        assert isinstance(item, Parsed)
        rows = item.batch if isinstance(item.batch, list) else item.batch.to_pylist()
        out += [(item.start + k, "record", row) for k, row in enumerate(rows)]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=30))
def test_csv_block_reads_as_line_by_line(lines: list[str]) -> None:
    block = [line + "\n" for line in lines]
    fast = records(list(_csv_block(block, NAMES, 100, "f.csv")))
    assert [r[0] for r in fast] == list(range(100, 100 + len(block)))  # each exactly once
    assert fast == records(list(_csv_lines(block, 0, len(block), NAMES, 100, "f.csv")))


def test_refused_rows_keep_their_places() -> None:
    good = "t1,12.50,hi\n"
    block = [good, "a,b\n", good, good, "a,b,c,d\n", good]
    items = list(_csv_block(block, NAMES, 0, "f.csv"))
    # Arrow's runs stay Arrow batches; the refused rows come between them.
    assert [type(i).__name__ for i in items] == ["Parsed", "Unparsed", "Parsed", "Unparsed",
                                                 "Parsed"]
    assert [i.position for i in items if isinstance(i, Unparsed)] == [1, 4]
    assert items[1].reason == "malformed CSV row: expected 3 fields, found 2"
    assert all(not isinstance(i.batch, list) for i in items if isinstance(i, Parsed))
