import numpy as np
import pytest

from mdlstm_utils.states import assign_basins, check_labels, discretize_grid, lump, make_grid
from mdlstm_utils.data.systems import FourWell1D, ThreeWell2D


def test_grid_1d_bins_and_clipping():
    g = make_grid(-2.0, 2.0, 4)
    assert g.n_states == 4 and g.dim == 1
    np.testing.assert_allclose(g.centers()[:, 0], [-1.5, -0.5, 0.5, 1.5])
    x = np.array([-5.0, -1.99, -1.0, -0.01, 0.0, 1.2, 1.999, 9.0])
    np.testing.assert_array_equal(discretize_grid(x, g), [0, 0, 1, 1, 2, 3, 3, 3])
    # a trailing axis of size 1 and a batch of trajectories keep their shape
    assert discretize_grid(np.zeros((3, 7, 1)), g).shape == (3, 7)


def test_grid_2d_flattening_is_c_order():
    g = make_grid((0.0, 0.0), (2.0, 3.0), (2, 3))
    assert g.shape == (2, 3) and g.n_states == 6
    pts = np.array([[0.5, 0.5], [0.5, 2.5], [1.5, 0.5], [1.5, 2.5]])
    np.testing.assert_array_equal(discretize_grid(pts, g), [0, 2, 3, 5])
    # the centre of bin i is labelled i
    np.testing.assert_array_equal(discretize_grid(g.centers(), g), np.arange(6))


def test_basins_of_the_four_well_follow_the_barriers():
    p = FourWell1D()
    g = make_grid(-2.0, 2.0, 40)
    wells = assign_basins(p, g.centers())
    np.testing.assert_array_equal(wells, p.well_of(g.centers()[:, 0]))
    np.testing.assert_array_equal(np.bincount(wells), [10, 10, 10, 10])


def test_basins_of_the_three_well_2d():
    p = ThreeWell2D()
    wells = assign_basins(p, np.array([[-1.2, 0.1], [1.1, -0.3], [0.1, 1.7], [-0.9, -0.5]]))
    np.testing.assert_array_equal(wells, [0, 1, 2, 0])


