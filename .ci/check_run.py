"""Check what `make run` produced: every notebook ran, has an offline HTML page with figures, and the index links them.

Usage: python .ci/check_run.py RUNS_DIR   (exit 1 and a line per problem when something is missing)
"""

import json
import sys
from pathlib import Path

from mdlstm_utils.report.site import remote_assets


def problems(runs: Path) -> list[str]:
    out = []
    index = runs / "index.html"
    summary_file = runs / "summary.json"
    if not index.is_file() or not summary_file.is_file():
        return [f"no {index} or {summary_file}"]
    summary = json.loads(summary_file.read_text())
    index_html = index.read_text(encoding="utf-8")
    for nb in sorted(Path("notebooks").glob("[0-9][0-9]_*.ipynb")):
        entry = summary.get(nb.stem)
        if entry is None or entry["status"] != "ok":
            out.append(f"{nb.stem}: did not run ({entry})")
            continue
        page = runs / entry.get("html", "")
        if not page.is_file():
            out.append(f"{nb.stem}: no HTML page")
            continue
        text = page.read_text(encoding="utf-8")
        if "<img" not in text:
            out.append(f"{nb.stem}: its page shows no figure")
        if remote_assets(text):
            out.append(f"{nb.stem}: its page loads a script or stylesheet from the network")
        if entry["html"] not in index_html:
            out.append(f"{nb.stem}: the index does not link its page")
    if remote_assets(index_html):
        out.append("index.html loads a script or stylesheet from the network")
    return out


if __name__ == "__main__":
    found = problems(Path(sys.argv[1] if len(sys.argv) > 1 else "runs"))
    for p in found:
        print("FAIL:", p)
    print("make run output:", "OK" if not found else f"{len(found)} problem(s)")
    sys.exit(1 if found else 0)
