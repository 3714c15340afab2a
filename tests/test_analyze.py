"""mdlstm analyze: every input kind, every bad input, and the method on systems the notebooks do not use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mdlstm_utils.cli import results
from mdlstm_utils import kinetics
from mdlstm_utils.cli import analyze, metastable
from mdlstm_utils.states import from_labels, parse_dt

import _own_systems as own

ROOT = Path(__file__).resolve().parents[1]
ALANINE = ROOT / "data" / "alanine-dipeptide"
KEYS = {"dt", "dt_unit", "lag", "n_micro", "n_macro", "min_dwell", "populations", "mfpt", "slowest_timescale", "verdict"}


def _two_state_features(n_traj=4, n_frames=3000, seed=0, width=3):
    """A two-state Markov chain seen through noisy features (the first column carries the state)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_traj):
        s = np.zeros(n_frames, dtype=int)
        for t in range(1, n_frames):
            s[t] = 1 - s[t - 1] if rng.random() < 0.01 else s[t - 1]
        x = rng.normal(scale=0.3, size=(n_frames, width))
        x[:, 0] += 2.0 * s
        out.append(x)
    return out


def _check_metrics(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    assert KEYS <= set(m)
    k = m["n_macro"]
    for key in ("reference", "lm", "msm"):
        assert len(m["populations"][key]) == k
        assert np.isclose(sum(m["populations"][key]), 1.0, atol=0.02)  # frames outside every set are rare
        assert len(m["mfpt"][key]) == k and all(m["mfpt"][key][i][i] is None for i in range(k))
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "Mean first-passage times" in html
    return m


# ---- units and small pieces ------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("1ps", (1.0, "ps")), ("0.05", (0.05, "")), ("2.5 ns", (2.5, "ns")),
                                            (0.1, (0.1, ""))])
def test_parse_dt(text, expected):
    assert parse_dt(text) == expected


@pytest.mark.parametrize("bad, match", [("0ps", "> 0"), ("-1", "> 0"), ("1 parsec", "unknown time unit"),
                                        ("fast", "expected a number")])
def test_parse_dt_refuses(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_dt(bad)


def test_labels_with_gaps_are_relabelled(capsys):
    sp = from_labels([np.array([0, 5, 9, 5, 0]), np.array([9, 9, 0])], sets=[[0], [9]])
    assert sp.n_states == 3 and "relabelled" in capsys.readouterr().out
    assert [t.tolist() for t in sp.trajs] == [[0, 1, 2, 1, 0], [2, 2, 0]]
    assert [s.tolist() for s in sp.sets] == [[0], [2]] and sp.made_by["original_labels"] == [0, 5, 9]


@pytest.mark.parametrize("dt", [0, -1.0, float("nan")])
def test_kinetics_refuses_bad_dt(dt):
    lab = np.array([0, 0, 1, 1, 0, 1])
    with pytest.raises(ValueError, match="dt must be"):
        kinetics.comparison(lab, lab, n_states=2, sets=[[0], [1]], dt=dt)


def test_kinetics_refuses_single_frames():
    with pytest.raises(ValueError, match="one frame"):
        kinetics.comparison([np.array([0]), np.array([1])], np.array([0, 1, 0]), n_states=2, sets=[[0], [1]])


def test_min_dwell_plateau_rule():
    # core labels with one-frame recrossings: doubling the dwell from 2 on removes nothing more
    rng = np.random.default_rng(1)
    s = np.repeat(rng.integers(0, 2, 60), 50)
    flick = rng.random(len(s)) < 0.05
    flick[1:] &= ~flick[:-1]  # isolated one-frame flicks
    s[flick] = 1 - s[flick]
    sp = from_labels([s])
    (dwells, counts), c = analyze.choose_min_dwell(sp, max_dwell=16)
    assert c.value == 2 and counts[0] > 2 * counts[1]


def test_min_dwell_never_reaches_the_slowest_timescale():
    """Without a plateau the fallback is the longest dwell scanned, and the scan stops at a tenth of the slowest
    timescale: a dwell near it would remove the real visits (every relaxation then comes out far too slow)."""
    rng = np.random.default_rng(2)
    s = (rng.random(20000) < 0.5).astype(int)  # no plateau up to a dwell of 8: each doubling removes many transitions
    sp = from_labels([s])
    (dwells, _), c = analyze.choose_min_dwell(sp, max_dwell=32)
    assert c.value >= 8 and dwells.max() == 32  # uncapped: the scan goes on, well beyond the cap below
    (dwells, _), c = analyze.choose_min_dwell(sp, max_dwell=32, slowest=45.0)
    assert dwells.max() == c.value == 4 and "a tenth of the slowest timescale" in c.rule
    (dwells, _), c = analyze.choose_min_dwell(sp, max_dwell=32, slowest=15.0)
    assert c.value == 1 and c.rule.endswith("no coring")


# ---- each input kind, smoke profile ---------------------------------------------------------
def test_features_npy_and_npz(tmp_path):
    x = _two_state_features()
    np.save(tmp_path / "a.npy", x[0])
    np.save(tmp_path / "b.npy", np.stack(x[1:3]))  # a 3-D array: two trajectories
    np.savez(tmp_path / "c.npz", first=x[3][:2000], second=x[3][2000:])  # unequal lengths
    inp = analyze.read_inputs([tmp_path / "a.npy", tmp_path / "b.npy", tmp_path / "c.npz"], dt="2ps")
    assert inp.kind == "features" and len(inp.data) == 5 and inp.dt == 2.0 and inp.dt_unit == "ps"
    assert sorted(inp.lengths.tolist()) == [1000, 2000, 3000, 3000, 3000]
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / f) for f in ("a.npy", "b.npy", "c.npz")]
                        + ["--dt", "2ps", "--out", str(out), "--profile", "smoke", "--no-progress"]) == 0
    m = _check_metrics(out)
    assert m["dt"] == 2.0 and m["dt_unit"] == "ps" and m["n_macro"] == 2
    assert m["lag"] == 2.0 * m["choices"]["lag"]["value"]


