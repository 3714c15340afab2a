"""experiment: the three partitions and the train -> generate -> compare loop, on Markov chains with known kinetics."""

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.lm.experiment import build_model, learn_and_compare
from mdlstm_utils.kinetics import mfpt_matrix, relative_error
from mdlstm_utils.lm.models import LSTMLM, TransformerLM
from mdlstm_utils.lm.train import fit, step_budget


def _two_well_chain(n_steps, n_traj, seed):
    """6 microstates: 0-2 form well A, 3-5 well B; fast mixing inside a well, rare A <-> B jumps between 2 and 3."""
    P = np.full((6, 6), 0.0)
    for w in (range(0, 3), range(3, 6)):
        for i in w:
            for j in w:
                P[i, j] = 1.0 / 3
    eps = 0.01
    P[2, 2] -= eps; P[2, 3] += eps
    P[3, 3] -= eps; P[3, 2] += eps
    msm = MarkovStateModel(P)
    return np.stack([msm.simulate(n_steps, seed=seed + k) for k in range(n_traj)])


def test_step_budget_gives_the_same_number_of_steps_for_little_data():
    # plenty of data: the epochs are cut; little data: more epochs
    assert step_budget(400, 8, n_windows=16 * 356, batch_size=64) == (50, 8)
    batches, epochs = step_budget(400, 8, n_windows=16 * 14, batch_size=64)
    assert batches == 4 and epochs == 100


def test_fit_takes_the_step_budget_and_never_stops_early_without_patience():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(4, 1200))  # 4 x 1080 training frames: 40 windows of 101, 3 batches of 16
    res = fit(LSTMLM(3, embed_dim=4, hidden_dim=8), labels, batch_size=16, epochs=2, steps=12, lr_schedule="cosine",
              patience=None, progress=False, device="cpu")
    assert [h.batches for h in res.history] == [3] * 4 and not res.stopped_early
    with pytest.raises(ValueError, match="steps must be >= 1"):
        fit(LSTMLM(3, embed_dim=4, hidden_dim=8), labels, steps=0, progress=False, device="cpu")


def test_build_model():
    assert isinstance(build_model("lstm", 5, hidden=16), LSTMLM)
    assert isinstance(build_model("Transformer", 5, d_model=16), TransformerLM)
    with pytest.raises(ValueError, match="model='gru'"):
        build_model("gru", 5)


def test_learn_and_compare_recovers_the_rare_jump_of_a_two_well_chain():
    micro = _two_well_chain(6_000, 8, seed=1)
    macro = (micro >= 3).astype(np.int64)
    truth = mfpt_matrix(macro, [[0], [1]], n_states=2)[0]
    res = learn_and_compare(macro, 2, [[0], [1]], model="lstm", hidden=32, train_steps=400, epochs=8, n_gen=16,
                            gen_frames=6_000, seq_len=50, prompt_len=50, truth_mfpt=truth, seed=0, device="cpu")
    m = res.metrics
    assert res.generated.shape == (16, 6_000)
    # the reference is the test half of the walkers (the protocol); the "truth" here is all eight
    test_ref = mfpt_matrix(res.split.test, [[0], [1]], n_states=2)[0]
    assert m["ref_vs_truth_err"] == pytest.approx(relative_error(test_ref, truth))
    assert m["evaluation"]["train_trajectories"] == 4 and m["evaluation"]["test_trajectories"] == 4
    assert m["gen_vs_truth_err"] == pytest.approx(relative_error(res.comparison.mfpt_gen, truth))
    # the exact MFPT between the wells is ~ 3 * (1 / 0.01) = 300 frames; the LSTM must learn the rare jump
    assert 150 < truth[0, 1] < 600
    assert m["gen_vs_truth_err"] < 0.3, m["mfpt_gen"]
    # the recipe (cosine decay, no early stopping) takes the whole budget; epochs whose random window offset
    # leaves one window fewer per trajectory take a batch less or more
    assert 380 <= m["train_steps"] <= 420 and m["model"] == "lstm" and m["parameters"] > 0
    # the MSM baseline: same labels, same number and length of trajectories; on a lumped chain this fast
    # inside its wells the two-state MSM is close to exact (about 300 events: standard error about 6 %)
    assert m["msm_mfpt_max_rel_err"] < 0.2 and m["msm_vs_truth_err"] < 0.2
    assert np.isfinite(np.array(m["msm_mfpt_gen"], dtype=float)[[0, 1], [1, 0]]).all()
    low, high = (np.array(m[k], dtype=float)[0, 1] for k in ("msm_mfpt_gen_low", "msm_mfpt_gen_high"))
    assert low < m["msm_mfpt_gen"][0][1] < high
    # the noise floor: pairs of bootstrap replicates of the 4 test walkers, one of them as large as the
    # 16 x 6000 generated frames; about 80 passages each way put the typical error near 15 %
    assert res.noise_floor.mfpt_errors.shape == (20,)
    assert m["noise_floor_mfpt_err"] == res.noise_floor.mfpt_err and 0.02 < m["noise_floor_mfpt_err"] < 0.3
    assert m["noise_floor_mfpt_err"] <= m["noise_floor_mfpt_err_high"] and m["noise_floor_pairs"] == 20


