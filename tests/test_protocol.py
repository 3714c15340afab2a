"""The evaluation protocol: a seed-decided training / test split, the validated MSM beside the lag-1 one, the
slowest implied timescales of every model at its lag, and paired verdicts over seeds."""

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.kinetics import mfpt_matrix, paired_test, slow_process, validated_msm
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.states import train_test_split

# two metastable blocks of two states each: slowest implied timescale 49.5 frames, the next 5.0
P = np.array([[0.9, 0.09, 0.01, 0.0], [0.09, 0.9, 0.0, 0.01], [0.01, 0.0, 0.9, 0.09], [0.0, 0.01, 0.09, 0.9]])
CHAIN = MarkovStateModel(P)
EXACT = CHAIN.timescales(3)
SETS = [[0, 1], [2, 3]]


def _trajs(n, frames, seed=0):
    return [CHAIN.simulate(frames, seed=seed + i) for i in range(n)]


def test_split_keeps_every_training_trajectory_out_of_the_test_part():
    trajs = [np.full(50, i % 3) + (np.arange(50) % 2) * 0 for i in range(10)]
    trajs = [np.r_[t[:-1], i] for i, t in enumerate(trajs)]  # each trajectory ends in its own label: traceable
    s = train_test_split(trajs, seed=3, n_states=20)
    assert s.protocol == "trajectories" and len(s.train) == 5 and len(s.test) == 5
    assert set(s.train_source) .isdisjoint(s.test_source) and sorted([*s.train_source, *s.test_source]) == list(range(10))
    assert {int(t[-1]) for t in s.train}.isdisjoint({int(t[-1]) for t in s.test})
    assert np.array_equal(train_test_split(trajs, seed=3, n_states=20).test_source, s.test_source)  # the seed decides
    assert not np.array_equal(train_test_split(trajs, seed=4, n_states=20).test_source, s.test_source)
    assert len(train_test_split(trajs, n_train=8, n_states=20).test) == 2
    with pytest.raises(ValueError, match="n_train=10 leaves no test part"):
        train_test_split(trajs, n_train=10, n_states=20)


def test_split_of_few_long_trajectories_cuts_contiguous_blocks_that_never_overlap():
    long = [np.arange(1000) % 7, (np.arange(900) + 3) % 7]
    s = train_test_split(long, seed=0)
    assert s.protocol == "blocks" and len(s.train) + len(s.test) == 4
    spans = {(int(src), int(a), int(a) + len(t)) for part, srcs, starts in
             ((s.train, s.train_source, s.train_start), (s.test, s.test_source, s.test_start))
             for t, src, a in zip(part, srcs, starts)}
    for src, a, b in spans:  # every block is the contiguous piece of its trajectory it claims to be
        piece = next(t for part, ss, st in ((s.train, s.train_source, s.train_start), (s.test, s.test_source, s.test_start))
                     for t, x, y in zip(part, ss, st) if (x, y) == (src, a))
        np.testing.assert_array_equal(piece, long[src][a:b])
    train_frames = {(int(x), f) for t, x, a in zip(s.train, s.train_source, s.train_start) for f in range(a, a + len(t))}
    test_frames = {(int(x), f) for t, x, a in zip(s.test, s.test_source, s.test_start) for f in range(a, a + len(t))}
    assert train_frames.isdisjoint(test_frames) and len(train_frames | test_frames) == 1900


def test_learn_and_compare_measures_the_reference_on_the_test_part_alone(monkeypatch):
    from mdlstm_utils.lm import experiment

    fitted = []
    real_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", lambda *a, **k: fitted.append(a[1]) or real_fit(*a, **k))
    trajs = _trajs(8, 600, seed=10)
    res = learn_and_compare(np.array(trajs), 4, SETS, hidden=8, train_steps=3, seq_len=20, prompt_len=10, seed=1,
                            device="cpu", its_samples=20, noise_pairs=2)
    ev = res.metrics["evaluation"]
    assert ev["protocol"] == "trajectories" and ev["train_trajectories"] == 4 and ev["test_trajectories"] == 4
    train_ids, test_ids = set(res.split.train_source.tolist()), set(res.split.test_source.tolist())
    assert train_ids.isdisjoint(test_ids)
    for t in fitted[0]:  # the model saw training trajectories only
        assert any(np.array_equal(t, trajs[i]) for i in train_ids)
    ref = mfpt_matrix([trajs[i] for i in sorted(test_ids)], SETS, n_states=4)[0]
    np.testing.assert_allclose(np.array(res.metrics["mfpt_ref"], dtype=float), ref, rtol=1e-12)
    assert res.generated.shape == (4, 600)  # as many and as long as the test trajectories
    with pytest.warns(UserWarning, match="also training trajectories"):  # a caller's in-sample reference is flagged
        learn_and_compare(np.array(trajs), 4, SETS, train_labels=np.array(trajs[:4]), hidden=8, train_steps=2,
                          seq_len=20, prompt_len=10, device="cpu", validated_msm=False, noise_pairs=0)


