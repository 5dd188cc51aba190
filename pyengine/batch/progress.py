"""The progress line on a terminal and the summary table at the end of ``run``."""

from __future__ import annotations

import sys
import time
from typing import Any

from pyengine.batch.job import Progress


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressDisplay:
    """One line redrawn on stderr: records, rate, ETA, dead letters, SLA projection."""

    def __init__(self, enabled: bool, sla: float):
        self.enabled = enabled
        self.sla = sla
        self.warned = False
        self.last = 0.0

    def update(self, p: Progress) -> None:
        """Called after each checkpoint."""
        projected = None
        if p.total and p.tps > 0:
            projected = p.elapsed + (p.total - p.done) / p.tps
            if projected > self.sla and not self.warned:
                self.warned = True
                print(f"\npyengine: warning: at {p.tps:,.0f} records/s the run would take "
                      f"{_clock(projected)}, beyond the SLA of {_clock(self.sla)}",
                      file=sys.stderr)
        if not self.enabled or time.monotonic() - self.last < 0.2:
            return
        self.last = time.monotonic()
        total = f" / {p.total:,}" if p.total else ""
        eta = f"  ETA {_clock(projected - p.elapsed)}" if projected is not None else ""
        sys.stderr.write(f"\r  {p.done:,}{total} records  {p.tps:,.0f}/s{eta}  "
                         f"dead letters {p.dead_letters:,}   ")
        sys.stderr.flush()

    def close(self) -> None:
        """End the progress line."""
        if self.enabled:
            sys.stderr.write("\n")


def summary(report: dict[str, Any]) -> str:
    """A human summary of report.json."""
    d = report["decisions"]
    sla = report["sla"]
    cap = report["capacity"]
    rows = [
        ("input records", f"{report['input_records']:,}"),
        ("results", f"{report['results']:,}"),
        ("dead letters", f"{report['dead_letters']:,}  " + ", ".join(
            f"{k}: {v:,}" for k, v in report["dead_letter_kinds"].items())),
        ("decisions", ", ".join(f"{k} {v:,}" for k, v in d.items())),
        ("workers", str(report["workers"])),
        ("wall time", f"{report['wall_seconds']:.2f} s"),
        ("throughput", f"{report['tps']:,.0f} transactions/s"),
        ("SLA", f"{'met' if sla['met'] else 'MISSED'} ({report['wall_seconds']:.1f} s of "
                f"{sla['limit_seconds']:.0f} s)"),
        ("capacity", f"{cap['records_per_hour']:,}/hour, {cap['records_per_sla_window']:,} "
                     "per SLA window"),
        ("output", report["output"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
