"""Parameter sweeps: expansion, a 24-run local sweep, failure isolation, kill-and-resume, aggregation, Dask."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mdlstm_utils.report import sweep
from mdlstm_utils.report.sweep import aggregate, expand_grid, load_grid, run_sweep, summarize

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_sweep.ipynb"


def _write_grid(tmp_path, name, grid, seeds, parameters=None):
    import yaml

    spec = {"name": name, "notebook": str(TINY), "out": str(tmp_path / "runs"),
            "parameters": parameters or {}, "grid": grid, "seeds": seeds}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_expand_grid_and_bad_specs(tmp_path):
    sweep = load_grid(_write_grid(tmp_path, "g", {"a": [1, 2, 3], "b": [0.5, 2.0]}, [0, 1]))
    runs = expand_grid(sweep)
    assert len(runs) == 12
    assert runs[0] == ("a-1_b-0.5_seed-0", {"a": 1, "b": 0.5, "seed": 0})
    assert len({rid for rid, _ in runs}) == 12
    with pytest.raises(ValueError, match=r"grid\['a'\] must be a non-empty list"):
        load_grid(_write_grid(tmp_path, "bad", {"a": 3}, [0]))
    with pytest.raises(ValueError, match=r"seeds must be a non-empty list of ints"):
        load_grid(_write_grid(tmp_path, "bad2", {"a": [1]}, ["x"]))
    bad = tmp_path / "bad3.yaml"
    bad.write_text("name: x\nnotebook: nope.ipynb\n")
    with pytest.raises(FileNotFoundError, match="sweep notebook not found"):
        load_grid(bad)


def test_24_run_sweep_with_failures_then_rerun(tmp_path):
    # 4 x 2 x 3 seeds = 24 runs; the 6 runs with a=4 fail on purpose
    grid = {"a": [1, 2, 3, 4], "b": [1.0, 2.0]}
    sweep = load_grid(_write_grid(tmp_path, "s24", grid, [0, 1, 2], parameters={"fail_on_a": 4}))
    fail_ids = {rid for rid, p in expand_grid(sweep) if p["a"] == 4}
    status = run_sweep(sweep, workers=2, progress=False)
    assert len(status) == 24
    failed = {k for k, v in status.items() if v["status"] == "failed"}
    assert failed == fail_ids
    for rid in failed:
        d = sweep.folder / rid
        assert "deliberate failure" in (d / "error.txt").read_text()
        assert (d / "tiny_sweep.ipynb").is_file()  # executed notebook kept, with the error
        assert not (d / "metrics.json").exists()
    df = aggregate(sweep)
    assert len(df) == 18
    # each run's kernel got cores // workers CPU threads (two runs at once must not oversubscribe the cores)
    omp = {json.loads((sweep.folder / rid / "metrics.json").read_text())["omp_threads"] for rid in df.run_id}
    assert omp == {str(max(1, (os.cpu_count() or 1) // 2))}
    row = df[(df.a == 3) & (df.b == 2.0) & (df.seed == 2)].iloc[0]
    assert row.value == 3 * 2.0 + 2
    summary = summarize(df, by=["a", "b"], metrics=["value"], csv=tmp_path / "s.csv")
    assert (tmp_path / "s.csv").is_file()
    r = summary[(summary.a == 1) & (summary.b == 1.0)].iloc[0]
    assert r.value_mean == pytest.approx(2.0) and r.value_count == 3 and r.value_std == pytest.approx(1.0)
    # second pass, with the cause of the failure removed: only the failed runs are executed again
    sweep = load_grid(_write_grid(tmp_path, "s24", grid, [0, 1, 2], parameters={"fail_on_a": None}))
    status2 = run_sweep(sweep, workers=2, progress=False)
    assert {k for k, v in status2.items() if v["status"] == "ok"} == fail_ids
    assert sum(v["status"] == "skipped" for v in status2.values()) == 18
    assert len(aggregate(sweep)) == 24


def test_killed_sweep_resumes_only_missing_runs(tmp_path):
    path = _write_grid(tmp_path, "kill", {"a": [1, 2, 3, 4, 5, 6]}, [0], parameters={"sleep": 0.5})
    sweep = load_grid(path)
    proc = subprocess.Popen([sys.executable, "-m", "mdlstm_utils.report.sweep", str(path), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(sweep.folder.glob("*/metrics.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in sweep.folder.glob("*/metrics.json")}
    assert 2 <= len(done_before) < 6
    status = run_sweep(sweep, workers=2, progress=False)
    assert {k for k, v in status.items() if v["status"] == "skipped"} == set(done_before)
    assert all(v["status"] in ("ok", "skipped") for v in status.values())
    for rid, mtime in done_before.items():  # finished runs were not touched
        assert (sweep.folder / rid / "metrics.json").stat().st_mtime_ns == mtime
    assert len(aggregate(sweep)) == 6


def test_find_notebook(tmp_path, monkeypatch):
    from mdlstm_utils.report.sweep import find_notebook

    monkeypatch.chdir(tmp_path)  # found next to the package, from any working directory
    assert find_notebook("sweeps/three_factors_run.ipynb") == ROOT / "notebooks" / "sweeps" / "three_factors_run.ipynb"
    with pytest.raises(FileNotFoundError, match="notebook nope.ipynb not found"):
        find_notebook("nope.ipynb")


def test_sweep_on_a_dask_local_cluster(tmp_path):
    from dask.distributed import LocalCluster

    sweep = load_grid(_write_grid(tmp_path, "dask", {"a": [1, 2]}, [0, 1]))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        status = run_sweep(sweep, scheduler=cluster.scheduler_address, progress=False)
    assert [v["status"] for v in status.values()] == ["ok"] * 4
    pids = {json.loads((sweep.folder / rid / "metrics.json").read_text())["pid"] for rid in status}
    assert len(pids) == 4  # each run had its own kernel
    assert sorted(aggregate(sweep).value.tolist()) == [1, 2, 2, 3]


def test_aggregate_reaches_nested_metrics(tmp_path):
    for seed, err in ((0, 0.1), (1, 0.3)):
        d = tmp_path / f"seed-{seed}"
        d.mkdir()
        (d / "params.json").write_text(json.dumps({"seed": seed, "out_dir": str(d)}))
        (d / "metrics.json").write_text(json.dumps({
            "top": 1.5, "flag": True, "errors": {"φ": {"mfpt": err}, "names": ["a"]},
            "environment": {"cpu_count": 2}}))
    df = aggregate(tmp_path)
    assert sorted(df.columns) == ["errors.φ.mfpt", "run_id", "seed", "top"]  # no bools, lists or environment
    assert df["errors.φ.mfpt"].tolist() == [0.1, 0.3]
    s = summarize(df, by=["top"], metrics=["errors.φ.mfpt"])
    assert s["errors.φ.mfpt_mean"].iloc[0] == pytest.approx(0.2)
    assert aggregate(tmp_path, metrics=["errors.φ.mfpt"]).shape == (2, 3)
    with pytest.raises(KeyError, match="no metric"):
        aggregate(tmp_path, metrics=["errors.ψ"])


def _tiny_suite(tmp_path, n=2):
    """A folder of ``n`` numbered copies of the tiny suite notebook (each draws a figure)."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    for k in range(n):
        (folder / f"0{k}_tiny.ipynb").write_bytes((ROOT / "tests" / "data" / "tiny_suite.ipynb").read_bytes())
    return folder


