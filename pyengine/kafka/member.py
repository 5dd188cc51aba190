"""One member of a consumer group: consume, evaluate, produce, commit, exactly once.

Each batch polled from the assigned partitions is evaluated like a file chunk
(:func:`pyengine.batch.chunk.process_chunk`); its results and dead letters are
produced inside one Kafka transaction that also commits the batch's consumed
offsets (``send_offsets_to_transaction``), so a batch is either wholly visible to
``read_committed`` readers with its offsets committed, or not at all.

A transaction is always committed before the next poll, so a rebalance never
finds one open: revoked partitions have committed everything, and lost partitions
lose nothing. An abortable error aborts the batch and rewinds the consumer to
the committed offsets, so the batch is evaluated again; a fatal error (a fenced
producer, a broker that refuses transactions) ends the member with
:class:`KafkaError` for a supervisor to restart it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pyengine.batch.chunk import ChunkOutput
from pyengine.batch.job import Progress, Tally
from pyengine.batch.jsonlines import JsonLines
from pyengine.engine import Engine, check_workers, run_chunks
from pyengine.errors import ConfigError
from pyengine.jvm.jsontext import JsonRowsWriter
from pyengine.kafka import MAX_BATCH_SIZE
from pyengine.kafka.generate import ensure_topic, produce
from pyengine.kafka.url import KafkaError, KafkaUrl
from pyengine.spec.program import ACTIONS


@dataclass
class MemberConfig:
    """What ``run --input kafka://...`` was asked to do."""

    input: KafkaUrl
    output: KafkaUrl
    dlq: KafkaUrl
    group: str
    workers: int
    batch_size: int = 20_000
    stop_when_idle: float | None = None  # seconds without messages, or run forever
    member: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    transaction_timeout_ms: int = 10_000
    session_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        check_workers(self.workers)
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(f"a batch of {self.batch_size!r} messages: from 1 to "
                              f"{MAX_BATCH_SIZE:,} are allowed")


@dataclass
class Counters(Tally):
    """What this member has done (committed transactions only)."""

    consumed: int = 0
    transactions: int = 0
    aborted: int = 0
    lag: int | None = None
    partitions: set[int] = field(default_factory=set)  # consumed from
    revocations: int = 0


@dataclass
class Polled:
    """A polled batch: its messages, with their partitions and offsets as arrays."""

    messages: list[Any]
    partitions: np.ndarray  # int32
    offsets: np.ndarray  # int64

    @classmethod
    def of(cls, messages: list[Any]) -> Polled:
        """Read each message's partition and offset once."""
        n = len(messages)
        return cls(messages, np.fromiter((m.partition() for m in messages), np.int32, n),
                   np.fromiter((m.offset() for m in messages), np.int64, n))

    def ends(self) -> dict[int, int]:
        """Partition -> the last offset the batch holds from it."""
        return {int(p): int(self.offsets[self.partitions == p].max())
                for p in np.unique(self.partitions)}


