"""The validated MSM: the Markov state model a practitioner would build from the same training labels, at a
lag that its implied timescales and a Chapman–Kolmogorov test accept, with its kinetics computed from the
model itself.

The lag-1 MSM is the weakest baseline there is: at one frame most partitions are not Markovian, and its
timescales come out short. A language model that beats it has beaten a straw man. The validated MSM is the
baseline to beat: its lag is the smallest scanned lag at which the slowest implied timescale has levelled
off (the suite's lag rule, :func:`~mdlstm_utils.states.lag.converged_lag`) **and** the CK test of the model
on as many PCCA+ sets as there are metastable sets passes (every predicted set-to-set probability within
:data:`CK_ATOL` of the directly estimated one). Its slowest implied timescales and the MFPTs between the
metastable sets come from its transition matrix (deeptime), with 95 % credible intervals from its Bayesian
posterior; no trajectory is sampled.

The model's MFPT from A to B is the mean first-passage time to B from A's stationary distribution, counted in
steps of the lag (deeptime). The trajectory estimator of :func:`~mdlstm_utils.kinetics.mfpt_matrix` counts
A→B passages that visit no third set on the way and every recrossing between the sets as a passage. The two
agree for two sets that cover the metastable states and a lag short against the MFPT; with more sets, core
sets that leave a transition region, or recrossing labels (microstates), they measure different things, and
the exact MFPT (toys) is the judge between them. The slowest implied timescales compare directly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_int, check_positive
from mdlstm_utils.states import check_labels, estimate_msm
from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.states.sets import set_lookup

__all__ = ["CK_ATOL", "RTOL", "ValidatedMSM", "validated_msm", "model_mfpt"]

#: The CK test passes when every predicted set-to-set probability is within this of the estimated one (decided
#: before the suite's runs: the difference that changes a set's population by a few per cent of its exit rate).
CK_ATOL = 0.05
#: The lag rule's tolerance on the slowest implied timescale (that of ``mdlstm analyze``).
RTOL = 0.1
#: At most this many converged lags are CK-tested, shortest first.
MAX_CK_TRIES = 3


@dataclass(frozen=True, eq=False)
class ValidatedMSM:
    """An MSM of training labels at a validated lag, with its kinetics (:func:`validated_msm`).

    Times are in the unit of ``dt``. ``validated`` is true when the lag rule converged and the CK test passed at
    :attr:`lag`; otherwise :attr:`reason` says what failed and :attr:`lag` is the best the scan offered (the
    first converged lag, else the longest lag that still resolves the slowest timescale): its numbers are then
    a baseline, not a validated one.
    """

    lag: int  # frames
    dt: float
    validated: bool
    reason: str
    lags: np.ndarray  # the scanned lags (frames)
    its: np.ndarray  # slowest implied timescale at each scanned lag (time units)
    ck_lags: np.ndarray  # the lags whose CK test was run
    ck_errors: np.ndarray  # their largest |prediction - estimate|
    timescales: np.ndarray  # (k,) slowest implied timescales at lag
    timescales_low: np.ndarray
    timescales_high: np.ndarray
    set_names: list | None = None
    mfpt: np.ndarray | None = None  # (n_sets, n_sets), nan on the diagonal and where a set is not in the model
    mfpt_low: np.ndarray | None = None
    mfpt_high: np.ndarray | None = None
    n_samples: int = 0

    @property
    def lag_time(self) -> float:
        return self.lag * self.dt

    @property
    def ck_error(self) -> float:
        """The CK test's largest error at :attr:`lag` (``nan`` when it was not run there)."""
        hit = np.flatnonzero(self.ck_lags == self.lag)
        return float(self.ck_errors[hit[0]]) if hit.size else float("nan")

    def summary(self) -> str:
        state = "validated" if self.validated else "NOT validated"
        return (f"MSM at lag {self.lag} frames ({self.lag_time:g}), {state}: {self.reason}; slowest implied "
                f"timescale {self.timescales[0]:.4g} [{self.timescales_low[0]:.4g}, {self.timescales_high[0]:.4g}]")

    def to_dict(self) -> dict:
        def _list(a):
            return None if a is None else [None if not np.isfinite(v) else float(v) for v in np.ravel(a)]

        def _matrix(a):
            return None if a is None else [_list(row) for row in a]

        return {"lag": self.lag, "lag_time": self.lag_time, "validated": self.validated, "reason": self.reason,
                "lags": self.lags.tolist(), "its": _list(self.its), "ck_lags": self.ck_lags.tolist(),
                "ck_errors": _list(self.ck_errors), "ck_atol": CK_ATOL, "timescales": _list(self.timescales),
                "timescales_low": _list(self.timescales_low), "timescales_high": _list(self.timescales_high),
                "set_names": self.set_names, "mfpt": _matrix(self.mfpt), "mfpt_low": _matrix(self.mfpt_low),
                "mfpt_high": _matrix(self.mfpt_high), "n_samples": self.n_samples}


