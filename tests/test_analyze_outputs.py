"""mdlstm analyze (issue 45, items 1, 3, 4 and 6): the too-short refusal follows the evaluation protocol's split,
the self-checks on the held-out part can fail (each has a case where it does), the criteria that chose the states
are information only, the files a user can reuse (states, generated trajectories, the model) and --keep-states,
and the page rendered from its templates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mdlstm_utils.cli import analyze, checks, method, report
from mdlstm_utils.lm.models import LSTMLM
from mdlstm_utils.lm.train import fit, load_model
from mdlstm_utils.states import from_labels

SMOKE = ["--profile", "smoke", "--no-progress"]


def _chain(T, n: int, rng) -> np.ndarray:
    s = np.zeros(n, dtype=np.int64)
    cum = np.cumsum(T, axis=1)
    u = rng.random(n)
    for t in range(1, n):
        s[t] = min(np.searchsorted(cum[s[t - 1]], u[t]), len(T) - 1)
    return s


# ---- 1. the too-short refusal is the protocol's arithmetic ------------------------------------
@pytest.mark.parametrize("n_traj", [1, 2, 5])
def test_the_minimum_length_is_what_fit_needs_after_the_split(n_traj):
    """At the length check_length asks for, fit trains on the training pieces of the protocol's split; one frame
    less and it fails for want of a validation window (the error check_length now gives before any work)."""
    cfg = method.train_config("smoke")
    need = method.min_length(n_traj, cfg)
    rng = np.random.default_rng(0)
    for n, fits in ((need, True), (need - 1, False)):
        lengths = [n] * n_traj
        pieces, split = method._training_pieces(lengths, seed=0)
        train = [rng.integers(0, 3, size=k) for k in pieces]
        if fits:
            method.check_length(lengths, profile="smoke")
            fit(LSTMLM(3, embed_dim=4, hidden_dim=8), train, config=cfg.replace(steps=1, epochs=1), progress=False)
        else:
            with pytest.raises(ValueError, match="the model needs windows of at least 33 frames"):
                method.check_length(lengths, profile="smoke")
            with pytest.raises(ValueError, match="no validation window|needs trajectories of at least"):
                fit(LSTMLM(3, embed_dim=4, hidden_dim=8), train, config=cfg.replace(steps=1, epochs=1),
                    progress=False)


def test_the_refusal_names_the_split_and_a_seq_len_that_fits():
    with pytest.raises(ValueError) as e:
        method.check_length([200] * 5, profile="smoke")
    msg = str(e.value)
    assert msg.startswith("5 trajectories of 200 frames: the model needs windows of at least 33 frames")
    assert "trains on 2 of the 5 trajectories (chosen by --seed 0; the other 3 are the test reference)" in msg
    assert "at least 325 frames each" in msg and "a shorter --seq-len (at most 19)" in msg
    assert "more trajectories" not in msg  # more trajectories of the same length would not help
    method.check_length([200] * 5, profile="smoke", seq_len=19)  # the --seq-len it names fits


# ---- 3. self-checks on the held-out part: each fails where it should ------------------------------------
def _held_out(coarse, micro):
    sp, mi = from_labels(coarse, verbose=False), from_labels(micro, verbose=False)
    return checks.held_out(sp, mi, range(len(coarse)), seed=0), sp.n_states, mi.n_states


#: Four states in a row, 0-1 and 2-3 fast, 1-2 slow: {0, 1} | {2, 3} is the slowest process, {0} | {1, 2, 3} is not.
FOUR = np.array([[0.9, 0.1, 0, 0], [0.1, 0.895, 0.005, 0], [0, 0.005, 0.895, 0.1], [0, 0, 0.1, 0.9]])
#: A hidden state that leaves fast (0) and one that leaves slowly (1), seen together as one state against 2:
#: the time in the lumped state is not exponential, its labels have memory.
HIDDEN = np.array([[0.85, 0.05, 0.10], [0.01, 0.985, 0.005], [0.05, 0.0, 0.95]])


@pytest.fixture(scope="module")
def four():
    rng = np.random.default_rng(0)
    return [_chain(FOUR, 3000, rng) for _ in range(8)]


def test_held_out_checks_pass_on_the_right_states(four):
    h, n, nm = _held_out([np.array([0, 0, 1, 1])[t] for t in four], four)
    assert h.split.test_frames == 12000 and [len(t) for t in h.test] == [len(t) for t in h.micro_test]
    ck = checks.check_ck_heldout(h, n, 1, 1.0, reach=200)
    ts = checks.check_timescale_heldout(h, n, nm, 1, 1.0, n_samples=10)
    assert ck.passed and ck.numbers["max_error"] < 0.03 and ck.numbers["mlags"] == checks.CK_MAX_MLAGS
    assert ts.passed and 0.9 < ts.numbers["ratio"] < 1.1, ts.finding


def test_timescale_check_fails_on_states_that_split_the_wrong_process(four):
    """{0} | {1, 2, 3}: 6.6 against the microstates' 200 on the held-out trajectories (measured)."""
    h, n, nm = _held_out([np.array([0, 1, 1, 1])[t] for t in four], four)
    ts = checks.check_timescale_heldout(h, n, nm, 1, 1.0, n_samples=10)
    assert not ts.passed and ts.numbers["ratio"] < 0.1 and ts.meaning and ts.advice
    assert "relax faster" in ts.meaning


