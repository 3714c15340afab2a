"""The state-space type, the typed comparison and the rate-based relaxation time, against exact values."""

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils import kinetics
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.states import StateSpace, from_labels, metastable_space

from test_experiment import _two_well_chain


def test_state_space_checks_and_derives():
    sp = StateSpace((np.array([0, 1, 1, 0]), np.array([1, 1, 0])), 2, dt="2ps", sets=[[0], [1]], set_names=["A", "B"])
    assert sp.dt == 2.0 and sp.dt_unit == "ps"
    assert sp.n_traj == 2 and sp.n_frames == 7 and sp.lengths.tolist() == [4, 3]
    np.testing.assert_allclose(sp.populations(), [3 / 7, 4 / 7])
    assert [s.tolist() for s in sp.set_trajs()] == [[0, 1, 1, 0], [1, 1, 0]]
    half = sp.subsample(2)
    assert half.dt == 4.0 and [t.tolist() for t in half.trajs] == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="differ in length"):
        sp.as_array()
    d = sp.derive([np.array([0, 0])], 1, "lumped", rule="all in one")
    assert d.dt == 2.0 and d.made_by["rule"] == "all in one" and d.made_by["from"]["kind"] == "labels"
    with pytest.raises(ValueError, match="label 2 but n_states=2"):
        StateSpace((np.array([0, 2]),), 2)
    with pytest.raises(ValueError, match="overlaps"):
        StateSpace((np.array([0, 1]),), 2, sets=[[0, 1], [1]])
    with pytest.raises(ValueError, match="unknown time unit"):
        StateSpace((np.array([0, 1]),), 2, dt=1.0, dt_unit="light-years")


def test_metastable_space_kinds_follow_the_wells():
    micro = from_labels(list(_two_well_chain(20_000, 4, seed=0)), dt=0.5)
    order = np.array([-1, -1, -1, 1, 1, 1], dtype=float)
    macro = metastable_space(micro, "macro", n_macro=2, lag=5, order_by=order)
    np.testing.assert_array_equal(np.stack(macro.trajs), (np.stack(micro.trajs) >= 3).astype(int))
    assert macro.n_states == 2 and macro.dt == 0.5 and macro.made_by["from"]["kind"] == "labels"
    mic = metastable_space(micro, "micro", n_macro=2, lag=5, order_by=order)
    assert [sorted(s.tolist()) for s in mic.sets] == [[0, 1, 2], [3, 4, 5]]
    cored = metastable_space(micro, "coring", n_macro=2, lag=5, order_by=order, min_dwell=50)
    changes = lambda sp: sum(int(np.sum(t[1:] != t[:-1])) for t in sp.trajs)  # noqa: E731
    assert 0 < changes(cored) < changes(macro) and cored.made_by["min_dwell"] == 50


def test_relaxation_time_from_rates_matches_the_exact_timescale():
    # two states, exit probabilities p and q per frame: exact relaxation time -1/ln(1 - p - q); the rate
    # estimate 1/(p + q) differs from it by 1.5 % at p + q = 0.03 (a 10 % error fails the 5 % bound)
    p, q = 0.01, 0.02
    msm = MarkovStateModel(np.array([[1 - p, p], [q, 1 - q]]))
    trajs = [msm.simulate(20_000, seed=i) for i in range(10)]
    exact = float(msm.timescales()[0])
    t, lo, hi = kinetics.relaxation_timescales(trajs, 2, dt=1.0)
    assert t[0] == pytest.approx(exact, rel=0.05)
    assert lo[0] < exact < hi[0] and (hi[0] - lo[0]) / t[0] < 0.15
    k = kinetics.rate_matrix(trajs, 2)
    np.testing.assert_allclose(k.sum(axis=1), 0.0, atol=1e-12)
    assert k[0, 1] == pytest.approx(p, rel=0.1) and k[1, 0] == pytest.approx(q, rel=0.1)


def test_relaxation_time_does_not_depend_on_trajectory_length():
    msm = MarkovStateModel(np.array([[0.99, 0.01], [0.02, 0.98]]))
    long = float(kinetics.relaxation_timescales([msm.simulate(200_000, seed=1)], 2)[0][0])
    short = float(kinetics.relaxation_timescales([msm.simulate(100, seed=s) for s in range(2000)], 2)[0][0])
    assert short == pytest.approx(long, rel=0.05)  # 100-frame pieces: three relaxation times each