def test_lump_and_label_checks():
    np.testing.assert_array_equal(lump(np.array([[0, 1], [2, 3]]), np.array([0, 0, 1, 1])), [[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="does not fit a mapping of 2 states"):
        lump(np.array([0, 5]), np.array([0, 1]))
    trajs = check_labels([np.array([0, 1]), np.array([2.0, 1.0])], 3)
    assert [t.dtype for t in trajs] == [np.int64, np.int64]
    with pytest.raises(ValueError, match="negative label"):
        check_labels(np.array([0, -1]), 3)
    with pytest.raises(ValueError, match=r"n_states=3"):
        check_labels(np.array([0, 3]), 3)
    with pytest.raises(TypeError, match="integer state labels"):
        check_labels(np.array([0.5, 1.0]), 3)


def test_toy_data_sets_are_reproducible_and_consistent():
    from mdlstm_utils.data import toydata

    a = toydata.four_well(6, 100, n_bins=20, seed=2, device="cpu", progress=False)
    b = toydata.four_well(6, 100, n_bins=20, seed=2, device="cpu", progress=False)
    assert np.array_equal(a.labels, b.labels) and a.labels.shape == (6, 100) and a.labels.max() < 20
    np.testing.assert_array_equal(a.wells, np.repeat(np.arange(4), 5))
    h = toydata.hidden_slow(4, 200, dim=10, n_micro=8, seed=0, device="cpu", progress=False)
    assert h.micro.shape == (4, 200) and h.centers.shape == (8, 10) and h.saving_interval == 0.01
    # microstates split cleanly by the hidden coordinate's sign: their mean s is far from 0
    assert np.all(np.abs(h.micro_mean_s()[np.bincount(h.micro.ravel(), minlength=8) > 0]) > 0.3)


# ---------------------------------------------------------------------------- metastable_states: PCCA+ + order + cores

# Two metastable blocks {0, 1} and {3, 4} joined through a short-lived transition state 2 that
# exits to either side with equal probability. Block {0, 1} holds twice the population of {3, 4}
# (detailed balance: pi_1 * 0.005 = pi_2 * 0.3 = pi_3 * 0.01).
T_BRIDGE = np.array([
    [0.900, 0.100, 0.000, 0.000, 0.000],
    [0.100, 0.895, 0.005, 0.000, 0.000],
    [0.000, 0.300, 0.400, 0.300, 0.000],
    [0.000, 0.000, 0.010, 0.890, 0.100],
    [0.000, 0.000, 0.000, 0.100, 0.900],
])


def _chain(T, n_steps, seed, start=0):
    rng = np.random.default_rng(seed)
    cum = np.cumsum(T, axis=1)
    u = rng.random(n_steps)
    out = np.empty(n_steps, dtype=np.int64)
    s = start
    for i in range(n_steps):
        out[i] = s
        s = int(np.searchsorted(cum[s], u[i], side="right"))
    return out


def test_state_means_exact():
    from mdlstm_utils.states import state_means

    labels = np.array([[0, 0, 2, 2], [2, 0, 0, 3]])
    values = np.array([[1.0, 3.0, 5.0, 7.0], [9.0, 5.0, 5.0, -1.0]])
    np.testing.assert_allclose(state_means(labels, values, 5), [3.5, np.nan, 7.0, -1.0, np.nan])
    np.testing.assert_allclose(state_means([np.array([1, 1]), np.array([0])], [np.array([2.0, 4.0]), np.array([8.0])], 2), [8.0, 3.0])
    with pytest.raises(ValueError, match="one entry per frame"):
        state_means(labels, values[:, :3], 5)
    with pytest.raises(ValueError, match="NaN"):
        state_means(np.array([0, 1]), np.array([0.0, np.nan]), 2)


def test_metastable_states_on_a_bridged_two_block_chain():
    from mdlstm_utils.states import MetastableStates, core_set_labels, metastable_states

    trajs = np.stack([_chain(T_BRIDGE, 40_000, seed=s, start=4 * (s % 2)) for s in range(2)])
    ms = metastable_states(trajs, 5, 2, lag=1, core_threshold=0.8)
    assert isinstance(ms, MetastableStates) and ms.n_macro == 2 and ms.n_micro == 5
    # default order: macrostate 0 is the more populated block {0, 1}
    np.testing.assert_array_equal(ms.assignments[[0, 1, 3, 4]], [0, 0, 1, 1])
    # the transition state has a split membership and is in no core; the blocks are the cores
    assert 0.2 < ms.memberships[2, 0] < 0.8
    np.testing.assert_array_equal(ms.cores, [0, 0, -1, 1, 1])
    assert [s.tolist() for s in ms.core_sets()] == [[0, 1], [3, 4]]
    assert sum(len(s) for s in ms.macro_sets()) == 5
    np.testing.assert_allclose(ms.memberships.sum(1), 1.0, atol=1e-8)
    # the label trajectories keep the input layout and are the lumped / cored microstates
    assert isinstance(ms.macro_labels, np.ndarray) and ms.macro_labels.shape == trajs.shape
    np.testing.assert_array_equal(ms.macro_labels, ms.assignments[trajs])
    np.testing.assert_array_equal(ms.core_labels, core_set_labels(trajs, ms.cores, before_first="backfill"))
    # frames in the transition state 2 keep the core visited last: no core label is ever -1,
    # and a 1 -> 2 -> 1 excursion does not change the core label
    assert ms.core_labels.min() == 0
    i = np.flatnonzero((trajs[0, :-2] == 1) & (trajs[0, 1:-1] == 2) & (trajs[0, 2:] == 1))[0]
    assert ms.core_labels[0, i + 1] == 0
    # recrossing removal: fewer core changes than macrostate changes
    assert np.count_nonzero(np.diff(ms.core_labels, axis=1)) < np.count_nonzero(np.diff(ms.macro_labels, axis=1))
    # ordering by a per-microstate score: increasing score; a reversed score swaps the numbering consistently
    rev = metastable_states(trajs, 5, 2, lag=1, core_threshold=0.8, order_by=np.array([4.0, 3, 2, 1, 0]))
    np.testing.assert_array_equal(rev.cores, [1, 1, -1, 0, 0])
    np.testing.assert_array_equal(rev.macro_labels, 1 - ms.macro_labels)
    np.testing.assert_array_equal(rev.core_labels, 1 - ms.core_labels)
    np.testing.assert_allclose(rev.memberships, ms.memberships[:, ::-1])
    np.testing.assert_array_equal(rev.order, ms.order[::-1])
    # a list of trajectories gives lists back
    lst = metastable_states(list(trajs), 5, 2, lag=1, core_threshold=0.8)
    assert isinstance(lst.core_labels, list) and len(lst.core_labels) == 2
    np.testing.assert_array_equal(lst.core_labels[1], ms.core_labels[1])
    # one trajectory as a 1-D array gives 1-D label arrays
    one = metastable_states(trajs[0], 5, 2, lag=1, core_threshold=0.8)
    assert one.macro_labels.ndim == 1 and one.core_labels.shape == trajs[0].shape
    np.testing.assert_array_equal(one.macro_labels, one.assignments[trajs[0]])


def test_metastable_states_errors():
    from mdlstm_utils.states import metastable_states

    trajs = _chain(T_BRIDGE, 20_000, seed=3)
    with pytest.raises(ValueError, match="one score per microstate"):
        metastable_states(trajs, 5, 2, lag=1, order_by=np.zeros(3))
    with pytest.raises(ValueError, match="no finite score"):
        metastable_states(trajs, 5, 2, lag=1, order_by=np.array([np.nan, np.nan, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="use fewer sets"):
        metastable_states(trajs, 5, 3, lag=1, core_threshold=1.0)


def test_slow_truth_mfpt_on_a_hand_made_slow_coordinate():
    from mdlstm_utils.data.toydata import slow_truth_mfpt

    # A core s < -0.5, B core s > 0.5; 0.0 is in neither (a recrossing of the barrier region does not count)
    s = np.array([-1.0, -0.9, 0.0, -0.8, 0.0, 0.9, 1.0, 0.0, 1.1, 0.2, -0.7, -1.0])
    m = slow_truth_mfpt(s, dt=0.5)
    # A is the last-visited core at frames 0-4 and 10-11 (7 frames), with one A -> B switch
    assert m[0, 1] == pytest.approx(0.5 * 7)
    assert m[1, 0] == pytest.approx(0.5 * (10 - 5))  # enters B at frame 5, first reaches A at frame 10
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 1])
