"""``generate --out kafka://HOST:PORT/TOPIC``: synthetic transactions to a topic."""

from __future__ import annotations

import json
from typing import Any

from pyengine.batch.generate import text_lines
from pyengine.kafka.url import KafkaError, KafkaUrl


def ensure_topic(url: KafkaUrl, partitions: int, config: dict[str, str] | None = None) -> None:
    """Create ``url.topic`` with ``partitions`` partitions unless it exists."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": url.servers})
    try:
        existing = admin.list_topics(timeout=15).topics
    except KafkaException as exc:
        raise KafkaError(f"{url}: cannot reach the broker: {exc.args[0].str()}") from exc
    if url.topic in existing:
        return
    futures = admin.create_topics([NewTopic(url.topic, partitions, 1, config=config or {})])
    try:
        futures[url.topic].result(timeout=30)
    except KafkaException as exc:
        error = exc.args[0]
        if error.name() != "TOPIC_ALREADY_EXISTS":  # another member won the race
            raise KafkaError(f"{url}: cannot create the topic: {error.str()}") from exc


def produce_transactions(url: KafkaUrl, count: int, partitions: int = 4, clients: int = 5,
                         seed: int = 1, bad_fraction: float = 0.0) -> dict[str, int]:
    """Write ``count`` JSON transactions (the JSONL lines of ``generate``) to the topic.

    Keyed by transaction id (a malformed line: no key), idempotent producer, all
    acknowledged before returning.
    """
    from confluent_kafka import KafkaException, Producer

    ensure_topic(url, partitions)
    lines, bad = text_lines(count, clients, seed, bad_fraction)
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err.str())

    producer = Producer({"bootstrap.servers": url.servers, "enable.idempotence": True,
                         "linger.ms": 20, "compression.type": "lz4"})
    try:
        for line in lines:
            produce(producer, url.topic, line.encode(), _key(line), delivered)
        left = producer.flush(60)
    except KafkaException as exc:
        raise KafkaError(f"{url}: producing failed: {exc.args[0].str()}") from exc
    if left or errors:
        raise KafkaError(f"{url}: {left + len(errors)} messages were not delivered"
                         + (f" ({errors[0]})" if errors else ""))
    return {"records": count, "bad": bad}


def produce(producer: Any, topic: str, value: bytes, key: bytes | None, on_delivery: Any,
             headers: list[tuple[str, bytes]] | None = None) -> None:
    """Produce, waiting for room when the local queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)


def _key(line: str) -> bytes | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    key = value.get("id") if isinstance(value, dict) else None
    return key.encode() if isinstance(key, str) else None
