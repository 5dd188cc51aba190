"""The crash harness: kill ``run`` with SIGKILL again and again; the output must not notice.

    python -m pyengine.reliability.crash [--records 2000000] [--kills 50] [--seed 1]
                                         [--rules examples/rules] [--work DIR]

It generates an input (0.1% bad records), runs it once uninterrupted, then runs the
same command on a second output, killing it ``--kills`` times: some at a random moment
after the attempt has made progress, some while a part file is being written
(``results/*.tmp`` exists), some while the checkpoint is being replaced
(as soon as ``checkpoint.json.tmp`` is seen). Each attempt resumes where the last checkpoint
left off. A last attempt runs to the end, and its results, dead letters and counters
must be identical (content hashes) to the uninterrupted run. Exit status 1 if not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

MOMENTS = ("after progress", "during a part write", "at a checkpoint write")


def digest(out: Path) -> dict[str, str]:
    """Content hashes of what a run leaves: part files, dead letters, counters."""
    hashes = {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
              for f in sorted((out / "results").glob("part-*.parquet"))}
    hashes["dlq.jsonl"] = hashlib.sha256((out / "dlq.jsonl").read_bytes()).hexdigest()
    report = json.loads((out / "report.json").read_text())
    counters = {k: report[k] for k in ("input_records", "results", "dead_letters",
                                       "decisions", "dead_letter_kinds", "ruleset_version")}
    hashes["report counters"] = hashlib.sha256(
        json.dumps(counters, sort_keys=True).encode()).hexdigest()
    return hashes


class Harness:
    """One harness session in a work directory."""

    def __init__(self, rules: Path, work: Path, records: int, kills: int, seed: int):
        self.rules, self.work, self.records, self.kills = rules, work, records, kills
        self.rng = random.Random(seed)
        self.source = work / "input.parquet"
        # Small segments: each attempt gets a few checkpoints done before it is killed.
        self.every = max(1_000, records // (2 * kills + 2))

    def command(self, out: Path, workers: int) -> list[str]:
        return [sys.executable, "-m", "pyengine", "run", "--rules", str(self.rules),
                "--input", str(self.source), "--output", str(out), "--quiet",
                "--workers", str(workers), "--checkpoint-every", str(self.every),
                "--chunk-size", str(min(self.every, 8_192)), "--builder", "javac"]

    def prepare(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        if not self.source.exists():
            subprocess.run([sys.executable, "-m", "pyengine", "generate", "--count",
                            str(self.records), "--out", str(self.source), "--seed", "7",
                            "--bad-fraction", "0.001"], check=True, stdout=subprocess.DEVNULL)

    def clean_run(self) -> dict[str, str]:
        out = self.work / "clean"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(self.command(out, 2), check=True)
        return digest(out)

    def killed_run(self) -> tuple[dict[str, str], Counter[str], int]:
        """Kill attempts until --kills kills landed; then finish. (digest, kills, attempts)"""
        out = self.work / "killed"
        shutil.rmtree(out, ignore_errors=True)
        kills: Counter[str] = Counter()
        attempts = 0
        while sum(kills.values()) < self.kills:
            attempts += 1
            proc = subprocess.Popen(self.command(out, self.rng.choice([1, 2])))
            landed = self._kill_at(proc, out, self.rng.choice(MOMENTS))
            if landed is not None:
                kills[landed] += 1
            elif proc.returncode == 0 and _complete(out):
                break  # the run finished before a kill landed: nothing left to interrupt
        final = subprocess.run(self.command(out, 2))
        if final.returncode != 0:
            raise SystemExit(f"the final resume failed with exit {final.returncode}")
        return digest(out), kills, attempts

    def _kill_at(self, proc: subprocess.Popen[Any], out: Path, moment: str) -> str | None:
        """Kill ``proc`` at ``moment``: the moment it was killed at (after progress, when
        the file a moment watches for did not show in time), None if it ended first."""
        start_position = checkpoint_position(out)
        deadline = time.monotonic() + 120
        # Wait for this attempt's first checkpoint (a fresh OUT starts with one at 0).
        while (position := checkpoint_position(out)) <= max(start_position, 0):
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.001)
        # Moments are drawn from what is left of the run, at the pace it is going: a
        # fixed window would come after the end of a fast run.
        left = seconds_left(proc, out, self.records, since=(position, time.monotonic()))
        if left is None:
            return None
        window = time.monotonic() + self.rng.uniform(0.0, 0.8) * left
        if moment == "after progress":
            time.sleep(max(0.0, window - time.monotonic()))
        else:
            pattern = "results/*.tmp" if moment == "during a part write" else "*.json.tmp"
            while not any(out.glob(pattern)):
                if proc.poll() is not None:
                    return None
                if time.monotonic() > window:
                    moment = "after progress"
                    break
        if proc.poll() is not None:
            return None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return moment


def seconds_left(proc: subprocess.Popen[Any], out: Path, records: int,
                 since: tuple[int, float] | None = None,
                 timeout: float = 120.0) -> float | None:
    """How long ``proc``'s run into ``out`` still needs for its ``records``, at its pace
    between two checkpoints: ``since`` (a checkpoint's position and when it was seen)
    and the next, or the next two (the first one seen may come after start-up, which
    says nothing of the pace). None if the run ended first (or made no checkpoint for
    ``timeout`` seconds)."""
    marks = [since] if since is not None else []
    seen, start = checkpoint_position(out), time.monotonic()
    while len(marks) < 2:
        if proc.poll() is not None or time.monotonic() - start > timeout:
            return None
        now = checkpoint_position(out)
        if now > seen:
            seen = now
            marks.append((now, time.monotonic()))
        time.sleep(0.001)
    (first, t1), (second, t2) = marks
    return (t2 - t1) / (second - first) * (records - second)


def checkpoint_position(out: Path) -> int:
    """Where the run into ``out`` will resume (its checkpoint's next position), -1 when
    there is no checkpoint (or it is being replaced this very moment)."""
    try:
        return int(json.loads((out / "checkpoint.json").read_text())["state"]["next_position"])
    except (OSError, ValueError, KeyError):
        return -1


def _complete(out: Path) -> bool:
    try:
        return bool(json.loads((out / "checkpoint.json").read_text())["state"]["complete"])
    except (OSError, ValueError, KeyError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the harness; exit 1 if the killed run's output differs from the clean one."""
    parser = argparse.ArgumentParser(prog="python -m pyengine.reliability.crash")
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", type=Path, default=Path("examples/rules"))
    parser.add_argument("--work", type=Path, default=Path("crash-test-work"))
    args = parser.parse_args(argv)
    harness = Harness(args.rules, args.work, args.records, args.kills, args.seed)
    started = time.monotonic()
    harness.prepare()
    clean = harness.clean_run()
    killed, kills, attempts = harness.killed_run()
    same = killed == clean
    print(f"{args.records:,} records, checkpoint every {harness.every:,}: "
          f"{sum(kills.values())} kills in {attempts} attempts "
          f"({', '.join(f'{n} {m}' for m, n in sorted(kills.items()))}), then resumed to the end")
    print(f"results, dead letters and counters {'IDENTICAL to' if same else 'DIFFER from'} "
          f"the uninterrupted run ({len(clean) - 2} part files compared by sha256) "
          f"in {time.monotonic() - started:.0f} s")
    if not same:
        for name in sorted(set(clean) | set(killed)):
            if clean.get(name) != killed.get(name):
                print(f"  differs: {name}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
