"""Markov state models of label trajectories (deeptime), for PCCA+ lumping and implied timescales."""

from __future__ import annotations

from mdlstm_utils._checks import check_int as _check_int
from mdlstm_utils.states._labels import check_labels

__all__ = ["estimate_msm"]


def estimate_msm(dtrajs, n_states: int, lag: int, *, reversible: bool = True):
    """Maximum-likelihood MSM (deeptime) on the largest connected set of sliding-window counts at ``lag``.

    Returns the :class:`deeptime.markov.msm.MarkovStateModel`; its
    ``count_model.state_symbols`` are the original state labels of its states.
    """
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    trajs = check_labels(dtrajs, n_states, name="dtrajs")
    lag = _check_int("lag", lag, 1)
    longest = max(len(t) for t in trajs)
    if lag >= longest:
        raise ValueError(f"lag={lag} frames is not shorter than the longest trajectory ({longest} frames)")
    counts = TransitionCountEstimator(lagtime=lag, count_mode="sliding", n_states=n_states).fit(trajs).fetch_model()
    largest = counts.submodel_largest(directed=True)
    if largest.n_states < 2 or largest.count_matrix.sum() == 0:
        raise ValueError(
            f"the largest connected set at lag={lag} has {largest.n_states} state(s); "
            "an MSM needs transitions between at least 2 states (more data or a shorter lag)"
        )
    return MaximumLikelihoodMSM(reversible=reversible).fit(largest).fetch_model()
