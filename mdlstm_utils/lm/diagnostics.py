"""Why a language model loses the rare event: what the next-token loss sees, and which transitions go wrong.

A language model is trained to predict the next state, scored by the cross-entropy on held-out frames. The
slow process of a metastable system lives in a few rare transitions between metastable sets: most frames
stay, or hop between states of the same set. Two tools here make that visible in numbers:

* :func:`loss_sensitivity` changes the rare (between-set) transitions of an MSM estimated from the data by a
  factor (the slow rate is then wrong by about that factor), renormalises, and scores the held-out frames:
  the loss barely moves, much less than for the same change to the fast (within-set) transitions and often
  less than the loss differs between two training seeds. A model trained on that loss has almost no signal
  to get the slow rate right.
* :func:`transition_errors` compares the transition probabilities of generated trajectories with the
  reference's, marks the between-set ones, and measures how much of the error in the slowest implied
  timescale those few transitions explain alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils.kinetics import transition_counts
from mdlstm_utils.kinetics.markov import label_sequences, fit_markov

__all__ = ["set_assignment", "LossSensitivity", "loss_sensitivity", "TransitionErrors", "transition_errors",
           "slowest_timescale"]


def set_assignment(groups, n_states: int) -> np.ndarray:
    """The set (group) of every state, from an assignment array of length ``n_states`` or a list of sets.

    The sets must cover every state: the between-set transitions are then exactly those that change the
    metastable state (use the crisp PCCA+ macrostates or the wells, not core sets that leave states out).
    """
    if isinstance(groups, np.ndarray) and groups.ndim == 1 and len(groups) == n_states and \
            np.issubdtype(groups.dtype, np.integer):
        out = groups.astype(int)
    else:
        out = np.full(n_states, -1)
        for k, members in enumerate(groups):
            members = np.asarray(members, dtype=int)
            if members.size and (members.min() < 0 or members.max() >= n_states):
                raise ValueError(f"set {k} holds states outside 0..{n_states - 1}")
            out[members] = k
    if np.any(out < 0):
        raise ValueError(f"{int(np.sum(out < 0))} of {n_states} states belong to no set; give sets that cover every "
                         "state (crisp macrostates or wells), so that every transition is within or between sets")
    if len(np.unique(out)) < 2:
        raise ValueError("the sets must hold at least two groups of states")
    return out


def slowest_timescale(T: np.ndarray, dt: float = 1.0) -> float:
    """``-dt / ln|lambda_2|`` of a transition matrix (its second largest eigenvalue modulus)."""
    lam = np.sort(np.abs(np.linalg.eigvals(T)))[::-1]
    if len(lam) < 2 or lam[1] <= 0:
        return 0.0
    if lam[1] >= 1:
        return np.inf
    return float(-dt / np.log(lam[1]))


def _scaled(T: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray:
    """``T`` with the entries in ``mask`` (off-diagonal) times ``factor``, each row renormalised: the odds of
    those transitions against every other move change by ``factor``, and every probability stays positive."""
    out = T.copy()
    out[mask] *= factor
    return out / out.sum(1, keepdims=True)


def _pairs(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every (current, next) state of the sequences."""
    return (np.concatenate([s[:-1] for s in seqs if len(s) > 1]), np.concatenate([s[1:] for s in seqs if len(s) > 1]))


