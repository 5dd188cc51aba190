"""``pyengine bench scaling``: the seed's scaling matrix, on real compiled rules.

For each worker count, ``Engine.evaluate_batch`` runs the same in-memory table
``--runs`` times; the table reports the median throughput, the scaling factor
against one worker, the efficiency (scaling / workers: 100% is linear), the
time, the optimal worker count, and the seed's capacity projections at that
throughput. Results go to ``scaling.json`` and a chart to ``scaling.png``.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from pyengine.batch.generate import transactions
from pyengine.engine import Engine, default_workers

HOUR = 3600


def measure(engine: Engine, records: int, workers: list[int], runs: int) -> dict[str, Any]:
    """The scaling matrix as a JSON-able dict."""
    table = transactions(records, seed=1)
    engine.evaluate_batch(table.slice(0, min(records, 200_000)), workers=1)  # JIT warm-up
    rows = []
    for w in workers:
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            engine.evaluate_batch(table, workers=w)
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        rows.append({"workers": w, "tps": records / median, "seconds": median})
    base = rows[0]["tps"] / rows[0]["workers"]
    for row in rows:
        row["scaling"] = row["tps"] / base
        row["efficiency"] = row["scaling"] / row["workers"]
    best = max(r["tps"] for r in rows)
    # The fewest workers within 2% of the best throughput: more would only add overhead.
    optimal = min((r for r in rows if r["tps"] >= 0.98 * best), key=lambda r: r["workers"])
    tps = optimal["tps"]
    return {
        "records": records, "runs": runs, "cores": default_workers(),
        "rules": engine.ruleset_version, "matrix": rows, "optimal_workers": optimal["workers"],
        "capacity": {"per_hour": int(tps * HOUR), "per_12h_day": int(tps * 12 * HOUR),
                     "per_2h_sla_window": int(tps * 2 * HOUR)},
    }


def table_text(result: dict[str, Any]) -> str:
    """The seed's table, with the optimal row marked and the projections."""
    lines = [f"{result['records']:,} transactions, median of {result['runs']} runs, "
             f"{result['cores']} cores",
             "Workers │        TPS │ Scaling │ Efficiency │    Time",
             "════════╪════════════╪═════════╪════════════╪════════"]
    for r in result["matrix"]:
        mark = "  ← optimal" if r["workers"] == result["optimal_workers"] else ""
        lines.append(f"{r['workers']:>7} │ {r['tps']:>10,.0f} │ {r['scaling']:>6.2f}x │ "
                     f"{r['efficiency']:>9.1%} │ {r['seconds']:>6.2f}s{mark}")
    cap = result["capacity"]
    lines += ["", f"capacity at {result['optimal_workers']} workers: "
              f"{cap['per_hour']:,}/hour, {cap['per_12h_day']:,} per 12-hour day, "
              f"{cap['per_2h_sla_window']:,} per 2-hour SLA window"]
    return "\n".join(lines)


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Throughput (bars) and efficiency (line) against workers, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    rows = result["matrix"]
    labels = [str(r["workers"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(labels, [r["tps"] for r in rows], color="#4472c4", label="transactions/s")
    ax.set_xlabel("workers")
    ax.set_ylabel("transactions per second")
    eff = ax.twinx()
    eff.plot(labels, [100 * r["efficiency"] for r in rows], color="#ed7d31", marker="o",
             label="efficiency %")
    eff.set_ylabel("efficiency (%)")
    eff.set_ylim(0, 110)
    ax.set_title(f"pyengine evaluate_batch scaling ({result['records']:,} transactions, "
                 f"{result['cores']} cores)")
    bars, lines = ax.get_legend_handles_labels(), eff.get_legend_handles_labels()
    ax.legend(bars[0] + lines[0], bars[1] + lines[1], loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(engine: Engine, records: int, workers: list[int], runs: int, out: Path) -> str:
    """Measure, write ``out/scaling.json`` and ``out/scaling.png``; returns the table."""
    result = measure(engine, records, workers, runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    write_chart(result, out / "scaling.png")
    return table_text(result)
