"""``run``: a whole input through the rules, losing and duplicating nothing.

The input is cut into *segments* of ``checkpoint_every`` positions. Segment k
becomes ``results/part-k.parquet`` plus its lines of ``dlq.jsonl``, then a
checkpoint. Chunks of a segment are evaluated on worker threads and put back in
input order, so the output depends only on the input, the rules and
``checkpoint_every``: not on the worker count, the chunk size or crashes.

Crash safety: a part file is written to a temporary name, fsynced and renamed;
DLQ lines are appended and fsynced; then ``checkpoint.json`` is replaced the same
way and the directory fsynced. A restarted run deletes part files beyond the
checkpoint, truncates ``dlq.jsonl`` to the checkpointed length, skips the
positions already done and carries on, ending byte for byte where an
uninterrupted run ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pyengine.batch import COMPRESSIONS, DEFAULT_COMPRESSION, MAX_DURATION_SECONDS
from pyengine.batch.chunk import Batch, ChunkOutput, process_chunk
from pyengine.batch.inputs import InputError, Parsed, input_files, read_input
from pyengine.batch.parts import PartWriter, Segment
from pyengine.engine import Engine, check_workers
from pyengine.errors import ConfigError, PyEngineError
from pyengine.spec.program import ACTIONS, Program

CHECKPOINT = "checkpoint.json"
LOCK = ".run.lock"
DLQ = "dlq.jsonl"
REPORT = "report.json"
RESULTS = "results"
FORMAT = 2  # 2: the checkpoint carries a checksum


def dictionary_fields(program: Program) -> set[str]:
    """The string fields ``run`` reads dictionary-encoded from Parquet: those the rules
    read (Java decodes each value once); the others (ids) stay plain."""
    return {name for name, f in program.schema.fields.items()
            if f.type.kind == "string" and name in program.read_fields}


@dataclass
class JobConfig:
    """What ``run`` was asked to do."""

    input: Path
    output: Path
    workers: int
    checkpoint_every: int = 1_000_000
    chunk_rows: int = 65_536
    sla_seconds: float = 7200.0
    compression: str = DEFAULT_COMPRESSION  # of the results' Parquet files (COMPRESSIONS)

    def __post_init__(self) -> None:
        check_workers(self.workers)
        for name in ("checkpoint_every", "chunk_rows"):  # 0 never ended, or divided by 0
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        if self.compression not in COMPRESSIONS:
            raise OutputError(f"compression {self.compression!r}: not one of "
                              f"{', '.join(COMPRESSIONS)}")
        if not 0 < self.sla_seconds <= MAX_DURATION_SECONDS:  # also NaN
            raise ConfigError(f"an SLA of {self.sla_seconds!r} s: it must be more than 0 "
                              f"and at most {MAX_DURATION_SECONDS:,} s (366 days)")


@dataclass
class Progress:
    """Live counters, for the progress display."""

    done: int = 0
    total: int | None = None
    dead_letters: int = 0
    elapsed: float = 0.0

    @property
    def tps(self) -> float:
        """Records per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class Tally:
    """Results, decisions and dead letters (by kind) counted so far."""

    results: int = 0
    dead_letters: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    dead_letter_kinds: dict[str, int] = field(default_factory=dict)

    def count(self, results: int, decisions: dict[str, int],
              letters: list[dict[str, Any]]) -> None:
        """Add a committed batch: its result count, decisions and dead letters."""
        self.results += results
        for action, n in decisions.items():
            self.decisions[action] += n
        self.dead_letters += len(letters)
        for d in letters:
            kind = d["error"]["kind"]
            self.dead_letter_kinds[kind] = self.dead_letter_kinds.get(kind, 0) + 1


@dataclass
class State(Tally):
    """What the checkpoint remembers."""

    next_position: int = 0
    parts: int = 0
    dlq_bytes: int = 0
    seconds: float = 0.0
    complete: bool = False


class OutputError(PyEngineError):
    """OUT cannot be written (disk full, permissions): the job stops at its checkpoint."""

    exit_status = 1


class OutputMismatch(InputError):
    """OUT holds a run of other rules, another input or another checkpoint size."""


class OutputBusy(PyEngineError):
    """Another process is writing into OUT (a run, or a replay preparing its input)."""


# What a run leaves in OUT before its first checkpoint is in place: its lock, its (empty)
# results directory, the checkpoint being written, and the report of a run that failed there.
_BEFORE_CHECKPOINT = {LOCK, RESULTS, CHECKPOINT + ".tmp", REPORT, REPORT + ".tmp"}


