"""Every tutorial notebook runs headless under papermill in the smoke profile and writes a sane metrics dict.

The notebooks default to the quick profile (what a learner who opens one in JupyterLab should see); the tests pass
``profile="smoke"`` explicitly. The cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval's marker) must print what is
stored under them; they are compared here, in the smoke run, rather than by nbval, which executes a notebook as
stored, in its default profile, and so would run every notebook a second time, in quick.
"""

import ast
import io
import json
import math
import tokenize
from pathlib import Path

import numpy as np
import pytest

from mdlstm_utils import runtime
from mdlstm_utils.report import results as R
from mdlstm_utils.report.sweep import execute_notebook, read_metrics

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# the notebooks that papermill runs: the lessons, and the sweep worker of notebook 07
PARAMETERIZED = NOTEBOOKS + sorted((ROOT / "notebooks" / "sweeps").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("nb", PARAMETERIZED, ids=lambda p: p.stem)
def test_parameters_cell(nb):
    cells = json.loads(nb.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    src = "".join(tagged[0]["source"])
    for name in ("profile", "device", "seed", "out_dir"):
        assert f"{name} =" in src, f"parameter {name} missing"
    # the defaults: a notebook opened in JupyterLab, or run by papermill without -p profile, teaches
    assert runtime._assigned_names(src)[:4] == ["profile", "device", "seed", "out_dir"]
    namespace = {}
    exec(src, namespace)  # the cell is plain assignments
    assert (namespace["profile"], namespace["device"], namespace["seed"]) == ("quick", "auto", 0), \
        "a notebook defaults to the quick profile on the best device; CI and make test pass smoke explicitly"
    # runtime.check_injected_parameters finds the declared names by this first line (papermill's own cell has
    # exactly "# Parameters" for one)
    first = src.split("\n", 1)[0]
    assert first.startswith("# Parameters") and first.strip() != runtime.PAPERMILL_COMMENT


CHECK_OUTPUT = "# NBVAL_CHECK_OUTPUT"


def checked_outputs(cells: list[dict]) -> dict[str, str]:
    """``{source: printed text}`` of the code cells whose source starts with ``# NBVAL_CHECK_OUTPUT``.

    The text is what the cell printed and displayed as plain text, its outputs joined in order, so that a stream
    that one run splits in two and another writes at once compares equal. Cells are matched by their source
    because papermill inserts a cell (the injected parameters) and shifts the indices.
    """
    out = {}
    for c in cells:
        src = "".join(c["source"])
        if c["cell_type"] == "code" and src.startswith(CHECK_OUTPUT):
            out[src] = "".join("".join(o["text"]) if o.get("output_type") == "stream"
                               else "".join(o.get("data", {}).get("text/plain", "")) for o in c.get("outputs", []))
    return out


def test_cells_checked_for_their_output_have_one_stored():
    stored = {nb.stem: checked_outputs(json.loads(nb.read_text())["cells"]) for nb in NOTEBOOKS}
    assert any(stored.values()), "no notebook has a cell marked NBVAL_CHECK_OUTPUT"
    empty = [f"{stem}: {src.splitlines()[1][:60]!r}" for stem, cells in stored.items() for src, text in cells.items()
             if not text]
    assert not empty, "a cell marked NBVAL_CHECK_OUTPUT with no stored output checks nothing:\n" + "\n".join(empty)


def numeric_literals(source: str, out: set) -> set:
    """The numbers written as literals in Python ``source``, added to ``out`` (a result is computed, never a literal)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):  # a notebook cell with IPython syntax: its literals up to there
        tokens = []
    for tok in tokens:
        if tok.type == tokenize.NUMBER:
            value = ast.literal_eval(tok.string)
            if isinstance(value, (int, float)):
                out.add(float(value))
    return out


PACKAGE_LITERALS = frozenset(set().union(*(numeric_literals(p.read_text(), set())
                                           for p in (ROOT / "mdlstm_utils").rglob("*.py"))))


def hand_typed_results(nb: Path) -> list[str]:
    """Result-shaped numbers typed by hand into the markdown cells of notebook ``nb``, one message each.

    A number counts when :func:`mdlstm_utils.report.results.result_numbers` finds it (a percentage, each end of a
    range such as ``35–83 %``, a decimal, a side of ``±``), and it is allowed only as a setting: a literal of the
    notebook's code cells or of the package, written by ``fmt`` or as it stands (``0.02``), or as a percentage
    (0.25 -> ``25 %``), or one of :data:`~mdlstm_utils.report.results.SETTING_PERCENTS`. What a run measures
    belongs in the code output, where it is the number of the run being read.
    """
    cells = json.loads(nb.read_text())["cells"]
    values = set(PACKAGE_LITERALS)
    for c in cells:
        if c["cell_type"] == "code":
            numeric_literals("".join(c["source"]), values)
    plain = {f for v in values for f in (R.fmt(v), repr(v), f"{v:g}")}
    percents = {R.fmt(100 * v) for v in values} | set(R.SETTING_PERCENTS)
    out = []
    for i, c in enumerate(cells):
        if c["cell_type"] != "markdown":
            continue
        for tok, line in R.result_numbers("".join(c["source"])):
            number = tok.removesuffix(" %").replace("−", "-").lstrip("+-")
            if number not in (percents if tok.endswith("%") else plain):
                out.append(f"{nb.name} cell {i}: {tok} in {line.strip()[:90]!r}")
    return out


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_states_no_result_typed_by_hand(nb):
    problems = hand_typed_results(nb)
    assert not problems, "numbers quoted from a run belong in the code output:\n" + "\n".join(problems)


def _matrix(rows) -> np.ndarray:
    """An MFPT matrix from its JSON form (``None``, written for nan and inf, back to nan)."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def max_rel_err(gen, ref) -> float | None:
    """The largest MFPT error as :func:`mdlstm_utils.kinetics.relative_error` defines it, from the JSON matrices:
    ``max |gen / ref - 1|`` over the off-diagonal pairs with a finite reference; a passage the reference makes
    and the generated trajectories never make is ``inf``. ``None`` for inf or nan, as the metrics file writes them."""
    g, r = _matrix(gen), _matrix(ref)
    pairs = ~np.eye(len(r), dtype=bool) & np.isfinite(r)
    if not pairs.any():
        return None
    err = float(np.where(np.isfinite(g[pairs]), np.abs(g[pairs] / r[pairs] - 1.0), np.inf).max())
    return err if math.isfinite(err) else None


def _same(recorded, recomputed) -> bool:
    if recomputed is None:
        return recorded is None
    return recorded is not None and math.isclose(recorded, recomputed, rel_tol=1e-12, abs_tol=1e-15)


def _dicts(x, path="metrics"):
    """Every dict in a metrics tree with its path (``metrics.partitions.microstates``)."""
    if isinstance(x, dict):
        yield path, x
        for k, v in x.items():
            yield from _dicts(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _dicts(v, f"{path}[{i}]")


def comparison_errors_mismatch(m: dict) -> list[str]:
    """Where a recorded error is not the one its arrays give: ``[]`` when all agree.

    Every ``set_pop_max_abs_err`` must be ``max |set_pop_gen - set_pop_ref|`` of the populations beside it, and
    every nested ``mfpt_max_rel_err`` with ``mfpt_ref`` / ``mfpt_gen`` beside it :func:`max_rel_err` of them.
    The top-level ``mfpt_max_rel_err`` is the comparison a notebook picks for its summary (notebook 00: the
    cores', beside the wells' matrices; 03: the φ flips'), so it must be the error of one pair of MFPT matrices
    recorded somewhere in ``m``: ``mfpt_ref`` / ``mfpt_gen``, or the analysis' ``mfpt`` with its ``reference``
    and ``lm`` matrices.
    """
    bad, found = [], {}
    for path, d in _dicts(m):
        if {"set_pop_ref", "set_pop_gen", "set_pop_max_abs_err"} <= d.keys():
            want = float(np.max(np.abs(np.subtract(d["set_pop_gen"], d["set_pop_ref"]))))
            if not _same(d["set_pop_max_abs_err"], want):
                bad.append(f"{path}.set_pop_max_abs_err = {d['set_pop_max_abs_err']!r}, but max |gen - ref| = {want!r}")
        if {"mfpt_ref", "mfpt_gen"} <= d.keys():
            found[path] = want = max_rel_err(d["mfpt_gen"], d["mfpt_ref"])
            if d is not m and "mfpt_max_rel_err" in d and not _same(d["mfpt_max_rel_err"], want):
                bad.append(f"{path}.mfpt_max_rel_err = {d['mfpt_max_rel_err']!r}, but the MFPT matrices give {want!r}")
        if isinstance(d.get("mfpt"), dict) and {"reference", "lm"} <= d["mfpt"].keys():
            found[f"{path}.mfpt"] = max_rel_err(d["mfpt"]["lm"], d["mfpt"]["reference"])
    if "mfpt_max_rel_err" in m and not any(_same(m["mfpt_max_rel_err"], v) for v in found.values()):
        bad.append(f"metrics.mfpt_max_rel_err = {m['mfpt_max_rel_err']!r} is the error of none of the MFPT matrices "
                   f"recorded ({found or 'none'})")
    return bad


RECORDED = sorted((ROOT / "docs" / "results").glob("*.json"))


@pytest.mark.parametrize("path", [p for p in RECORDED if "set_pop_ref" in json.loads(p.read_text())], ids=lambda p: p.stem)
def test_recorded_errors_are_what_their_arrays_give(path):
    # the check the smoke runs below make, on the recorded full-profile results (fast, no notebook run)
    problems = comparison_errors_mismatch(json.loads(path.read_text()))
    assert not problems, "\n".join(problems)


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
        problems = comparison_errors_mismatch(m)
        assert not problems, "\n".join(problems)
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
    else:  # the model comparison: every (data set, model) pair over n_seeds seeds, both MSMs and the noise floor beside them
        pairs = {(r["data"], r["model"]) for r in m["runs"]}
        models = {"LSTM", "Transformer", "MSM", "validated MSM", "noise floor"}
        assert len(pairs) == 10 and {p[1] for p in pairs} == models
        assert len(m["runs"]) == 10 * m["n_seeds"]
        # the verdict's paired test: one pair per seed, the Transformer's errors against the LSTM's of the same split
        for d, t in m["paired"].items():
            assert (t["a"], t["b"]) == ("Transformer", "LSTM")
            assert m["n_seeds"] - t["n_failed_a"] - t["n_failed_b"] <= t["n_pairs"] <= m["n_seeds"]
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
    # the cells marked NBVAL_CHECK_OUTPUT print what the notebook stores under them (what nbval --nbval-lax checked)
    want, got = checked_outputs(json.loads(nb.read_text())["cells"]), checked_outputs(cells)
    assert got.keys() == want.keys()
    for src, text in want.items():
        assert got[src] == text, f"{src.splitlines()[1]!r} printed\n{got[src]}\ninstead of the stored\n{text}"
