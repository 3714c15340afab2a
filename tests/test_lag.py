"""Implied timescales, the lag rule, the CK test and PCCA+ lumping on data from known Markov chains."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.states.lag import ImpliedTimescalesResult, ck_test, implied_timescales, suggest_lag
from mdlstm_utils.report.plots import plot_ck_test, plot_implied_timescales
from mdlstm_utils.states import core_set_labels, cores_from_memberships, pcca_lump


def _block_matrix(eps=0.01):
    """Two metastable blocks {0, 1, 2} and {3, 4, 5}: fast mixing inside, rare exchange (eps) between.

    Symmetric, hence reversible with a uniform stationary distribution.
    """
    inner = np.full((3, 3), 1.0 / 3)
    P = np.zeros((6, 6))
    P[:3, :3] = inner
    P[3:, 3:] = inner
    P *= 1 - eps
    P[:3, 3:] = eps / 3
    P[3:, :3] = eps / 3
    return P


@pytest.fixture(scope="module")
def four_state():
    # a reversible 4-state chain (detailed balance built in): slow 0,1 <-> 2,3 exchange
    pi = np.array([0.3, 0.2, 0.3, 0.2])
    K = np.array([[0, 10, 0.3, 0], [10, 0, 0, 0.5], [0.3, 0, 0, 8], [0, 0.5, 8, 0]], float)
    P = K * pi[None, :] * 0.02
    P[np.diag_indices(4)] = 1 - P.sum(1)
    msm = MarkovStateModel(P)
    return msm, msm.simulate(200_000, seed=7)


def test_suggest_lag_rule_on_synthetic_timescales():
    lags = np.array([1, 2, 3, 5, 8, 13])
    t = np.array([10.0, 15.0, 18.0, 19.0, 19.5, 19.6])
    # relative changes to the next lag: 0.5, 0.2, 0.056, 0.026, 0.005
    assert suggest_lag(t, rtol=0.1, lags=lags) == 3
    assert suggest_lag(t, rtol=0.03, lags=lags) == 5
    assert suggest_lag(t, rtol=0.25, lags=lags) == 2
    # over two following lags: at lag 3 the change to lag 8 is 0.083
    assert suggest_lag(t, rtol=0.06, lags=lags, n_steps=2) == 5
    assert suggest_lag(t, rtol=0.09, lags=lags, n_steps=2) == 3
    # never converged -> None; nan never qualifies; the last lag cannot qualify
    assert suggest_lag(np.array([1.0, 2.0, 4.0, 8.0]), lags=[1, 2, 3, 4]) is None
    assert suggest_lag(np.array([np.nan, 5.0, 5.1]), lags=[1, 2, 3]) == 2
    assert suggest_lag(np.array([5.0, np.nan, 5.0, 5.0]), lags=[1, 2, 3, 4]) == 3
    # a result object and a 2-D array with process selection
    its = ImpliedTimescalesResult(lags=lags, timescales=np.column_stack([t, t[::-1]]), dt=0.5,
                                  active_fraction=np.ones(6))
    assert suggest_lag(its, rtol=0.1) == 3
    assert suggest_lag(its, rtol=0.1, process=1) == 1
    with pytest.raises(ValueError, match="lags must be given"):
        suggest_lag(t)
    with pytest.raises(ValueError, match="rtol must be a number > 0"):
        suggest_lag(t, rtol=0, lags=lags)
    with pytest.raises(ValueError, match="lags has 3 entries but there are 6 rows"):
        suggest_lag(t, lags=[1, 2, 3])


def test_implied_timescales_match_the_exact_msm(four_state):
    msm, dtraj = four_state
    exact = msm.timescales(k=3)
    its = implied_timescales(dtraj, [1, 2, 4], k=3, dt=0.1)
    assert its.timescales.shape == (3, 3)
    np.testing.assert_array_equal(its.lags, [1, 2, 4])
    np.testing.assert_allclose(its.lag_times, [0.1, 0.2, 0.4])
    # at lag 1 the estimated timescales are the chain's, in units of dt
    np.testing.assert_allclose(its.timescales[0], exact * 0.1, rtol=0.05)
    # a Markov chain's timescales do not depend on the lag
    np.testing.assert_allclose(its.slowest, exact[0] * 0.1, rtol=0.08)
    assert suggest_lag(its, rtol=0.1) == 1
    np.testing.assert_allclose(its.active_fraction, 1.0)
    # more timescales than the 4-state MSM has: nan padding
    assert np.isnan(implied_timescales(dtraj[:20000], [1], k=5).timescales[0, 3:]).all()


def test_implied_timescales_validation(four_state):
    _, dtraj = four_state
    with pytest.raises(ValueError, match="strictly increasing"):
        implied_timescales(dtraj, [2, 1])
    with pytest.raises(ValueError, match="not shorter than the longest trajectory"):
        implied_timescales(dtraj[:100], [1, 100])
    with pytest.raises(ValueError, match="dt must be a finite number > 0"):
        implied_timescales(dtraj, [1], dt=0)
    with pytest.raises(TypeError, match="whole numbers of frames"):
        implied_timescales(dtraj, [1.5])


def test_pcca_recovers_two_metastable_blocks():
    msm = MarkovStateModel(_block_matrix(0.01))
    dtraj = msm.simulate(50_000, seed=3)
    res = pcca_lump(dtraj, 6, 2, lag=1)
    a = res.assignments
    assert len(set(a[:3])) == 1 and len(set(a[3:])) == 1 and a[0] != a[3]
    assert res.memberships.shape == (6, 2)
    np.testing.assert_allclose(res.memberships.sum(1), 1.0, atol=1e-8)
    assert res.memberships.max(1).min() > 0.9
    np.testing.assert_allclose(res.macro_populations, [0.5, 0.5], atol=0.05)
    np.testing.assert_array_equal(res.macro_labels[0], a[dtraj])
    assert [sorted(s.tolist()) for s in sorted(res.sets(), key=min)] == [[0, 1, 2], [3, 4, 5]]
    # PCCA+ cores then remove nothing here (every state is deep inside its block)
    cores = cores_from_memberships(res.memberships, 0.9)
    np.testing.assert_array_equal(core_set_labels(dtraj, cores), res.macro_labels[0])


def test_pcca_with_states_outside_the_connected_set():
    msm = MarkovStateModel(_block_matrix(0.02))
    dtraj = msm.simulate(20_000, seed=4)
    # state 6 appears only at the start and state 7 never: both are outside the connected set
    d = np.r_[6, 6, dtraj]
    res = pcca_lump(d, 8, 2, lag=1)
    np.testing.assert_array_equal(res.active_set, np.arange(6))
    np.testing.assert_array_equal(res.memberships[6:], 0.0)
    np.testing.assert_array_equal(res.assignments[6:], [-1, -1])
    # default: frames in unassigned states take the first assigned frame's macrostate
    assert res.macro_labels[0][0] == res.macro_labels[0][2] == res.assignments[dtraj[0]]
    keep = pcca_lump(d, 8, 2, lag=1, unassigned="keep")
    np.testing.assert_array_equal(keep.macro_labels[0][:2], [-1, -1])
    with pytest.raises(ValueError, match="n_macro=7 exceeds the 6 microstates"):
        pcca_lump(d, 8, 7, lag=1)
    with pytest.raises(ValueError, match="holds label 8 but n_states=8"):
        pcca_lump(np.r_[d, 8], 8, 2, lag=1)


def test_ck_test_passes_for_a_markov_chain_and_plots(four_state):
    _, dtraj = four_state
    ck = ck_test(dtraj, 2, 2, mlags=4, dt=0.1)
    np.testing.assert_array_equal(ck.lags, [0, 2, 4, 6, 8])
    assert ck.predictions.shape == ck.estimates.shape == (5, 2, 2)
    np.testing.assert_allclose(ck.predictions[0], np.eye(2))
    np.testing.assert_allclose(ck.predictions.sum(-1), 1.0, atol=1e-8)
    assert ck.max_error < 0.02
    ax = plot_implied_timescales(implied_timescales(dtraj[:20000], [1, 2, 3], k=2), lag=2, dt_unit="ns")
    assert ax.get_yscale() == "log"
    axes = plot_ck_test(ck, dt_unit="ns")
    assert axes.shape == (2, 2)
    with pytest.raises(ValueError, match="mlags \\* lag = 200000 frames"):
        ck_test(dtraj, 40_000, 2)


def test_bayesian_timescale_interval_covers_the_exact_timescale_with_the_replicate_spread():
    # a two-state chain: the one implied timescale is -lag / ln(1 - p01 - p10), exactly
    rng = np.random.default_rng(3)
    p01, p10, lag = 0.02, 0.04, 5
    exact = -lag / np.log((1 - p01 - p10) ** lag)  # the eigenvalue of T(lag) is (1 - p01 - p10) ** lag
    est, lo, hi = [], [], []
    for _ in range(60):
        x = (rng.random(10) > p10 / (p01 + p10)).astype(np.int64)
        trajs = np.empty((10, 2000), dtype=np.int64)
        for t in range(2000):
            trajs[:, t] = x
            u = rng.random(10)
            x = np.where(x == 0, (u < p01).astype(np.int64), (u >= p10).astype(np.int64))
        its = implied_timescales(trajs, [lag], 2, k=1, n_samples=200)
        est.append(its.timescales[0, 0]); lo.append(its.timescales_low[0, 0]); hi.append(its.timescales_high[0, 0])
    est, lo, hi = map(np.array, (est, lo, hi))
    assert np.mean((lo <= exact) & (exact <= hi)) >= 0.85
    # calibrated: the interval's width matches the spread of the estimate over 60 independent data sets
    # (that spread is itself known to about 9 %, so 20 % is as tight as this check can be; 25 % off fails)
    assert np.mean((hi - lo) / 2 / 1.96) == pytest.approx(est.std(ddof=1), rel=0.2)


def test_slowest_interval_reads_the_samples_at_one_lag():
    rng = np.random.default_rng(0)
    trajs = (rng.random((4, 3000)) < 0.5).astype(np.int64)
    plain = implied_timescales(trajs, [1, 2], 2, k=1)
    assert plain.slowest_interval(0) is None
    its = implied_timescales(trajs, [1, 2], 2, k=1, n_samples=20)
    assert its.slowest_interval(1) == (its.timescales_low[1, 0], its.timescales_high[1, 0])
    assert all(isinstance(v, float) for v in its.slowest_interval(0))


def _two_state_chain(seed: int, p01: float = 0.02, p10: float = 0.04, n: int = 10, frames: int = 2000) -> np.ndarray:
    """``n`` trajectories of a two-state chain started in equilibrium; its timescale is ``-1 / ln(1 - p01 - p10)``."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) > p10 / (p01 + p10)).astype(np.int64)
    trajs = np.empty((n, frames), dtype=np.int64)
    for t in range(frames):
        trajs[:, t] = x
        u = rng.random(n)
        x = np.where(x == 0, (u < p01).astype(np.int64), (u >= p10).astype(np.int64))
    return trajs