def test_learn_and_compare_with_cosine_runs_every_epoch(monkeypatch):
    # patience=None: 3 with the constant rate; no early stopping with the cosine schedule (the default), so
    # that the decay runs to the end of the step budget
    from mdlstm_utils.lm import experiment

    seen = []
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: seen.append(k) or real_fit(*a, **k))
    micro = _two_well_chain(1_500, 4, seed=2)
    macro = (micro >= 3).astype(np.int64)
    kw = dict(model="lstm", hidden=8, epochs=5, n_gen=2, gen_frames=200, seq_len=20, prompt_len=20, seed=0,
              device="cpu")
    cos = learn_and_compare(macro, 2, [[0], [1]], lr_schedule="cosine", train_steps=30, **kw)
    const = learn_and_compare(macro, 2, [[0], [1]], lr_schedule="constant", train_steps=30, **kw)
    cfg = [s["config"] for s in seen]
    assert cfg[0].lr_schedule == "cosine" and cfg[0].patience is None and cfg[0].steps == 30
    # 2 training walkers (the other 2 are the test part), 2 batches of 64 windows per epoch: the budget of 30
    # steps adds epochs (15 x 2 = 30 steps), all of them run
    assert cos.metrics["epochs_run"] == 15 and cos.metrics["train_steps"] == 30 and not cos.train.stopped_early
    assert cfg[1].lr_schedule == "constant" and cfg[1].patience == 3 and const.metrics["epochs_run"] >= 1
    learn_and_compare(macro, 2, [[0], [1]], train_steps=30, **kw)
    assert seen[2]["config"] == cfg[0]  # the recipe is the default
    with pytest.raises(ValueError, match="lr_schedule must be"):
        learn_and_compare(macro, 2, [[0], [1]], lr_schedule="step", **kw)


def test_learn_and_compare_rejects_bad_input():
    labels = np.zeros((2, 300), dtype=int)
    with pytest.raises(ValueError, match="2-D array"):
        learn_and_compare(labels[0], 2, [[0], [1]])
    with pytest.raises(ValueError, match="n_train=5"):
        learn_and_compare(labels, 2, [[0], [1]], n_train=5)
    with pytest.raises(ValueError, match="prompt_len=300"):
        learn_and_compare(labels, 2, [[0], [1]], prompt_len=300)


