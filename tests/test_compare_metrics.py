"""bench/compare_metrics.py: the key-by-key comparison that records a refactoring's identical results."""

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import compare_metrics as cm  # noqa: E402
import pytest  # noqa: E402

RUN = {"notebook": "00", "mfpt_gen": [[None, 12.5], [30.0, None]], "pop": {"gen": [0.25, 0.75], "x": float("nan")},
       "train_seconds": 3.0, "runs": [{"train s": 1.0, "slow-process error": 0.4}], "environment": {"torch": "2.13"},
       "implied_timescales": [100.0, 10.0]}


def totals(rows):
    return {k: sum(r[k] for r in rows) for k in ("identical", "different", "only_before", "only_after")}


def test_identical_runs_differ_in_timings_only():
    other = json.loads(json.dumps(RUN))
    other["train_seconds"], other["runs"][0]["train s"], other["environment"] = 9.0, 7.0, {"torch": "other"}
    t = totals(cm.compare(RUN, other))
    # 11 values: timings and the environment are left out; nan equals nan, None equals None; a timescale is not a timing
    assert t == {"identical": 11, "different": 0, "only_before": 0, "only_after": 0}


def test_a_changed_value_and_a_missing_key_are_reported():
    other = json.loads(json.dumps(RUN))
    other["mfpt_gen"][0][1] = 12.5 * 1.001
    other["mfpt_gen"][1][0] = None
    del other["pop"]["gen"]
    other["new"] = 1
    rows = {r["key"]: r for r in cm.compare(RUN, other)}
    assert rows["mfpt_gen"]["different"] == 2 and math.isinf(rows["mfpt_gen"]["max_rel_diff"])
    assert rows["mfpt_gen"]["first_difference"].startswith("mfpt_gen.0.1: 12.5 ->")
    assert cm.rel_diff(12.5, 12.5 * 1.001) == pytest.approx(0.001 / 1.001)
    assert cm.rel_diff(float("inf"), 1.0) == math.inf and cm.rel_diff(float("nan"), 1.0) == math.inf
    assert cm.rel_diff(True, 1) == math.inf and cm.rel_diff(float("inf"), float("inf")) == 0.0
    assert rows["pop"]["only_before"] == 2 and rows["new"]["only_after"] == 1


def test_main_exit_status(tmp_path):
    for name, run in (("a", RUN), ("b", dict(RUN, notebook="01"))):
        (tmp_path / name / "00_x").mkdir(parents=True)
        (tmp_path / name / "00_x" / "metrics.json").write_text(json.dumps(run))
    assert cm.main([str(tmp_path / "a"), str(tmp_path / "a"), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["00_x"]["totals"]["different"] == 0
    assert cm.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    # two files are compared whatever their folders are called
    assert cm.main([str(tmp_path / "a" / "00_x" / "metrics.json"), str(tmp_path / "b" / "00_x" / "metrics.json")]) == 1
    (tmp_path / "c" / "other").mkdir(parents=True)
    (tmp_path / "c" / "other" / "metrics.json").write_text(json.dumps(RUN))
    assert cm.main([str(tmp_path / "a" / "00_x" / "metrics.json"), str(tmp_path / "c" / "other" / "metrics.json")]) == 0
    with pytest.raises(SystemExit):  # two folders without a run of the same name
        cm.main([str(tmp_path / "a"), str(tmp_path / "c")])
