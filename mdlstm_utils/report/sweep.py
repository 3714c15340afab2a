"""Headless execution of the tutorial notebooks with papermill: the whole suite, and parameter sweeps.

``python -m mdlstm_utils.report.sweep grid grid.yaml`` expands a YAML grid into
papermill runs (see :func:`load_grid` for the format). Each run writes its
executed notebook and ``metrics.json`` under ``runs/<sweep-name>/<run-id>/``.
Runs execute in a local process pool, or on a Dask cluster when a scheduler
address is given. A failing run keeps its executed notebook (with the error)
and an ``error.txt``, and does not stop the others; running the sweep again
skips the runs whose ``metrics.json`` exists and re-does the failed ones.
:func:`aggregate` turns the metrics of a sweep into one tidy table.

``python -m mdlstm_utils.report.sweep suite`` (what ``make run`` calls) runs every
notebook in ``notebooks/`` with the given profile (``smoke``, ``quick`` or
``full``), writes each executed notebook, its ``metrics.json`` and its figures
under ``runs/<notebook>/``, and builds the documentation site from them into
``runs/`` (:func:`mdlstm_utils.report.site.build_site`): ``runs/index.html``, a
landing page with a card per notebook, and an offline page per executed
notebook, so the results can be read in a browser without a kernel.

Each notebook takes the parameters ``profile``, ``device``, ``seed`` and
``out_dir`` (where it writes ``metrics.json`` and its figures).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import importlib
import json
import multiprocessing
import os
import re
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from mdlstm_utils.report.site import STAGE_DIR, build_site, read_json_object
from mdlstm_utils.runtime import PROFILES

__all__ = [
    "find_notebook",
    "execute_notebook",
    "read_metrics",
    "run_suite",
    "Sweep",
    "load_grid",
    "expand_grid",
    "run_sweep",
    "aggregate",
    "summarize",
    "main",
]


def find_notebook(name: str | Path) -> Path:
    """The path of a notebook of the suite, e.g. ``"sweeps/three_factors_run.ipynb"``.

    Looked up as given (relative to the working directory), then under
    ``notebooks/`` of the working directory, then under the ``notebooks/``
    folder next to this package (the repository checkout), so a notebook finds
    its companions whether it runs from ``notebooks/``, from the repository
    root or elsewhere.
    """
    name = Path(name)
    candidates = [name, Path("notebooks") / name, Path(__file__).resolve().parents[2] / "notebooks" / name]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise FileNotFoundError(f"notebook {name} not found; looked at {', '.join(str(c) for c in candidates)}")


def declared_parameters(notebook: str | Path) -> dict[str, dict]:
    """The parameters a notebook declares in its cell tagged ``parameters`` (papermill's reading of it).

    Returns ``{name: {"default": ..., "help": ...}}``. Raises ``ValueError``
    when the notebook has no such cell.
    """
    import papermill as pm

    declared = pm.inspect_notebook(str(notebook))
    if not declared:
        raise ValueError(f"{notebook} has no cell tagged 'parameters' (or papermill cannot read it)")
    return declared


def check_parameters_known(notebook: str | Path, parameters: dict) -> None:
    """Raise ``ValueError`` before any work when ``parameters`` names one the notebook does not declare.

    A misspelled ``-p n_epoch 5`` would otherwise be injected as an unused
    variable and silently ignored.
    """
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(
            f"{Path(notebook).name} does not declare the parameter(s) {unknown}; "
            f"it declares: {', '.join(declared)}"
        )
    if "profile" in parameters and parameters["profile"] not in PROFILES:
        raise ValueError(f"profile={parameters['profile']!r}; expected one of {PROFILES}")


# The kernel inherits this process's environment. A non-interactive backend there (``MPLBACKEND=Agg``, as
# a test runner sets it) would keep the figures out of the executed notebook, so the kernel always gets
# the inline backend, which stores every figure as an output.
_KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}


# The kernel's own start-up warning about unencrypted TCP on localhost is noise in every run; errors still show.
_KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


@contextlib.contextmanager
def _kernel_environment():
    saved = {k: os.environ.get(k) for k in _KERNEL_ENV}
    os.environ.update(_KERNEL_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    The notebook runs with its own folder as working directory and with
    matplotlib's inline backend, so its figures are kept as outputs. A
    parameter the notebook does not declare raises ``ValueError`` before
    anything runs. A failing cell raises
    ``papermill.PapermillExecutionError``; the executed notebook, with the
    error in it, is still written.
    """
    import papermill as pm

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook at {notebook}")
    out_dir = Path(out_dir).resolve()
    params = dict(parameters or {})
    params.setdefault("out_dir", str(out_dir))
    check_parameters_known(notebook, params)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / notebook.name
    with _kernel_environment():
        pm.execute_notebook(
            str(notebook),
            str(out_nb),
            parameters=params,
            kernel_name=kernel,
            cwd=str(notebook.parent),
            progress_bar=progress,
            extra_arguments=_KERNEL_ARGS,
        )
    return out_nb


def read_metrics(out_dir: str | Path) -> dict:
    """The ``metrics.json`` a notebook wrote into ``out_dir``."""
    path = Path(out_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {out_dir}: did the notebook run to its end?")
    return json.loads(path.read_text())


def run_suite(
    notebooks_dir: str | Path = "notebooks",
    out_dir: str | Path = "runs",
    *,
    profile: str = "quick",
    device: str = "auto",
    seed: int = 0,
    only: list[str] | None = None,
    render_html: bool = True,
    jobs: int | None = None,
    resume: bool = False,
) -> dict[str, dict]:
    """Execute every numbered notebook (or those whose name starts with an entry of ``only``).

    Each notebook runs into ``out_dir/<notebook>/``. A failing notebook is
    reported and the others still run. ``jobs`` notebooks run at once, each
    kernel with ``cores // jobs`` CPU threads (``None``: 2 on a machine with
    at least 2 cores and no GPU, else 1). The small models of the suite do not
    run faster on 2 threads than on 1 (measured on 2 cores: 46 and 50 ms per
    LSTM step), so 2 notebooks at once use both cores. With ``render_html`` the
    documentation site is built from ``out_dir`` into ``out_dir`` itself
    (:func:`mdlstm_utils.report.site.build_site`): ``out_dir/index.html``, a landing page
    with a card per notebook, and a page per executed notebook under
    ``out_dir/notebooks/`` (without the API reference, which ``make docs`` adds). Returns
    ``{notebook name: {"status": "ok"|"failed", "seconds": ..., "error": ..., "html": ...}}``
    (``html``: the notebook's page relative to ``out_dir``) and writes it to
    ``out_dir/summary.json``; a site that Sphinx cannot build raises ``RuntimeError``
    after that file is written.

    With ``resume`` a notebook whose run folder already holds a ``metrics.json`` of the same
    profile and seed is not executed again (its entry keeps status ``"ok"`` and its earlier
    time, with ``"skipped": true``), so that a long suite (``full`` on a laptop) can be run in
    pieces: stop it, start it again with ``resume``, and only what is missing runs. Without it
    every selected notebook runs again.
    Either way ``summary.json`` keeps the entries of notebooks that this call did not select,
    so that ``only`` adds to an earlier run instead of hiding it from the site.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; expected one of {PROFILES}")
    notebooks = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in only)]
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks found in {notebooks_dir} (filter: {only})")
    out_dir = Path(out_dir).resolve()
    notebooks = [nb.resolve() for nb in notebooks]
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    # entries of an earlier summary.json whose run folder still exists: kept beside this call's
    earlier = {k: v for k, v in read_json_object(out_dir / "summary.json").items()
               if isinstance(v, dict) and (out_dir / k).is_dir()}
    done = {}
    for nb in notebooks if resume else []:
        entry = _finished_entry(out_dir / nb.stem, earlier.get(nb.stem), profile, seed)
        if entry is not None:
            done[nb.stem] = entry
            print(f"{nb.stem}: finished run of profile={profile} seed={seed} in {out_dir / nb.stem}/, skipped",
                  flush=True)
    notebooks = [nb for nb in notebooks if nb.stem not in done]
    jobs = max(1, min(jobs, len(notebooks)))
    kw = dict(profile=profile, device=device, seed=seed)
    if not notebooks:
        summary = {}
    elif jobs == 1:
        summary = {nb.stem: _run_suite_notebook(nb, out_dir / nb.stem, **kw) for nb in notebooks}
    else:
        # one process per notebook: papermill changes the working directory of its process while a notebook
        # runs, so notebooks in threads of one process would race on it. Each kernel's torch and BLAS get
        # cores // jobs threads, unless the user chose.
        this = importlib.import_module("mdlstm_utils.report.sweep")  # by name, so that a spawned worker can unpickle it under `-m`

        n = str(max(1, (os.cpu_count() or 1) // jobs))
        env = {k: os.environ.get(k, n) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futs = [pool.submit(this._run_suite_notebook, nb, out_dir / nb.stem, progress=False, env=env, **kw)
                    for nb in notebooks]
            summary = {nb.stem: f.result() for nb, f in zip(notebooks, futs)}
    summary = dict(sorted({**earlier, **done, **summary}.items()))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))  # the site's cards read it
    if render_html:
        build_site(out_dir, out_dir, api=False)  # quick to build; `make docs` adds the API reference
        for stem, entry in summary.items():
            if (out_dir / STAGE_DIR / f"{stem}.html").is_file():
                entry["html"] = f"{STAGE_DIR}/{stem}.html"
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _finished_entry(run_dir: Path, earlier: dict | None, profile: str, seed: int) -> dict | None:
    """The summary entry of a finished run of this profile and seed in ``run_dir``, else None."""
    m = read_json_object(run_dir / "metrics.json")  # {} when missing or broken: not finished
    if m.get("profile") != profile or m.get("seed") != seed:
        return None
    seconds = (earlier or {}).get("seconds", (m.get("environment") or {}).get("wall_seconds"))
    return {"status": "ok", "seconds": seconds, "skipped": True}


def default_jobs() -> int:
    """Notebooks :func:`run_suite` runs at once by default: 2 on a CPU-only machine with 2 or more cores, else 1."""
    import torch

    return 1 if torch.cuda.is_available() or (os.cpu_count() or 1) < 2 else 2


def _run_suite_notebook(nb: Path, run_dir: Path, *, profile: str, device: str, seed: int, progress: bool = True,
                        env: dict | None = None) -> dict:
    """Execute one notebook of the suite; never raises: returns its status entry.

    ``env`` is set in this process first (for a worker process of :func:`run_suite`).
    """
    os.environ.update(env or {})
    print(f"[{time.strftime('%H:%M:%S')}] {nb.name} (profile={profile}) -> {run_dir}/", flush=True)
    t0 = time.perf_counter()
    entry: dict = {}
    try:
        execute_notebook(nb, run_dir, {"profile": profile, "device": device, "seed": seed}, progress=progress)
        entry["status"] = "ok"
    except Exception as exc:  # keep going: one broken notebook must not hide the others
        text = str(exc).strip()
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}"
        print(f"    FAILED: {entry['error']}", flush=True)
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"    {entry['status']} in {entry['seconds']} s", flush=True)
    return entry


@dataclass
class Sweep:
    """A parameter sweep over one notebook.

    Attributes
    ----------
    name
        Sweep name: the folder ``<out>/<name>/`` holds its runs.
    notebook
        Path of the notebook (relative paths are taken from the YAML file's folder).
    parameters
        Fixed parameters given to every run.
    grid
        ``{parameter: [values...]}``: the runs are the Cartesian product.
    seeds
        Seeds; each grid point runs once per seed (parameter ``seed``).
    out
        Root folder of the sweep's output.
    """

    name: str
    notebook: Path
    parameters: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    seeds: list = field(default_factory=lambda: [0])
    out: Path = Path("runs")

    @property
    def folder(self) -> Path:
        return Path(self.out) / self.name


_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def load_grid(path: str | Path) -> Sweep:
    """Read a sweep from a YAML file.

    The file names the sweep, its notebook, fixed parameters, the grid and the seeds::

        name: dt-vs-model              # folder name under `out`
        notebook: ../notebooks/01_toy_potentials.ipynb
        out: ../runs                   # optional, default "runs" (relative to this file)
        parameters: {profile: smoke}   # fixed for every run
        grid:                          # Cartesian product of these lists
          save_every: [25, 50, 100]
          n_bins: [20, 40]
        seeds: [0, 1, 2]
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep file at {path}")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise ValueError(f"{path} must hold a mapping with keys name, notebook, grid, ...")
    unknown = set(spec) - {"name", "notebook", "out", "parameters", "grid", "seeds"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected name, notebook, out, parameters, grid, seeds")
    for key in ("name", "notebook"):
        if key not in spec:
            raise ValueError(f"{path}: missing key {key!r}")
    base = path.parent
    return _make_sweep(
        name=spec["name"],
        notebook=base / spec["notebook"],
        parameters=spec.get("parameters") or {},
        grid=spec.get("grid") or {},
        seeds=spec.get("seeds", [0]),
        out=base / spec.get("out", "runs"),
    )


def _make_sweep(name, notebook, parameters, grid, seeds, out) -> Sweep:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"sweep name {name!r} must be letters, digits, '.', '_' or '-'")
    if not isinstance(parameters, dict):
        raise TypeError(f"parameters must be a mapping, got {type(parameters).__name__}")
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a mapping of parameter -> list of values, got {type(grid).__name__}")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ValueError(f"grid[{k!r}] must be a non-empty list of values, got {v!r}")
        if k in parameters or k == "seed":
            raise ValueError(f"grid parameter {k!r} is also fixed in parameters (or is 'seed': use seeds)")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"sweep notebook not found: {notebook}")
    return Sweep(name, notebook, dict(parameters), dict(grid), list(seeds), Path(out))


def _run_id(params: dict) -> str:
    def fmt(v):
        return re.sub(r"[^A-Za-z0-9_.-]", "-", str(v))

    return "_".join(f"{k}-{fmt(v)}" for k, v in params.items())


def expand_grid(sweep: Sweep) -> list[tuple[str, dict]]:
    """All runs of a sweep as ``(run_id, parameters)``; the id names the grid values and the seed."""
    keys = list(sweep.grid)
    runs = []
    for values in itertools.product(*(sweep.grid[k] for k in keys)):
        for seed in sweep.seeds:
            varying = dict(zip(keys, values)) | {"seed": seed}
            runs.append((_run_id(varying), sweep.parameters | varying))
    return runs


_KERNEL_START_TRIES = 3
_KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying")


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _execute_run(notebook: str, run_dir: str, params: dict, threads: int | None = None) -> dict:
    """Execute one run (in a worker process); never raises: returns a status dict.

    ``threads`` caps the CPU threads of the run's kernel (it inherits these
    environment variables; torch and NumPy read them at start-up).
    """
    if threads is not None:
        for var in _THREAD_VARS:
            os.environ[var] = str(int(threads))
    run_dir_p = Path(run_dir)
    run_dir_p.mkdir(parents=True, exist_ok=True)
    for stale in ("error.txt", "metrics.json"):
        (run_dir_p / stale).unlink(missing_ok=True)
    (run_dir_p / "params.json").write_text(json.dumps(params, indent=2))
    t0 = time.perf_counter()
    try:
        for attempt in range(_KERNEL_START_TRIES):
            try:
                execute_notebook(notebook, run_dir, params, progress=False)
                break
            except Exception as exc:  # a kernel that failed to start (TCP port race between parallel runs) is retried
                if attempt + 1 == _KERNEL_START_TRIES or not any(m in str(exc) for m in _KERNEL_START_ERRORS):
                    raise
        if not (run_dir_p / "metrics.json").is_file():
            raise RuntimeError("the notebook ran to its end but wrote no metrics.json (is out_dir used?)")
        return {"run_dir": run_dir, "status": "ok", "seconds": time.perf_counter() - t0}
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"
        (run_dir_p / "error.txt").write_text(msg + "\n\n" + traceback.format_exc())
        (run_dir_p / "metrics.json").unlink(missing_ok=True)
        return {"run_dir": run_dir, "status": "failed", "seconds": time.perf_counter() - t0,
                "error": msg.strip().splitlines()[-1][:300] if msg.strip() else type(exc).__name__}


def run_sweep(
    sweep: Sweep,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    threads_per_run: int | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Run every missing or failed run of ``sweep``; return ``{run_id: status dict}``.

    Runs whose ``metrics.json`` exists are skipped (status ``"skipped"``).
    ``workers`` processes run at once locally (default: number of CPU cores);
    with ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``) the runs are submitted
    to that Dask cluster instead. Each worker needs this package and the
    notebook's folder at the same path (a shared file system, as on a cluster).
    The statuses are also written to ``<out>/<name>/sweep_status.json``.

    ``threads_per_run`` caps the CPU threads of each run (``OMP_NUM_THREADS``
    and friends). Locally it defaults to ``cores // workers`` (at least 1):
    several runs that each use every core slow each other down many times
    over (two 2-thread torch processes on 2 cores ran 15x slower here than
    one). On Dask it is left to the cluster unless given.
    """
    from tqdm.auto import tqdm

    runs = expand_grid(sweep)
    folder = sweep.folder
    folder.mkdir(parents=True, exist_ok=True)
    status: dict[str, dict] = {}
    todo = []
    for run_id, params in runs:
        run_dir = folder / run_id
        if (run_dir / "metrics.json").is_file():
            status[run_id] = {"run_dir": str(run_dir), "status": "skipped"}
        else:
            todo.append((run_id, params, run_dir))
    nb = str(Path(sweep.notebook).resolve())
    bar = tqdm(total=len(todo), desc=f"sweep {sweep.name}", unit="run", disable=not progress)
    if todo and scheduler:
        from dask.distributed import Client, as_completed as dask_completed

        with Client(scheduler) as client:
            futs = {client.submit(_execute_run, nb, str(d.resolve()), p, threads_per_run, pure=False): rid
                    for rid, p, d in todo}
            for fut in dask_completed(futs):
                status[futs[fut]] = fut.result()
                bar.update(1)
    elif todo:
        n = min(workers or os.cpu_count() or 1, len(todo))
        threads = threads_per_run if threads_per_run is not None else max(1, (os.cpu_count() or 1) // n)
        # spawned, not forked: forking a Jupyter kernel's process (notebook 07: threads, ZMQ sockets, signal
        # handlers) copies state a worker must not have
        with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as pool:
            futs = {pool.submit(_execute_run, nb, str(d.resolve()), p, threads): rid for rid, p, d in todo}
            for fut in as_completed(futs):
                status[futs[fut]] = fut.result()
                bar.update(1)
    bar.close()
    failed = {k: v for k, v in status.items() if v["status"] == "failed"}
    for k, v in failed.items():
        print(f"run {k} FAILED: {v['error']}  (see {v['run_dir']}/error.txt and the executed notebook)")
    ordered = {rid: status[rid] for rid, _ in runs}
    tmp = folder / "sweep_status.json.tmp"
    tmp.write_text(json.dumps(ordered, indent=2))
    os.replace(tmp, folder / "sweep_status.json")
    return ordered


def _flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts -> one level with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists stay as they are."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def aggregate(sweep: Sweep | str | Path, metrics: list[str] | None = None):
    """One row per finished run: its parameters and its scalar metrics (a pandas DataFrame).

    ``sweep`` is a :class:`Sweep` or the sweep's folder. Nested metrics are
    reached with dotted keys (``{"errors": {"mfpt": 0.1}}`` is
    ``"errors.mfpt"``). ``metrics`` selects keys (default: every number in
    ``metrics.json``, nested ones included, except the ``environment`` record).
    """
    import pandas as pd

    folder = sweep.folder if isinstance(sweep, Sweep) else Path(sweep)
    rows = []
    for mfile in sorted(folder.glob("*/metrics.json")):
        params = json.loads((mfile.parent / "params.json").read_text()) if (mfile.parent / "params.json").is_file() else {}
        raw = json.loads(mfile.read_text())
        m = _flatten({k: v for k, v in raw.items() if k != "environment"} if metrics is None else raw)
        keys = metrics or [k for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        missing = [k for k in keys if k not in m]
        if missing:
            raise KeyError(f"{mfile} has no metric(s) {missing}")
        rows.append({"run_id": mfile.parent.name, **{k: v for k, v in params.items() if k != "out_dir"},
                     **{k: m[k] for k in keys}})
    if not rows:
        raise FileNotFoundError(f"no finished runs (metrics.json) under {folder}")
    return pd.DataFrame(rows)


def summarize(df, by: list[str], metrics: list[str], csv: str | Path | None = None):
    """Mean, standard deviation and count over seeds of ``metrics`` for each combination of ``by``."""
    missing = [c for c in [*by, *metrics] if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table; it has {list(df.columns)}")
    out = df.groupby(by)[metrics].agg(["mean", "std", "count"])
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    out = out.reset_index()
    if csv is not None:
        out.to_csv(csv, index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mdlstm_utils.report.sweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("suite", help="execute every tutorial notebook headless")
    s.add_argument("--notebooks", default="notebooks")
    s.add_argument("--out", default="runs")
    s.add_argument("--profile", default="quick", choices=PROFILES)
    s.add_argument("--device", default="auto")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--only", nargs="*", help="run only notebooks whose names start with these prefixes")
    s.add_argument("--no-html", action="store_true", help="do not build the documentation site into --out")
    s.add_argument("--resume", action="store_true",
                   help="skip notebooks whose folder in --out holds a finished run of this profile and seed")
    s.add_argument("--jobs", type=int, default=None,
                   help="notebooks at once (default: 2 on a CPU-only machine with 2 or more cores, else 1)")
    n = sub.add_parser("notebook", help="execute one notebook; an undeclared -p parameter is an error before it starts")
    n.add_argument("notebook")
    n.add_argument("--out", required=True, help="folder for the executed notebook, metrics.json and figures")
    n.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a parameter, its value read as YAML as papermill does (-p profile full -p seed 3)")
    g = sub.add_parser("grid", help="run a parameter sweep described by a YAML file")
    g.add_argument("yaml")
    g.add_argument("--workers", type=int, default=None, help="local processes (default: CPU cores)")
    g.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    g.add_argument("--threads", type=int, default=None, help="CPU threads per run (default locally: cores // workers)")
    g.add_argument("--csv", default=None, help="also write the aggregated table here")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith((".yaml", ".yml")):
        argv.insert(0, "grid")  # `python -m mdlstm_utils.report.sweep grid.yaml`
    args = parser.parse_args(argv)
    if args.cmd == "notebook":
        import yaml

        params = {name: yaml.safe_load(value) for name, value in args.parameter}
        try:  # a missing notebook or an undeclared parameter: a usage error, raised before anything runs
            executed = execute_notebook(find_notebook(args.notebook), args.out, params)
        except (ValueError, FileNotFoundError) as exc:
            parser.error(str(exc))
        print(f"executed notebook: {executed}")
        return 0
    if args.cmd == "grid":
        sweep = load_grid(args.yaml)
        status = run_sweep(sweep, workers=args.workers, scheduler=args.scheduler, threads_per_run=args.threads)
        n_failed = sum(v["status"] == "failed" for v in status.values())
        print(f"{len(status) - n_failed} run(s) done or skipped, {n_failed} failed; outputs in {sweep.folder}")
        if args.csv and len(status) > n_failed:
            aggregate(sweep).to_csv(args.csv, index=False)
        return 1 if n_failed else 0
    summary = run_suite(
        args.notebooks,
        args.out,
        profile=args.profile,
        device=args.device,
        seed=args.seed,
        only=args.only,
        render_html=not args.no_html,
        jobs=args.jobs,
        resume=args.resume,
    )
    failed = [k for k, e in summary.items() if e["status"] != "ok"]
    print(f"{len(summary) - len(failed)} notebook(s) ok, {len(failed)} failed; see {args.out}/index.html")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
