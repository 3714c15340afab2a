"""The memory case: the hidden-rows potential's exact references, the memory test, the k-th-order sampler, IGME.

Each assertion is tight enough to fail when the quantity is off by 10 %.
"""

import numpy as np
import pytest

from mdlstm_utils.kinetics import markov, memory
from mdlstm_utils.data.systems import HiddenRows2D, HiddenSlowND, generator_timescales, langevin, projected_timescales

SMALL = (52, 40)


def _chain(T, n_traj, n_frames, seed, order2=None):
    """Trajectories of a first-order chain ``T``, or of a second-order one ``order2[prev, cur] -> p(next)``."""
    rng = np.random.default_rng(seed)
    n = len(T)
    x = np.zeros((n_traj, n_frames), dtype=np.int64)
    x[:, 0] = rng.integers(0, n, n_traj)
    x[:, 1] = rng.integers(0, n, n_traj)
    for t in range(2, n_frames):
        p = T[x[:, t - 1]] if order2 is None else order2[x[:, t - 2], x[:, t - 1]]
        x[:, t] = (rng.random((n_traj, 1)) > np.cumsum(p, 1)).sum(1)
    return x


def _persistent_walk(n=5, stay=0.6, keep=0.9):
    """A walk on a ring that keeps its last direction with probability ``keep``: the next state depends on two."""
    P = np.zeros((n, n, n))
    for a in range(n):
        for b in range(n):
            d = (b - a) % n
            fwd = 1 if d == 1 else (-1 if d == n - 1 else 0)
            P[a, b, b] = stay
            if fwd == 0:
                P[a, b, (b + 1) % n] += (1 - stay) / 2
                P[a, b, (b - 1) % n] += (1 - stay) / 2
            else:
                P[a, b, (b + fwd) % n] += (1 - stay) * keep
                P[a, b, (b - fwd) % n] += (1 - stay) * (1 - keep)
    return P


T3 = np.array([[0.98, 0.02, 0.0], [0.01, 0.98, 0.01], [0.0, 0.02, 0.98]])


def _exact_its(T, lag=1):
    ev = np.sort(np.abs(np.linalg.eigvals(T)))[::-1]
    return -lag / np.log(ev[1] ** lag)


# ------------------------------------------------------------------------------------------------ the system
def test_exact_timescale_converges_with_the_grid():
    p = HiddenRows2D()
    fine, finer = p.exact_timescales(2, (104, 80)), p.exact_timescales(2, (208, 160))
    np.testing.assert_allclose(fine, finer, rtol=0.01)
    assert fine[0] > 5 * fine[1]  # the row exchange is the one slow process


def test_decoupled_rows_give_the_one_dimensional_double_well():
    # without shift and with equal x barriers U separates: t1 is the y double well's, t2 the x double well's
    p = HiddenRows2D(shift=0.0, h_top=4.0, h_bottom=4.0, h_y=6.0)
    t = p.exact_timescales(2, (104, 80))
    assert t[0] == pytest.approx(HiddenSlowND(barrier=6.0).slow_timescale(n_grid=401), rel=0.01)
    assert t[1] == pytest.approx(HiddenSlowND(barrier=4.0).slow_timescale(n_grid=401), rel=0.01)


def test_projection_onto_every_cell_is_exact_and_onto_x_is_biased():
    p = HiddenRows2D()
    coarse = p.generator((26, 20))  # every cell its own state: the projection is the generator itself, at any lag
    per_cell = projected_timescales(coarse, np.arange(len(coarse.centers)), [1.0, 5.0], k=1)[:, 0]
    np.testing.assert_allclose(per_cell, generator_timescales(coarse, 1)[0], rtol=1e-4)
    g = p.generator(SMALL)
    t1 = p.exact_timescales(1, SMALL)[0]
    edges = np.linspace(-1.8, 1.8, 19)
    x_bins = np.clip(np.digitize(g.centers[:, 0], edges) - 1, 0, 17)
    its = projected_timescales(g, x_bins, [0.1, 1.0, 10.0], k=1)[:, 0]
    assert its[0] < 0.1 * t1 and np.all(np.diff(its) > 0) and its[-1] < t1  # biased at short lags, less at long
    rows = x_bins + 18 * (g.centers[:, 1] > 0)
    assert projected_timescales(g, rows, [1.0], k=1)[0, 0] == pytest.approx(t1, rel=0.05)