class Member:
    """One consumer group member (not thread-safe: one per process)."""

    def __init__(self, engine: Engine, config: MemberConfig,
                 on_progress: Callable[[Progress], None] | None = None):
        self.engine = engine
        self.config = config
        self.on_progress = on_progress or (lambda p: None)
        self.counters = Counters()
        self._json = JsonRowsWriter(engine.compiled.loader)
        self.started = time.perf_counter()
        self.active = 0.0  # seconds spent on batches, for the throughput figure
        self.stopped_idle = False
        self.first_batch = self.last_batch = 0.0  # epoch seconds: when work began and ended
        self._fatal: Any = None  # a fatal error reported by a client's error callback
        self._trouble = 0.0  # when a client last reported an error
        # When the group last gave this member its partitions (maybe none); None while
        # it waits for them: joining, or between a revocation and the next assignment.
        self._assigned: float | None = None

    # -- clients ---------------------------------------------------------
    def _clients(self) -> tuple[Any, Any]:
        from confluent_kafka import Consumer, Producer

        c = self.config
        consumer = Consumer({
            "bootstrap.servers": c.input.servers, "group.id": c.group,
            "enable.auto.commit": False, "isolation.level": "read_committed",
            "auto.offset.reset": "earliest", "session.timeout.ms": c.session_timeout_ms,
            # A member learns that another joined at its next heartbeat (3 s by default),
            # and the group waits for it: a new member would wait that long for work.
            # Every 250 ms, a member that joins a working group has its partitions within
            # about half a second (the others first end the batch they are on).
            "heartbeat.interval.ms": max(100, c.session_timeout_ms // 40),
            "partition.assignment.strategy": "roundrobin",
            "fetch.max.bytes": 64 * 2**20, "max.partition.fetch.bytes": 16 * 2**20,
            "error_cb": self._client_error, "log_level": 3,
        })
        producer = Producer({
            "bootstrap.servers": c.output.servers,
            # One id per member: a restarted member fences its previous incarnation.
            "transactional.id": f"pyengine-{c.group}-{c.member}",
            "transaction.timeout.ms": c.transaction_timeout_ms,
            "linger.ms": 5, "compression.type": "lz4",
            "queue.buffering.max.messages": 2 * c.batch_size + 1000,
            "error_cb": self._client_error, "log_level": 3,
        })
        return consumer, producer

    def _client_error(self, error: Any) -> None:
        if error.fatal():
            self._fatal = error
        # Other errors (a broker going away) are retried by the clients; meanwhile no
        # message can arrive, which must not count as the input being idle.
        self._trouble = time.monotonic()

    # -- running ---------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Consume until stopped (idle, or a fatal error); returns the member's report."""
        from confluent_kafka import KafkaException

        c = self.config
        for url in (c.output, c.dlq):
            ensure_topic(url, partitions=1)
        consumer, producer = self._clients()
        try:
            # librdkafka asks for a producer id at once, and when no connection is up yet
            # asks again only 0.5 s later: one of two members started together often
            # began that much later. A metadata request first opens the connection.
            producer.list_topics(timeout=30)
            producer.init_transactions(30)
        except KafkaException as exc:
            raise KafkaError(f"cannot start transactions on {c.output.servers}: "
                             f"{exc.args[0].str()}") from exc
        consumer.subscribe([c.input.topic], on_assign=self._assign, on_revoke=self._revoked,
                           on_lost=self._revoked)
        if not _topic_exists(consumer, c.input.topic):
            # No group forms around a topic that does not exist (yet): there is no
            # assignment to wait for, and the idle time counts from now.
            self._assigned = time.monotonic()
            print(f"pyengine: warning: the input topic {c.input.topic!r} does not exist (yet) "
                  f"on {c.input.servers}; the member waits for it", file=sys.stderr)
        last_message = time.monotonic()
        try:
            while True:
                if self._fatal is not None:
                    raise _stop(f"a Kafka client failed: {self._fatal.str()}")
                batch = self._poll(consumer)
                if not batch:
                    limit = c.stop_when_idle
                    if limit is not None and self._idle(last_message) >= limit:
                        self.stopped_idle = True
                        break
                    continue
                last_message = time.monotonic()
                start = time.perf_counter()
                self.first_batch = self.first_batch or time.time()
                self._process(consumer, producer, batch)
                self.active += time.perf_counter() - start
                self.last_batch = time.time()
                self._progress(consumer)
        except BaseException:  # stopped (SIGTERM, Ctrl-C) or failed
            _abort_open(producer)
            raise
        finally:
            consumer.close()
        return self.report()

    def _idle(self, last_message: float) -> float:
        """Seconds without input, for ``--stop-when-idle``. Time spent waiting for
        partitions (joining the group, a rebalance) or for an unreachable broker does not
        count: no message could arrive then, however much input is waiting."""
        if self._assigned is None:
            return 0.0
        return time.monotonic() - max(last_message, self._trouble, self._assigned)

    def _assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned = time.monotonic()

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        # Nothing to commit or abort: no transaction is ever open while the consumer
        # polls, so revoked partitions have committed all they produced, and lost ones
        # lose nothing (the new owner starts at the committed offsets).
        self._assigned = None
        self.counters.revocations += 1

    def _poll(self, consumer: Any) -> list[Any]:
        """Up to a batch of messages; client errors are noted, not returned."""
        batch = consumer.consume(self.config.batch_size, timeout=0.5)
        if all(msg.error() is None for msg in batch):
            return batch  # type: ignore[no-any-return]
        good = []
        for msg in batch:
            error = msg.error()
            if error is None:
                good.append(msg)
            elif error.fatal():
                raise _stop(f"the consumer failed: {error.str()}")
            else:  # transient (a broker restarting): the client retries
                self._trouble = time.monotonic()
        return good

    def _process(self, consumer: Any, producer: Any, batch: list[Any]) -> None:
        """Evaluate a batch and commit it, or abort it and rewind to the committed offsets."""
        from confluent_kafka import KafkaException, TopicPartition

        polled = Polled.of(batch)
        outputs = self._evaluate(batch)
        topic = self.config.input.topic  # the only one subscribed to
        offsets = [TopicPartition(topic, p, o + 1) for p, o in polled.ends().items()]
        try:
            producer.begin_transaction()
            letters = self._produce(producer, polled, outputs)
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 60)
            self._commit(producer)
        except KafkaException as exc:
            _abort(producer, exc)
            self.counters.aborted += 1
            _rewind(consumer)
            return
        self._count(polled, outputs, letters)

    def _commit(self, producer: Any) -> None:
        from confluent_kafka import KafkaException

        while True:
            try:
                producer.commit_transaction(60)
                return
            except KafkaException as exc:
                if not exc.args[0].retriable():
                    raise

    def _evaluate(self, batch: list[Any]) -> list[ChunkOutput]:
        """Evaluate the messages' values as JSON records, one chunk per worker; a
        result's or dead letter's position is its message's index in ``batch``."""
        values = JsonLines([m.value() or b"" for m in batch])
        size = max(1, -(-len(values) // self.config.workers))
        size = min(size, self.engine.compiled.max_chunk_rows)
        chunks = [(s, values[s:s + size]) for s in range(0, len(values), size)]
        return run_chunks(self.engine, chunks, self.config.workers,
                          source=self.config.input.topic)

    def _produce(self, producer: Any, polled: Polled,
                 outputs: list[ChunkOutput]) -> list[dict[str, Any]]:
        """Produce the batch's results and dead letters; returns the dead letters."""
        letters: list[dict[str, Any]] = []
        topic, messages = self.config.output.topic, polled.messages
        send = producer.produce
        for out in outputs:
            rows = out.results.column("position").to_numpy()
            lines = self._json.lines(self._located(out.results, polled, rows))
            # Every result has an id (a required string field), and Arrow strings are
            # valid UTF-8: their bytes are the keys ``_key`` would give, without a call
            # for each of the batch's results.
            keys = out.results.column("id").cast(pa.binary()).to_pylist()
            for line, key in zip(lines, keys, strict=True):
                try:
                    send(topic, line, key)
                except BufferError:  # the local queue is full: wait for room
                    produce(producer, topic, line, key, None)
            for letter in out.dead_letters:
                self._dead_letter(producer, messages[letter["position"]], letter["error"],
                                  letter["record"])
                letters.append(letter)
        return letters

    def _located(self, results: pa.Table, polled: Polled, rows: np.ndarray) -> pa.Table:
        """Results with the source topic, partition and offset in place of the position."""
        return results.drop_columns(["position"]).add_column(
            0, "offset", pa.array(polled.offsets[rows])).add_column(
            0, "partition", pa.array(polled.partitions[rows])).add_column(
            0, "topic", pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(rows), np.int32)), pa.array([self.config.input.topic])))

    def _dead_letter(self, producer: Any, m: Any, error: dict[str, Any], record: Any) -> None:
        version = self.engine.ruleset_version
        topic, partition, offset = m.topic(), m.partition(), m.offset()
        value = {"source": {"topic": topic, "partition": partition, "offset": offset},
                 "error": error, "record": record, "ruleset_version": version,
                 "original": base64.b64encode(m.value() or b"").decode("ascii")}
        headers = [
            ("pyengine.source.topic", topic.encode()),
            ("pyengine.source.partition", str(partition).encode()),
            ("pyengine.source.offset", str(offset).encode()),
            ("pyengine.error.kind", error["kind"].encode()),
            ("pyengine.error.message", error["message"].encode("utf-8", "backslashreplace")),
            ("pyengine.error.rule", (error["rule"] or "").encode()),
            ("pyengine.ruleset_version", version.encode()),
        ]
        txn_id = record.get("id") if isinstance(record, dict) else None
        produce(producer, self.config.dlq.topic, json.dumps(value).encode("ascii"),
                _key(txn_id, m), None, headers)

    # -- accounting ------------------------------------------------------
    def _count(self, polled: Polled, outputs: list[ChunkOutput],
               letters: list[dict[str, Any]]) -> None:
        n = self.counters
        n.transactions += 1
        n.consumed += len(polled.messages)
        n.partitions.update(polled.ends())
        decisions = dict.fromkeys(ACTIONS, 0)
        for out in outputs:
            for action, count in out.decisions.items():
                decisions[action] += count
        n.count(sum(o.results.num_rows for o in outputs), decisions, letters)

    def _progress(self, consumer: Any) -> None:
        self.counters.lag = _lag(consumer)
        done = self.counters.consumed
        total = done + self.counters.lag if self.counters.lag is not None else None
        self.on_progress(Progress(done=done, total=total, dead_letters=self.counters.dead_letters,
                                  elapsed=self.active))

    def report(self) -> dict[str, Any]:
        """The member's report: report.json's fields plus Kafka's."""
        n, c = self.counters, self.config
        tps = n.consumed / self.active if self.active > 0 else 0.0
        return {
            "input_records": n.consumed, "results": n.results, "dead_letters": n.dead_letters,
            "dead_letter_kinds": n.dead_letter_kinds, "decisions": n.decisions,
            "workers": c.workers, "wall_seconds": round(time.perf_counter() - self.started, 3),
            "busy_seconds": round(self.active, 3), "tps": round(tps, 1),
            "ruleset_version": self.engine.ruleset_version,
            "kafka": {"input": str(c.input), "output": str(c.output), "dlq": str(c.dlq),
                      "group": c.group, "member": c.member, "partitions": sorted(n.partitions),
                      "revocations": n.revocations, "first_batch": self.first_batch,
                      "last_batch": self.last_batch,
                      "transactions": n.transactions, "aborted": n.aborted, "lag": n.lag},
            "complete": self.stopped_idle,
        }