def check_output(out: Path, also: Iterable[str] = ()) -> None:
    """Refuse an OUT that no run may write into: a file, or a directory without a
    checkpoint that holds results, or anything but a run's first files and the names in
    ``also`` (the input that ``dlq replay`` keeps there). Without this check a run wrote
    its files among the user's, and resuming truncated a ``dlq.jsonl`` it had not written."""
    if out.exists() and not out.is_dir():
        raise OutputMismatch(f"{out}: not a directory; --output names the directory the run "
                             "writes")
    if not out.is_dir() or (out / CHECKPOINT).exists():
        return
    allowed = _BEFORE_CHECKPOINT | set(also)
    with _writing(out):
        others = sorted(e.name for e in out.iterdir() if e.name not in allowed)
        results = out / RESULTS
        if results.is_dir() and any(results.iterdir()):
            raise OutputMismatch(f"{out}: has results but no checkpoint; choose an empty "
                                 "--output")
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise OutputMismatch(f"{out}: holds files of no run ({shown}); choose a new or "
                             "empty --output")


@contextmanager
def writing_alone(out: Path) -> Iterator[None]:
    """Hold OUT's lock (``OUT/.run.lock``, created with OUT) while writing into it. Two
    runs into one OUT at once wrote every dead letter twice; the second now stops at
    once. The lock goes with the process, however it ends, so a killed run's OUT resumes."""
    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OutputBusy(f"{out}: another process is writing into it; let it finish, "
                             "or choose another --output") from exc
        except OSError:  # a filesystem that cannot lock (some network and FUSE ones):
            pass  # the guard against a second run is lost there, not the run
        yield
    finally:
        os.close(fd)  # (and the lock with it)


