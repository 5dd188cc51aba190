"""``kafka://HOST:PORT/TOPIC`` addresses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyengine.errors import PyEngineError

_URL = re.compile(r"kafka://(?P<servers>[^/?#]+)/(?P<topic>[A-Za-z0-9._-]{1,249})")


class KafkaError(PyEngineError):
    """A Kafka operation failed for good (fenced, fatal): a supervisor should restart."""

    exit_status = 1


class KafkaUsageError(KafkaError):
    """A malformed kafka:// address or a missing option."""

    exit_status = 2


@dataclass(frozen=True)
class KafkaUrl:
    """Bootstrap servers (``host:port[,host:port]``) and a topic."""

    servers: str
    topic: str

    def __str__(self) -> str:
        return f"kafka://{self.servers}/{self.topic}"


def is_kafka(text: str) -> bool:
    """Whether ``text`` names a Kafka topic rather than a file."""
    return text.startswith("kafka://")


def parse_url(text: str) -> KafkaUrl:
    """Parse ``kafka://HOST:PORT[,HOST:PORT]/TOPIC``."""
    m = _URL.fullmatch(text)
    if m is None:
        raise KafkaUsageError(f"{text!r} is not a Kafka address: use kafka://HOST:PORT/TOPIC "
                              "(topic names use letters, digits, '.', '_' and '-')")
    for server in m.group("servers").split(","):
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise KafkaUsageError(f"{text!r}: {server!r} is not HOST:PORT (a port from 1 "
                                  "to 65535)")
    return KafkaUrl(m.group("servers"), m.group("topic"))
