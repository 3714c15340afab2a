"""The Markov state model baseline: trajectories sampled from an MSM of the same labels, as many and as long
as the ones a language model generates, so that the two are judged by the same estimators.
"""

from __future__ import annotations

import numpy as np

from mdlstm_utils.states import estimate_msm

__all__ = ["msm_trajectories"]


def msm_trajectories(labels, *, n_states: int, lag: int = 1, n_steps: int, start, seed: int = 0) -> np.ndarray:
    """Trajectories sampled from a Markov state model of ``labels`` (the baseline beside a language model).

    A reversible maximum-likelihood MSM is estimated at ``lag`` frames on the
    largest connected set (:func:`mdlstm_utils.states.estimate_msm`), then one
    trajectory of ``n_steps`` frames is simulated from each start state. Frames
    of the result are ``lag`` input frames apart: measure them with
    ``dt = lag * dt_input``. Start states outside the connected set start in
    its most populated state.

    Returns
    -------
    numpy.ndarray
        ``int64`` labels of shape ``(len(start), n_steps)`` in the original state numbering.
    """
    msm = estimate_msm(labels, n_states, lag)
    symbols = np.asarray(msm.count_model.state_symbols)
    index = {int(s): i for i, s in enumerate(symbols)}
    fallback = int(np.argmax(msm.stationary_distribution))
    start = np.atleast_1d(np.asarray(start, dtype=np.int64))
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
    out = np.empty((len(start), int(n_steps)), dtype=np.int64)
    for i, s0 in enumerate(start):
        traj = msm.simulate(int(n_steps), start=index.get(int(s0), fallback), seed=int(seed) + i)
        out[i] = symbols[traj]
    return out
