import numpy as np
import pytest

from mdlstm_utils.states import assign_basins, check_labels, discretize_grid, lump, make_grid
from mdlstm_utils.systems import FourWell1D, ThreeWell2D


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
    from mdlstm_utils import toydata

    a = toydata.four_well(6, 100, n_bins=20, seed=2, device="cpu", progress=False)
    b = toydata.four_well(6, 100, n_bins=20, seed=2, device="cpu", progress=False)
    assert np.array_equal(a.labels, b.labels) and a.labels.shape == (6, 100) and a.labels.max() < 20
    np.testing.assert_array_equal(a.wells, np.repeat(np.arange(4), 5))
    h = toydata.hidden_slow(4, 200, dim=10, n_micro=8, seed=0, device="cpu", progress=False)
    assert h.micro.shape == (4, 200) and h.centers.shape == (8, 10) and h.saving_interval == 0.01
    # microstates split cleanly by the hidden coordinate's sign: their mean s is far from 0
    assert np.all(np.abs(h.micro_mean_s()[np.bincount(h.micro.ravel(), minlength=8) > 0]) > 0.3)
