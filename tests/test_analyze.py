"""mdlstm analyze: every input kind, every bad input, and the method on systems the notebooks do not use."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mdlstm_utils import analyze, kinetics
from mdlstm_utils.states import from_labels, parse_dt

from _own_systems import quadruple_well, triple_well

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
        kinetics.compare(lab, lab, n_states=2, sets=[[0], [1]], dt=dt)


def test_kinetics_refuses_single_frames():
    with pytest.raises(ValueError, match="one frame"):
        kinetics.compare([np.array([0]), np.array([1])], np.array([0, 1, 0]), n_states=2, sets=[[0], [1]])


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
    r = subprocess.run([sys.executable, "-m", "mdlstm_utils.analyze", "--help"], capture_output=True, text=True)
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
        ([ok, "--dt", "0"], "dt must be a finite time > 0"),
        ([ok, "--dt=-2ps"], "dt must be a finite time > 0"),
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


# ---- the method on two systems the notebooks do not use --------------------------------------
@pytest.mark.parametrize("make", [triple_well, quadruple_well], ids=["triple_well_2d", "quadruple_well"])
def test_slowest_timescale_of_unseen_systems(make):
    """quick profile, 20-D embedding, 3 seeds: the LSTM's slowest relaxation time within 25 % of the exact one.

    The seed moves the k-means seeding and the training, so the spread is that of the whole method. Measured
    (bench/bench_analyze.py, 2026-11-26): triple well -16 / +1 / -11 %, quadruple well -25 / -5 / -19 %; the
    reference labels -11 % and -3 to +6 %. A single run can miss by a hair (quadruple well, seed 0).
    """
    sysm = make()
    inp = analyze.Inputs("features", [f"{sysm.name} {i}" for i in range(len(sysm.features))], sysm.features,
                         sysm.dt, "")
    ref, lm = [], []
    for seed in (0, 1, 2):
        m = analyze.run(inp, profile="quick", seed=seed, device="cpu", progress=False).metrics()
        ref.append(m["slowest_timescale"]["reference"])
        lm.append(m["slowest_timescale"]["lm"])
    exact = sysm.slowest_timescale
    print(f"{sysm.name}: exact {exact:.3g}, reference {np.round(ref, 3)}, LSTM {np.round(lm, 3)}")
    assert all(abs(r / exact - 1) <= 0.15 for r in ref)  # the partition the rules build
    assert abs(np.mean(lm) / exact - 1) <= 0.25  # the language model on it
