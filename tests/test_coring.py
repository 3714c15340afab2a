"""Recrossing removal: core sets, cores from memberships, dynamical coring — exact outputs on hand-made sequences."""

import numpy as np
import pytest

from mdlstm_utils.states import core_set_labels, cores_from_memberships, min_dwell_filter

# states 0, 1 form core 0; state 2 is the transition region; states 3, 4 form core 1
LOOKUP = np.array([0, 0, -1, 1, 1])
SETS = [[0, 1], [3, 4]]


def test_core_set_labels_keeps_the_last_core():
    t = np.array([2, 2, 0, 1, 2, 0, 2, 3, 2, 1, 2, 4, 4])
    expected = [-1, -1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    np.testing.assert_array_equal(core_set_labels(t, LOOKUP), expected)
    np.testing.assert_array_equal(core_set_labels(t, SETS), expected)
    np.testing.assert_array_equal(core_set_labels(t, LOOKUP.tolist()), expected)


def test_core_set_labels_before_first_options():
    t = np.array([2, 2, 4, 2, 0, 2])
    np.testing.assert_array_equal(core_set_labels(t, LOOKUP), [-1, -1, 1, 1, 0, 0])
    np.testing.assert_array_equal(core_set_labels(t, LOOKUP, before_first="backfill"), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(core_set_labels(t, LOOKUP, before_first="drop"), [1, 1, 0, 0])
    # a trajectory that never enters a core
    never = np.array([2, 2, 2])
    np.testing.assert_array_equal(core_set_labels(never, LOOKUP, before_first="backfill"), [-1, -1, -1])
    assert core_set_labels(never, LOOKUP, before_first="drop").size == 0


def test_core_set_labels_keeps_the_input_layout():
    two = np.array([[2, 0, 2, 3], [3, 2, 2, 1]])
    out = core_set_labels(two, LOOKUP)
    assert isinstance(out, np.ndarray) and out.shape == (2, 4)
    np.testing.assert_array_equal(out, [[-1, 0, 0, 1], [1, 1, 1, 0]])
    ragged = core_set_labels([np.array([2, 0]), np.array([2, 2, 3])], LOOKUP, before_first="drop")
    assert isinstance(ragged, list)
    np.testing.assert_array_equal(ragged[0], [0])
    np.testing.assert_array_equal(ragged[1], [1])


def test_core_set_labels_removes_recrossings():
    # a barrier recrossing 0 -> 2 -> 0 -> 2 -> 3: raw labels cross the barrier region 4 times, cored once
    t = np.array([0, 0, 2, 0, 2, 2, 3, 3])
    cored = core_set_labels(t, LOOKUP)
    assert np.count_nonzero(np.diff(cored)) == 1


def test_core_set_labels_errors():
    with pytest.raises(ValueError, match="overlaps"):
        core_set_labels(np.array([0, 1]), [[0, 1], [1]])
    with pytest.raises(ValueError, match="before_first='bogus'"):
        core_set_labels(np.array([0, 1]), LOOKUP, before_first="bogus")
    with pytest.raises(ValueError, match="labels go up to 7"):
        core_set_labels(np.array([0, 7]), LOOKUP)
    with pytest.raises(ValueError, match="no state to any core"):
        core_set_labels(np.array([0, 1]), np.array([-1, -1]))
    with pytest.raises(ValueError, match="core 1 is empty"):
        core_set_labels(np.array([0, 1]), [[0], []])
    with pytest.raises(TypeError, match="cores must be"):
        core_set_labels(np.array([0, 1]), "01")


def test_cores_from_memberships():
    m = np.array([[1.0, 0.0], [0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.02, 0.98], [0.0, 0.0]])
    np.testing.assert_array_equal(cores_from_memberships(m, 0.9), [0, 0, -1, -1, 1, -1])
    np.testing.assert_array_equal(cores_from_memberships(m, 0.6), [0, 0, 0, 1, 1, -1])
    with pytest.raises(ValueError, match=r"set\(s\) \[1\]"):
        cores_from_memberships(np.array([[1.0, 0.0], [0.5, 0.5]]), 0.9)
    with pytest.raises(ValueError, match="threshold"):
        cores_from_memberships(m, 0.4)
    with pytest.raises(ValueError, match="shape"):
        cores_from_memberships(np.ones(3), 0.9)


def test_min_dwell_filter_exact():
    t = np.array([0, 0, 0, 1, 0, 0, 2, 2, 2, 1, 2, 1, 1, 1, 1])
    np.testing.assert_array_equal(min_dwell_filter(t, 1), t)
    # runs: 0x3 1x1 0x2 2x3 1x1 2x1 1x4; with min_dwell=2 the 1-frame visits go to the previous kept state
    np.testing.assert_array_equal(min_dwell_filter(t, 2), [0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 1, 1, 1, 1])
    # with min_dwell=3 the 0x2 visit also goes: 0 continues until the 2x3 visit
    np.testing.assert_array_equal(min_dwell_filter(t, 3), [0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 1, 1, 1, 1])
    # with min_dwell=4 only the first visit (always kept) and the 1x4 visit remain
    np.testing.assert_array_equal(min_dwell_filter(t, 4), [0] * 11 + [1] * 4)


def test_min_dwell_filter_first_and_last_visits_and_layout():
    # a short first visit is kept (no predecessor); a short last visit is reassigned
    np.testing.assert_array_equal(min_dwell_filter(np.array([3, 1, 1, 1, 2]), 2), [3, 1, 1, 1, 1])
    out = min_dwell_filter(np.array([[0, 1, 0, 0], [1, 1, 0, 1]]), 2)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0], [1, 1, 1, 1]])
    lst = min_dwell_filter([np.array([0, 1, 1]), np.array([2])], 2)
    assert isinstance(lst, list) and len(lst) == 2
    with pytest.raises(ValueError, match="min_dwell must be >= 1"):
        min_dwell_filter(np.array([0, 1]), 0)
    with pytest.raises(TypeError, match="min_dwell must be an int"):
        min_dwell_filter(np.array([0, 1]), 2.5)