def test_ck_check_fails_on_states_with_memory():
    """The hidden fast and slow leavers lumped: error 0.115 against 0.058 for Markov surrogates of the same size
    (measured); the test reaches the slowest timescale, where the memory shows (5 multiples of the lag: 0.024)."""
    rng = np.random.default_rng(0)
    hidden = [_chain(HIDDEN, 3000, rng) for _ in range(8)]
    h, n, nm = _held_out([(t == 2).astype(np.int64) for t in hidden], hidden)
    ck = checks.check_ck_heldout(h, n, 1, 1.0, reach=50)
    assert not ck.passed and ck.numbers["max_error"] > checks.CK_ATOL > 0
    assert ck.numbers["max_error"] > ck.numbers["noise_error"] and "not noise" in ck.finding
    assert ck.meaning and ck.advice


def test_ck_check_fails_when_the_test_part_is_too_short_to_run_it():
    rng = np.random.default_rng(1)
    lab = [rng.integers(0, 2, size=30) for _ in range(4)]
    h, n, nm = _held_out(lab, lab)
    ck = checks.check_ck_heldout(h, n, 20, 1.0)
    assert not ck.passed and ck.finding.startswith("not run") and ck.numbers["max_error"] is None


def test_information_checks_do_not_decide_the_verdict():
    ok = checks.Check("ck_heldout", "ck", True, {}, "found")
    info = checks.Check("relaxation_agrees", "relax", False, {}, "found", role="information")
    sc = checks.SelfChecks([ok], [info])
    assert sc.passed and sc.failed == [] and sc["relaxation_agrees"] is info and "relaxation_agrees" in sc
    d = sc.to_dict()
    assert d["passed"] is True and set(d) == {"passed", "ck_heldout", "information"}
    assert d["information"]["relaxation_agrees"]["passed"] is False
    assert d["information"]["relaxation_agrees"]["role"] == "information"


# ---- 6. files to reuse, --keep-states ------------------------------------------------------------
def _three_state_labels(rng):
    T = np.array([[0.97, 0.03, 0.0], [0.02, 0.96, 0.02], [0.0, 0.03, 0.97]])
    return [np.array([0, 3, 7])[_chain(T, 1500, rng)] for _ in range(4)]  # labels {0, 3, 7}: a gap


