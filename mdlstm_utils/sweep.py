"""Headless execution of the tutorial notebooks with papermill.

``python -m mdlstm_utils.sweep suite`` runs every notebook in ``notebooks/``
with the given profile, writes each executed notebook and its ``metrics.json``
under ``runs/<notebook>/``, renders the executed notebooks to HTML and writes
an ``index.html`` that links them, so the results can be read in a browser
without a kernel.

Each notebook takes the parameters ``profile``, ``device``, ``seed`` and
``out_dir`` (where it writes ``metrics.json`` and its figures).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import time
from pathlib import Path

__all__ = ["execute_notebook", "read_metrics", "run_suite", "main"]

PROFILES = ("smoke", "full")


def execute_notebook(
    notebook: str | Path,
    out_dir: str | Path,
    parameters: dict | None = None,
    *,
    kernel: str = "python3",
    progress: bool = True,
) -> Path:
    """Execute one notebook with papermill; return the path of the executed copy.

    The executed notebook is written to ``out_dir/<name>.ipynb`` and the
    notebook is told to put its outputs into ``out_dir`` (parameter ``out_dir``).
    The notebook runs with its own folder as working directory. A failing cell
    raises ``papermill.PapermillExecutionError``; the executed notebook, with
    the error in it, is still written.
    """
    import papermill as pm

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    params.setdefault("out_dir", str(out_dir))
    if "profile" in params and params["profile"] not in PROFILES:
        raise ValueError(f"profile={params['profile']!r}; expected one of {PROFILES}")
    out_nb = out_dir / notebook.name
    pm.execute_notebook(
        str(notebook),
        str(out_nb),
        parameters=params,
        kernel_name=kernel,
        cwd=str(notebook.parent),
        progress_bar=progress,
    )
    return out_nb


def read_metrics(out_dir: str | Path) -> dict:
    """The ``metrics.json`` a notebook wrote into ``out_dir``."""
    path = Path(out_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {out_dir}: did the notebook run to its end?")
    return json.loads(path.read_text())


def _to_html(nb_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    out = nb_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def run_suite(
    notebooks_dir: str | Path = "notebooks",
    out_dir: str | Path = "runs",
    *,
    profile: str = "full",
    device: str = "auto",
    seed: int = 0,
    only: list[str] | None = None,
    render_html: bool = True,
) -> dict[str, dict]:
    """Execute every notebook (or those whose name starts with an entry of ``only``).

    A failing notebook is reported and the others still run. Returns
    ``{notebook name: {"status": "ok"|"failed", "seconds": ..., "error": ...}}``
    and writes it to ``out_dir/summary.json``.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; expected one of {PROFILES}")
    notebooks = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in only)]
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks found in {notebooks_dir} (filter: {only})")
    out_dir = Path(out_dir)
    summary: dict[str, dict] = {}
    for nb in notebooks:
        run_dir = out_dir / nb.stem
        print(f"[{time.strftime('%H:%M:%S')}] {nb.name} (profile={profile}) -> {run_dir}/", flush=True)
        t0 = time.perf_counter()
        entry: dict = {}
        try:
            executed = execute_notebook(nb, run_dir, {"profile": profile, "device": device, "seed": seed})
            entry["status"] = "ok"
        except Exception as exc:  # keep going: one broken notebook must not hide the others
            executed = run_dir / nb.name
            entry["status"] = "failed"
            entry["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            print(f"    FAILED: {entry['error']}", flush=True)
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        if render_html and executed.is_file():
            entry["html"] = str(_to_html(executed).relative_to(out_dir))
        summary[nb.stem] = entry
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if render_html:
        rows = "\n".join(
            f"<tr><td><a href='{html.escape(e.get('html', ''))}'>{html.escape(k)}</a></td>"
            f"<td>{e['status']}</td><td>{e['seconds']}</td></tr>"
            for k, e in summary.items()
        )
        (out_dir / "index.html").write_text(
            "<html><head><meta charset='utf-8'><title>mdlstm runs</title></head><body>"
            f"<h1>mdlstm: executed notebooks (profile={html.escape(profile)})</h1>"
            "<table border=1 cellpadding=4><tr><th>notebook</th><th>status</th><th>seconds</th></tr>"
            f"{rows}</table></body></html>",
            encoding="utf-8",
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdlstm_utils.sweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("suite", help="execute every tutorial notebook headless")
    s.add_argument("--notebooks", default="notebooks")
    s.add_argument("--out", default="runs")
    s.add_argument("--profile", default="full", choices=PROFILES)
    s.add_argument("--device", default="auto")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--only", nargs="*", help="run only notebooks whose names start with these prefixes")
    s.add_argument("--no-html", action="store_true")
    args = parser.parse_args(argv)
    summary = run_suite(
        args.notebooks,
        args.out,
        profile=args.profile,
        device=args.device,
        seed=args.seed,
        only=args.only,
        render_html=not args.no_html,
    )
    failed = [k for k, e in summary.items() if e["status"] != "ok"]
    print(f"{len(summary) - len(failed)} notebook(s) ok, {len(failed)} failed; see {args.out}/index.html")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
