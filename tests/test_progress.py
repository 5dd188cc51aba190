"""The progress line and the summary of run."""

from __future__ import annotations


def test_progress_and_summary() -> None:
    import io
    from contextlib import redirect_stderr

    from pyengine.batch.job import Progress
    from pyengine.batch.progress import ProgressDisplay, summary

    display = ProgressDisplay(enabled=True, sla=10.0)
    err = io.StringIO()
    with redirect_stderr(err):
        display.update(Progress(done=500, total=1000, dead_letters=3, elapsed=20.0))
        display.close()
    text = err.getvalue()
    assert "beyond the SLA of 0:00:10" in text  # 1000 records at 25/s take 40 s
    assert "500 / 1,000 records" in text and "dead letters 3" in text
    report = {"input_records": 10, "results": 9, "dead_letters": 1,
              "dead_letter_kinds": {"schema": 1}, "workers": 2, "wall_seconds": 1.5,
              "tps": 6.7, "decisions": {"approve": 9, "flag": 0, "review": 0, "reject": 0},
              "sla": {"limit_seconds": 7200, "met": True},
              "capacity": {"records_per_hour": 24000, "records_per_sla_window": 48000},
              "output": "out"}
    lines = summary(report).splitlines()
    assert lines[0].split() == ["input", "records", "10"]
    assert "SLA            met (1.5 s of 7200 s)" in summary(report)
