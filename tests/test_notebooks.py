"""Every tutorial notebook runs headless under papermill in the smoke profile and writes a sane metrics dict.

(nbval, run by the same pytest call on notebooks/, checks the outputs of the cells marked NBVAL_CHECK_OUTPUT.)
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mdlstm_utils.report.sweep import execute_notebook, read_metrics

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(nb):
    cells = json.loads(nb.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    src = "".join(tagged[0]["source"])
    for name in ("profile", "device", "seed", "out_dir"):
        assert f"{name} =" in src, f"parameter {name} missing"
    assert 'profile = "smoke"' in src, "notebooks default to the smoke profile (nbval executes them as they are)"


@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_profile(nb, tmp_path):
    executed = execute_notebook(nb, tmp_path, {"profile": "smoke", "seed": 1}, progress=False)
    assert executed.is_file()
    m = read_metrics(tmp_path)
    assert m["notebook"] == nb.stem and m["profile"] == "smoke" and m["seed"] == 1
    assert m["environment"]["packages"]["torch"].startswith("2.13")
    if m["notebook"] == "09_memory":  # the memory case: every model and view in the table, the memory test as an object
        assert isinstance(m["memory"]["history_matters"], bool) and isinstance(m["memory_xy"]["history_matters"], bool)
        models = {(r["model"], r["view"]) for r in m["table"]}
        assert {("LSTM", "x"), ("Transformer", "x"), ("MSM lag 1", "x"), ("MSM lag 1", "xy")} <= models
        assert any(mod.startswith("Markov chain") for mod, _ in models) and any(mod.startswith("IGME") for mod, _ in models)
        assert all(r["error"] is None or r["error"] >= 0 for r in m["table"])
        assert m["exact_timescales"][0] > m["exact_timescales"][1] > 0
    elif "set_pop_ref" in m:  # notebooks that compare metastable-set populations and MFPTs
        assert math.isclose(sum(m["set_pop_ref"]), sum(m["set_pop_gen"]), abs_tol=0.05)
        assert 0.0 <= m["set_pop_max_abs_err"] <= 1.0
        if m["mfpt_max_rel_err"] is None:  # infinite: a passage the reference makes was never generated
            n_gen = np.array(m["mfpt_n_gen"])
            assert (n_gen[~np.eye(len(n_gen), dtype=bool)] == 0).any()
        else:
            assert m["mfpt_max_rel_err"] >= 0.0
    elif m["notebook"] == "07_batch_sweeps":  # the sweep: every run finished, one summary row per grid point
        assert m["status_counts"] == {"ok": m["n_runs"]}
        assert len(m["summary"]) * len(m["seeds"]) == m["n_runs"]
        assert all(r["gen_vs_truth_err_mean"] is None or r["gen_vs_truth_err_mean"] >= 0 for r in m["summary"])
        assert all(r["gen_vs_truth_err_count"] == len(m["seeds"]) for r in m["summary"])
    elif "lstm_slow_error_by_interval" in m:  # the temporal-resolution scan: one error per interval and model
        errors = [*m["lstm_slow_error_by_interval"].values(), *m["msm_slow_error_by_interval"].values()]
        assert len(errors) >= 2 and all(e is None or e >= 0 for e in errors)
        # the table is the mean over seeds of the per-seed runs (smoke trains 2 seeds per interval)
        assert m["n_seeds"] == 2 and len(m["runs"]) == 2 * len(m["table"])
        for row in m["table"]:
            runs = [r["slow-process error"] for r in m["runs"] if (r["model"], r["k"]) == (row["model"], row["k"])]
            assert len(runs) == 2 and row["seeds"] == 2
            if None not in runs:
                assert math.isclose(row["slow-process error"], np.mean(runs), rel_tol=1e-9)
                assert math.isclose(row["slow-process error sd"], np.std(runs, ddof=1), rel_tol=1e-9, abs_tol=1e-12)
    else:  # the model comparison: every (data set, model) pair over n_seeds seeds, the MSM baseline and noise floor beside them
        pairs = {(r["data"], r["model"]) for r in m["runs"]}
        assert len(pairs) == 8 and {p[1] for p in pairs} == {"LSTM", "Transformer", "MSM", "noise floor"}
        assert len(m["runs"]) == 8 * m["n_seeds"]
        assert all(r["parameters"] > 0 and r["train s"] > 0 for r in m["runs"] if r["model"] in ("LSTM", "Transformer"))
        assert all(r["slow-process error"] is None or r["slow-process error"] >= 0 for r in m["runs"])
    assert len(list(tmp_path.glob("*.png"))) >= 1
    # what the landing page shows: the question, key numbers, a verdict (none in smoke) and a saved figure
    h = m["headline"]
    assert h["question"] and "\n" not in h["question"] and h["numbers"]
    assert h["verdict"] == "not judged: the smoke profile only checks that the notebook runs"
    assert (tmp_path / h["figure"]).is_file()
    # the executed notebook keeps its figures (the HTML page embeds them)
    cells = json.loads(executed.read_text())["cells"]
    assert any("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