@pytest.mark.parametrize("reversible", [True, False])
def test_bayesian_intervals_are_reproducible_with_a_seed(reversible):
    trajs = _two_state_chain(3)
    kw = dict(n_states=2, k=1, n_samples=50, reversible=reversible)
    a = implied_timescales(trajs, [1, 5], seed=7, **kw)
    b = implied_timescales(trajs, [1, 5], seed=7, **kw)
    assert np.array_equal(a.timescales_low, b.timescales_low) and np.array_equal(a.timescales_high, b.timescales_high)
    # each lag has its own stream: the interval at lag 5 does not depend on the other lags scanned
    c = implied_timescales(trajs, [5], seed=7, **kw)
    assert c.slowest_interval(0) == a.slowest_interval(1)
    # and the seed is used: another one gives other bounds
    d = implied_timescales(trajs, [1, 5], seed=8, **kw)
    assert not np.array_equal(a.timescales_low, d.timescales_low)
    with pytest.raises(ValueError, match="seed"):
        implied_timescales(trajs, [1], seed=-1, **kw)


def test_bayesian_bounds_move_with_the_seed_by_the_stated_monte_carlo_error():
    # the docstring states the standard deviation of a bound over seeds, as a fraction of the width, on this chain:
    # 9 / 11 % with 50 samples, 2 / 2 % with 1000 (lower / upper bound)
    trajs = _two_state_chain(3)
    for n_samples, stated in ((50, (0.09, 0.11)), (1000, (0.02, 0.02))):
        b = np.array([implied_timescales(trajs, [5], 2, k=1, n_samples=n_samples, seed=s).slowest_interval(0)
                      for s in range(40)])
        width = np.mean(b[:, 1] - b[:, 0])
        sd = b.std(axis=0, ddof=1) / width
        # 40 seeds know a standard deviation to about 11 %: within 30 % of the stated values
        assert sd == pytest.approx(stated, rel=0.3, abs=0.005), (n_samples, sd)
    # with 1000 samples any two seeds agree to within 10 % of the width (about 3.5 standard deviations)
    assert np.ptp(b, axis=0).max() < 0.11 * width