def test_learn_and_compare_trains_on_given_labels(monkeypatch):
    # train_labels / val_labels: the caller's own split (the reference is all of labels), and validation on given
    # trajectories, e.g. separate walkers or the first 90 % of each trajectory
    from mdlstm_utils.lm import experiment

    fits, msms = [], []
    real_fit, real_msm = experiment.fit, experiment.msm_trajectories
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: fits.append(a) or real_fit(*a, **k))
    monkeypatch.setattr(experiment, "msm_trajectories", lambda *a, **k: msms.append(a) or real_msm(*a, **k))
    macro = (_two_well_chain(1_000, 4, seed=3) >= 3).astype(np.int64)
    kw = dict(model="lstm", hidden=8, epochs=1, steps=3, gen_frames=200, seq_len=20, prompt_len=20, seed=0, device="cpu")
    by_n = learn_and_compare(macro, 2, [[0], [1]], n_train=2, **kw)
    tr, te = by_n.split.train_source, by_n.split.test_source
    by_labels = learn_and_compare(macro[te], 2, [[0], [1]], train_labels=macro[tr], **kw)
    np.testing.assert_array_equal(by_n.generated, by_labels.generated)  # the same split: the same experiment
    np.testing.assert_array_equal(by_n.baseline, by_labels.baseline)
    assert by_labels.metrics["evaluation"]["protocol"] == "given"
    split = learn_and_compare(macro[2:], 2, [[0], [1]], train_labels=macro[:2, :900], val_labels=macro[2:, 900:], **kw)
    train, val = fits[-1][1], fits[-1][2]
    assert [len(t) for t in train] == [900, 900] and [len(t) for t in val] == [100, 100]
    np.testing.assert_array_equal(val[0], macro[2, 900:])
    assert [len(t) for t in msms[-1][0]] == [900, 900]  # the MSM baseline learns from the training labels too
    assert split.generated.shape == (2, 200)  # the reference is the two trajectories given as labels
    with pytest.raises(ValueError, match="either n_train or train_labels"):
        learn_and_compare(macro, 2, [[0], [1]], n_train=2, train_labels=macro[:2], **kw)
    with pytest.raises(ValueError, match="val_labels"):
        learn_and_compare(macro, 2, [[0], [1]], val_labels=macro[:, :10] + 5, **kw)


def test_settings_by_config_and_by_keyword_are_the_same_experiment():
    # learn_and_compare's settings come grouped (TrainConfig, GenerateConfig, BaselineConfig) or flat by keyword
    from mdlstm_utils.lm.experiment import BaselineConfig, GenerateConfig
    from mdlstm_utils.lm.train import TrainConfig

    macro = (_two_well_chain(1_000, 4, seed=3) >= 3).astype(np.int64)
    common = dict(model="lstm", hidden=8, seed=0, device="cpu")
    flat = learn_and_compare(macro, 2, [[0], [1]], epochs=1, steps=3, seq_len=20, gen_frames=200, prompt_len=20,
                             baseline_lag=2, noise_pairs=3, **common)
    grouped = learn_and_compare(macro, 2, [[0], [1]], train=TrainConfig(epochs=1, steps=3, seq_len=20),
                                generation=GenerateConfig(gen_frames=200, prompt_len=20),
                                baselines=BaselineConfig(msm_lag=2, noise_pairs=3), **common)
    np.testing.assert_array_equal(flat.generated, grouped.generated)
    np.testing.assert_array_equal(flat.baseline, grouped.baseline)
    assert flat.metrics["noise_floor_mfpt_err"] == grouped.metrics["noise_floor_mfpt_err"]
    assert flat.baseline.shape[1] == 100  # the MSM at a lag of 2 frames covers the same time in half the frames
    none = learn_and_compare(macro, 2, [[0], [1]], epochs=1, steps=3, seq_len=20, gen_frames=200, prompt_len=20,
                             baselines=BaselineConfig(msm=False, noise_pairs=0), **common)
    assert none.baseline is None and none.noise_floor is None and "msm_mfpt_max_rel_err" not in none.metrics


def test_unknown_or_bad_settings_are_refused_before_training():
    from mdlstm_utils.lm.experiment import BaselineConfig

    labels = np.zeros((2, 300), dtype=int)
    with pytest.raises(TypeError, match="unknown setting 'n_epochs'.*epochs"):
        learn_and_compare(labels, 2, [[0], [1]], n_epochs=3)
    with pytest.raises(ValueError, match="msm_lag must be an int >= 1, got 0"):
        learn_and_compare(labels, 2, [[0], [1]], baseline_lag=0)
    with pytest.raises(ValueError, match="noise_pairs must be an int >= 0"):
        BaselineConfig(noise_pairs=-1)
