"""Kafka mode on a real broker (scripts/kafka-local): exactly once through kills and restarts.

Each test uses its own topics. Members run as ``python -m pyengine run`` processes;
the outputs are read back with ``read_committed`` and checked against the input
message by message: every input offset exactly once in the results or the DLQ,
with the decision the reference evaluator gives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pyengine.kafka.generate import ensure_topic, produce_transactions
from pyengine.kafka.url import KafkaUrl, parse_url
from pyengine.reference.evaluator import evaluate
from pyengine.spec.program import Program
from tests.conftest import EXAMPLES, KAFKA_LOCAL, ROOT
from tests.helpers import TXN

pytestmark = pytest.mark.kafka
SERVERS = "127.0.0.1:9092"


@pytest.fixture
def topics(broker: str) -> dict[str, KafkaUrl]:
    """Fresh input, results and DLQ topics, and a fresh group name."""
    tag = uuid.uuid4().hex[:8]
    return {name: parse_url(f"kafka://{broker}/{name}-{tag}")
            for name in ("input", "results", "dlq", "group")}


def member(topics: dict[str, KafkaUrl], name: str, *extra: str) -> subprocess.Popen[str]:
    """Start one group member as a process."""
    return subprocess.Popen(
        [sys.executable, "-m", "pyengine", "run", "--rules", str(EXAMPLES), "--builder", "javac",
         "--input", str(topics["input"]), "--output", str(topics["results"]),
         "--dlq", str(topics["dlq"]), "--group", topics["group"].topic, "--member", name,
         "--workers", "1", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def read_topic(url: KafkaUrl, idle: float = 3.0) -> list[Any]:
    """Every committed message of a topic, read with read_committed."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": url.servers, "group.id": f"reader-{uuid.uuid4()}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(url.topic, timeout=10).topics[url.topic].partitions
    consumer.assign([TopicPartition(url.topic, p, 0) for p in partitions])
    messages: list[Any] = []
    last = time.monotonic()
    while time.monotonic() - last < idle:
        batch = consumer.consume(1000, timeout=0.5)
        batch = [m for m in batch if m.error() is None]
        if batch:
            messages += batch
            last = time.monotonic()
    consumer.close()
    return messages


