"""Batch mode: ``run`` over files, and ``dlq replay``.

``inputs`` streams Parquet, CSV and JSONL files as chunks of records; ``chunk``
evaluates one chunk (convert, Java, results and dead letters); ``parts`` writes a
segment's results to its Parquet part file; ``job`` runs the segments, checkpoints
and resumes; ``replay`` re-evaluates a run's dead letters; ``generate`` writes
synthetic transactions.
"""

# Codecs of the results' Parquet files, by pyarrow's names. zstd, the default, makes
# the smallest files; the others write them faster (docs/batch.md, "Compression").
# Here, not in ``parts``, so that the command line offers them without importing Arrow.
COMPRESSIONS = ("zstd", "snappy", "lz4", "none")
DEFAULT_COMPRESSION = COMPRESSIONS[0]
# The longest duration a job takes (--sla, --stop-when-idle): the report projects the
# records an SLA window holds, and an endless window has no count.
MAX_DURATION_SECONDS = 366 * 24 * 3600
# The most worker threads a job or evaluate_batch runs: each holds chunks in memory
# (a run keeps up to 2 x workers + 2 chunks in flight and as many waiting to be
# written), so a mistyped count would take the memory bound away with it.
MAX_WORKERS = 256
# The most client ids `generate` spreads transactions over: it names each one, used or
# not (a hundred million took 80 s and gigabytes for a thousand transactions).
MAX_CLIENTS = 1_000_000
