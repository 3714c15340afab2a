"""mdlstm analyze on input nobody designed for it (issue 45): every input that reads correctly ends with
``report.html`` and ``metrics.json`` (a partial report naming the failed step, why and what to try, where a step
fails), too-short input is refused before any work in the user's terms, smoke is not judged, and ``--help``
answers without importing the heavy stack."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mdlstm_utils.cli import results
from mdlstm_utils.cli import analyze, metastable, method

#: A five-state chain: wells {0, 1} and {3, 4}, and state 2 on the barrier between them, left to either side alike
#: (PCCA+ membership near 1/2, so it is in no core at any threshold analyze tries).
CHAIN = np.array([[0.9, 0.1, 0, 0, 0],
                  [0.1, 0.89, 0.01, 0, 0],
                  [0, 0.4, 0.2, 0.4, 0],
                  [0, 0, 0.01, 0.89, 0.1],
                  [0, 0, 0, 0.1, 0.9]])
SMOKE = ["--profile", "smoke", "--no-progress"]


def _chain(rng, n: int, start: int) -> np.ndarray:
    s = np.empty(n, dtype=np.int64)
    s[0] = start
    cum = np.cumsum(CHAIN, axis=1)
    u = rng.random(n)
    for t in range(1, n):
        s[t] = min(np.searchsorted(cum[s[t - 1]], u[t]), 4)
    return s


def _wells(rng, n_traj: int = 4, n_frames: int = 1500) -> list[np.ndarray]:
    """``n_traj`` trajectories of the chain, half of them the mirror images (``4 - s``) of the others: the counts
    are then symmetric, and state 2's PCCA+ membership is exactly 1/2 in both states."""
    half = [_chain(rng, n_frames, int(rng.choice([0, 4]))) for _ in range(n_traj // 2)]
    return half + [4 - t for t in half]


def _outputs(out: Path) -> dict:
    """Both files are there; the metrics, read."""
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()
    return json.loads((out / "metrics.json").read_text())


# ---- the four cases of the issue -------------------------------------------------------------
def test_a_trajectory_that_starts_in_the_transition_region(tmp_path):
    """Its frames before the first core visit take the first core it enters (the 'backfill' rule of
    states.metastable_states): nothing is dropped and a whole report is written."""
    rng = np.random.default_rng(1)
    lead = np.r_[np.full(40, 2), _chain(rng, 1460, 1)]
    np.savez(tmp_path / "labels.npz", lead, *_wells(rng))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "labels.npz"), "--labels", "--out", str(out), *SMOKE]) == 0
    m = _outputs(out)
    assert m["dropped"]["files"] == [] and m["dropped"]["frames"] == 0
    assert "Kinetics report" in (out / "report.html").read_text()


def test_a_trajectory_that_never_enters_a_core_is_left_out_and_said_so(tmp_path):
    """It used to crash with 'trajs[4] holds a negative label (-1)' from check_labels inside find_metastable."""
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "labels.npz", *_wells(rng), np.full(400, 2))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "labels.npz"), "--labels", "--out", str(out), *SMOKE]) == 0
    m = _outputs(out)
    assert m["dropped"]["files"] == [f"{tmp_path / 'labels.npz'}[arr_4]"] and m["dropped"]["frames"] == 400
    assert any("never visit a core" in n and "400 frames" in n for n in m["fallbacks"])
    page = (out / "report.html").read_text()
    assert "never visit a metastable core" in page and "400 frames" in page
    with np.load(out / "states.npz") as s:  # the state assignment per input trajectory: the one left out is -1
        assert (s["states_4"] == -1).all() and (s["part_4"] == 0).all() and len(s["micro_4"]) == 400
        assert all(set(np.unique(s[f"part_{i}"])) <= {1, 2} and (s[f"states_{i}"] >= 0).all() for i in range(4))
    # smoke is not judged, in the metrics and on the page (as in the notebooks)
    v = m["verdict"]
    assert v["judged"] is False and v["lm_met"] is None and v["targets"].startswith("not judged")
    assert "Targets not judged" in v["summary"] and "Targets met" not in v["summary"]
    assert "Targets not judged: the smoke profile" in page