def _key(txn_id: Any, message: Any) -> bytes | None:
    """The key of a dead letter: its transaction's id (CLI.md), as for results; the input
    message's key when there is no id to use (a message that is not a JSON object, or
    whose id is missing or not a string)."""
    if isinstance(txn_id, str):
        with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate is no UTF-8
            return txn_id.encode()
    key: bytes | None = message.key()
    return key


def _topic_exists(consumer: Any, topic: str) -> bool:
    """Whether the cluster has ``topic`` (a broker that cannot be reached: assume so,
    and wait for it)."""
    from confluent_kafka import KafkaException

    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException:
        return True
    return metadata is not None and metadata.error is None


def _stop(reason: str) -> KafkaError:
    """The error that ends a member for good."""
    return KafkaError(f"{reason}; the member stops so a supervisor can restart it")


def _abort_open(producer: Any) -> None:
    """Abort the transaction a stopping member leaves open, if any (best effort: the
    broker may be gone). Left open, it holds back every read_committed reader of the
    output topics until the broker's transaction timeout (10 s) aborts it."""
    from confluent_kafka import KafkaException

    with contextlib.suppress(KafkaException):
        producer.abort_transaction(5)


def _abort(producer: Any, exc: Any) -> None:
    """Abort the open transaction after ``exc``, or raise KafkaError when the error is
    not one that aborting recovers from."""
    from confluent_kafka import KafkaException

    error = exc.args[0]
    if error.fatal() or not error.txn_requires_abort():
        raise _stop(f"the transaction failed: {error.str()}") from exc
    try:
        producer.abort_transaction(60)
    except KafkaException as failed:
        raise _stop(f"the transaction failed ({error.str()}) and aborting it failed: "
                    f"{failed.args[0].str()}") from failed


