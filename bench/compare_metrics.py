"""Compare two runs' ``metrics.json`` key by key: are the results of a refactoring identical?

A change that only reorganizes code must give the same numbers for the same seed
and recipe. This script flattens both files to dotted keys (lists by index) and
prints, per top-level key, how many values are identical, how many differ (with
the largest relative difference) and which keys only one file has. Timings,
dates and the environment record differ between any two runs and are left out.

    python bench/compare_metrics.py before/metrics.json after/metrics.json
    python bench/compare_metrics.py before/ after/ --json bench/results/x.json   # folders of notebook runs

Exit status 1 when a shared value differs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table  # noqa: E402

# values that differ between any two runs of the same computation: timings, throughputs, dates, the machine
VOLATILE_NAMES = ("date", "environment", "train_s", "generate_s")
VOLATILE_ENDINGS = ("seconds", " s", "_per_s", "per_second")


def flatten(obj, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b.0": 1, "a.b.1": 2}``."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


def volatile(key: str) -> bool:
    """A timing, a date or the environment record: not compared."""
    return any(part in VOLATILE_NAMES or part.endswith(VOLATILE_ENDINGS) for part in key.lower().split("."))


def rel_diff(a, b) -> float:
    """Relative difference of two numbers; ``inf`` for different non-numbers or a number against ``None``."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return 0.0 if type(a) is type(b) and a == b else math.inf  # strings, booleans, None (true is not 1)
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf  # a number against nan or inf
    return abs(a - b) / max(abs(a), abs(b))


def compare(before: dict, after: dict) -> list[dict]:
    """One row per top-level key: counts of identical, differing and one-sided values."""
    fa, fb = ({k: v for k, v in flatten(x).items() if not volatile(k)} for x in (before, after))
    rows = {}
    for key in sorted(set(fa) | set(fb)):
        top = key.split(".")[0]
        r = rows.setdefault(top, {"key": top, "identical": 0, "different": 0, "max_rel_diff": 0.0,
                                  "only_before": 0, "only_after": 0, "first_difference": ""})
        if key not in fb:
            r["only_before"] += 1
        elif key not in fa:
            r["only_after"] += 1
        else:
            d = rel_diff(fa[key], fb[key])
            if d == 0.0:
                r["identical"] += 1
            else:
                r["different"] += 1
                r["max_rel_diff"] = max(r["max_rel_diff"], d)
                r["first_difference"] = r["first_difference"] or f"{key}: {fa[key]!r} -> {fb[key]!r}"
    return list(rows.values())


def metrics_files(path: Path) -> dict[str, Path]:
    """``{name: metrics.json}``: the file itself, or every ``<run>/metrics.json`` under a folder."""
    if path.is_file():
        return {path.parent.name: path}
    return {p.parent.name: p for p in sorted(path.glob("*/metrics.json"))} or (
        {path.name: path / "metrics.json"} if (path / "metrics.json").is_file() else {})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    a, b = metrics_files(args.before), metrics_files(args.after)
    if not a or not b:
        ap.error("no metrics.json found")
    if args.before.is_file() and args.after.is_file():  # two files: compared whatever their folders are called
        pairs = [(args.after.parent.name, args.before, args.after)]
    else:  # folders of runs: the runs of the same name
        pairs = [(name, a[name], b[name]) for name in a if name in b]
        if not pairs:
            ap.error(f"no run name in both: {sorted(a)} and {sorted(b)}")
    record, failed = {}, False
    for name, pa, pb in pairs:
        rows = compare(json.loads(pa.read_text()), json.loads(pb.read_text()))
        failed |= any(r["different"] for r in rows)
        total = {k: sum(r[k] for r in rows) for k in ("identical", "different", "only_before", "only_after")}
        print_table(f"{name}: {total['identical']} identical, {total['different']} different, "
                    f"{total['only_before']} only before, {total['only_after']} only after",
                    ["key", "identical", "different", "max rel diff", "only before", "only after", "first difference"],
                    [[r["key"], r["identical"], r["different"], r["max_rel_diff"], r["only_before"], r["only_after"],
                      r["first_difference"][:80]] for r in rows])
        record[name] = {"before": str(pa), "after": str(pb), "totals": total, "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
