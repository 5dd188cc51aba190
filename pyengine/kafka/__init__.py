"""Kafka mode: pyengine as a member of a consumer group, exactly once.

``url`` parses ``kafka://HOST:PORT/TOPIC``; ``member`` runs one group member
(consume a batch, evaluate it like a file chunk, produce results and dead
letters and commit the consumed offsets in one Kafka transaction);
``generate`` writes synthetic transactions to a topic.
"""

# The most messages a member polls and commits at once: librdkafka's consume() returns
# at most a million (a larger count is its ValueError).
MAX_BATCH_SIZE = 1_000_000