def wait_for(condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def describe_group(group: str) -> Any:
    """The broker's description of a consumer group: its state and members."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": SERVERS})
    return admin.describe_consumer_groups([group])[group].result(timeout=10)


def members_with_partitions(group: str) -> int:
    """How many members of a consumer group have partitions assigned (0 before it forms)."""
    return sum(1 for m in describe_group(group).members if m.assignment.topic_partitions)


def group_state(group: str) -> str:
    """The consumer group's state as the broker names it (STABLE, PREPARING_REBALANCING, ...)."""
    return str(describe_group(group).state.name)


def committed_results(url: KafkaUrl) -> int:
    return len(read_topic(url, idle=0.5))


def check_exactly_once(program: Program, topics: dict[str, KafkaUrl]) -> Counter[str]:
    """Every input message once in results or DLQ, with the reference's outcome."""
    messages = read_topic(topics["input"])
    inputs = {(m.partition(), m.offset()): m.value() for m in messages}
    keys = {(m.partition(), m.offset()): m.key() for m in messages}
    seen: Counter[tuple[int, int]] = Counter()
    kinds: Counter[str] = Counter()
    for m in read_topic(topics["results"]):
        row = json.loads(m.value())
        where = (row["partition"], row["offset"])
        seen[where] += 1
        assert m.key() == row["id"].encode(), row  # keyed by transaction id
        expected = evaluate(program, json.loads(inputs[where]))
        assert expected.error is None, row
        assert (row["ruleset"], row["decision"], row["fired"]) == (
            expected.ruleset, expected.decision, expected.fired), row
        kinds["result"] += 1
    for m in read_topic(topics["dlq"]):
        letter = json.loads(m.value())
        where = (letter["source"]["partition"], letter["source"]["offset"])
        seen[where] += 1
        headers = dict(m.headers())
        assert headers["pyengine.error.kind"].decode() == letter["error"]["kind"]
        assert int(headers["pyengine.source.offset"]) == where[1]
        assert letter["ruleset_version"] == program.version
        import base64
        assert base64.b64decode(letter["original"]) == inputs[where]
        record = letter["record"]
        txn_id = record.get("id") if isinstance(record, dict) else None
        assert m.key() == (txn_id.encode() if isinstance(txn_id, str) else keys[where]), letter
        if letter["error"]["kind"] != "parse":
            expected = evaluate(program, json.loads(inputs[where]))
            assert expected.error is not None and expected.error.kind == letter["error"]["kind"]
        kinds[letter["error"]["kind"]] += 1
    duplicates = [k for k, n in seen.items() if n > 1]
    assert not duplicates, f"{len(duplicates)} messages twice, e.g. {duplicates[:3]}"
    missing = set(inputs) - set(seen)
    assert not missing, f"{len(missing)} messages lost, e.g. {sorted(missing)[:3]}"
    return kinds


def test_poison_messages_go_to_the_dlq_and_the_member_carries_on(
        topics: dict[str, KafkaUrl], examples_program: Program) -> None:
    from confluent_kafka import Producer

    produce_transactions(topics["input"], 3000, partitions=2, seed=4, bad_fraction=0.02)
    producer = Producer({"bootstrap.servers": SERVERS})
    for poison in [b"not json", b"\xff\xfe\x00", b"[1, 2]", b"null", b"", b'{"id": 5}',
                   json.dumps({"id": "p1", "client_id": "acme", "amount": []}).encode(),
                   b"[" * 100_000 + b"]" * 100_000]:
        producer.produce(topics["input"].topic, poison)
    # Keys that are not the transaction's id: outputs are keyed by the id all the same.
    good = {**TXN, "id": "k1", "client_id": "acme"}
    for txn in (good, {**good, "id": "k2", "amount": "x"}, {**good, "id": 7, "amount": "x"}):
        producer.produce(topics["input"].topic, json.dumps(txn).encode(), b"input-key")
    producer.flush(30)
    produce_transactions(topics["input"], 500, partitions=2, seed=5)  # after the poison
    report = finish(member(topics, "solo", "--stop-when-idle", "4s"))
    assert report["input_records"] == 3511 and report["complete"]
    kinds = check_exactly_once(examples_program, topics)
    assert kinds["parse"] >= 4 and kinds["schema"] >= 6 and kinds["evaluation"] >= 1
    assert sum(kinds.values()) == 3511


def test_two_members_one_killed_and_restarted(topics: dict[str, KafkaUrl],
                                              examples_program: Program) -> None:
    # Both members hold partitions before any input exists: otherwise the first to join
    # may consume the whole topic before the second arrives, and nothing is split.
    ensure_topic(topics["input"], 4)
    ensure_topic(topics["results"], 1)
    small = ("--batch-size", "500", "--stop-when-idle", "15s")
    a, b = member(topics, "a", *small), member(topics, "b", *small)
    wait_for(lambda: members_with_partitions(topics["group"].topic) == 2)
    produce_transactions(topics["input"], 40_000, partitions=4, seed=6, bad_fraction=0.01)
    wait_for(lambda: committed_results(topics["results"]) > 4000)
    b.send_signal(signal.SIGKILL)
    b.wait()
    b = member(topics, "b", *small)  # the same member name fences the killed one
    reports = [finish(a), finish(b)]
    kinds = check_exactly_once(examples_program, topics)
    assert sum(kinds.values()) == 40_000
    assert reports[0]["kafka"]["partitions"], "member a consumed some partitions"


def test_a_member_stopped_by_sigterm_says_so_and_the_group_ends_exactly_once(
        topics: dict[str, KafkaUrl], examples_program: Program) -> None:
    # The JVM's own SIGTERM handler shut Java down under the member (a traceback); the
    # member now stops as for Ctrl-C, aborting the transaction it has open.
    ensure_topic(topics["results"], 1)
    produce_transactions(topics["input"], 20_000, partitions=2, seed=7, bad_fraction=0.01)
    small = ("--batch-size", "500", "--stop-when-idle", "4s")
    proc = member(topics, "t", *small)
    wait_for(lambda: committed_results(topics["results"]) > 2000)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.splitlines()[-1] == "pyengine: terminated", err
    assert "Traceback" not in err
    finish(member(topics, "u", *small))  # another member takes over where it stopped
    assert sum(check_exactly_once(examples_program, topics).values()) == 20_000


def test_a_member_waiting_for_partitions_is_not_idle(topics: dict[str, KafkaUrl],
                                                    examples_program: Program) -> None:
    from confluent_kafka import Consumer

    produce_transactions(topics["input"], 2000, partitions=2, seed=8)
    ensure_topic(topics["results"], 1)
    group = topics["group"].topic
    # A squatter holds every partition. It does not poll, so it cannot hand them over:
    # the group stays in a rebalance, and the member joining it gets none, until the
    # squatter leaves.
    squatter = Consumer({"bootstrap.servers": SERVERS, "group.id": group,
                         "partition.assignment.strategy": "roundrobin",
                         "max.poll.interval.ms": 120_000, "enable.auto.commit": False})
    squatter.subscribe([topics["input"].topic], on_revoke=lambda consumer, partitions: None)

    def squatting() -> bool:
        squatter.consume(1, timeout=0.5)  # the group forms while the consumer polls
        return bool(squatter.assignment())

    wait_for(squatting)
    proc = member(topics, "late", "--stop-when-idle", "2s")
    try:
        wait_for(lambda: group_state(group) == "PREPARING_REBALANCING")  # the member joined
        time.sleep(4)  # the member waits for partitions longer than its idle limit
        assert proc.poll() is None, "the member stopped while waiting for partitions"
    finally:
        squatter.close()
    report = finish(proc)
    assert report["input_records"] == 2000 and report["complete"]
    assert sum(check_exactly_once(examples_program, topics).values()) == 2000


def test_a_member_of_a_topic_that_does_not_exist_stops_when_idle(
        topics: dict[str, KafkaUrl]) -> None:
    # No group forms around a missing topic, so there are no partitions to wait for.
    proc = member(topics, "early", "--stop-when-idle", "1s")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a member that waits forever fails the test, and must not outlive it
    assert json.loads(out)["input_records"] == 0 and json.loads(out)["complete"], err
    assert "the input topic" in err and "does not exist (yet)" in err


def test_broker_restart_mid_run(topics: dict[str, KafkaUrl], examples_program: Program) -> None:
    produce_transactions(topics["input"], 40_000, partitions=2, seed=7, bad_fraction=0.01)
    ensure_topic(topics["results"], 1)
    proc = member(topics, "m", "--batch-size", "500", "--stop-when-idle", "8s")
    wait_for(lambda: committed_results(topics["results"]) > 4000)
    subprocess.run([KAFKA_LOCAL, "stop"], check=True)
    time.sleep(2)  # the broker stays down for a moment while the member runs
    subprocess.run([KAFKA_LOCAL, "start"], check=True)
    report = finish(proc)
    kinds = check_exactly_once(examples_program, topics)
    assert sum(kinds.values()) == 40_000
    assert report["complete"]


class _AbortsThirdCommit:
    """A real transactional producer whose third commit fails with an abortable error
    instead, as a commit does when the coordinator has timed its transaction out (which
    takes a paused process to provoke). The member must then abort it for real."""

    def __init__(self, producer: Any):
        self._producer = producer
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def commit_transaction(self, *args: Any) -> None:
        from confluent_kafka import KafkaError, KafkaException

        self.commits += 1
        if self.commits == 3:
            raise KafkaException(KafkaError(KafkaError._STATE, "injected: transaction timed out",
                                            txn_requires_abort=True))
        self._producer.commit_transaction(*args)


def test_an_aborted_commit_rewinds_and_the_batch_is_read_again(
        topics: dict[str, KafkaUrl], examples_program: Program, examples_compiled: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The third batch's commit fails: its outputs are aborted, and it is read again.
    from pyengine.engine import Engine
    from pyengine.kafka.member import Member, MemberConfig

    produce_transactions(topics["input"], 5000, partitions=2, seed=9, bad_fraction=0.01)
    real_clients = Member._clients

    def clients(self: Member) -> tuple[Any, Any]:
        consumer, producer = real_clients(self)
        return consumer, _AbortsThirdCommit(producer)

    monkeypatch.setattr(Member, "_clients", clients)
    config = MemberConfig(topics["input"], topics["results"], topics["dlq"],
                          topics["group"].topic, workers=1, batch_size=500, stop_when_idle=3.0)
    with Engine(examples_compiled) as engine:
        report = Member(engine, config).run()
    assert report["kafka"]["aborted"] == 1 and report["complete"]
    assert report["input_records"] == 5000
    assert sum(check_exactly_once(examples_program, topics).values()) == 5000


def test_a_fenced_member_stops_and_its_restart_finishes(topics: dict[str, KafkaUrl],
                                                       examples_program: Program) -> None:
    from confluent_kafka import Producer

    produce_transactions(topics["input"], 2000, partitions=2, seed=10, bad_fraction=0.01)
    ensure_topic(topics["results"], 1)
    proc = member(topics, "f", "--batch-size", "500", "--stop-when-idle", "20s")
    try:
        wait_for(lambda: committed_results(topics["results"]) >= 1900)  # a few dead letters
        # Another producer with the member's transactional id fences it, as a second
        # process started with the same --member would; the member finds out with its
        # next transaction.
        usurper = Producer({"bootstrap.servers": SERVERS,
                            "transactional.id": f"pyengine-{topics['group'].topic}-f"})
        usurper.init_transactions(30)
        produce_transactions(topics["input"], 2000, partitions=2, seed=11, bad_fraction=0.01)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "pyengine: error:" in err and "supervisor" in err and "Traceback" not in err, err
    finish(member(topics, "f", "--stop-when-idle", "4s"))
    assert sum(check_exactly_once(examples_program, topics).values()) == 4000


def test_kafka_usage_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pyengine", "run", "--rules", str(EXAMPLES),
                               *args], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})

    bad = run("--input", "kafka://nohost/t", "--output", "kafka://h:1/r", "--group", "g",
              "--dlq", "kafka://h:1/d")
    assert bad.returncode == 2 and "is not HOST:PORT" in bad.stderr
    missing = run("--input", "kafka://h:1/t", "--output", "kafka://h:1/r")
    assert missing.returncode == 2 and "--group" in missing.stderr
    mixed = run("--input", "kafka://h:1/t", "--output", str(tmp_path))
    assert mixed.returncode == 2 and "both --input and --output" in mixed.stderr
    clusters = run("--input", "kafka://h:1/t", "--output", "kafka://h:1/r", "--group", "g",
                   "--dlq", "kafka://other:1/d")
    assert clusters.returncode == 2 and "same Kafka cluster" in clusters.stderr
    big = run("--input", "kafka://h:1/t", "--output", "kafka://h:1/r", "--group", "g",
              "--dlq", "kafka://h:1/d", "--batch-size", "1000001")
    # librdkafka's consume() took it after connecting, and failed with a ValueError
    assert big.returncode == 2
    assert "argument --batch-size: must be at most 1000000, got 1000001" in big.stderr
    assert "Traceback" not in bad.stderr + missing.stderr + mixed.stderr + clusters.stderr