def model_mfpt(P: np.ndarray, active: np.ndarray, sets, n_states: int, lag: int, dt: float) -> np.ndarray:
    """MFPTs between ``sets`` (state labels) of the MSM with transition matrix ``P`` on the states ``active``:
    ``(k, k)`` in units of ``dt``, from the stationary distribution within the source set (deeptime's
    :func:`deeptime.markov.tools.analysis.mfpt`); ``nan`` on the diagonal and where a set has no active state."""
    from deeptime.markov.tools.analysis import mfpt, stationary_distribution

    lookup, k = set_lookup(sets, n_states)
    where = lookup[np.asarray(active)]
    members = [np.flatnonzero(where == a) for a in range(k)]
    mu = stationary_distribution(P)
    out = np.full((k, k), np.nan)
    for b in range(k):
        if not members[b].size or sum(members[a].size for a in range(k) if a != b) == 0:
            continue
        # the passage times to b from every state, solved once per target (deeptime solves them again for every
        # origin); the average over the origin's stationary weights is deeptime's ``mfpt_between_sets``
        to_b = mfpt(P, members[b])
        for a in range(k):
            if a != b and members[a].size:
                weights = mu[members[a]] / np.sum(mu[members[a]])
                out[a, b] = float(lag * np.dot(weights, to_b[members[a]])) * dt
    return out