def test_comparison_is_typed_and_its_dict_is_the_json_form():
    ref = _two_well_chain(5000, 4, seed=1)
    gen = _two_well_chain(5000, 4, seed=2)
    sets = [[0, 1, 2], [3, 4, 5]]
    c = kinetics.comparison(ref, gen, n_states=6, sets=sets, dt=2.0, dt_unit="ps")
    assert c.mfpt_ref.shape == (2, 2) and np.isnan(c.mfpt_ref[0, 0]) and c.set_pop_ref.shape == (2,)
    np.testing.assert_allclose(c.mfpt_ratio, c.mfpt_gen / c.mfpt_ref)
    d = kinetics.comparison(ref, gen, n_states=6, sets=sets, dt=2.0).to_dict()
    assert d["mfpt_ref"][0][0] is None and d["mfpt_ref"][0][1] == pytest.approx(c.mfpt_ref[0, 1])
    assert d["mfpt_max_rel_err"] == pytest.approx(c.mfpt_max_rel_err)
    assert c.to_dict()["dt_unit"] == "ps"


def test_learn_and_compare_takes_trajectories_of_different_lengths_and_a_state_space():
    trajs = [t[:n] for t, n in zip(_two_well_chain(3000, 3, seed=3), (3000, 2000, 1200))]
    sp = from_labels(trajs, dt="1ps", sets=[[0, 1, 2], [3, 4, 5]], set_names=["A", "B"])
    res = learn_and_compare(sp, model="lstm", hidden=16, seq_len=20, batch_size=8, train_steps=5, prompt_len=10,
                            baseline_lag=2, seed=0, device="cpu")
    # three trajectories are cut into two contiguous blocks each and the seed splits the six (the protocol);
    # generated and MSM trajectories are as long as the test blocks, the MSM's frames 2 frames apart
    test_lengths = [len(t) for t in res.split.test]
    assert res.split.protocol == "blocks" and len(test_lengths) == 3 and sum(len(t) for t in res.split.train) + sum(test_lengths) == 6200
    assert [len(g) for g in res.generated] == test_lengths
    assert [len(b) for b in res.baseline] == [-(-n // 2) for n in test_lengths]
    assert res.comparison.set_names == ["A", "B"] and res.comparison.dt_unit == "ps"
    assert res.baseline_comparison.mfpt_gen.shape == (2, 2)
    assert res.metrics["set_names"] == ["A", "B"] and "msm_mfpt_gen" in res.metrics


def test_learn_and_compare_warns_about_states_that_never_occur():
    lab = [np.array([0, 5, 9, 5, 0] * 200)]  # one trajectory: four blocks of 250 frames, two of them for training
    with pytest.warns(UserWarning, match="7 states between the smallest and the largest label never occur"):
        learn_and_compare(lab, n_states=10, model="lstm", hidden=8, seq_len=10, batch_size=4, train_steps=2,
                          prompt_len=5, baseline=False, seed=0, device="cpu")


def test_grid_space_bins_each_trajectory_and_records_the_grid():
    from mdlstm_utils.states import discretize_grid, grid_space, make_grid

    grid = make_grid(-2.0, 2.0, 4)  # edges -2, -1, 0, 1, 2
    x = [np.array([-1.5, -0.5, 0.5, 1.5, 3.0]), np.array([0.2, -0.2])]
    space = grid_space(x, grid, dt="2ps", sets=[[0, 1], [2, 3]], set_names=["left", "right"])
    assert [t.tolist() for t in space.trajs] == [[0, 1, 2, 3, 3], [2, 1]]  # outside the grid: the edge bin
    assert space.n_states == 4 and space.dt == 2.0 and space.dt_unit == "ps" and space.kind == "grid"
    assert space.made_by == {"lo": [-2.0], "hi": [2.0], "shape": [4]}
    assert space.set_names == ("left", "right")
    np.testing.assert_array_equal(grid_space(x[0], grid).trajs[0], discretize_grid(x[0], grid))  # one trajectory alone