def test_labels_input(tmp_path, capsys):
    rng = np.random.default_rng(3)
    lab = [np.repeat(rng.integers(0, 2, 40), 50) * 7 for _ in range(3)]  # states {0, 7}: a gap
    np.savez(tmp_path / "labels.npz", *lab)
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "labels.npz"), "--labels", "--out", str(out), "--profile", "smoke",
                         "--n-macro", "2", "--no-progress"]) == 0
    assert "relabelled" in capsys.readouterr().out
    m = _check_metrics(out)
    assert m["n_micro"] == 2 and m["dt_unit"] == ""


def test_alanine_trajectory_files(tmp_path):
    out = tmp_path / "out"
    files = [str(ALANINE / r / "traj.xtc") for r in ("rep1", "rep2")]
    assert analyze.main(files + ["--dt", "1ps", "--out", str(out), "--profile", "smoke", "--no-progress"]) == 0
    m = _check_metrics(out)
    assert m["inputs"]["features"] == "torsions" and m["dt_unit"] == "ps"


def test_console_script(tmp_path):
    exe = shutil.which("mdlstm", path=str(Path(sys.executable).parent))
    assert exe, "the mdlstm console script is not installed (pip install -e .)"
    r = subprocess.run([exe, "analyze", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--dt" in r.stdout
    r = subprocess.run([sys.executable, "-m", "mdlstm_utils.cli.analyze", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--features" in r.stdout


# ---- bad input: a clear error naming the file, before any work, nothing in OUT ---------------
def _bad_cases(tmp_path):
    x = _two_state_features(n_traj=2, n_frames=500)
    np.save(tmp_path / "ok.npy", x[0])
    nan = x[1].copy()
    nan[17, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "wide.npy", np.hstack([x[1], x[1]]))
    np.save(tmp_path / "one.npy", x[1][:1])
    (tmp_path / "broken.npy").write_bytes(b"not numpy at all")
    (tmp_path / "broken.xtc").write_bytes(bytes(range(256)) * 4)
    ok = str(tmp_path / "ok.npy")
    return [
        ([str(tmp_path / "missing.npy")], "missing.npy: no such file"),
        ([str(tmp_path / "broken.npy")], "broken.npy: cannot be read"),
        ([str(tmp_path / "broken.xtc"), "--top", str(ALANINE / "rep1" / "topology.pdb")], "broken.xtc"),
        ([str(ALANINE / "rep1" / "traj.xtc"), "--top", str(tmp_path / "two_atoms.pdb")], "two_atoms.pdb"),
        ([ok, str(tmp_path / "nan.npy")], "nan.npy: 1 NaN or infinite feature values (first in frame 17)"),
        ([ok, str(tmp_path / "wide.npy")], "wide.npy has 6 columns"),
        ([ok, str(tmp_path / "one.npy")], "one.npy: has 1 frame"),
        ([ok, "--dt", "0"], "dt, the saving interval (time between frames), must be a finite time > 0"),
        ([ok, "--dt=-2ps"], "dt, the saving interval (time between frames), must be a finite time > 0"),
        ([ok, "--dt", "1 fortnight"], "unknown time unit"),
        ([ok, "--lag", "800"], "lag=800 frames: every trajectory is shorter"),
    ]


def _two_atom_pdb(path):
    import mdtraj

    top = mdtraj.Topology()
    ch = top.add_chain()
    res = top.add_residue("ALA", ch)
    top.add_atom("N", mdtraj.element.nitrogen, res)
    top.add_atom("CA", mdtraj.element.carbon, res)
    mdtraj.Trajectory(np.zeros((1, 2, 3)), top).save_pdb(str(path))


def test_bad_inputs_fail_clearly(tmp_path, capsys):
    _two_atom_pdb(tmp_path / "two_atoms.pdb")
    for args, message in _bad_cases(tmp_path):
        out = tmp_path / "out"
        code = analyze.main(args + ["--out", str(out), "--profile", "smoke", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2, args
        assert message in err, (message, err)
        assert not out.exists(), "nothing may be written for bad input"


@pytest.mark.parametrize("dt", [["--dt", "-1ps"], ["--dt", "-0.5 ns"], ["--dt", "-.5"], ["--dt=-1ps"]])
def test_negative_dt_reaches_the_dt_check(tmp_path, capsys, dt):
    # a value that starts with '-' is not taken for an unknown option ("expected one argument")
    np.save(tmp_path / "ok.npy", _two_state_features(n_traj=1, n_frames=50)[0])
    out = tmp_path / "out"
    code = analyze.cli(["analyze", str(tmp_path / "ok.npy"), *dt, "--out", str(out), "--profile", "smoke"])
    err = capsys.readouterr().err
    assert code == 2 and "dt, the saving interval (time between frames), must be a finite time > 0" in err and "expected one argument" not in err, err
    assert not out.exists()


def test_dt_value_joined_leaves_other_arguments_alone():
    j = analyze._dt_value_joined
    assert j(["a.npy", "--dt", "-1ps", "--out", "o"]) == ["a.npy", "--dt=-1ps", "--out", "o"]
    assert j(["a.npy", "--dt", "2ps", "--lag", "-3"]) == ["a.npy", "--dt", "2ps", "--lag", "-3"]
    assert j(["a.npy", "--dt", "--out", "o"]) == ["a.npy", "--dt", "--out", "o"]  # argparse names the missing value
    assert j(["--", "--dt", "-1ps"]) == ["--", "--dt", "-1ps"]


# ---- the rules and self-checks, on exact inputs ----------------------------------------------
def _its(lags, t, low=None, high=None, dt=1.0):
    from mdlstm_utils.states import ImpliedTimescalesResult

    t = np.asarray(t, float)[:, None]
    lo = None if low is None else np.asarray(low, float)[:, None]
    hi = None if high is None else np.asarray(high, float)[:, None]
    return ImpliedTimescalesResult(np.asarray(lags), t, dt, np.ones(len(lags)), lo, hi)


def test_lag_convergence_sees_a_slow_creep():
    """The issue's x-alone case: 11.5 at lag 1 creeping to 15 by lag 10, intervals +-2 %: not converged at lag 1
    (the old rule, two steps within 10 %, took it); flat from lag 10 on: converged there."""
    from mdlstm_utils.states.lag import converged_lag, lag_convergence

    lags = np.array([1, 2, 3, 5, 7, 10, 20, 40, 80])
    t = np.array([11.5, 12.0, 12.5, 13.4, 14.2, 15.0, 15.2, 15.1, 15.3])
    its = _its(lags, t, 0.98 * t, 1.02 * t)
    lc = lag_convergence(its, 1)
    assert not lc.converged and lc.compared_lags.tolist() == [2, 3, 5, 7, 10]
    assert np.isclose(lc.max_change, 15.0 / 11.5 - 1)
    assert converged_lag(its) == 7  # 14.2 vs 15.0-15.3 up to lag 70: within 10 %
    # the same creep with intervals wide enough to hold it: converged at once
    assert converged_lag(_its(lags, t, t - 2.0, t + 2.0)) == 1
    # a timescale shorter than its lag is not resolved there and is not compared
    assert lag_convergence(_its([1, 2, 4], [3.0, 3.1, 1.0]), 1).compared_lags.tolist() == [2]
    assert not lag_convergence(_its([1, 2, 4], [3.0, 3.1, 1.0]), 2).converged  # nothing to compare with


def test_agree_is_bounded_on_both_sides():
    assert analyze.agree(10.9, np.nan, np.nan, 10.0, np.nan, np.nan)  # within 10 %
    assert not analyze.agree(11.1, np.nan, np.nan, 10.0, np.nan, np.nan)
    assert not analyze.agree(8.9, np.nan, np.nan, 10.0, np.nan, np.nan)
    assert analyze.agree(12.0, 11.0, 13.0, 10.0, 9.0, 11.0)  # intervals: half-widths 1 + 1 = 2
    assert not analyze.agree(12.1, 11.1, 13.1, 10.0, 9.0, 11.0)
    assert not analyze.agree(58.8, 55.0, 62.0, 21.0, 20.0, 22.0)  # the rim cores: 166 % over


def test_n_macro_needs_a_gap():
    lags = np.array([1, 2, 4])
    t = np.array([[22.1, 12.0, 6.5, 3.5, 1.8]] * 3)  # ratios 1.84, 1.85, 1.86, 1.94: no gap
    its = _its(lags, t[:, 0])
    its = type(its)(lags, t, 1.0, np.ones(3))
    c = analyze.choose_n_macro(its, 2)
    assert c.value == 2 and "no gap" in c.rule
    t2 = np.array([[30.0, 28.0, 14.0, 0.3, 0.2]] * 3)  # quadruple-well-like: t3/t4 = 47 stands out
    assert analyze.choose_n_macro(type(its)(lags, t2, 1.0, np.ones(3)), 2).value == 4
    t3 = np.array([[40.0, 16.0, 7.0, 0.3, 0.2]] * 3)  # 2.5 and 2.3 against 23: 4
    assert analyze.choose_n_macro(type(its)(lags, t3, 1.0, np.ones(3)), 2).value == 4
    t4 = np.array([[40.0, 10.0, 3.0, 0.3, 0.2]] * 3)  # 4.0, 3.3 and 10 (> 1.5 x 4.0): 4
    assert analyze.choose_n_macro(type(its)(lags, t4, 1.0, np.ones(3)), 2).value == 4
    t5 = np.array([[40.0, 10.0, 1.5, 0.3, 0.2]] * 3)  # 4.0 and 6.7 (and 5.0 unresolved-fast): none stands out
    assert analyze.choose_n_macro(type(its)(lags, t5, 1.0, np.ones(3)), 1).value == 2


def test_no_hint_to_lower_a_threshold_below_one_half():
    from mdlstm_utils.states import cores_from_memberships

    m = np.array([[0.874, 0.126], [0.9, 0.1], [0.95, 0.05]])
    with pytest.raises(ValueError) as e:
        cores_from_memberships(m, 0.9)
    assert "lower the threshold" not in str(e.value) and "use fewer sets" in str(e.value)
    m = np.array([[0.2, 0.8], [0.95, 0.05]])
    with pytest.raises(ValueError, match="lower the threshold to at most 0.8"):
        cores_from_memberships(m, 0.9)
    assert "no threshold in (0.5, 1) can" in metastable._no_core_error(np.array([[0.6, 0.4], [0.6, 0.4]]), 0.7)
    assert "a threshold <= 0.80 would form it" in metastable._no_core_error(m, 0.9)


def _fake_checks(passed: dict):
    return analyze.SelfChecks([analyze.Check(k, k.replace("_", " "), ok, {}, "found") for k, ok in passed.items()])


def test_targets_met_only_when_the_self_checks_pass():
    v = {"lm_mfpt_rel_err": 0.05, "msm_mfpt_rel_err": 0.1, "reference_mfpt_rel_halfwidth": 0.1,
         "lm_slowest_timescale_rel_err": 0.02, "msm_slowest_timescale_rel_err": 0.03, "lm_population_rel_err": 0.01,
         "msm_population_rel_err": 0.01, "lm_met": True, "tolerance": 0.5}
    ok = results._summary(v, "lstm", _fake_checks({"its_converged": True, "relaxation_agrees": True}))
    assert "Targets met" in ok and "Do not trust" not in ok
    bad = results._summary(v, "lstm", _fake_checks({"its_converged": True, "relaxation_agrees": False}))
    assert "Targets met" not in bad and "Do not trust this" in bad and "relaxation agrees" in bad
    assert "Targets met" not in results._summary(v, "lstm", None)
    sc = _fake_checks({"a": True, "b": False})
    assert sc.to_dict()["passed"] is False and sc.to_dict()["b"]["passed"] is False and sc.failed[0].name == "b"


# ---- systems with exact answers the suite was not tuned on, through all coordinates and through one ---------
SMALL = {"triple well": dict(n_frames=3000), "quadruple well": dict(n_frames=3000),
         "four Gaussian wells": dict(n_traj=40, n_frames=1000)}


@pytest.fixture(scope="module", params=list(SMALL))
def system(request):
    s = own.SYSTEMS[request.param](**SMALL[request.param])
    xy = np.concatenate(s.positions)
    # deeptime issue #303: its data systems collapsed to one state on some installs; the wells must all be visited
    if request.param == "triple well":
        visited = [np.mean(xy[:, 0] < -0.5), np.mean(xy[:, 0] > 0.5)]
    else:
        visited = [np.mean((np.sign(xy[:, 0]) == a) & (np.sign(xy[:, 1]) == b)) for a in (-1, 1) for b in (-1, 1)]
    assert min(visited) > 0.05, (request.param, visited)
    return s


def _verdict_is_right(s, st, exact_tol=0.25):
    """Within 25 % of exact with the checks passed, or the checks failed and named."""
    ref = st.self_checks["relaxation_agrees"].numbers["relaxation"]
    err = ref / s.slowest_timescale - 1
    if st.self_checks.passed:
        assert abs(err) <= exact_tol, f"self-checks passed but the slowest relaxation is {err:+.0%} off exact"
    else:
        assert st.self_checks.failed and all(c.meaning and c.advice for c in st.self_checks.failed)
    return err


@pytest.mark.parametrize("view", ["all", "x"])
def test_state_space_of_unseen_systems(system, view, capsys):
    """smoke profile, small data: the rules' state space on each system, through all coordinates and through x.

    Measured (2026-12-04, seed 0): all within 25 % of exact with every self-check passed: triple well -8 % / -20 %,
    quadruple well +20 % / -8 %, four Gaussian wells +15 % / +5 % (all / x).
    """
    X = system.view(view)
    inp = analyze.Inputs("features", [str(i) for i in range(len(X))], X, system.dt, "")
    st = analyze.build_states(inp, profile="smoke", device="cpu")
    out = capsys.readouterr().out
    assert "self-checks of the state space" in out
    err = _verdict_is_right(system, st)
    assert st.self_checks.passed, [c.finding for c in st.self_checks.failed]  # as measured: no false alarm
    assert abs(err) <= 0.25
    d = st.self_checks.to_dict()
    assert set(d) == {"passed", "its_converged", "populations_agree", "ck_heldout", "timescale_heldout", "information"}
    assert set(d["information"]) == {"relaxation_agrees", "cores_in_minima"}  # the criteria that chose the states
    checks = [d[k] for k in d if k not in ("passed", "information")] + list(d["information"].values())
    assert all(isinstance(c["passed"], bool) and c["finding"] for c in checks)


@pytest.mark.parametrize("kw, failing", [
    (dict(lag=1), "its_converged"),  # too short a lag: the MSM's 2.6 against an exact 5.1
    # a minimum dwell of 32 frames given on cores that reach into the barriers (+63 % off): on the held-out
    # trajectories the 4 states relax 1.5 times slower than the microstates (the relaxation criterion that chose the
    # states is information only). Left to its rule, the dwell stops at a tenth of the slowest timescale (8 frames
    # here) and the same cores come out +20 % off with every check passed
    (dict(n_macro=4, core_threshold=0.6, min_dwell=32), "timescale_heldout"),
])
def test_bad_choices_are_caught_by_the_right_check(kw, failing):
    s = own.four_gaussian_wells(**SMALL["four Gaussian wells"])
    inp = analyze.Inputs("features", [str(i) for i in range(len(s.features))], s.features, s.dt, "")
    st = analyze.build_states(inp, profile="smoke", device="cpu", **kw)
    assert not st.self_checks.passed and failing in [c.name for c in st.self_checks.failed]
    _verdict_is_right(s, st)


def test_no_cores_anywhere_writes_the_steps_so_far(tmp_path, capsys):
    """Two microstates cannot make three metastable states: exit 2, with a report of the choices and the ITS."""
    rng = np.random.default_rng(3)
    lab = [np.repeat(rng.integers(0, 2, 40), 50) for _ in range(3)]
    np.savez(tmp_path / "labels.npz", *lab)
    out = tmp_path / "out"
    code = analyze.main([str(tmp_path / "labels.npz"), "--labels", "--out", str(out), "--profile", "smoke",
                         "--n-macro", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no metastable states could be formed" in err and "fewer states than --n-macro 3" in err
    m = json.loads((out / "metrics.json").read_text())
    assert m["self_checks"] == {"passed": False} and "no metastable states" in m["failed"]
    assert m["choices"]["n_macro"]["value"] == 3 and len(m["implied_timescales"]["lags"]) >= 2
    page = (out / "report.html").read_text()
    assert "the analysis stopped" in page and "data:image/png;base64," in page


def test_report_has_self_checks_learning_and_transitions(tmp_path):
    """One whole run (smoke): self_checks, the learning record and the transition errors in both outputs."""
    s = own.four_gaussian_wells(n_traj=20, n_frames=1000)
    np.save(tmp_path / "xy.npy", np.stack(s.features))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "xy.npy"), "--dt", "0.05", "--out", str(out), "--profile", "smoke",
                         "--no-progress"]) == 0
    m = _check_metrics(out)
    sc = m["self_checks"]
    assert isinstance(sc["passed"], bool) and {"its_converged", "populations_agree", "ck_heldout",
                                                "timescale_heldout"} <= set(sc)
    info = sc["information"]
    assert info["relaxation_agrees"]["msm_timescale"] > 0 and len(info["cores_in_minima"]["core_share"]) == m["n_macro"]
    assert all(info[k]["role"] == "information" for k in info) and sc["ck_heldout"]["role"] == "verdict"
    assert m["verdict"]["trust"] == sc["passed"]
    # the held-out checks judge the frames the model is judged on: the test part of the model's own split
    ev = m["evaluation"]
    assert sc["ck_heldout"]["test_frames"] == sc["timescale_heldout"]["test_frames"] == ev["test_frames"]
    assert ev["protocol"] == "trajectories" and ev["train_trajectories"] + ev["test_trajectories"] == 20
    assert ("Targets met" in m["verdict"]["summary"]) <= sc["passed"]
    rec = m["learning"]
    assert np.isclose(rec["loss_gap"], rec["val_loss"] - rec["msm_val_loss"]) and len(rec["val_loss_curve"]) >= 1
    te = m["transitions"]
    assert te["timescale_ref"] > 0 and te["n_pairs"] >= te["n_crossing"] >= 1 and te["summary"]
    mem = m["memory"]  # the memory test of the labels the model learned, with the numbers it rests on
    assert isinstance(mem["history_matters"], bool) and mem["sentence"]
    assert mem["gain_low"] <= mem["gain"] <= mem["gain_high"] and mem["order"] in mem["orders"]
    assert mem["history_matters"] == (mem["order"] > 1)
    page = (out / "report.html").read_text()
    assert "Self-checks of the state space" in page and "Learning and the transitions" in page
    assert "Memory: " in page
    assert page.count("data:image/png;base64,") >= 5


def test_choose_lag_intervals_follow_the_seed():
    # the Bayesian intervals of the lag scan are drawn with the run's seed: the same seed repeats them exactly
    from mdlstm_utils.states import from_labels, rules

    rng = np.random.default_rng(0)
    micro = from_labels([rng.integers(0, 3, size=3000) for _ in range(3)], dt=1.0)
    a = rules.choose_lag(micro, n_lags=4, n_samples=8, seed=1)[0]
    b = rules.choose_lag(micro, n_lags=4, n_samples=8, seed=1)[0]
    c = rules.choose_lag(micro, n_lags=4, n_samples=8, seed=2)[0]
    np.testing.assert_array_equal(a.timescales_low, b.timescales_low)
    assert not np.array_equal(a.timescales_low, c.timescales_low)