def test_validated_msm_recovers_the_known_slowest_timescale_within_its_interval():
    v = validated_msm(_trajs(20, 2000), 4, SETS, n_samples=200)
    assert v.validated and v.lag >= 1 and v.ck_error <= 0.05
    assert v.timescales_low[0] <= EXACT[0] <= v.timescales_high[0]
    assert v.timescales[0] == pytest.approx(EXACT[0], rel=0.1)
    exact_ab = CHAIN.mfpt([0, 1], [2, 3])  # 100 frames
    assert v.mfpt_low[0, 1] <= exact_ab <= v.mfpt_high[0, 1]
    assert v.mfpt[0, 1] == pytest.approx(exact_ab, rel=0.1)


def test_validated_msm_takes_the_longer_lag_that_a_lumped_chain_needs():
    # two cores joined through two edge states that recross often, seen through one label per side: at one frame
    # the lumped labels are far from Markovian (the lag-1 MSM's timescale is a third of the exact 75 frames)
    Q = np.array([[0.98, 0.02, 0, 0], [0.3, 0.4, 0.3, 0], [0, 0.3, 0.4, 0.3], [0, 0, 0.02, 0.98]])
    chain = MarkovStateModel(Q)
    exact = chain.timescales(1)[0]
    lumped = [(chain.simulate(3000, seed=i) >= 2).astype(int) for i in range(20)]
    v = validated_msm(lumped, 2, [[0], [1]], n_samples=50)
    assert v.its[0] < 0.4 * exact  # the lag-1 MSM: the straw man
    assert v.validated and v.lag >= 5 and v.ck_error <= 0.05
    assert abs(v.timescales[0] / exact - 1) < 0.25  # within the lumping's own bias, far closer than lag 1


def test_slow_process_puts_every_model_beside_the_exact_timescale():
    test = _trajs(10, 2000, seed=40)
    v = validated_msm(_trajs(10, 2000, seed=60), 4, SETS, n_samples=50)
    fast = [CHAIN.simulate(2000, seed=80 + i) for i in range(10)]
    fast = [np.where((t >= 2) & (np.roll(t, 1) < 2), t, t) for t in fast]
    sp = slow_process(test, n_states=4, lag=v.lag, k=1, others={"same chain": fast}, validated=v, truth=EXACT[:1],
                      n_samples=50)
    assert sp.error("same chain", "truth") < 0.2 and sp.error("MSM (validated)", "truth") < 0.2
    assert sp.low["reference"][0] < sp.timescales["reference"][0] < sp.high["reference"][0]
    never = [np.zeros(500, dtype=int) for _ in range(3)]  # a model that never leaves a state: infinite error
    sp2 = slow_process(test, n_states=4, lag=v.lag, others={"stuck": never}, n_samples=10)
    assert sp2.error("stuck") == np.inf


def test_paired_test_detects_a_20_percent_difference_and_none_between_identical_runs():
    rng = np.random.default_rng(0)
    base = np.exp(rng.normal(np.log(0.2), 0.4, size=5))  # errors spread by a factor ~1.5 over seeds
    worse = base * 1.2 * np.exp(rng.normal(0, 0.03, size=5))  # 20 % worse, seed by seed
    t = paired_test(worse, base, names=("remedy", "plain"))
    assert t.detected and t.ratio == pytest.approx(1.2, rel=0.05) and t.ratio_low > 1.0
    assert "larger" in t.verdict()
    # unpaired, the spread over seeds would hide it: the paired test is what makes 5 seeds enough
    same = paired_test(base, base.copy())
    assert not same.detected and same.ratio == pytest.approx(1.0) and "no difference detected" in same.verdict()
    noisy = paired_test(base * np.exp(rng.normal(0, 0.5, 5)), base)
    assert not noisy.detected and noisy.detectable > 1.3  # says how large a difference could hide
    failed = paired_test([0.1, np.inf, 0.2, None, 0.3], [0.1, 0.2, 0.2, 0.2, 0.3])
    assert failed.n_failed_a == 2 and failed.n_pairs == 3 and "a 2" in failed.verdict()


def test_model_mfpt_is_deeptimes_mfpt_between_sets():
    # one passage-time solve per target set, averaged over each origin's stationary weights: deeptime's numbers exactly
    from deeptime.markov.tools.analysis import mfpt
    from mdlstm_utils.kinetics.validated import model_mfpt

    rng = np.random.default_rng(0)
    X = rng.random((8, 8)) * (rng.random((8, 8)) < 0.6)
    X = X + X.T + np.eye(8)
    P = X / X.sum(1, keepdims=True)
    active = np.arange(1, 9)  # labels 1..8 of 10 states: state 0 and 9 are outside the model
    sets = [[1, 2], [0, 4, 5], [7, 8], [9]]
    m = model_mfpt(P, active, sets, 10, lag=3, dt=0.5)
    members = [[0, 1], [3, 4], [6, 7], []]  # rows of P
    for a in range(4):
        for b in range(4):
            if a == b or not members[a] or not members[b]:
                assert np.isnan(m[a, b])
            else:
                assert m[a, b] == float(mfpt(P, members[b], origin=members[a], tau=3)) * 0.5