def test_keep_states_analyses_the_labels_as_given_and_saves_what_it_computed(tmp_path):
    """--keep-states: the three labels are the three states (no PCCA+ lumping to two), each its own set for the
    MFPTs, named by the input's labels; states.npz, generated.npz and model.pt load as the report says."""
    lab = _three_state_labels(np.random.default_rng(0))
    np.savez(tmp_path / "labels.npz", *lab)
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "labels.npz"), "--labels", "--keep-states", "--out", str(out), *SMOKE]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["keep_states"] is True and m["n_macro"] == 3 and m["set_names"] == ["0", "3", "7"]
    assert len(m["mfpt"]["reference"]) == 3 and "--keep-states" in m["choices"]["n_macro"]["rule"]
    sc = m["self_checks"]  # no PCCA+, no cores: nothing chose the states, so no information criteria
    assert {"its_converged", "ck_heldout"} <= set(sc) and "populations_agree" not in sc and sc["information"] == {}
    assert m["evaluation"]["test_frames"] == sc["ck_heldout"]["test_frames"] == 3000
    assert set(m["outputs"]) == {"states.npz", "generated.npz", "model.pt"}
    with np.load(out / "states.npz") as s:
        assert s["original_labels"].tolist() == [0, 3, 7] and list(s["set_names"]) == ["0", "3", "7"]
        for i, t in enumerate(lab):  # the states are the labels, renumbered: nothing lumped, nothing cored
            assert np.array_equal(s["original_labels"][s[f"states_{i}"]], t)
            assert np.array_equal(s[f"states_{i}"], s[f"micro_{i}"])
        parts = {i: set(np.unique(s[f"part_{i}"]).tolist()) for i in range(4)}
        assert sorted(i for i in parts if parts[i] == {2}) == m["evaluation"]["test_source"]
    with np.load(out / "generated.npz") as g:
        lm = [g[k] for k in g.files if k.startswith("lm_")]
        assert len(lm) == 2 and all(len(x) == 1500 and x.max() <= 2 for x in lm)
    model = load_model(out / "model.pt", device="cpu")
    ckpt = torch.load(out / "model.pt", weights_only=True)  # plain data and tensors: safe to load
    assert ckpt["set_names"] == ["0", "3", "7"] and ckpt["n_states"] == 3 and ckpt["seq_len"] == 32
    with torch.no_grad():
        assert model(torch.zeros(1, 5, dtype=torch.long))[0].shape[-1] == 3
    page = (out / "report.html").read_text()
    assert "Files to reuse" in page and "load_model(&#34;" in page and "states.npz" in page
    assert "your labels as given" in page
    u = m["unseen"]  # the unseen-transition diagnostic, measured on the test part, in the JSON and on the page
    assert 0 <= u["model_unseen_mass"] <= 1 and 0 <= u["held_out_unseen_rate"] <= 1
    assert u["held_out_n_pairs"] == 3000 - 2  # every frame pair of the test part (two trajectories of 1500)
    assert "Transitions never seen in training" in page


@pytest.mark.parametrize("args, message", [
    ([], "--keep-states keeps state labels as given: it needs label inputs (--labels)"),
    (["--labels", "--n-macro", "2"], "--keep-states analyses the labels as given; --n-macro would lump"),
    (["--labels", "--min-dwell", "3"], "--min-dwell would lump or core them"),
])
def test_keep_states_refuses_what_would_change_the_labels(tmp_path, capsys, args, message):
    rng = np.random.default_rng(0)
    if "--labels" in args:
        np.savez(tmp_path / "in.npz", *_three_state_labels(rng))
    else:
        np.savez(tmp_path / "in.npz", rng.normal(size=(1500, 2)))
    out = tmp_path / "out"
    assert analyze.main([str(tmp_path / "in.npz"), "--keep-states", *args, "--out", str(out), *SMOKE]) == 2
    assert message in capsys.readouterr().err and not out.exists()


# ---- 4. the page from its templates ------------------------------------------------------------
def test_the_pages_are_rendered_from_templates_that_escape_what_they_show(tmp_path, monkeypatch):
    assert {p.name for p in report.TEMPLATES.glob("*.j2")} >= {"base.html.j2", "report.html.j2", "partial.html.j2"}

    def broken(*args, **kwargs):
        raise RuntimeError("<script>alert(1)</script> & more")

    monkeypatch.setattr(method, "choose_lag", broken)
    rng = np.random.default_rng(0)
    inp = analyze.Inputs("labels", ["<b>a</b>.npy"] * 4, _three_state_labels(rng), 1.0, "")
    with pytest.raises(analyze.AnalysisFailed) as e:
        analyze.build_states(inp, profile="smoke", device="cpu")
    page = (analyze.write_report(e.value.partial, tmp_path / "out")).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page and "<script>" not in page
    assert page.startswith("<!DOCTYPE html>") and "Stopped at the step:</b> implied timescales" in page
