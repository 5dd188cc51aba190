"""Write faults on demand: a disk that fills up at the Nth write, a read-only OUT.

    python -m pyengine.reliability.faults [--records 200000] [--faults 12] [--seed 1]

A tiny ``LD_PRELOAD`` library (built here with the system C compiler, cached)
intercepts the C library's ``write`` family and ``open``/``mkdir``/``rename``
for paths under one directory, so the fault reaches every writer the same way:
Python's file objects, Arrow's Parquet writer, ``os.replace``. Nothing in
pyengine knows it is there. Running as root does not matter (a ``chmod`` would).

Environment of the faulty process:

- ``PYENGINE_FAULT_DIR``: the directory whose files are affected (absolute, real path);
- ``PYENGINE_FAULT_ENOSPC_AT=N``: the Nth write into it and every later one fail
  with ENOSPC, as on a disk that filled up;
- ``PYENGINE_FAULT_READONLY=1``: creating, opening for writing, renaming or
  removing anything under it fails with EACCES;
- ``PYENGINE_FAULT_COUNT_FILE``: where to write, at exit, how many writes it saw.

The harness (``main``) measures how many writes a clean run makes, then runs the
same job with ENOSPC injected at ``--faults`` write numbers spread over that
range (part files, dead letters, checkpoints, the report). Each faulty run must
stop with exit 1 and a one-line message, and never leave an OUT that resumes
wrongly: the rerun without the fault must end identical (content hashes) to
the clean run. Exit status 1 if any does not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pyengine.reliability.crash import Harness, digest

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *dir;
static size_t dirlen;
static long enospc_at = -1;
static int readonly;
static atomic_long writes;

__attribute__((constructor)) static void init(void) {
    dir = getenv("PYENGINE_FAULT_DIR");
    dirlen = dir ? strlen(dir) : 0;
    const char *n = getenv("PYENGINE_FAULT_ENOSPC_AT");
    if (n) enospc_at = atol(n);
    readonly = getenv("PYENGINE_FAULT_READONLY") != NULL;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("PYENGINE_FAULT_COUNT_FILE");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (f) { fprintf(f, "%ld\n", atomic_load(&writes)); fclose(f); }
}

static int under(const char *path) {
    char abs[8192];
    if (!dir || !path) return 0;
    if (path[0] != '/') {  /* relative: against the working directory */
        if (!getcwd(abs, sizeof abs - 1024)) return 0;
        strncat(abs, "/", 2);
        strncat(abs, path, 1020);
        path = abs;
    }
    return strncmp(path, dir, dirlen) == 0 && (path[dirlen] == '/' || path[dirlen] == 0);
}

static int fd_under(int fd) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) return 0;
    target[n] = 0;
    return under(target);
}

/* True when this write into the directory must fail: the disk is full from the Nth on. */
static int full(int fd) {
    if (!dir || !fd_under(fd)) return 0;
    long n = atomic_fetch_add(&writes, 1) + 1;
    return enospc_at > 0 && n >= enospc_at;
}

#define REAL(name) static __typeof__(name) *real; if (!real) real = dlsym(RTLD_NEXT, #name)
#define DENY(cond, err) if (cond) { errno = err; return -1; }
#define WRITING(flags) (((flags) & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write); DENY(full(fd), ENOSPC); return real(fd, buf, n);
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite); DENY(full(fd), ENOSPC); return real(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64); DENY(full(fd), ENOSPC); return real(fd, buf, n, off);
}
ssize_t writev(int fd, const struct iovec *iov, int count) {
    REAL(writev); DENY(full(fd), ENOSPC); return real(fd, iov, count);
}
int open(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = va_arg(ap, mode_t); va_end(ap);
    REAL(open); DENY(readonly && WRITING(flags) && under(path), EACCES);
    return real(path, flags, mode);
}
int open64(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = va_arg(ap, mode_t); va_end(ap);
    REAL(open64); DENY(readonly && WRITING(flags) && under(path), EACCES);
    return real(path, flags, mode);
}
int openat(int at, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t mode = va_arg(ap, mode_t); va_end(ap);
    REAL(openat); DENY(readonly && WRITING(flags) && under(path), EACCES);
    return real(at, path, flags, mode);
}
int mkdir(const char *path, mode_t mode) {
    REAL(mkdir); DENY(readonly && under(path), EACCES); return real(path, mode);
}
int rename(const char *from, const char *to) {
    REAL(rename); DENY(readonly && (under(from) || under(to)), EACCES); return real(from, to);
}
int unlink(const char *path) {
    REAL(unlink); DENY(readonly && under(path), EACCES); return real(path);
}
int truncate(const char *path, off_t size) {
    REAL(truncate); DENY(readonly && under(path), EACCES); return real(path, size);
}
"""