def _loss(T: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(-np.log(T[a, b]).mean())


@dataclass
class LossSensitivity:
    """How much the held-out next-state loss changes when the slow or the fast transitions are wrong.

    Losses in nats per frame; ``*_delta[k]`` is the change for ``factors[k]`` (the transitions times the
    factor); timescales in the unit of ``dt``.
    """

    factors: np.ndarray
    base_loss: float  # the lag-1 MSM of the training frames, on the held-out frames
    slow_delta: np.ndarray  # between-set transitions scaled
    fast_delta: np.ndarray  # within-set (off-diagonal) transitions scaled
    base_timescale: float  # slowest implied timescale of the MSM
    slow_timescale: np.ndarray  # ... after scaling the between-set transitions
    fast_timescale: np.ndarray  # ... after scaling the within-set transitions
    crossing_fraction: float  # share of held-out frames that cross between sets
    n_frames: int  # held-out frames scored

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def loss_sensitivity(train, val, n_states: int, groups, *, factors=(2.0, 0.5), dt: float = 1.0) -> LossSensitivity:
    """Score an MSM of ``train`` on ``val`` as it is and with its slow or fast transitions scaled.

    Parameters
    ----------
    train, val
        Label trajectories: the MSM (lag 1, counted as :class:`~mdlstm_utils.kinetics.markov.MarkovChain`) is estimated
        on ``train``, the loss is measured on ``val`` (trajectories, or windows as a 2-D array).
    groups
        The metastable set of every state (:func:`set_assignment`): transitions between sets make the slow
        process, transitions between states of one set are fast.
    factors
        Scalings tried (each must be > 0 and not 1): ``2`` makes the slow rate about twice too fast.
    """
    factors = np.asarray(factors, dtype=float)
    if factors.ndim != 1 or factors.size == 0 or np.any(factors <= 0) or np.any(factors == 1):
        raise ValueError(f"factors must be positive numbers other than 1, got {factors.tolist()}")
    g = set_assignment(groups, n_states)
    T = fit_markov(train, n_states, 1).transition_matrix()
    a, b = _pairs(label_sequences(val, n_states, "val"))
    cross = g[:, None] != g[None, :]
    within = ~cross & ~np.eye(n_states, dtype=bool)
    base = _loss(T, a, b)
    slow = [_scaled(T, cross, f) for f in factors]
    fast = [_scaled(T, within, f) for f in factors]
    return LossSensitivity(factors, base, np.array([_loss(t, a, b) - base for t in slow]),
                           np.array([_loss(t, a, b) - base for t in fast]), slowest_timescale(T, dt),
                           np.array([slowest_timescale(t, dt) for t in slow]),
                           np.array([slowest_timescale(t, dt) for t in fast]), float(np.mean(g[a] != g[b])), len(a))


@dataclass
class TransitionErrors:
    """Transition probabilities of generated trajectories against the reference's (lag ``lag``).

    ``p_ref``, ``p_gen`` and ``crossing`` are per observed off-diagonal transition ``(i, j)`` of the
    reference (``pairs``); ``explained`` is the share of the generated trajectories' error in the slowest
    implied timescale that the between-set transitions alone reproduce: the reference MSM with only those
    entries taken from the generated one (``timescale_hybrid``), as ``log(hybrid / ref) / log(gen / ref)``.
    """

    pairs: np.ndarray  # (n, 2) state pairs
    p_ref: np.ndarray
    p_gen: np.ndarray
    crossing: np.ndarray  # bool: between sets
    timescale_ref: float
    timescale_gen: float
    timescale_hybrid: float
    explained: float  # nan when the generated timescale is within 1 % of the reference's
    crossing_rel_err: float  # median |p_gen / p_ref - 1| over the between-set transitions
    within_rel_err: float  # the same over the within-set transitions

    def to_dict(self) -> dict:
        keep = ("timescale_ref", "timescale_gen", "timescale_hybrid", "explained", "crossing_rel_err", "within_rel_err")
        return {k: getattr(self, k) for k in keep} | {"n_crossing": int(self.crossing.sum()), "n_pairs": len(self.pairs)}


def _row_normalised(C: np.ndarray) -> np.ndarray:
    rows = C.sum(1, keepdims=True)
    return np.divide(C, rows, out=np.zeros_like(C, dtype=float), where=rows > 0)


def transition_errors(reference, generated, n_states: int, groups, *, lag: int = 1, dt: float = 1.0) -> TransitionErrors:
    """Compare the lag-``lag`` transition probabilities of ``generated`` with ``reference`` (see the class).

    The timescales are those of the row-normalised count matrices on the states that the reference both
    leaves and enters; a state the generated trajectories never leave keeps the reference's row.
    """
    g = set_assignment(groups, n_states)
    C_ref = transition_counts(reference, n_states, lag).astype(float)
    C_gen = transition_counts(generated, n_states, lag).astype(float)
    keep = np.flatnonzero((C_ref.sum(1) > 0) & (C_ref.sum(0) > 0))
    if len(keep) < 2:
        raise ValueError("the reference visits fewer than 2 states with transitions at this lag")
    T_ref = _row_normalised(C_ref[np.ix_(keep, keep)])
    T_gen = _row_normalised(C_gen[np.ix_(keep, keep)])
    no_row = T_gen.sum(1) == 0
    T_gen[no_row] = T_ref[no_row]
    gk = g[keep]
    cross = gk[:, None] != gk[None, :]
    hybrid = T_ref.copy()
    hybrid[cross] = T_gen[cross]
    np.fill_diagonal(hybrid, 0.0)
    hybrid[np.diag_indices_from(hybrid)] = np.maximum(1.0 - hybrid.sum(1), 0.0)
    hybrid = _row_normalised(hybrid)
    step = dt * lag
    t_ref, t_gen, t_hyb = (slowest_timescale(T, step) for T in (T_ref, T_gen, hybrid))
    total = np.log(t_gen / t_ref) if np.isfinite(t_gen) and t_gen > 0 else np.nan
    explained = float(np.log(t_hyb / t_ref) / total) if np.isfinite(total) and abs(total) > 0.01 else np.nan
    i, j = np.nonzero((C_ref[np.ix_(keep, keep)] > 0) & ~np.eye(len(keep), dtype=bool))
    p_ref, p_gen, crossing = T_ref[i, j], T_gen[i, j], cross[i, j]
    rel = np.abs(p_gen / p_ref - 1.0)
    return TransitionErrors(np.stack([keep[i], keep[j]], 1), p_ref, p_gen, crossing, t_ref, t_gen, t_hyb, explained,
                            float(np.median(rel[crossing])) if crossing.any() else np.nan,
                            float(np.median(rel[~crossing])) if (~crossing).any() else np.nan)
