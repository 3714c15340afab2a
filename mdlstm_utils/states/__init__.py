"""State spaces: the integer labels (tokens) the language models learn on, and their builders.

A *partition* maps each frame of a trajectory to one of ``n_states`` integer
labels. Grid bins over a low-dimensional coordinate are the simplest; bins (or
any microstates) can then be lumped into metastable wells with a lookup table.

* :mod:`~mdlstm_utils.states.space`       the state-space type (:class:`StateSpace`), time units, builders
* :mod:`~mdlstm_utils.states.grids`       grid bins of low-dimensional coordinates, basins of a potential, per-state means
* :mod:`~mdlstm_utils.states.clustering`  k-means microstates of high-dimensional features (CPU/GPU), TICA
* :mod:`~mdlstm_utils.states.msm`         Markov state models of label trajectories (deeptime)
* :mod:`~mdlstm_utils.states.lag`         implied timescales, the lag-selection rule, the Chapman-Kolmogorov test
* :mod:`~mdlstm_utils.states.metastable`  lumping (lookup, PCCA+), core sets, dynamical coring, metastable states in one call
* :mod:`~mdlstm_utils.states.split`       the evaluation protocol's training / test split of trajectories
* :mod:`~mdlstm_utils.states.sets`        sets of states: the state-to-set lookup, set labels, populations
* :mod:`~mdlstm_utils.states.rules`       the rules that choose each step (TICA lag and size, microstates, MSM lag, number
  of metastable states, shortest kept visit), each result a ``Choice`` with its reason

The names of the first seven modules are importable from here (``from mdlstm_utils.states import kmeans``);
``sets`` and ``rules`` by their module (``from mdlstm_utils.states import rules``).
"""

from mdlstm_utils.states import lag
from mdlstm_utils.states._labels import check_labels
from mdlstm_utils.states.clustering import KMeansResult, assign_to_centers, kmeans, tica
from mdlstm_utils.states.grids import Grid, assign_basins, discretize_grid, make_grid, state_means
from mdlstm_utils.states.metastable import (
    MetastableStates,
    PCCAResult,
    core_set_labels,
    cores_from_memberships,
    lump,
    metastable_states,
    min_dwell_filter,
    pcca_lump,
)
from mdlstm_utils.states.lag import CKTestResult, ImpliedTimescalesResult, ck_test, implied_timescales, suggest_lag
from mdlstm_utils.states.msm import estimate_msm
from mdlstm_utils.states.split import Split, kfold_splits, train_test_split
from mdlstm_utils.states.space import (
    METASTABLE_KINDS,
    TIME_UNITS,
    StateSpace,
    from_labels,
    grid_space,
    kmeans_space,
    metastable_space,
    parse_dt,
)

__all__ = [
    "StateSpace",
    "TIME_UNITS",
    "METASTABLE_KINDS",
    "parse_dt",
    "from_labels",
    "grid_space",
    "kmeans_space",
    "metastable_space",
    "Grid",
    "make_grid",
    "discretize_grid",
    "assign_basins",
    "lump",
    "check_labels",
    "KMeansResult",
    "kmeans",
    "assign_to_centers",
    "tica",
    "PCCAResult",
    "pcca_lump",
    "core_set_labels",
    "cores_from_memberships",
    "min_dwell_filter",
    "estimate_msm",
    "Split",
    "train_test_split",
    "kfold_splits",
    "lag",
    "ImpliedTimescalesResult",
    "CKTestResult",
    "implied_timescales",
    "suggest_lag",
    "ck_test",
    "state_means",
    "MetastableStates",
    "metastable_states",
]
