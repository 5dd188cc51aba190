"""What a team would run instead of ``pyengine run``: pyarrow reads, polars evaluates.

    python -m pyengine.bench.polars_script RULES INPUT.parquet OUTPUT.parquet [CODEC]

Reads the Parquet file with pyarrow, evaluates the rules translated to polars
(pyengine.peers.to_polars) and writes the result columns ``run`` writes (id,
client_id, ruleset, decision, fired and the outputs; a failed row has no decision)
to one Parquet file with CODEC (default zstd), as ``run --compression CODEC`` writes
its part files. Prints a JSON line with the records and the transactions per second
over the whole script after start-up, so ``python -m pyengine.bench.run --polars`` can
set it beside ``run``'s figure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pyengine.batch import DEFAULT_COMPRESSION
from pyengine.peers.to_polars import translate
from pyengine.pipeline import load_program


def main(argv: list[str] | None = None) -> int:
    """Read, evaluate, write; print ``{"records": N, "tps": T}``."""
    args = argv or sys.argv[1:]
    rules, source, target = (Path(a) for a in args[:3])
    codec = args[3] if len(args) > 3 else DEFAULT_COMPRESSION
    if codec == "none":  # run's name for it; polars calls it so
        codec = "uncompressed"
    translated = translate(load_program(rules))
    start = time.perf_counter()
    table = pq.read_table(source)
    rows = translated.evaluate(table)
    result = pl.from_arrow(table.select(["id", "client_id"]))
    assert isinstance(result, pl.DataFrame)
    result = pl.concat([result, rows.drop(["position", "failed"])], how="horizontal")
    result.write_parquet(target, compression=codec)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    print(json.dumps({"records": table.num_rows, "tps": table.num_rows / seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