def _rewind(consumer: Any) -> None:
    """Seek every assigned partition back to its committed offset."""
    from confluent_kafka import OFFSET_BEGINNING

    assignment = consumer.assignment()
    if not assignment:
        return
    for tp in consumer.committed(assignment, timeout=30):
        if tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
        consumer.seek(tp)


def _lag(consumer: Any) -> int | None:
    """Messages left in the assigned partitions, when the client knows."""
    lag = 0
    try:
        for tp in consumer.position(consumer.assignment()):
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0 or tp.offset < 0:
                return None
            lag += max(0, high - tp.offset)
    except Exception:  # the client may not know yet (no fetch response)
        return None
    return lag


def summary(report: dict[str, Any]) -> str:
    """A human summary of a member's report."""
    k = report["kafka"]
    lines = [
        f"member {k['member']} of group {k['group']}: partitions {k['partitions']} of "
        f"{k['input']}",
        f"  consumed       {report['input_records']:,}",
        f"  results        {report['results']:,} -> {k['output']}",
        f"  dead letters   {report['dead_letters']:,} -> {k['dlq']}  " + ", ".join(
            f"{kind}: {n:,}" for kind, n in report["dead_letter_kinds"].items()),
        "  decisions      " + ", ".join(f"{a}: {n:,}" for a, n in report["decisions"].items()),
        f"  transactions   {k['transactions']:,} committed, {k['aborted']:,} aborted",
        f"  throughput     {report['tps']:,.0f} transactions/s over "
        f"{report['busy_seconds']:.1f} busy seconds ({report['wall_seconds']:.1f} s in all)",
        f"  lag            {'unknown' if k['lag'] is None else format(k['lag'], ',')}",
    ]
    return "\n".join(lines)