def test_twenty_frames_are_refused_before_any_work_in_the_users_terms(tmp_path, capsys):
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(size=(20, 3)))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "noise.npy"), "--out", str(out), *SMOKE]) == 2
    cap = capsys.readouterr()
    assert "20 frames: the model needs windows of at least 33 frames" in cap.err and "--seq-len" in cap.err
    assert "cuts it into 4 contiguous blocks, trains on 2 of the 4 blocks" in cap.err
    assert "Give trajectories of at least 1299 frames" in cap.err and "no --seq-len fits" in cap.err
    assert cap.out == "" and not out.exists(), "nothing may be computed or written before the refusal"
    # the setting the message names is an option, checked like the others before any work
    assert analyze.main([str(tmp_path / "noise.npy"), "--seq-len", "0", "--out", str(out), *SMOKE]) == 2
    assert "seq_len=0 must be an int >= 1" in capsys.readouterr().err and not out.exists()


def test_800_frames_of_noise_are_refused_by_the_protocols_arithmetic(tmp_path, capsys):
    """800 frames used to fail inside learn_and_compare ('no validation window of 33 frames fits'): one trajectory
    becomes 4 blocks of 200, 2 train, and their last 10 % (20 frames) hold no window of 33. Refused before any
    work, with the numbers of the split and a --seq-len that fits."""
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(size=(800, 3)))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "noise.npy"), "--out", str(out), *SMOKE]) == 2
    cap = capsys.readouterr()
    assert cap.err.startswith("mdlstm analyze: error: 800 frames: the model needs windows of at least 33 frames")
    assert "4 contiguous blocks" in cap.err and "20 frames at most here" in cap.err
    assert "at least 1299 frames" in cap.err and "a shorter --seq-len (at most 19)" in cap.err
    assert cap.out == "" and not out.exists()


def test_pure_noise_ends_with_a_report_and_no_numpy_warning(tmp_path):
    """Noise just long enough for the model's windows (1500 frames), as a user runs it (the console script): a
    report (whole or partial), and no 'RuntimeWarning: All-NaN slice' or any other numpy warning printed."""
    exe = shutil.which("mdlstm", path=str(Path(sys.executable).parent))
    assert exe, "the mdlstm console script is not installed (pip install -e .)"
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(size=(1500, 3)))
    out = tmp_path / "out"
    r = subprocess.run([exe, "analyze", str(tmp_path / "noise.npy"), "--out", str(out), *SMOKE],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 2), r.stderr
    m = _outputs(out)
    assert "RuntimeWarning" not in r.stderr + r.stdout, r.stderr
    if r.returncode == 2:  # stopped at a step: the report says which, why and what to try
        assert m["failed_step"] and m["failed"] and m["advice"]
        assert "stopped at the step" in r.stderr and "Stopped at the step" in (out / "report.html").read_text()
    else:
        assert m["verdict"]["judged"] is False


# ---- every failure past reading becomes a partial report --------------------------------------------------
def test_a_failure_in_the_model_step_writes_a_partial_report(tmp_path, monkeypatch, capsys):
    """Any error after the state space (here a RuntimeError from training) ends in a report of the steps so far,
    with the self-checks, the failed step, the error and what to try; exit status 2."""
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(method, "learn", broken)
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "labels.npz", *_wells(rng))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "labels.npz"), "--labels", "--out", str(out), *SMOKE]) == 2
    err = capsys.readouterr().err
    assert "stopped at the step 'language model'" in err and "--seq-len" in err
    m = _outputs(out)
    assert m["failed_step"] == "language model" and m["failed"] == "RuntimeError: CUDA error: out of memory"
    assert isinstance(m["self_checks"]["passed"], bool) and "its_converged" in m["self_checks"]
    assert m["choices"]["lag"]["value"] >= 1 and m["verdict"]["judged"] is False
    page = (out / "report.html").read_text()
    assert "Stopped at the step:</b> language model" in page and "Self-checks of the state space" in page
    # the states were formed: their assignment per frame is saved and listed, with how to load it
    assert m["outputs"] == {"states.npz": method.OUTPUT_FILES["states.npz"]} and "states.npz" in page
    with np.load(out / "states.npz") as s:
        assert len(s["sources"]) == 4 and all(len(s[f"states_{i}"]) == 1500 for i in range(4))
    assert not (out / "model.pt").exists()