def fingerprint(path: Path) -> list[list[Any]]:
    """Names, sizes and modification times of the input files."""
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in input_files(path)]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """Turn a failed write into OUT (disk full, permissions) into an OutputError."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the output: {exc}; the run stopped at its "
                          "last checkpoint and resumes from there once the cause is "
                          "removed") from exc


def _checksum(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _done(segment: Segment) -> bool:
    return segment.closed is not None and segment.closed.done()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# What a checkpoint written before a setting was recorded in it had: every part was
# written with zstd then.
_IDENTITY_BEFORE = {"compression": "zstd"}


class Job:
    """One ``run`` invocation over an output directory (new, interrupted or complete)."""

    def __init__(self, engine: Engine, config: JobConfig,
                 on_progress: Callable[[Progress], None] | None = None):
        self.engine = engine
        self.config = config
        self.out = config.output
        self.on_progress = on_progress or (lambda p: None)
        self.identity = {
            "format": FORMAT, "ruleset_version": engine.ruleset_version,
            "input": str(config.input.resolve()), "input_files": fingerprint(config.input),
            "checkpoint_every": config.checkpoint_every, "compression": config.compression,
        }
        self.state = State()

    # -- checkpoint ------------------------------------------------------
    def load_state(self) -> None:
        """Read OUT's checkpoint, or start fresh; refuse a checkpoint of another job."""
        path = self.out / CHECKPOINT
        if not path.exists():  # (check_output refused an OUT with results but no checkpoint)
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(saved, dict) and saved.get("format") not in (None, FORMAT):
                raise OutputMismatch(f"{path}: written by another pyengine version (checkpoint "
                                     f"format {saved['format']}); choose a new --output")
            body = {k: v for k, v in saved.items() if k != "checksum"}
            if saved["checksum"] != _checksum(body):
                raise ValueError("its checksum does not match its content")
            recorded = {**_IDENTITY_BEFORE, **saved}
            identity = {k: recorded[k] for k in self.identity}
            self.state = State(**saved["state"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OutputMismatch(f"{path}: damaged checkpoint ({exc}); the run cannot "
                                 "resume safely: choose a new --output") from exc
        if identity != self.identity:
            changed = [k for k in self.identity if identity[k] != self.identity[k]]
            raise OutputMismatch(f"{self.out}: holds a run with another {', '.join(changed)}; "
                                 "choose a new --output")
        self._check_outputs()

    def _check_outputs(self) -> None:
        """What the checkpoint says was written must still be there, or resuming would
        silently lose it."""
        for index in range(self.state.parts):
            part = self.out / RESULTS / f"part-{index:06d}.parquet"
            if not part.exists():
                raise OutputMismatch(f"{part}: missing, but the checkpoint counts it; the run "
                                     "cannot resume safely: choose a new --output")
        dlq = self.out / DLQ
        size = dlq.stat().st_size if dlq.exists() else 0
        if size < self.state.dlq_bytes:
            raise OutputMismatch(f"{dlq}: {size} bytes, but the checkpoint counts "
                                 f"{self.state.dlq_bytes}; the run cannot resume safely: "
                                 "choose a new --output")

    def save_state(self) -> None:
        """Replace the checkpoint (crash-safe), with a checksum that exposes hand edits."""
        doc: dict[str, Any] = {**self.identity, "state": self.state.__dict__}
        doc["checksum"] = _checksum(doc)
        _atomic_write(self.out / CHECKPOINT, (json.dumps(doc, indent=1) + "\n").encode())

    def clean_after_checkpoint(self) -> None:
        """Remove what a killed run wrote after its last checkpoint."""
        results = self.out / RESULTS
        for part in results.glob("part-*"):
            index = part.name.split("-")[1].split(".")[0]
            if not index.isdigit() or int(index) >= self.state.parts or part.suffix == ".tmp":
                part.unlink()
        dlq = self.out / DLQ
        if dlq.exists() and dlq.stat().st_size > self.state.dlq_bytes:
            with open(dlq, "r+b") as fh:
                fh.truncate(self.state.dlq_bytes)
                os.fsync(fh.fileno())

    # -- running ---------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run (or resume) to the end; returns the report."""
        inside = self.config.input.parent.resolve() == self.out.resolve()
        check_output(self.out, [self.config.input.name] if inside else [])
        with writing_alone(self.out):
            with _writing(self.out):
                (self.out / RESULTS).mkdir(exist_ok=True)
            self.load_state()
            if self.state.complete:
                return self.report()
            try:
                return self._run()
            except PyEngineError as exc:
                self._report_failure(exc)
                raise

    def _run(self) -> dict[str, Any]:
        with _writing(self.out):
            if not (self.out / CHECKPOINT).exists():
                # Claim OUT before writing any result: a run stopped before its first
                # segment's checkpoint must still resume here, not be refused.
                self.save_state()
            self.clean_after_checkpoint()
            (self.out / DLQ).touch()
        started = time.perf_counter()
        base_seconds = self.state.seconds
        progress = Progress(done=self.state.next_position, total=_total_records(self.config.input),
                            dead_letters=self.state.dead_letters)

        def commit(segment: Segment) -> None:
            assert segment.closed is not None
            with _writing(self.out):
                segment.closed.result()  # the part file is in place (or its write failed)
                self._commit_segment(segment)
                self.state.seconds = base_seconds + time.perf_counter() - started
                self.save_state()
            progress.done = self.state.next_position
            progress.dead_letters = self.state.dead_letters
            progress.elapsed = self.state.seconds
            self.on_progress(progress)

        # Each segment's part file is written on its own thread while the workers carry
        # on (several segments may be writing at once); checkpoints follow strictly in
        # segment order. ``slots`` bounds the chunk tables waiting for a writer.
        workers = self.config.workers
        slots = threading.BoundedSemaphore(2 * workers + 2)
        closing: deque[Segment] = deque()
        current: Segment | None = None
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="pyengine-worker") as pool:
                for index, work in self._ordered(pool):
                    if current is None or current.index != index:
                        if current is not None:
                            current.closed = current.part.close()
                            closing.append(current)
                        current = Segment(index, self._part_writer(index, slots))
                    current.add(work)
                    while closing and (len(closing) > workers or _done(closing[0])):
                        commit(closing.popleft())
                if current is not None:
                    current.closed = current.part.close()
                    closing.append(current)
                while closing:
                    commit(closing.popleft())
        except BaseException:
            # Nothing writes into OUT once the run has failed: a writer still going would
            # race the rerun that resumes there (in this process, for API users).
            for segment in [*closing, *([current] if current is not None else [])]:
                segment.part.abandon()
            raise
        self.state.seconds = base_seconds + time.perf_counter() - started
        self.state.complete = True
        report = self.report()
        with _writing(self.out):
            _atomic_write(self.out / REPORT, (json.dumps(report, indent=2) + "\n").encode())
            self.save_state()
        return report

    def _report_failure(self, exc: PyEngineError) -> None:
        """report.json says why the run stopped (best effort: the disk may be full)."""
        report = {**self.report(), "complete": False,
                  "error": {"kind": type(exc).__name__, "message": str(exc)}}
        with suppress(OSError):
            _atomic_write(self.out / REPORT, (json.dumps(report, indent=2) + "\n").encode())

    def _units(self) -> Iterator[tuple[int, Parsed]]:
        """(segment, records) pairs from the resume point on, cut at segment and chunk ends."""
        every = self.config.checkpoint_every
        chunk = min(self.config.chunk_rows, self.engine.compiled.max_chunk_rows)
        resume = self.state.next_position
        for item in read_input(self.config.input, chunk, dictionary_fields(self.engine.program)):
            start, rows = item.start, len(item)
            offset = max(0, resume - start)
            while offset < rows:
                position = start + offset
                segment = position // every
                end = min(rows, (segment + 1) * every - start, offset + chunk)
                yield segment, Parsed(position, _slice(item.batch, offset, end), item.source)
                offset = end

    def _ordered(self, pool: ThreadPoolExecutor) -> Iterator[tuple[int, ChunkOutput]]:
        """(segment, chunk output) in input order, evaluated with bounded look-ahead on the
        worker pool."""
        in_flight: deque[tuple[int, Future[ChunkOutput]]] = deque()
        limit = 2 * self.config.workers + 2
        compiled, layout = self.engine.compiled, self.engine.layout

        def drain(keep: int) -> Iterator[tuple[int, ChunkOutput]]:
            while len(in_flight) > keep:
                segment, work = in_flight.popleft()
                yield segment, work.result()

        for segment, item in self._units():
            in_flight.append((segment, pool.submit(
                process_chunk, compiled, layout, item.batch, item.start, item.source)))
            yield from drain(limit)
        yield from drain(0)

    def _part_writer(self, segment: int, slots: threading.Semaphore) -> PartWriter:
        return PartWriter(self.out / RESULTS / f"part-{segment:06d}.parquet",
                          self.engine.layout, slots, self.config.compression)

    def _commit_segment(self, segment: Segment) -> None:
        """After its part file: the segment's dead letters, then the new state."""
        letters = segment.letters  # chunks in input order, each in position order
        if letters:
            with open(self.out / DLQ, "ab") as fh:
                # ASCII JSON: valid whatever bytes the input held (invalid UTF-8 included).
                fh.write("".join(json.dumps(d) + "\n" for d in letters).encode("ascii"))
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(self.out / RESULTS)  # the part file's rename is durable
        st = self.state
        st.parts = segment.index + 1
        st.next_position = (segment.index + 1) * self.config.checkpoint_every
        st.dlq_bytes = (self.out / DLQ).stat().st_size
        st.count(segment.results, segment.decisions, letters)

    # -- report ----------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """report.json (CLI.md), with capacity projections against the SLA window."""
        st = self.state
        records = st.results + st.dead_letters
        seconds = max(st.seconds, 1e-9)
        tps = records / seconds
        limit = self.config.sla_seconds
        return {
            "input_records": records,
            "results": st.results,
            "dead_letters": st.dead_letters,
            "dead_letter_kinds": dict(sorted(st.dead_letter_kinds.items())),
            "decisions": st.decisions,
            "workers": self.config.workers,
            "wall_seconds": round(st.seconds, 3),
            "tps": round(tps, 1),
            "ruleset_version": self.engine.ruleset_version,
            "sla": {"limit_seconds": limit, "projected_seconds": round(st.seconds, 3),
                    "met": st.seconds <= limit},
            "capacity": {"records_per_hour": int(tps * 3600),
                         "records_per_12h_day": int(tps * 12 * 3600),
                         "records_per_sla_window": int(tps * limit)},
            "input": str(self.config.input),
            "output": str(self.out),
            "complete": st.complete,
        }


def _slice(batch: Batch, start: int, end: int) -> Any:
    if isinstance(batch, pa.RecordBatch):
        return batch.slice(start, end - start)
    return batch[start:end]


def _total_records(path: Path) -> int | None:
    """Records in the input when cheap to know (Parquet metadata), else None."""
    files = input_files(path)
    if not all(f.suffix == ".parquet" for f in files):
        return None
    total = 0
    for file in files:
        try:
            total += int(pq.ParquetFile(file).metadata.num_rows)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{file}: cannot be read: {exc}") from exc
    return total


def run_job(engine: Engine, config: JobConfig,
            on_progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    """Run or resume the job of ``config``; returns report.json's content."""
    return Job(engine, config, on_progress).run()