@pytest.mark.parametrize(("settings", "message"), [
    ({"batch_size": 1_000_001}, "a batch of 1000001 messages: from 1 to 1,000,000 are allowed"),
    ({"batch_size": 0}, "a batch of 0 messages: from 1 to 1,000,000 are allowed"),
    ({"workers": 300}, "300 workers: from 1 to 256 are allowed"),
])
def test_a_member_of_empty_or_huge_batches_or_too_many_workers_is_refused(
        settings: dict[str, int], message: str) -> None:
    from pyengine.errors import ConfigError
    from pyengine.kafka.member import MemberConfig
    from pyengine.kafka.url import parse_url

    url = parse_url("kafka://h:1/t")
    with pytest.raises(ConfigError, match=message):
        MemberConfig(url, url, url, "g", **{"workers": 1, **settings})


def test_kafka_benchmark_runs(broker: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pyengine.bench.kafka import main

    assert main(["--servers", broker, "--rules", str(EXAMPLES), "--records", "40000",
                 "--members", "1", "--runs", "1", "--batch-size", "1000"]) == 0
    out = capsys.readouterr().out
    assert "1 member :" in out and "CPU in the window: members " in out


def test_kafka_benchmark_splits_the_windows_cpu_time() -> None:
    from pyengine.bench.kafka import Sample, Sampler

    sampler = Sampler([], None, period=3600)  # the samples are given below, not taken
    sampler.stop()
    sampler.samples = [Sample(9.0, 0.0, 0.0, 0.0, 0.0), Sample(10.0, 100.0, 50.0, 10.0, 1.0),
                       Sample(11.0, 101.0, 51.0, 11.0, 1.0), Sample(12.0, 104.0, 52.0, 12.0, 1.5),
                       Sample(13.0, 200.0, 52.0, 20.0, 9.0)]
    # From 10 s to 12 s: 4 s busy (members 2, broker 0.5, the rest 1.5) and 2 s idle.
    assert sampler.between(10.0, 12.0) == ("CPU in the window: members 33%, broker 8%, "
                                           "other 25%, idle 33%")
    assert sampler.between(10.5, 10.9) == "CPU use not sampled"
    sampler.samples = [Sample(10.0, 100.0, 50.0, 10.0, 1.0)] * 2  # within one clock tick
    assert sampler.between(9.0, 11.0) == "CPU use not sampled"