def _ck_error(trajs, lag: int, n_sets: int, n_states: int, mlags: int) -> float:
    longest = max(len(t) for t in trajs)
    m = min(mlags, (longest - 1) // lag)
    if m < 2:
        return float("nan")
    try:
        return lagmod.ck_test(trajs, lag, n_sets, n_states=n_states, mlags=m).max_error
    except ValueError:  # too few states stay connected at the longer lags
        return float("nan")


def validated_msm(train, n_states: int, sets=None, *, dt: float = 1.0, set_names=None, lags=None, k: int = 3,
                  n_samples: int = 100, scan_samples: int = 20, rtol: float = RTOL, ck_atol: float = CK_ATOL,
                  mlags: int = 4, seed: int = 0) -> ValidatedMSM:
    """The MSM of the training labels ``train`` at the lag its implied timescales and a CK test accept.

    Parameters
    ----------
    train
        Training label trajectories (never the test part: the validated MSM is a baseline fitted like the model).
    n_states, sets, set_names
        The states, and the metastable sets (lists of states) between which MFPTs are computed; without sets no
        MFPTs, and the CK test uses 2 PCCA+ sets.
    dt
        Time between frames; every time is returned in its unit.
    lags
        The lags (frames) scanned; default :func:`~mdlstm_utils.states.lag.lag_grid` of the shortest trajectory.
    k
        Implied timescales reported (slowest first).
    n_samples
        Bayesian posterior samples for the intervals of the timescales and MFPTs at the chosen lag;
        ``scan_samples`` for the intervals the lag rule compares along the scan. The bounds are quantiles of the
        samples: their Monte Carlo error falls as ``1 / sqrt(n_samples)``, a standard deviation of about a tenth
        of the interval's width at 50 samples and 2-3 % at 1000 (the table of
        :func:`~mdlstm_utils.states.lag.implied_timescales`). The cost grows with the states: each sample takes
        ``sqrt(n_states)`` Gibbs sweeps over the nonzero counts, so a few hundred states cost seconds per ten
        samples on a busy CPU core (the eigenvalues of a reversible sample come from the symmetric solver,
        :func:`~mdlstm_utils.states.lag.sample_moduli`, and every MFPT target is solved once per sample).
    rtol, ck_atol, mlags
        The lag rule's tolerance, the CK test's tolerance and its longest multiple of the lag.
    seed
        Seeds the posterior sampling.
    """
    trajs = check_labels(train, n_states, name="train")
    dt = check_positive("dt", dt)
    k = check_int("k", k, 1)
    n_samples = check_int("n_samples", n_samples, 2)
    shortest, longest = min(len(t) for t in trajs), max(len(t) for t in trajs)
    lag_arr = lagmod.lag_grid(shortest) if lags is None else np.asarray(lags, dtype=np.int64)
    lag_arr = lag_arr[lag_arr < longest]
    its = lagmod.implied_timescales(trajs, lag_arr, n_states, k=1, dt=dt, n_samples=scan_samples, seed=seed)
    converged = [int(g) for g in its.lags if lagmod.lag_convergence(its, int(g), rtol=rtol).converged]
    n_sets = max(2, len(sets)) if sets is not None else 2
    ck_lags, ck_errors = [], []
    chosen, reason, ok = None, "", False
    for g in converged[:MAX_CK_TRIES]:
        err = _ck_error(trajs, g, n_sets, n_states, mlags)
        ck_lags.append(g), ck_errors.append(err)
        if np.isfinite(err) and err <= ck_atol:
            chosen, ok = g, True
            reason = (f"the slowest implied timescale levelled off (within {rtol:.0%} or its intervals) and the CK "
                      f"test on {n_sets} sets passed (largest error {err:.3f} <= {ck_atol})")
            break
    if chosen is None and converged:
        chosen = converged[0]
        reason = (f"the slowest implied timescale levelled off at {chosen} frames, but the CK test failed at every "
                  f"tried lag ({', '.join(f'{g}: {e:.3f}' for g, e in zip(ck_lags, ck_errors))}; tolerance {ck_atol})")
    elif chosen is None:
        resolved = its.lags[np.isfinite(its.slowest) & (its.slowest > its.lag_times)]
        chosen = int(resolved.max()) if resolved.size else int(its.lags[0])
        reason = (f"the slowest implied timescale did not level off up to {int(its.lags[-1])} frames; the longest lag "
                  "that still resolves it is used")
    msm = estimate_msm(trajs, n_states, chosen)
    kk = min(k, msm.n_states - 1)
    ts = np.full(k, np.nan)
    ts[:kk] = np.asarray(msm.timescales(k=kk), dtype=float) * dt
    active, mats = lagmod.posterior_samples(trajs, n_states, chosen, n_samples, seed=seed)
    ev = lagmod.sample_moduli(mats)[:, 1: kk + 1]
    with np.errstate(divide="ignore"):
        samples = -chosen * dt / np.log(ev)
    lo, hi = np.full(k, np.nan), np.full(k, np.nan)
    lo[:kk], hi[:kk] = np.nanquantile(samples, 0.025, axis=0), np.nanquantile(samples, 0.975, axis=0)
    m = m_lo = m_hi = None
    if sets is not None:
        symbols = np.asarray(msm.count_model.state_symbols, dtype=np.int64)
        m = model_mfpt(msm.transition_matrix, symbols, sets, n_states, chosen, dt)
        draws = np.array([model_mfpt(P, active, sets, n_states, chosen, dt) for P in mats])
        with warnings.catch_warnings():  # the diagonal, and sets outside the model, are nan in every draw
            warnings.simplefilter("ignore", RuntimeWarning)
            m_lo, m_hi = np.nanquantile(draws, 0.025, axis=0), np.nanquantile(draws, 0.975, axis=0)
        names = list(set_names) if set_names is not None else [str(i) for i in range(len(sets))]
    else:
        names = None
    return ValidatedMSM(int(chosen), dt, ok, reason, its.lags.copy(), its.slowest.copy(), np.array(ck_lags, dtype=np.int64),
                        np.array(ck_errors, dtype=float), ts, lo, hi, names, m, m_lo, m_hi, n_samples)