def test_a_value_error_inside_a_trial_does_not_escape_the_fallback_loop(monkeypatch):
    """A threshold whose trial raises is a failed trial (its error recorded), and the next threshold is tried."""
    real = metastable.try_threshold

    def first_fails(micro, n, tau, th, msm, **kw):
        if th == metastable.CORE_THRESHOLDS[0]:
            raise ValueError("trajs[57] holds a negative label (-1); labels must be >= 0")
        return real(micro, n, tau, th, msm, **kw)

    monkeypatch.setattr(metastable, "try_threshold", first_fails)
    rng = np.random.default_rng(1)
    inp = analyze.Inputs("labels", [str(i) for i in range(4)], _wells(rng), 1.0, "")
    st = analyze.build_states(inp, profile="smoke", device="cpu")
    first = st.trials[0][2][0]
    assert first.error.startswith("trajs[57] holds a negative label") and st.choices["core_threshold"].value > 0.6


def test_a_failure_in_the_state_space_names_its_step(tmp_path, monkeypatch):
    """An error in a rule (here the lag scan) is a partial report at that step, not a crash."""
    def broken(*args, **kwargs):
        raise RuntimeError("deeptime: the count matrix has no stationary vector")

    monkeypatch.setattr(method, "choose_lag", broken)
    rng = np.random.default_rng(1)
    inp = analyze.Inputs("labels", [str(i) for i in range(4)], _wells(rng), 1.0, "")
    with pytest.raises(analyze.AnalysisFailed) as e:
        analyze.build_states(inp, profile="smoke", device="cpu")
    p = e.value.partial
    assert p.step == "implied timescales and the MSM lag" and p.reason == "RuntimeError: deeptime: the count matrix has no stationary vector"
    assert "--lag" in p.advice and p.choices["n_micro"].value == 5
    path = analyze.write_report(p, tmp_path / "out")
    m = _outputs(path.parent)
    assert m["failed_step"] == p.step and m["self_checks"] == {"passed": False}


def test_smoke_summary_is_not_judged():
    v = {"lm_mfpt_rel_err": 0.05, "msm_mfpt_rel_err": 0.1, "reference_mfpt_rel_halfwidth": 0.1,
         "lm_slowest_timescale_rel_err": 0.02, "msm_slowest_timescale_rel_err": 0.03, "lm_population_rel_err": 0.01,
         "msm_population_rel_err": 0.01, "lm_met": None, "tolerance": 0.5, "judged": False}
    text = results._summary(v, "lstm", None)
    assert "Targets not judged: the smoke profile" in text and "Targets met" not in text


# ---- the command line answers at once -------------------------------------------------------------
def test_help_imports_nothing_heavy():
    """``mdlstm analyze --help`` parses before it imports the method: no torch, deeptime, mdtraj, matplotlib
    (-X importtime lists every module imported)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mdlstm_utils.cli.analyze", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--seq-len" in r.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "deeptime", "mdtraj", "matplotlib", "scipy")}
    assert not heavy, sorted(heavy)[:10]
    assert "mdlstm_utils.cli.method" not in imported and "mdlstm_utils.runtime" not in imported


def test_profile_names_of_the_command_line_are_the_profiles():
    assert analyze.PROFILE_NAMES == tuple(analyze.PROFILES) == tuple(method.PROFILES)
    assert analyze.run is method.run and analyze.AnalysisFailed is metastable.AnalysisFailed


def test_never_in_a_core_is_the_coring_rule_analyze_relies_on():
    """Frames before the first core visit take the first core entered ('backfill'); a trajectory that never
    enters a core stays -1 throughout, and never_in_a_core names it."""
    from mdlstm_utils.states.metastable import core_set_labels, never_in_a_core

    cores = np.array([0, 0, -1, 1, 1])  # state 2 is the transition region
    cored = core_set_labels([np.array([2, 2, 0, 0]), np.array([2, 2, 2]), np.array([4, 2, 1])], cores, n_states=5,
                            before_first="backfill")
    assert [c.tolist() for c in cored] == [[0, 0, 0, 0], [-1, -1, -1], [1, 1, 0]]
    assert never_in_a_core(cored).tolist() == [1] and never_in_a_core(np.array([-1, -1])).tolist() == [0]
