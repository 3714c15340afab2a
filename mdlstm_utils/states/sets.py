"""Sets of states: the lookup from state to set, set-label trajectories, and state populations.

A *set* is a collection of state labels (the bins of one well, the microstates of one core). Every
quantity measured between sets (populations of wells, first passages between cores) starts from the
lookup built here, so that one rule decides what a valid collection of sets is.
"""

from __future__ import annotations

import numpy as np

from mdlstm_utils.states._labels import check_labels

__all__ = ["set_lookup", "set_labels", "populations"]


def set_lookup(sets, n_states: int, *, what: str = "set") -> tuple[np.ndarray, int]:
    """The lookup array state -> set index (``-1`` for none) and the number of sets.

    ``sets`` is a non-empty list of disjoint, non-empty collections of state labels in ``[0, n_states)``,
    or a lookup array of length ``n_states`` that already gives each state's set (``-1`` for none).
    ``what`` names one set in the error messages (``"set 1 is empty"``, ``"core 1 is empty"``).

    >>> set_lookup([[0, 1], [3]], 4)
    (array([ 0,  0, -1,  1]), 2)
    """
    if isinstance(sets, np.ndarray) and sets.ndim == 1 and np.issubdtype(sets.dtype, np.integer):
        if len(sets) != n_states:
            raise ValueError(f"a {what} lookup array must have length n_states={n_states}, got {len(sets)}")
        if sets.max() < 0:
            raise ValueError(f"the {what} lookup array assigns no state to any {what}")
        return sets.astype(np.int64), int(sets.max() + 1)
    if not isinstance(sets, (list, tuple)) or len(sets) == 0:
        raise TypeError(f"{what}s must be a non-empty list of state collections or a lookup array of length n_states")
    lookup = np.full(n_states, -1, dtype=np.int64)
    for k, members in enumerate(sets):
        m = np.asarray(members, dtype=np.int64).reshape(-1)
        if m.size == 0:
            raise ValueError(f"{what} {k} is empty; every {what} needs at least one state")
        if m.min() < 0 or m.max() >= n_states:
            raise ValueError(f"{what} {k} holds states outside [0, {n_states - 1}]")
        if np.any(lookup[m] >= 0):
            raise ValueError(f"{what} {k} overlaps an earlier {what}; {what}s must be disjoint")
        lookup[m] = k
    return lookup, len(sets)


def set_labels(labels, sets, n_states: int) -> list[np.ndarray]:
    """Map state labels to set indices (``-1`` for frames in no set).

    ``sets`` is a list of disjoint collections of state labels (e.g. the bins of
    each well), or a lookup array of length ``n_states`` giving each state's set
    (``-1`` for none).
    """
    trajs = check_labels(labels, n_states)
    lookup, _ = set_lookup(sets, n_states)
    return [lookup[t] for t in trajs]


def populations(labels, n_states: int) -> np.ndarray:
    """Fraction of frames in each state, shape ``(n_states,)``, summed over all trajectories."""
    trajs = check_labels(labels, n_states)
    counts = sum(np.bincount(t, minlength=n_states) for t in trajs)
    return counts / counts.sum()