def test_seeded_bayesian_intervals_sample_deeptimes_posterior():
    from deeptime.markov import TransitionCountEstimator

    trajs = _two_state_chain(3)
    counts = TransitionCountEstimator(lagtime=5, count_mode="sample", n_states=2).fit(list(trajs)).fetch_model()
    C = counts.count_matrix
    # non-reversible: the posterior of the two exit probabilities is known, p01 ~ Beta(C01, C00), p10 ~ Beta(C10, C11)
    # (deeptime's prior), and the timescale at lag 5 is -5 / ln|1 - p01 - p10|; its quantiles from 10^6 direct draws
    rng = np.random.default_rng(0)
    lam = 1 - rng.beta(C[0, 1], C[0, 0], 10**6) - rng.beta(C[1, 0], C[1, 1], 10**6)
    exact_lo, exact_hi = np.quantile(-5 / np.log(np.abs(lam)), [0.025, 0.975])
    lo, hi = implied_timescales(trajs, [5], 2, k=1, n_samples=20000, reversible=False, seed=0).slowest_interval(0)
    width = exact_hi - exact_lo
    assert abs(lo - exact_lo) < 0.03 * width and abs(hi - exact_hi) < 0.03 * width  # MC error about 0.5 %
    # reversible: the same bounds as deeptime's own (unseeded) BayesianMSM, within both Monte Carlo errors
    from deeptime.markov.msm import BayesianMSM

    post = BayesianMSM(n_samples=4000).fit_from_counts(counts.submodel_largest(directed=True),
                                                        ignore_counting_mode=True).fetch_model()
    ref = np.quantile([m.timescales(k=1)[0] for m in post.samples], [0.025, 0.975])
    ours = implied_timescales(trajs, [5], 2, k=1, n_samples=20000, seed=0).slowest_interval(0)
    # MC error of a bound: about 1 % of the width for deeptime's 4000 samples, 0.5 % for our 20000; the limits are
    # about 4 standard deviations of the difference, while a posterior 10 % wider fails the second
    width = ref[1] - ref[0]
    assert np.abs(np.subtract(ours, ref)).max() < 0.045 * width
    assert (ours[1] - ours[0]) / width == pytest.approx(1, abs=0.06)


def test_sample_moduli_of_reversible_samples_are_those_of_the_general_solver():
    # the reversible posterior's samples are similar to the symmetric sqrt(P * P.T): the symmetric solver gives their
    # eigenvalue moduli to rounding; a non-reversible matrix goes to the general solver
    from mdlstm_utils.states.lag import posterior_samples, sample_moduli

    trajs = MarkovStateModel(_block_matrix()).simulate(20000, seed=3)
    _, mats = posterior_samples([trajs], 6, 2, 30, seed=1)
    general = np.sort(np.abs(np.linalg.eigvals(mats)), axis=1)[:, ::-1]
    np.testing.assert_allclose(sample_moduli(mats), general, rtol=0, atol=1e-12)
    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])  # a cycle: not reversible, complex eigenvalues
    np.testing.assert_allclose(sample_moduli(P[None], reversible=False)[0],
                               np.sort(np.abs(np.linalg.eigvals(P)))[::-1], atol=1e-12)