def test_populations_of_simulated_walkers_match_the_exact_ones():
    p = HiddenRows2D()
    exact = p.exact_populations(SMALL)
    assert exact.sum() == pytest.approx(1.0)
    x = langevin(p, p.sample_start(2000, seed=1), 100, dt=1e-3, save_every=50, burn_in=1000, seed=1, device="cpu",
                 progress=False)
    w = p.well_of(x.reshape(-1, 2))
    np.testing.assert_allclose(np.bincount(w, minlength=4) / w.size, exact, rtol=0.05)


def test_hidden_rows_refuses_bad_parameters():
    with pytest.raises(ValueError, match="shift"):
        HiddenRows2D(shift=0.6)
    with pytest.raises(ValueError, match="h_y"):
        HiddenRows2D(h_y=-1.0)


# ------------------------------------------------------------------------------------------------ memory test
def test_memory_test_says_true_on_a_second_order_chain():
    P = _persistent_walk()
    x = _chain(np.full((5, 5), 0.2), 20, 3000, seed=0, order2=P)
    r = memory.memory_test(x, 5)
    assert r.history_matters and r.order == 2
    assert r.gain_low > 0 and "history matters here" in r.sentence
    d = r.to_dict()
    assert d["history_matters"] is True and d["gain"] == pytest.approx(r.gain) and len(d["val_loss"]) == 4


def test_memory_test_says_false_on_a_first_order_chain():
    x = _chain(T3, 20, 3000, seed=1)
    r = memory.memory_test(x, 3)
    assert not r.history_matters and r.order == 1 and r.gain == 0.0
    assert r.to_dict()["history_matters"] is False and "no evidence" in r.sentence


def test_memory_test_refuses_bad_input():
    x = _chain(T3, 20, 500, seed=2)
    with pytest.raises(ValueError, match="gaps"):
        memory.memory_test(x, 4)  # state 3 never occurs
    bad = x.copy()
    bad[0, 10] = -1
    with pytest.raises(ValueError, match="split each trajectory"):
        memory.memory_test(bad, 3)
    with pytest.raises(ValueError, match="NaN"):
        memory.memory_test(np.where(bad < 0, np.nan, bad).astype(float), 3)
    with pytest.raises(ValueError, match="not longer than the highest order 4"):
        memory.memory_test([*x, np.array([0, 1, 2])], 3)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"more than these data can support.*orders=\(1, 2\)"):
        memory.memory_test(rng.integers(0, 40, (20, 200)), 40, orders=(1, 2, 3))
    with pytest.raises(ValueError, match="include 1"):
        memory.memory_test(x, 3, orders=(1,))


# ------------------------------------------------------------------------------------------------ sampler, ITS, IGME
def test_sampled_second_order_chain_keeps_its_memory():
    P = _persistent_walk()
    x = _chain(np.full((5, 5), 0.2), 20, 3000, seed=3, order2=P)
    chain = markov.fit_markov(x, 5, 2)
    g = chain.sample(x[:, :2], 3000, seed=4)
    assert g.shape == (20, 3000) and g.min() >= 0 and g.max() < 5

    def keep_rate(y):  # how often a move continues in the direction of the last move
        d = (np.diff(y, axis=1) + 2) % 5 - 2
        a, b = d[:, :-1].ravel(), d[:, 1:].ravel()
        moved = (a != 0) & (b != 0)
        return np.mean(a[moved] == b[moved])

    assert keep_rate(g) == pytest.approx(keep_rate(x), rel=0.05)
    assert keep_rate(x) == pytest.approx(0.9, rel=0.05)
    first = markov.fit_markov(x, 5, 1).sample(x[:, :1], 3000, seed=5)
    assert keep_rate(first) < 0.7  # a first-order chain forgets the direction


def test_slowest_its_and_igme_recover_a_markov_chain():
    x = _chain(T3, 40, 5000, seed=6)
    exact = _exact_its(T3)
    r = memory.slowest_its(x, 3, 5, n_boot=30)
    assert r.value == pytest.approx(exact, rel=0.05) and r.low < r.value < r.high
    assert 0 < r.noise_floor() < 0.1
    fit = memory.igme(x, 3, range(2, 12), eval_lags=[1, 5, 20])
    assert fit.timescales[0] == pytest.approx(exact, rel=0.05)
    assert fit.its_at(20) == pytest.approx(exact, rel=0.05) and fit.rmse < 0.01
    with pytest.raises(ValueError, match="at least 2 lags"):
        memory.igme(x, 3, [3])
