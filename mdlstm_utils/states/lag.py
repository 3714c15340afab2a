"""Lag-time selection and validation of Markov models: implied timescales and the Chapman–Kolmogorov test.

All estimates use deeptime: sliding-window transition counts, the largest
connected set, and a reversible maximum-likelihood MSM
(:func:`mdlstm_utils.states.estimate_msm`). Lags are given in frames; times
are returned in the unit of ``dt`` (the time between two frames): pass the
physical saving interval to get physical times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_int as _check_int, check_positive
from mdlstm_utils.states._labels import check_labels
from mdlstm_utils.states.msm import estimate_msm

__all__ = [
    "ImpliedTimescalesResult",
    "implied_timescales",
    "suggest_lag",
    "CKTestResult",
    "ck_test",
    "LagConvergence",
    "lag_convergence",
    "converged_lag",
    "lag_grid",
    "posterior_samples",
    "sample_moduli",
]


def _n_states(trajs: list[np.ndarray], n_states: int | None) -> int:
    return int(max(t.max() for t in trajs)) + 1 if n_states is None else _check_int("n_states", n_states, 1)


@dataclass(frozen=True)
class ImpliedTimescalesResult:
    """Implied timescales of MSMs estimated at several lag times.

    Attributes
    ----------
    lags
        Lag times in frames, shape ``(n_lags,)``, increasing.
    timescales
        ``timescales[i, j]`` is the ``j``-th slowest implied timescale
        ``-lag dt / ln|lambda_{j+1}|`` at ``lags[i]``, in units of ``dt``;
        shape ``(n_lags, k)``; ``nan`` where the MSM has fewer than ``k + 1`` states.
    dt
        Time between frames (the unit of ``timescales`` and :attr:`lag_times`).
    active_fraction
        Fraction of the transition counts inside the largest connected set at each lag.
    timescales_low, timescales_high
        The 95 % credible interval of each timescale from a Bayesian MSM
        (``n_samples`` of :func:`implied_timescales`), same shape as
        ``timescales``; ``None`` when not asked for.
    """

    lags: np.ndarray
    timescales: np.ndarray
    dt: float
    active_fraction: np.ndarray
    timescales_low: np.ndarray | None = None
    timescales_high: np.ndarray | None = None

    @property
    def lag_times(self) -> np.ndarray:
        """The lags in time units, ``lags * dt``."""
        return self.lags * self.dt

    @property
    def slowest(self) -> np.ndarray:
        """The slowest implied timescale at each lag, ``timescales[:, 0]``."""
        return self.timescales[:, 0]

    def slowest_interval(self, i: int) -> tuple[float, float] | None:
        """The credible interval ``(low, high)`` of the slowest timescale at lag index ``i`` (at the ``level`` of
        :func:`implied_timescales`, 95 % by default); ``None`` without samples."""
        if self.timescales_low is None:
            return None
        return float(self.timescales_low[i, 0]), float(self.timescales_high[i, 0])


def _check_lags(lags, trajs: list[np.ndarray]) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(lags))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"lags must be a non-empty 1-D sequence of ints, got {lags!r}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or np.any(arr != np.round(arr)):
            raise TypeError(f"lags must be whole numbers of frames, got {lags!r}")
    arr = arr.astype(np.int64)
    if arr.min() < 1:
        raise ValueError(f"lags must be >= 1 frame, got {arr.min()}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"lags must be strictly increasing, got {arr.tolist()}")
    longest = max(len(t) for t in trajs)
    if arr.max() >= longest:
        raise ValueError(f"lag {arr.max()} frames is not shorter than the longest trajectory ({longest} frames)")
    return arr


def implied_timescales(
    dtrajs, lags, n_states: int | None = None, k: int = 5, dt: float = 1.0, *, reversible: bool = True,
    n_samples: int = 0, level: float = 0.95, seed: int = 0,
) -> ImpliedTimescalesResult:
    """Implied timescales of reversible MSMs (deeptime) over a range of lag times.

    At each lag ``tau`` an MSM is estimated on the largest connected set and
    its ``k`` slowest implied timescales ``t_j = -tau / ln|lambda_j|`` are
    taken (deeptime's ``MarkovStateModel.timescales``). For a Markovian
    partition they do not depend on ``tau``; a growing curve means the lag is
    too short (or the partition poor), see :func:`suggest_lag`.

    Parameters
    ----------
    dtrajs
        State trajectories (one 1-D array, a 2-D array or a list of arrays).
    lags
        Lag times in frames, strictly increasing, each shorter than the longest trajectory.
    n_states
        Number of states; defaults to the largest label + 1.
    k
        Number of timescales per lag.
    dt
        Time between frames; the timescales are returned in its unit.
    reversible
        Estimate reversible MSMs (default) or not.
    n_samples, level
        With ``n_samples > 0``, also the ``level`` credible interval of every
        timescale from ``n_samples`` transition matrices of deeptime's
        ``BayesianMSM``, sampled from the transition counts of non-overlapping
        windows (independent for a Markovian partition). On a two-state chain
        its width matches the spread of the estimate over independent data
        sets at lags 1 and 5 (test); deeptime's "effective" counts gave
        intervals 40 % too narrow at lag 5. Where a timescale is much shorter
        than the lag, its eigenvalue is near 0 and both the estimate and the
        interval measure count noise (the interval, from fewer counts, can then
        lie above the estimate); read them only where the timescale exceeds the lag.

        **Monte Carlo error of the bounds.** The bounds are quantiles of
        ``n_samples`` draws, so they move with the sampler's ``seed``. The
        standard deviation of a bound over 40 seeds, as a fraction of the
        interval's width (lower / upper bound), measured on a two-state chain
        (10 x 2000 frames, ``p01 = 0.02``, ``p10 = 0.04``, lag 5; the test's
        chain) and on a six-state chain of two metastable blocks (50 000 frames,
        lag 2, slowest timescale 49 frames):

        =========  ===========  =============
        n_samples  two states   six states
        =========  ===========  =============
        20         12 / 17 %    10 / 13 %
        50         9 / 11 %     7 / 9 %
        200        5 / 6 %      4 / 6 %
        1000       2 / 2 %      2 / 3 %
        =========  ===========  =============

        The error falls as ``1 / sqrt(n_samples)``. With 50 samples a bound's
        standard deviation is about a tenth of the width (the 40 seeds spread a
        bound over 30-44 % of it); take ``n_samples >= 1000`` where a bound is
        reported to two digits (about 4 s per lag for 50 states on 2 busy CPU
        cores, 15 ms for two states).
    seed
        Seed of the posterior sampler (an int ``>= 0``). The same data, lags,
        ``n_samples`` and ``seed`` give identical intervals. Each lag gets its own
        stream, derived from ``(seed, lag)``, so the interval at one lag does not
        depend on which other lags are scanned. deeptime's ``BayesianMSM`` passes
        no seed to its sampler, hence the sampling is done here (see
        :func:`_bayesian_timescales`).

    Returns
    -------
    ImpliedTimescalesResult
    """
    trajs = check_labels(dtrajs, n_states, name="dtrajs")
    n = _n_states(trajs, n_states)
    k = _check_int("k", k, 1)
    dt = check_positive("dt", dt)
    lag_arr = _check_lags(lags, trajs)
    ts = np.full((len(lag_arr), k), np.nan)
    lo, hi = np.full_like(ts, np.nan), np.full_like(ts, np.nan)
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 0:
        raise ValueError(f"n_samples must be an int >= 0, got {n_samples!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    frac = np.zeros(len(lag_arr))
    for i, lag in enumerate(lag_arr):
        msm = estimate_msm(trajs, n, int(lag), reversible=reversible)
        t = np.asarray(msm.timescales(k=min(k, msm.n_states - 1)), dtype=float)
        ts[i, : len(t)] = t * dt
        frac[i] = float(msm.count_model.selected_count_fraction)
        if n_samples:
            lo[i, : len(t)], hi[i, : len(t)] = _bayesian_timescales(trajs, n, int(lag), len(t), n_samples, level,
                                                             reversible, seed=int(seed))
    return ImpliedTimescalesResult(lags=lag_arr, timescales=ts, dt=dt, active_fraction=frac,
                                   timescales_low=lo * dt if n_samples else None,
                                   timescales_high=hi * dt if n_samples else None)


def _posterior_seed(seed: int, lag: int) -> int:
    """The sampler seed for one lag: a non-negative 31-bit int drawn from ``SeedSequence([seed, lag])``."""
    return int(np.random.SeedSequence([int(seed), int(lag)]).generate_state(1, np.uint32)[0] >> 1)


def _posterior_matrices(C: np.ndarray, P0: np.ndarray, n_samples: int, n_steps: int, reversible: bool,
                        seed: int) -> np.ndarray:
    """``n_samples`` transition matrices from the posterior of count matrix ``C`` (deeptime's sparse prior), seeded.

    This is what deeptime 0.4.5's ``BayesianMSM.sample`` does, with a seed: its public ``tmatrix_sampler`` takes
    none, so the sampler class it wraps (``TransitionMatrixSampler``, whose reversible Gibbs sampler takes a
    seed for its C++ random stream) is built directly, started from the maximum-likelihood matrix ``P0`` with
    ``n_steps`` sweeps between samples, as deeptime does. deeptime's non-reversible sampler draws from NumPy's
    global random state even when given a seed, so the non-reversible posterior (independent Dirichlet rows with
    parameters ``C[i]``, deeptime's prior of -1 on every entry) is drawn here from a seeded generator instead.
    """
    if reversible:
        from deeptime.markov.tools.estimation.dense.tmat_sampling.tmatrix_sampler import TransitionMatrixSampler

        sampler = TransitionMatrixSampler(np.asarray(C, dtype=np.float64), reversible=True, P0=P0, n_steps=n_steps,
                                          seed=seed)
        return np.asarray(sampler.sample(nsamples=n_samples)).reshape(n_samples, *C.shape)
    rng = np.random.default_rng(seed)
    out = np.zeros((n_samples, *C.shape))
    for i, row in enumerate(np.asarray(C, dtype=np.float64)):
        pos = row > 0
        out[:, i, pos] = rng.dirichlet(row[pos], size=n_samples)
    return out


def posterior_samples(dtrajs, n_states: int, lag: int, n_samples: int, *, reversible: bool = True,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Transition matrices of the Bayesian MSM at ``lag``: ``(active_set, samples)``, samples ``(n_samples, n, n)``.

    The posterior is deeptime's ``BayesianMSM`` one (same prior, starting matrix and sweeps per sample) over the
    transition counts of non-overlapping windows on their largest connected set (``active_set``: its original
    state labels; for a Markovian partition these counts are independent, which the posterior assumes), sampled
    with a seed derived from ``(seed, lag)`` so that a re-run gives the same samples.
    """
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    counts = TransitionCountEstimator(lagtime=lag, count_mode="sample", n_states=n_states).fit(dtrajs).fetch_model()
    prior = MaximumLikelihoodMSM(reversible=reversible).fit(counts.submodel_largest(directed=True)).fetch_model()
    n_steps = int(np.sqrt(prior.count_model.n_states_full))  # deeptime's heuristic for decorrelating sweeps
    mats = _posterior_matrices(prior.count_model.count_matrix, prior.transition_matrix, n_samples, max(n_steps, 1),
                               reversible, _posterior_seed(seed, lag))
    return np.asarray(prior.count_model.state_symbols, dtype=np.int64), mats


def sample_moduli(mats: np.ndarray, reversible: bool = True) -> np.ndarray:
    """The moduli of the eigenvalues of each transition matrix in ``mats`` ``(n_samples, n, n)``, decreasing:
    ``(n_samples, n)``.

    A reversible sample ``P`` (every matrix of the reversible posterior: ``P = X / rowsum(X)`` with ``X``
    symmetric) is similar to the symmetric ``S = sqrt(P * P.T)`` (``S = D^1/2 P D^-1/2`` with ``D`` its
    stationary distribution, since ``pi_i P_ij = pi_j P_ji``), so its eigenvalues are those of ``S`` and come
    from the symmetric solver (``eigvalsh``): the same values to rounding (``1e-12``), about ten times faster
    than the general ``eigvals`` (which non-reversible samples still get) for a few hundred states.
    """
    mats = np.asarray(mats, dtype=float)
    if reversible:
        w = np.linalg.eigvalsh(np.sqrt(mats * np.swapaxes(mats, 1, 2)))
    else:
        w = np.linalg.eigvals(mats)
    return np.sort(np.abs(w), axis=1)[:, ::-1]


def _bayesian_timescales(trajs, n_states: int, lag: int, k: int, n_samples: int, level: float, reversible: bool,
                         *, seed: int = 0):
    """The ``level`` credible interval (in frames) of the ``k`` slowest timescales of a Bayesian MSM at ``lag``
    (:func:`posterior_samples`)."""
    mats = posterior_samples(trajs, n_states, lag, n_samples, reversible=reversible, seed=seed)[1]
    # the timescales -lag / ln|lambda_j| of each sample, as deeptime's MarkovStateModel.timescales computes them
    # (eigenvalues by decreasing modulus, the stationary one dropped), for all samples at once
    ev = sample_moduli(mats, reversible)[:, 1: k + 1]
    t = np.full((n_samples, k), np.nan)
    with np.errstate(divide="ignore"):
        t[:, : ev.shape[1]] = -lag / np.log(ev)
    a = (1.0 - level) / 2
    return np.nanquantile(t, a, axis=0), np.nanquantile(t, 1.0 - a, axis=0)


def lag_grid(shortest: int, n: int = 12) -> np.ndarray:
    """About ``n`` lags (frames) spaced evenly in log from 1 to a tenth of the shortest trajectory (at most 1000):
    the scan of the suite's lag rule, long enough to see a timescale level off, short enough that every
    trajectory holds many windows at the longest lag."""
    top = max(2, min(int(shortest) // 10, 1000))
    return np.unique(np.round(np.geomspace(1, top, n)).astype(int))


def suggest_lag(its, rtol: float = 0.1, *, lags=None, n_steps: int = 1, process: int = 0) -> int | None:
    r"""Smallest lag at which the slowest implied timescale has levelled off.

    The rule: with lags :math:`\tau_0 < \tau_1 < \dots` and the timescale
    :math:`t_i` of process ``process`` (0 = slowest) at :math:`\tau_i`, return
    the smallest :math:`\tau_i` such that

    .. math:: |t_{i+j} - t_i| \le \mathrm{rtol}\; t_i \quad \text{for all } j = 1, \dots, n_\mathrm{steps},

    i.e. the timescale changes by at most ``rtol`` (relative to its value at
    :math:`\tau_i`) over the next ``n_steps`` lags. The last ``n_steps`` lags
    cannot qualify (nothing to compare with), and a ``nan`` timescale never
    qualifies nor serves as a comparison. Returns ``None`` when no lag meets the
    rule (the timescales have not converged in the scanned range: scan longer
    lags or improve the partition).

    Parameters
    ----------
    its
        An :class:`ImpliedTimescalesResult`, or an array of timescales: 1-D
        (one per lag) or 2-D ``(n_lags, k)``, in which case ``lags`` is needed.
    rtol
        Relative tolerance, ``> 0``.
    lags
        Lags for an array ``its`` (ignored for a result object).
    n_steps
        Number of following lags over which the timescale must stay within ``rtol``.
    process
        Which timescale (column) to test; 0 is the slowest.

    Returns
    -------
    int or None
        The suggested lag (in the unit of ``lags``: frames for a result object).
    """
    if isinstance(its, ImpliedTimescalesResult):
        lag_arr, ts = its.lags, its.timescales
    else:
        ts = np.asarray(its, dtype=float)
        if lags is None:
            raise ValueError("lags must be given when its is an array of timescales")
        lag_arr = np.asarray(lags)
    if ts.ndim == 1:
        ts = ts[:, None]
    if ts.ndim != 2:
        raise ValueError(f"timescales must be 1-D or 2-D (n_lags, k), got shape {ts.shape}")
    if lag_arr.ndim != 1 or len(lag_arr) != ts.shape[0]:
        raise ValueError(f"lags has {lag_arr.size} entries but there are {ts.shape[0]} rows of timescales")
    if np.any(np.diff(lag_arr) <= 0):
        raise ValueError(f"lags must be strictly increasing, got {np.asarray(lag_arr).tolist()}")
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float, np.floating)) or not (rtol > 0):
        raise ValueError(f"rtol must be a number > 0, got {rtol!r}")
    n_steps = _check_int("n_steps", n_steps, 1)
    process = _check_int("process", process, 0)
    if process >= ts.shape[1]:
        raise ValueError(f"process={process} but only {ts.shape[1]} timescale(s) per lag are given")
    t = ts[:, process]
    for i in range(len(t) - n_steps):
        if not np.isfinite(t[i]) or t[i] <= 0:
            continue
        nxt = t[i + 1 : i + 1 + n_steps]
        if np.all(np.isfinite(nxt)) and np.all(np.abs(nxt - t[i]) <= rtol * t[i]):
            lag = lag_arr[i]
            return int(lag) if np.issubdtype(np.asarray(lag).dtype, np.integer) or float(lag).is_integer() else lag
    return None


@dataclass(frozen=True)
class CKTestResult:
    """Chapman–Kolmogorov test of an MSM on its PCCA+ metastable sets.

    Attributes
    ----------
    lags
        Lags in frames at which the test is evaluated, ``[0, lag, 2 lag, ...]``
        (``0`` gives the identity).
    predictions
        ``predictions[m, i, j]``: probability to be in set ``j`` after
        ``lags[m]`` frames starting from set ``i`` (stationary weights within
        the set), predicted by the MSM at ``lag`` (``T(lag)^m``); shape ``(n_lags, n_sets, n_sets)``.
    estimates
        The same probabilities from MSMs estimated directly at ``lags[m]``.
    memberships
        PCCA+ memberships of the reference MSM's states, ``(n_active, n_sets)``.
    active_set
        States of the reference MSM (its largest connected set).
    dt
        Time between frames.
    """

    lags: np.ndarray
    predictions: np.ndarray
    estimates: np.ndarray
    memberships: np.ndarray
    active_set: np.ndarray
    dt: float

    @property
    def lag_times(self) -> np.ndarray:
        return self.lags * self.dt

    @property
    def max_error(self) -> float:
        """Largest absolute difference between prediction and estimate."""
        return float(np.max(np.abs(self.predictions - self.estimates)))


def ck_test(
    dtrajs, lag: int, n_sets: int, *, n_states: int | None = None, mlags: int = 5, dt: float = 1.0
) -> CKTestResult:
    """Chapman–Kolmogorov test (deeptime) of the MSM at ``lag`` on ``n_sets`` PCCA+ sets.

    The reference MSM is estimated at ``lag`` on its largest connected set and
    PCCA+ memberships with ``n_sets`` sets are computed from it. MSMs at
    ``m * lag`` (``m = 2 .. mlags``) are estimated on the part of the same set
    that stays connected at that lag, so every model speaks about the same
    states. Then :meth:`deeptime.markov.msm.MarkovStateModel.ck_test` compares
    ``T(lag)^m`` with ``T(m lag)`` on the sets. Agreement within statistical
    error means the MSM (the partition at that lag) is Markovian enough.

    Parameters
    ----------
    dtrajs
        State trajectories.
    lag
        Lag of the tested MSM, in frames.
    n_sets
        Number of PCCA+ metastable sets (``>= 2``).
    n_states
        Number of states; defaults to the largest label + 1.
    mlags
        Test up to ``mlags * lag`` (``mlags >= 2``); each ``m * lag`` must be
        shorter than the longest trajectory.
    dt
        Time between frames.

    Returns
    -------
    CKTestResult
    """
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    trajs = check_labels(dtrajs, n_states, name="dtrajs")
    n = _n_states(trajs, n_states)
    lag = _check_int("lag", lag, 1)
    n_sets = _check_int("n_sets", n_sets, 2)
    mlags = _check_int("mlags", mlags, 2)
    dt = check_positive("dt", dt)
    longest = max(len(t) for t in trajs)
    if mlags * lag >= longest:
        raise ValueError(
            f"mlags * lag = {mlags * lag} frames is not shorter than the longest trajectory ({longest} frames)"
        )
    ref = estimate_msm(trajs, n, lag)
    active = np.asarray(ref.count_model.state_symbols, dtype=np.int64)
    if n_sets > len(active):
        raise ValueError(f"n_sets={n_sets} exceeds the {len(active)} states of the connected set at lag={lag}")
    models = [ref]
    for m in range(2, mlags + 1):
        counts = TransitionCountEstimator(lagtime=m * lag, count_mode="sliding", n_states=n).fit(trajs).fetch_model()
        sub = counts.submodel(active).submodel_largest(directed=True)
        if sub.n_states < 2:
            raise ValueError(f"at lag {m * lag} frames fewer than 2 states of the reference set stay connected")
        models.append(MaximumLikelihoodMSM(reversible=True).fit(sub).fetch_model())
    ck = ref.ck_test(models, n_sets, include_lag0=True)
    pcca = ref.pcca(n_sets)
    return CKTestResult(
        lags=np.asarray(ck.lagtimes, dtype=np.int64),
        predictions=np.real(np.asarray(ck.predictions, dtype=complex)).astype(float),
        estimates=np.real(np.asarray(ck.estimates, dtype=complex)).astype(float),
        memberships=np.asarray(pcca.memberships, dtype=float),
        active_set=active,
        dt=dt,
    )


# ---------------------------------------------------------------------------
# Convergence of the implied timescales in the lag, judged with their intervals (mdlstm analyze)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LagConvergence:
    """Whether the slowest implied timescale at one lag agrees with its values at the longer lags after it.

    ``converged`` is true when, at every compared lag, the timescale differs from the one at :attr:`lag` by at
    most ``max(rtol * t, h + h')``, where ``h`` and ``h'`` are the half-widths of the two 95 % intervals: a
    change smaller than the tolerance, or one the data cannot tell from noise. The compared lags are the
    scanned ones longer than :attr:`lag` and at most ``span`` times it whose timescale is still longer than the
    lag itself (a timescale shorter than its lag is not resolved there).
    """

    lag: int  # frames
    timescale: float  # slowest implied timescale at lag (time units)
    low: float
    high: float
    compared_lags: np.ndarray  # frames
    compared_timescales: np.ndarray
    compared_low: np.ndarray
    compared_high: np.ndarray
    max_change: float  # largest relative change over the compared lags (signed: + when it grows)
    rtol: float
    converged: bool

    def to_dict(self) -> dict:
        return {"lag": self.lag, "timescale": self.timescale, "low": self.low, "high": self.high,
                "compared_lags": self.compared_lags.tolist(), "compared_timescales": self.compared_timescales.tolist(),
                "compared_low": self.compared_low.tolist(), "compared_high": self.compared_high.tolist(),
                "max_change": self.max_change, "rtol": self.rtol, "converged": self.converged}


def _half(lo: float, hi: float) -> float:
    return 0.5 * (hi - lo) if np.isfinite(lo) and np.isfinite(hi) else 0.0


def lag_convergence(its: ImpliedTimescalesResult, lag: int, *, rtol: float = 0.1, span: float = 10.0) -> LagConvergence:
    """:class:`LagConvergence` of the slowest implied timescale at the scanned ``lag`` (frames).

    Needs the intervals of :func:`implied_timescales` (``n_samples > 0``); without them only ``rtol`` counts.
    A lag with no resolved longer lag to compare with (the last ones of the scan) is not converged: nothing
    shows that the timescale has stopped growing.
    """
    if not isinstance(its, ImpliedTimescalesResult):
        raise TypeError(f"its must be an ImpliedTimescalesResult, got {type(its).__name__}")
    where = np.flatnonzero(its.lags == int(lag))
    if where.size == 0:
        raise ValueError(f"lag {lag} is not one of the scanned lags {its.lags.tolist()}")
    if not (rtol > 0) or not (span > 1):
        raise ValueError(f"need rtol > 0 and span > 1, got rtol={rtol}, span={span}")
    i = int(where[0])
    t = its.slowest
    lo = its.timescales_low[:, 0] if its.timescales_low is not None else np.full_like(t, np.nan)
    hi = its.timescales_high[:, 0] if its.timescales_high is not None else np.full_like(t, np.nan)
    later = np.arange(i + 1, len(t))
    later = later[(its.lags[later] <= span * its.lags[i]) & np.isfinite(t[later]) & (t[later] > its.lag_times[later])]
    ok = np.isfinite(t[i]) and t[i] > 0 and later.size > 0
    change = (t[later] - t[i]) / t[i] if ok else np.array([])
    if ok:
        tol = np.array([max(rtol * t[i], _half(lo[i], hi[i]) + _half(lo[j], hi[j])) for j in later])
        ok = bool(np.all(np.abs(t[later] - t[i]) <= tol))
    max_change = float(change[np.argmax(np.abs(change))]) if change.size else float("nan")
    return LagConvergence(int(its.lags[i]), float(t[i]), float(lo[i]), float(hi[i]), its.lags[later].copy(),
                          t[later].copy(), lo[later].copy(), hi[later].copy(), max_change, float(rtol), bool(ok))


def converged_lag(its: ImpliedTimescalesResult, *, rtol: float = 0.1, span: float = 10.0) -> int | None:
    """The smallest scanned lag at which the slowest implied timescale has converged (:func:`lag_convergence`),
    or ``None`` when it has at none: the timescale still grows (or falls) beyond its intervals and ``rtol``."""
    for lag in its.lags:
        if lag_convergence(its, int(lag), rtol=rtol, span=span).converged:
            return int(lag)
    return None
