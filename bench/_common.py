"""Shared bits of the benchmark scripts: the result table, the JSON record and the per-run cache."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from mdlstm_utils.runtime import environment_info

RESULTS = Path(__file__).resolve().parent / "results"


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    """Print a plain-text table."""
    cells = [[str(c) for c in header]] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def result_path(name: str, device) -> Path:
    """``bench/results/<name>.json`` for a CPU run, ``<name>-cuda.json`` for a GPU run (both kept side by side)."""
    kind = getattr(device, "type", str(device).split(":")[0])
    return RESULTS / (f"{name}.json" if kind == "cpu" else f"{name}-{kind}.json")


def write_json(name: str, device, rows: list[dict]) -> Path:
    """Write :func:`result_path` with the date and the environment."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = result_path(name, device)
    record = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "environment": environment_info(device), "results": rows}
    path.write_text(json.dumps(record, indent=2))
    return path


def cached_runs(path: Path) -> dict:
    """The runs cached in the JSON-lines file ``path``, by their ``"key"`` (empty when there is no file)."""
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["key"]: r for r in rows}


def cache_run(path: Path, row: dict) -> None:
    """Append ``row`` to the JSON-lines cache ``path`` unless a run of its ``"key"`` is there already, so that
    an interrupted benchmark resumes where it stopped."""
    if row["key"] in cached_runs(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")