def shim() -> Path:
    """The fault library, compiled once per source version (needs ``cc``)."""
    key = hashlib.sha256(SHIM.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyengine"
    lib = cache / f"faults-{key}.so"
    if lib.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "faults.c"
        source.write_text(SHIM)
        built = Path(tmp) / lib.name
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(built), str(source), "-ldl"],
                       check=True)
        os.replace(built, lib)
    return lib


def fault_env(directory: Path, *, enospc_at: int | None = None, readonly: bool = False,
              count_file: Path | None = None) -> dict[str, str]:
    """The environment of a process whose writes under ``directory`` fail as asked."""
    env = {**os.environ, "LD_PRELOAD": str(shim()),
           "PYENGINE_FAULT_DIR": os.path.realpath(directory)}
    if enospc_at is not None:
        env["PYENGINE_FAULT_ENOSPC_AT"] = str(enospc_at)
    if readonly:
        env["PYENGINE_FAULT_READONLY"] = "1"
    if count_file is not None:
        env["PYENGINE_FAULT_COUNT_FILE"] = str(count_file)
    return env


def _one_line_error(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith("pyengine: error: ")


class FaultRun:
    """The ENOSPC sweep over one job (the crash harness's input and command)."""

    def __init__(self, harness: Harness):
        self.harness = harness
        self.work = harness.work

    def count_writes(self) -> int:
        """Writes a clean run makes into OUT (the sweep's range)."""
        out = self.work / "counted"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        counter = self.work / "writes.txt"
        subprocess.run(self.harness.command(out, 2), check=True,
                       env=fault_env(out, count_file=counter))
        return int(counter.read_text())

    def fault_at(self, nth: int) -> str | None:
        """ENOSPC from the ``nth`` write on, then a rerun with room; None if all is well,
        else what went wrong."""
        out = self.work / f"enospc-{nth}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        faulty = subprocess.run(self.harness.command(out, 2), capture_output=True, text=True,
                                env=fault_env(out, enospc_at=nth))
        if faulty.returncode != 1 or not _one_line_error(faulty.stderr):
            return f"write {nth}: exit {faulty.returncode}, stderr {faulty.stderr[-500:]!r}"
        if "No space left on device" not in faulty.stderr:
            return f"write {nth}: the message does not say why: {faulty.stderr!r}"
        again = subprocess.run(self.harness.command(out, 2), capture_output=True, text=True)
        if again.returncode != 0:
            return f"write {nth}: the rerun failed: {again.stderr[-500:]!r}"
        return None


def main(argv: list[str] | None = None) -> int:
    """Run the ENOSPC sweep; exit 1 if any faulty run misbehaved or resumed wrongly."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.reliability.faults")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--faults", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--work", type=Path, default=Path("fault-test-work"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    harness = Harness(args.rules, args.work, args.records, kills=10, seed=args.seed)
    harness.prepare()
    clean = harness.clean_run()
    sweep = FaultRun(harness)
    total = sweep.count_writes()
    rng = random.Random(args.seed)
    # The first writes (checkpoint, DLQ, first part) and the last (report) are always tried.
    points = sorted({1, 2, 3, total} | {rng.randint(1, total) for _ in range(args.faults)})
    problems = []
    for nth in points:
        problem = sweep.fault_at(nth)
        if problem is None and digest(args.work / f"enospc-{nth}") != clean:
            problem = f"write {nth}: the resumed output differs from the clean run"
        if problem:
            problems.append(problem)
    print(f"{args.records:,} records, {total:,} writes into OUT per run: ENOSPC injected at "
          f"{len(points)} of them ({', '.join(map(str, points))})")
    print(f"{len(points) - len(problems)} stopped with exit 1 and a one-line error, then "
          f"resumed IDENTICAL to the clean run; {len(problems)} did not "
          f"({time.monotonic() - started:.0f} s)")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
