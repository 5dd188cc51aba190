"""The ``pyengine`` command line (see CLI.md).

Exit status: 0 success, 1 the job ran but failed, 2 bad usage or bad input.
A user mistake prints a message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pyengine import __version__
from pyengine.errors import BuildError, JvmError, PyEngineError, SpecError

Command = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyengine",
        description="Compile transaction rules to Java and run them from Python.",
    )
    parser.add_argument("--version", action="version", version=f"pyengine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build-rules", help="validate, generate Java and compile rules.jar",
                       description="Validate RULES_DIR, generate Java and compile it into "
                       "OUT/rules.jar with OUT/manifest.json. Unchanged rules do no work.")
    p.add_argument("rules_dir", metavar="RULES_DIR", type=Path)
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--builder", choices=("gradle", "javac"), default="gradle",
                   help="how to compile the generated Java (default: gradle)")
    p.set_defaults(func=cmd_build_rules)

    p = sub.add_parser("test-rules", help="run the tests: cases of every rule set",
                       description="Build RULES_DIR (cached) and run every tests: case on the "
                       "compiled rules and on the reference evaluator.")
    p.add_argument("rules_dir", metavar="RULES_DIR", type=Path)
    p.add_argument("--builder", choices=("gradle", "javac"), default="gradle")
    p.add_argument("-v", "--verbose", action="store_true", help="list every case")
    p.set_defaults(func=cmd_test_rules)

    p = sub.add_parser("schema", help="print the JSON Schema of a rule set file",
                       description="Print the JSON Schema of rule set files, for editors.")
    p.set_defaults(func=cmd_schema)
    return parser


def cmd_build_rules(args: argparse.Namespace) -> int:
    """``build-rules RULES_DIR --out DIR``."""
    from pyengine.build.builder import build_rules

    start = time.perf_counter()
    result = build_rules(args.rules_dir, args.out, args.builder)
    seconds = time.perf_counter() - start
    m = result.manifest
    what = {"none": "up to date", "cache": "copied from the build cache",
            "compiled": f"compiled with {args.builder}"}[result.work]
    print(f"{result.jar}: {len(m['rulesets'])} rule sets, "
          f"{sum(len(r['rules']) for r in m['rulesets'].values())} rules, "
          f"version {m['ruleset_version'][:12]} ({what}, {seconds:.2f} s)")
    return 0


def cmd_test_rules(args: argparse.Namespace) -> int:
    """``test-rules RULES_DIR``: N passed, M failed."""
    from pyengine.pipeline import compile_rules
    from pyengine.reference.evaluator import evaluate
    from pyengine.ruletests import run_cases

    start = time.perf_counter()
    compiled = compile_rules(args.rules_dir, builder=args.builder)
    program = compiled.program
    results = run_cases(program, {
        "java": compiled.evaluate,
        "reference": lambda txn: evaluate(program, txn),
    })
    failed = 0
    for case in results:
        label = f"{case.test.pos.path}:{case.test.pos.line}: {case.ruleset}: {case.test.name}"
        if case.passed:
            if args.verbose:
                print(f"PASSED {label}")
            continue
        failed += 1
        print(f"FAILED {label}")
        for engine, problems in case.problems.items():
            for problem in problems:
                print(f"    [{engine}] {problem}")
    passed = len(results) - failed
    print(f"{passed} passed, {failed} failed in {time.perf_counter() - start:.2f}s")
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    """``schema``: the JSON Schema of a rule set file."""
    from pyengine.spec.models import ruleset_json_schema

    print(json.dumps(ruleset_json_schema(), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyengine`` and ``python -m pyengine``."""
    args = _parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except SpecError as exc:
        print(exc.render(), file=sys.stderr)
        count = len(exc.diagnostics)
        print(f"{count} error{'s' if count != 1 else ''} in the rules", file=sys.stderr)
        return 2
    except (BuildError, JvmError) as exc:
        print(f"pyengine: error: {exc}", file=sys.stderr)
        return 1
    except PyEngineError as exc:
        print(f"pyengine: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("pyengine: interrupted", file=sys.stderr)
        return 130
