"""lm.resolution: the saving-interval scan of notebook 02, on a two-state Markov chain (a few seconds of training)."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from mdlstm_utils.lm import resolution
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.report import plots
from mdlstm_utils.states import StateSpace

INTERVALS, SEEDS = [1, 2], [0, 1]
DT = 0.5
#: tiny models, one epoch: the scan's bookkeeping is under test, not how well the LSTM learns
SETTINGS = dict(hidden=8, batch_size=16, steps=None, lr_schedule="constant", device="cpu")


def _two_state_chain(n_traj=6, n_frames=400, seed=0):
    """A two-state Markov chain: leaves state 0 with probability 0.05 per frame, state 1 with 0.1."""
    P = np.array([[0.95, 0.05], [0.1, 0.9]])
    rng = np.random.default_rng(seed)
    x = np.zeros((n_traj, n_frames), dtype=np.int64)
    x[:, 0] = rng.integers(0, 2, n_traj)
    for t in range(1, n_frames):
        x[:, t] = (rng.random(n_traj) < P[x[:, t - 1], 1]).astype(np.int64)
    return x


@pytest.fixture(scope="module")
def chain():
    labels = _two_state_chain()  # walkers 0-1 train, 2-3 validate, 4-5 are the test reference (the protocol)
    space = StateSpace(labels[4:], 2, dt=DT, dt_unit="ps", sets=[[0], [1]], set_names=["A", "B"])
    return labels, space


@pytest.fixture(scope="module")
def scan(chain):
    labels, space = chain
    return resolution.interval_scan(space, INTERVALS, train=labels[:2], val=labels[2:4], seeds=SEEDS, n_gen=4,
                                    epochs=1, seq_len=20, verbose=False, **SETTINGS)


def test_one_row_per_interval_seed_and_model_in_the_order_run(scan):
    runs = scan.runs
    assert len(runs) == len(INTERVALS) * len(SEEDS) * 3
    expected = [(s, k, m) for s in SEEDS for k in INTERVALS for m in ("LSTM", "MSM", "noise floor")]
    assert list(zip(runs.seed, runs.k, runs.model)) == expected
    assert runs.interval.tolist() == [k * DT for s, k, _ in expected]
    assert set(scan.results) == {(k, s) for k in INTERVALS for s in SEEDS}
    # the frames per trajectory at interval k: every k-th of 400 frames
    assert runs.set_index("k")["frames/traj"].groupby(level=0).first().to_dict() == {1: 400, 2: 200}
    # columns the notebook, its metrics.json and the site read
    for col in ("MFPT A→B ref", "MFPT A→B gen", "MFPT B→A ref", "MFPT B→A gen", "slow-process error",
                "population error", "seq_len", "train s", "epochs run", "val loss − lag-1 MSM"):
        assert col in runs.columns, col
    # only the LSTM trains; the noise floor generates no MFPTs
    assert runs[runs.model != "LSTM"]["train s"].isna().all() and (runs[runs.model == "LSTM"]["train s"] > 0).all()
    assert runs[runs.model == "noise floor"]["MFPT A→B gen"].isna().all()
    assert scan.set_names == ("A", "B") and scan.dt_unit == "ps"


def test_msm_and_lstm_rows_are_what_learn_and_compare_gives_for_the_subsampled_data(chain, scan):
    labels, _ = chain
    for k, s in ((2, 1), (1, 0)):
        ref = StateSpace(labels[4:, ::k], 2, dt=DT * k, dt_unit="ps", sets=[[0], [1]], set_names=["A", "B"])
        # prompts: two 20-frame windows of each of the 2 reference trajectories; generated as long as one of them
        res = learn_and_compare(ref, train_labels=list(labels[:2, ::k]), val_labels=list(labels[2:4, ::k]),
                                prompt=resolution.scan_prompts(ref.trajs, 4), gen_frames=400 // k, seq_len=20, epochs=1, seed=s,
                                **SETTINGS)
        m = res.metrics
        rows = scan.runs[(scan.runs.k == k) & (scan.runs.seed == s)].set_index("model")
        msm, lstm, floor = rows.loc["MSM"], rows.loc["LSTM"], rows.loc["noise floor"]
        assert msm["MFPT A→B ref"] == m["mfpt_ref"][0][1] and msm["MFPT B→A ref"] == m["mfpt_ref"][1][0]
        assert msm["MFPT A→B gen"] == m["msm_mfpt_gen"][0][1] and msm["MFPT B→A gen"] == m["msm_mfpt_gen"][1][0]
        assert msm["slow-process error"] == m["msm_mfpt_max_rel_err"]
        assert msm["population error"] == m["msm_set_pop_max_abs_err"]
        assert floor["slow-process error"] == m["noise_floor_mfpt_err"]
        assert floor["population error"] == m["noise_floor_pop_err"]
        assert lstm["MFPT A→B gen"] == m["mfpt_gen"][0][1] and lstm["slow-process error"] == m["mfpt_max_rel_err"]
        assert lstm["seq_len"] == 20 and lstm["epochs run"] == m["epochs_run"] == 1
        assert np.array_equal(scan.results[k, s].generated, res.generated)


def test_summary_is_the_mean_and_sd_over_seeds(scan):
    t = scan.summary
    assert len(t) == len(INTERVALS) * 3 and (t.seeds == len(SEEDS)).all()
    assert list(zip(t.interval, t.model)) == [(k * DT, m) for k in INTERVALS for m in ("LSTM", "MSM", "noise floor")]
    assert "seed" not in t.columns
    for _, row in t.iterrows():
        per_seed = scan.runs[(scan.runs.k == row.k) & (scan.runs.model == row.model)]
        assert len(per_seed) == len(SEEDS)
        assert row["slow-process error"] == pytest.approx(per_seed["slow-process error"].mean())
        assert row["slow-process error sd"] == pytest.approx(per_seed["slow-process error"].std(ddof=1), nan_ok=True)
        assert row["MFPT A→B gen sd"] == pytest.approx(per_seed["MFPT A→B gen"].std(ddof=1), nan_ok=True)
    err = scan.errors()
    assert err["MSM"][DT] == pytest.approx(t[(t.model == "MSM") & (t.k == 1)]["slow-process error"].item())


def test_to_dict_holds_both_tables_and_the_errors_by_interval(scan):
    d = scan.to_dict()
    assert len(d["runs"]) == len(scan.runs) and len(d["table"]) == len(scan.summary)
    assert set(d["lstm_slow_error_by_interval"]) == {"0.5", "1.0"}
    lstm = scan.summary[scan.summary.model == "LSTM"].set_index("interval")["slow-process error"]
    assert d["best_interval_lstm"] == lstm.idxmin()
    assert d["msm_slow_error_by_interval"]["1.0"] == scan.errors()["MSM"][1.0]
    assert d["lstm_max_population_error"] == scan.summary[scan.summary.model == "LSTM"]["population error"].max()


def test_window_and_prompts_follow_the_rules():
    long, short = [np.zeros(400, int)] * 2, [np.zeros(30, int)]
    assert resolution.window_length(long, long, 100) == 100
    assert resolution.window_length(short, long, 100) == 8  # a quarter of 30 frames is 7: the 8-frame minimum
    assert resolution.window_length(long, [np.zeros(6, int)], 100) == 5  # one frame less than the validation data
    trajs = [np.arange(100), np.arange(100, 200)]
    p = resolution.scan_prompts(trajs, 5)
    assert p.shape == (5, 20)
    # trajectory i mod 2, window i // 2
    assert [row[0] for row in p] == [0, 100, 20, 120, 40]
    assert resolution.scan_prompts([np.arange(10)], 1).tolist() == [list(range(5))]  # half of a short trajectory
    # more prompts than windows (3 of 20 frames from 40 frames): the windows are used again in turn
    assert [row[0] for row in resolution.scan_prompts([np.arange(40)], 3)] == [0, 20, 0]
    assert [row[0] for row in resolution.scan_prompts([np.arange(45), np.arange(100, 200)], 6)] == [0, 100, 20, 120, 0, 140]


def test_bad_input_is_refused_with_a_clear_message(chain):
    labels, space = chain
    kw = dict(train=labels[:2], val=labels[2:], n_gen=4, epochs=1, verbose=False, **SETTINGS)
    with pytest.raises(ValueError, match="interval.*must be >= 1, got 0"):
        resolution.interval_scan(space, [1, 0], seeds=[0], **kw)
    with pytest.raises(TypeError, match="interval.*must be an int"):
        resolution.interval_scan(space, [1.5], seeds=[0], **kw)
    with pytest.raises(ValueError, match="at least one interval and one seed"):
        resolution.interval_scan(space, [1, 2], seeds=[], **kw)
    with pytest.raises(ValueError, match="at least one interval and one seed"):
        resolution.interval_scan(space, [], seeds=[0], **kw)
    with pytest.raises(ValueError, match="must not repeat"):
        resolution.interval_scan(space, [2, 2], seeds=[0], **kw)
    with pytest.raises(ValueError, match="exactly two metastable sets"):
        resolution.interval_scan(StateSpace(labels, 2), [1], seeds=[0], **kw)
    with pytest.raises(ValueError, match=r"no number of epochs for the intervals \[2\]"):
        resolution.interval_scan(space, [1, 2], seeds=[0], **{**kw, "epochs": {1: 3}})
    with pytest.raises(ValueError, match="keep both on"):
        resolution.interval_scan(space, [1], seeds=[0], noise_pairs=0, **kw)
    with pytest.raises(ValueError, match="a prompt needs 2"):
        resolution.scan_prompts([np.arange(1)], 1)


def test_epochs_per_interval_reach_each_model(chain):
    labels, space = chain
    scan = resolution.interval_scan(space, [4], train=labels[:2], val=labels[2:], seeds=[0], n_gen=4, epochs={4: 2},
                                    seq_len=20, verbose=False, **SETTINGS)
    assert scan.results[4, 0].train.history and len(scan.results[4, 0].train.history) == 2


def test_plot_puts_each_models_error_and_mfpt_where_the_labels_say(scan):
    axes = plots.plot_interval_scan(scan.summary, scan.set_names, dt_unit="ps", title="chain", tolerance=0.25)
    left, right = axes
    t = scan.summary
    drawn = {c.get_label(): np.asarray(c.lines[0].get_ydata(), float) for c in left.containers}
    assert set(drawn) == {"LSTM", "MSM", "noise floor (a perfect model)"}
    assert np.allclose(drawn["MSM"], t[t.model == "MSM"]["slow-process error"], equal_nan=True)
    assert any(line.get_label() == "tolerance (25%)" and tuple(line.get_ydata()) == (0.25, 0.25) for line in left.lines)
    assert left.get_xscale() == "log" and left.get_title() == "chain" and left.get_xlabel() == "saving interval (ps)"
    ref = next(line for line in right.lines if line.get_label() == "reference A→B")
    assert np.allclose(ref.get_ydata(), t[t.model == "LSTM"]["MFPT A→B ref"])
    gen = {c.get_label(): np.asarray(c.lines[0].get_ydata(), float) for c in right.containers}
    assert np.allclose(gen["LSTM A→B"], t[t.model == "LSTM"]["MFPT A→B gen"], equal_nan=True)
    assert right.get_ylabel() == "MFPT (ps)"
    # no tolerance: no line
    axes = plots.plot_interval_scan(pd.DataFrame(t), ["A", "B"], dt_unit="ps")
    assert not any(line.get_label().startswith("tolerance") for line in axes[0].lines)
    matplotlib.pyplot.close("all")
