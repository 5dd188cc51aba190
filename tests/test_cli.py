"""The command line, run as users run it: in a subprocess (which starts its own JVM)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.helpers import one_rule, write_rules


def pyengine(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyengine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())


def test_build_rules_then_no_work(tmp_path: Path) -> None:
    first = pyengine("build-rules", str(EXAMPLES), "--out", str(tmp_path / "o"),
                     "--builder", "javac")
    assert first.returncode == 0, first.stderr
    assert "5 rule sets" in first.stdout
    again = pyengine("build-rules", str(EXAMPLES), "--out", str(tmp_path / "o"),
                     "--builder", "javac")
    assert again.returncode == 0 and "(up to date," in again.stdout
    assert (tmp_path / "o" / "rules.jar").exists()
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["ruleset_version"]


def test_spec_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("amount >> 1"),
                                         "d.yaml": "ruleset: d\nmode: sometimes\n"})
    result = pyengine("build-rules", str(rules), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"{rules}/c.yaml:4:19: error: expected an expression, found '>'"
    assert lines[1] == "    when: amount >> 1"
    assert lines[2] == "                  ^"
    assert lines[3].startswith(f"{rules}/d.yaml:2:7: error: mode: Input should be 'all'")
    assert lines[-1] == "2 errors in the rules"


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    result = pyengine("build-rules", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "rules directory not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    assert pyengine().returncode == 2
    assert pyengine("build-rules", "x").returncode == 2  # --out is required
    result = pyengine("build-rules", "x", "--out", "y", "--builder", "ant")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.jvm
def test_test_rules_passes_examples() -> None:
    result = pyengine("test-rules", str(EXAMPLES), "--builder", "javac", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("17 passed, 0 failed")
    assert "PASSED" in result.stdout
    assert "acme: high value USD is flagged with a fee" in result.stdout


@pytest.mark.jvm
def test_test_rules_reports_failures(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", {"c.yaml": one_rule("mcc > 10") + (
        "tests:\n"
        "  - name: big mcc is flagged\n"
        "    txn: {id: a, client_id: c, amount: '1.00', currency: USD, country: US, mcc: 50,\n"
        "          channel: web, ts: '2026-01-01T00:00:00Z', account_age_days: 1,\n"
        "          txn_count_24h: 1, vip: false, score: 0.1}\n"
        "    expect: {decision: flag, fired: [r]}\n"
        "  - name: wrong on purpose\n"
        "    txn: {id: b, client_id: c, amount: '1.00', currency: USD, country: US, mcc: 5,\n"
        "          channel: web, ts: '2026-01-01T00:00:00Z', account_age_days: 1,\n"
        "          txn_count_24h: 1, vip: false, score: 0.1}\n"
        "    expect: {decision: reject}\n")})
    result = pyengine("test-rules", str(rules), "--builder", "javac")
    assert result.returncode == 1
    assert f"FAILED {rules}/c.yaml:12: c: wrong on purpose" in result.stdout
    assert "[java] decision: expected reject, got approve" in result.stdout
    assert "[reference] decision: expected reject, got approve" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("1 passed, 1 failed")


def test_schema_prints_json_schema() -> None:
    result = pyengine("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "pyengine rule set"


def test_help_on_every_command() -> None:
    for command in ("build-rules", "test-rules", "schema"):
        result = pyengine(command, "--help")
        assert result.returncode == 0 and "usage: pyengine" in result.stdout


# A Kafka member's collector settings, in a process of its own (they are process-wide):
# batches of short-lived objects trigger no collection, cyclic garbage still does.
_QUIET_GC = """
import gc
from pyengine.cli import _quiet_gc

_quiet_gc()
before = gc.get_stats()[0]["collections"]
for _ in range(50):  # 50 batches of 20,000 messages' objects, freed with their batch
    batch = [[n] for n in range(20_000)]
    del batch
after_batches = gc.get_stats()[0]["collections"]
for _ in range(200_000):  # objects only the collector can free
    cycle = []
    cycle.append(cycle)
print(gc.get_freeze_count() > 0, after_batches - before,
      gc.get_stats()[0]["collections"] > after_batches)
"""


def test_a_kafka_member_collects_cycles_but_not_per_batch() -> None:
    out = subprocess.run([sys.executable, "-c", _QUIET_GC], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.split() == ["True", "0", "True"]


@pytest.mark.parametrize(("setting", "expected"), [(None, "0"), ("1", "1")])
def test_the_command_keeps_arrow_off_huge_pages_unless_told(
        tmp_path: Path, setting: str | None, expected: str) -> None:
    # mimalloc prints its options at start with MIMALLOC_VERBOSE; the command sets
    # allow_thp before pyarrow starts it, and keeps a value the user set.
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "mimalloc":
        pytest.skip("Arrow's allocator here is not mimalloc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    env["MIMALLOC_VERBOSE"] = "1"
    if setting is not None:
        env["MIMALLOC_ALLOW_THP"] = setting
    result = subprocess.run([sys.executable, "-m", "pyengine", "generate", "--count", "10",
                             "--out", str(tmp_path / "t.parquet")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"option 'allow_thp': {expected}" in result.stderr


@pytest.mark.parametrize(("url", "why"), [
    ("kafka://h:99999/t", "'h:99999' is not HOST:PORT (a port from 1 to 65535)"),
    ("kafka://h:0/t", "'h:0' is not HOST:PORT"),
    ("kafka://h:1/", "is not a Kafka address"),
    ("kafka://h:1/a b", "is not a Kafka address"),
])
def test_kafka_addresses_out_of_range_are_usage_errors(url: str, why: str) -> None:
    # A port beyond 65535 or of 0 was taken, for librdkafka to fail on later.
    from pyengine.kafka.url import KafkaUsageError, parse_url

    with pytest.raises(KafkaUsageError, match=re.escape(why)):
        parse_url(url)
    assert str(parse_url("kafka://h:65535,[::1]:1/t.x-y")) == "kafka://h:65535,[::1]:1/t.x-y"
