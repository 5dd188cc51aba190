"""Synthetic rules directories of any size, for build benchmarks."""

from __future__ import annotations

import random
from pathlib import Path

SCHEMA = """\
fields:
  id: string
  client_id: string
  amount: decimal(2)
  currency: string
  country: string
  mcc: int
  channel: string
  ts: timestamp
  account_age_days: int
  txn_count_24h: int
  vip: bool
  score: float
  note: string?
"""

_CONDITIONS = [
    "amount > {a}.00 && currency == \"{c}\"",
    "country in [\"{c2}\", \"IR\", \"KP\"] || score >= 0.{d}",
    "mcc == {m} && !vip",
    "txn_count_24h > {n} && account_age_days < {n2}",
    "ts.getHours() < {h} && channel == \"web\"",
    "has(note) && note.lowerAscii().contains(\"{w}\")",
    "double(amount) * score > {a}.0",
    "fees.bps >= {n} && amount < {a}.00",
]
_ACTIONS = ["approve", "flag", "review", "reject"]


def write_rules_dir(root: Path, sets: int, rules: int, seed: int = 7) -> Path:
    """Write ``sets`` rule sets of ``rules`` rules each (plus one fee table per set)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.yaml").write_text(SCHEMA, encoding="utf-8")
    for s in range(sets):
        lines = [f"ruleset: set{s:03d}", f"clients: [client{s:03d}]", "rules:"]
        for r in range(rules):
            cond = rng.choice(_CONDITIONS).format(
                a=rng.randint(1, 50000), c=rng.choice(["USD", "EUR", "GBP"]),
                c2=rng.choice(["RU", "BY", "NG"]), d=rng.randint(1, 9), m=rng.randint(1000, 9999),
                n=rng.randint(1, 100), n2=rng.randint(1, 1000), h=rng.randint(1, 23),
                w=rng.choice(["test", "refund", "gift"]))
            lines += [f"  - id: r{r:03d}", f"    when: '{cond}'",
                      f"    action: {rng.choice(_ACTIONS)}", f"    priority: {rng.randint(0, 5)}",
                      "    set:", f"      score_hint: {rng.randint(0, 100)}"]
        lines += ["tables:", "  - id: fees", "    hit: first", "    inputs: [channel, amount]",
                  "    outputs: {bps: int}", "    default: {bps: 0}", "    rows:",
                  "      - ['\"atm\"', '> 1000.00', 50]", "      - ['\"web\", \"pos\"', '-', 20]"]
        (root / f"set{s:03d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