def _fake_site(runs, out, *, api=True):
    """What the suite needs of :func:`mdlstm_utils.report.site.build_site`: an index and a page per executed notebook."""
    assert api is False  # make run leaves the API reference to make docs: it takes most of a build's minute
    out = Path(out)
    for nb in Path(runs).glob("*/*.ipynb"):
        (out / "notebooks").mkdir(parents=True, exist_ok=True)
        (out / "notebooks" / f"{nb.stem}.html").write_text("<html></html>")
    (out / "index.html").write_text("<html></html>")
    return out / "index.html"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_suite_entry_point_with_relative_out(tmp_path, monkeypatch, jobs):
    # what `make run` calls, with the relative --out it passes, one notebook at a time or two at once;
    # MPLBACKEND=Agg (as `make test` sets it) must not keep the figures out of the executed notebooks
    from mdlstm_utils.report.sweep import main

    # (relative --notebooks too: papermill changes its process's working directory while a notebook runs; run
    # in threads of one process, notebooks failed a fresh-clone smoke run with "no notebook at notebooks/notebooks/…".
    # This test did not reproduce that race with the thread version; each notebook now runs in its own process.)
    n = 2 if jobs == "1" else 4
    folder = _tiny_suite(tmp_path, n)
    slow = json.loads((folder / "00_tiny.ipynb").read_text())  # 00 still runs when 01 ends and 02 starts
    slow["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                          "source": ["import time\n", "time.sleep(10)"]})
    (folder / "00_tiny.ipynb").write_text(json.dumps(slow))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(sweep, "build_site", _fake_site)  # the real site build is tests/test_docs.py's (a minute)
    rc = main(["suite", "--notebooks", "nbs", "--out", "runs", "--profile", "smoke", "--jobs", jobs])
    assert rc == 0
    summary = json.loads((tmp_path / "runs" / "summary.json").read_text())
    assert list(summary) == [f"0{k}_tiny" for k in range(n)] and all(e["status"] == "ok" for e in summary.values())
    assert (tmp_path / "runs" / "index.html").is_file()
    for name, entry in summary.items():
        assert (tmp_path / "runs" / entry["html"]).is_file()
        executed = json.loads((tmp_path / "runs" / name / f"{name}.ipynb").read_text())
        images = [o for c in executed["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) == 1, "the kernel must keep figures as outputs"
        assert "inline" in json.loads((tmp_path / "runs" / name / "metrics.json").read_text())["backend"]
    assert os.environ["MPLBACKEND"] == "Agg" and "OMP_NUM_THREADS" not in os.environ  # restored after the runs


def test_suite_resume_runs_only_what_is_missing_and_keeps_earlier_entries(tmp_path, monkeypatch):
    # a full suite on 2 cores takes hours: `--resume` must skip a finished run of the same profile and seed,
    # re-run one of another profile or seed or without metrics.json, and `--only` must not drop earlier entries
    from mdlstm_utils.report.sweep import main

    folder = _tiny_suite(tmp_path, 5)
    runs = tmp_path / "runs"
    ran = []

    def fake_run(nb, run_dir, *, profile, device, seed, progress=True, env=None):
        ran.append(nb.stem)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text(json.dumps({"profile": profile, "seed": seed}))
        return {"status": "ok", "seconds": 1.0}

    def finished(stem, profile="full", seed=0, wall=123.0):
        (runs / stem).mkdir(parents=True)
        (runs / stem / "metrics.json").write_text(json.dumps(
            {"profile": profile, "seed": seed, "environment": {"wall_seconds": wall}}))

    monkeypatch.setattr(sweep, "_run_suite_notebook", fake_run)
    finished("00_tiny")                      # done: skipped, its time kept
    finished("01_tiny", profile="quick")     # another profile: runs again
    finished("02_tiny", seed=1)              # another seed: runs again
    (runs / "03_tiny").mkdir()               # interrupted (no metrics.json): runs again
    args = ["suite", "--notebooks", str(folder), "--out", str(runs), "--profile", "full", "--no-html", "--jobs", "1"]
    assert main(args + ["--resume", "--only", "00", "01", "02", "03"]) == 0
    assert ran == ["01_tiny", "02_tiny", "03_tiny"]
    summary = json.loads((runs / "summary.json").read_text())
    assert summary["00_tiny"] == {"status": "ok", "seconds": 123.0, "skipped": True}
    assert [summary[f"0{k}_tiny"]["seconds"] for k in (1, 2, 3)] == [1.0, 1.0, 1.0]
    ran.clear()
    assert main(args + ["--resume"]) == 0    # the rest of the suite: only 04 is missing
    assert ran == ["04_tiny"]
    summary = json.loads((runs / "summary.json").read_text())
    assert list(summary) == [f"0{k}_tiny" for k in range(5)] and summary["01_tiny"]["seconds"] == 1.0
    ran.clear()
    assert main(args + ["--only", "01"]) == 0  # without --resume a selected notebook runs again; the others stay
    assert ran == ["01_tiny"] and list(json.loads((runs / "summary.json").read_text())) == [f"0{k}_tiny" for k in range(5)]


def test_undeclared_parameter_is_an_error_before_any_work(tmp_path):
    from mdlstm_utils.report.sweep import execute_notebook

    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"does not declare the parameter\(s\) \['n_epoch'\]; it declares: a, b, seed"):
        execute_notebook(TINY, out, {"a": 2, "n_epoch": 5})
    assert not out.exists()
    with pytest.raises(ValueError, match=r"profile='fast'; expected one of \('smoke', 'quick', 'full'\)"):
        execute_notebook(ROOT / "tests" / "data" / "tiny_suite.ipynb", out, {"profile": "fast"})


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").rglob("*.ipynb")), ids=lambda p: p.stem)
def test_papermill_reads_every_declared_parameter(nb, caplog):
    # a line papermill cannot parse raises a false "unknown parameter" alarm when it is passed with -p
    import ast

    from mdlstm_utils.report.sweep import declared_parameters

    cells = json.loads(nb.read_text())["cells"]
    src = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    assigned = [t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets]
    with caplog.at_level("WARNING"):
        declared = declared_parameters(nb)
    assert list(declared) == assigned
    assert "Unable to parse" not in caplog.text


def test_notebook_command_rejects_an_undeclared_parameter(tmp_path, capsys):
    from mdlstm_utils.report.sweep import main

    with pytest.raises(SystemExit) as exc:
        main(["notebook", str(TINY), "--out", str(tmp_path / "o"), "-p", "a", "2", "-p", "n_epoch", "5"])
    assert exc.value.code == 2
    assert "does not declare the parameter(s) ['n_epoch']" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["notebook", str(TINY), "--out", str(tmp_path / "o"), "-p", "a", "2", "-p", "b", "1.5"]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["value"] == 3.0
