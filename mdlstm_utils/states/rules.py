"""The rules that choose each step of building metastable states from data, each with its reason: the TICA
lag and dimension, the number of microstates, the MSM lag, the number of metastable states, the shortest
kept visit. A rule's result is a :class:`Choice` (the value and the rule, or ``"given"``), so that a report
can say why every setting is what it is. ``mdlstm analyze`` and notebook 05 apply them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mdlstm_utils.runtime import resolve_device
from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.states import StateSpace, kmeans_space, min_dwell_filter

__all__ = ["RTOL", "MIN_GAP", "GAP_STANDS_OUT", "Choice", "Reduction", "reduce_features", "cluster", "agree", "choose_lag", "lag_rule", "timescales_at", "msm_slowest", "choose_n_macro", "choose_min_dwell"]



# ---------------------------------------------------------------------------------------------
# The steps, each with its rule
# ---------------------------------------------------------------------------------------------
@dataclass
class Choice:
    """One step's setting: its value, and the rule (or the user) that chose it."""

    value: float | int
    rule: str


@dataclass
class Reduction:
    """TICA of the features: the projected trajectories and the model's kinetic variance."""

    tics: list[np.ndarray]
    lag: Choice
    dim: Choice
    kinetic_variance: np.ndarray  # cumulative fraction per component


def reduce_features(data: list[np.ndarray], *, lag: int | None = None, dim: int | None = None,
                    var_cutoff: float = 0.95, max_dim: int = 10) -> Reduction:
    """TICA (deeptime, kinetic-map scaling) of feature trajectories.

    Rules: the lag is 1 % of the shortest trajectory (between 1 and 100
    frames), long enough to see past the fastest motion while every
    trajectory holds many lag windows; the dimension keeps ``var_cutoff`` of
    the kinetic variance, at least 2 components (for the free-energy map) and
    at most ``max_dim`` (k-means works poorly in many dimensions).
    """
    from deeptime.decomposition import TICA

    shortest = int(min(len(x) for x in data))
    width = data[0].shape[1]
    if lag is None:
        lag_c = Choice(int(np.clip(shortest // 100, 1, 100)), "1 % of the shortest trajectory, 1-100 frames")
    else:
        lag_c = Choice(int(lag), "given")
    if lag_c.value >= shortest:
        raise ValueError(f"TICA lag {lag_c.value} frames is not shorter than the shortest trajectory ({shortest} frames)")
    if width == 1:
        return Reduction([x.copy() for x in data], lag_c, Choice(1, "one feature: no TICA"), np.ones(1))
    model = TICA(lagtime=lag_c.value, scaling="kinetic_map").fit(data).fetch_model()
    sv = np.asarray(model.singular_values, dtype=float)
    cum = np.cumsum(sv**2) / np.sum(sv**2)
    if dim is None:
        k = int(np.clip(np.searchsorted(cum, var_cutoff) + 1, min(2, len(sv)), min(max_dim, len(sv))))
        dim_c = Choice(k, f"{var_cutoff:.0%} of the kinetic variance, 2-{max_dim} components")
    else:
        if not 1 <= int(dim) <= len(sv):
            raise ValueError(f"TICA dimension {dim} must be between 1 and {len(sv)}")
        dim_c = Choice(int(dim), "given")
    tics = [np.asarray(model.transform(x))[:, : dim_c.value] for x in data]
    return Reduction(tics, lag_c, dim_c, cum)


def cluster(tics: list[np.ndarray], dt: float, dt_unit: str, *, n_micro: int | None = None, max_micro: int = 100,
            seed: int = 0, device="auto"):
    """k-means microstates of the TICA projections: ``(StateSpace, KMeansResult, Choice)``.

    Rule: ``sqrt(total frames)`` clusters, between 10 and ``max_micro``, so that
    each holds enough frames for its transition counts.
    """
    total = sum(len(x) for x in tics)
    if n_micro is None:
        c = Choice(int(np.clip(int(np.sqrt(total)), 10, max_micro)), f"sqrt(frames), 10-{max_micro}")
    else:
        c = Choice(int(n_micro), "given")
    dev = resolve_device(device)
    backend = "torch" if dev.type == "cuda" else "deeptime"
    space, km = kmeans_space(tics, c.value, dt=dt, dt_unit=dt_unit, seed=seed, device=dev, backend=backend)
    return space, km, c


#: Relative tolerance of the rules and self-checks that compare two timescales: a difference within it, or
#: within the two 95 % intervals together, is agreement (:func:`agree`).
RTOL = 0.1


def agree(a: float, a_low: float, a_high: float, b: float, b_low: float, b_high: float, rtol: float = RTOL) -> bool:
    """Whether two estimates agree: ``|a - b| <= max(rtol * b, h_a + h_b)`` with ``h`` the half-widths of their
    intervals (``nan`` bounds count as zero width). The intervals cover noise; ``rtol`` the few per cent by which
    equally good estimators of one timescale differ (an MSM's timescale is biased low by its lag)."""
    if not (np.isfinite(a) and np.isfinite(b)) or b <= 0:
        return False
    h = lagmod._half(a_low, a_high) + lagmod._half(b_low, b_high)
    return bool(abs(a - b) <= max(rtol * b, h))


def choose_lag(micro: StateSpace, *, lag: int | None = None, n_lags: int = 12, rtol: float = RTOL, k: int = 5,
               n_samples: int = 20, seed: int = 0):
    """Implied timescales of the microstate MSM over lags (with Bayesian 95 % intervals), and the lag:
    ``(its, Choice)``.

    Rule (:func:`~mdlstm_utils.states.lag.converged_lag`): the smallest scanned lag at which the slowest
    implied timescale agrees with its value at every longer scanned lag up to ten times it, within ``rtol`` or
    within the two intervals. An MSM's timescales grow with the lag until the partition is Markovian, and
    a slow creep of a few per cent per step is still growth, so the comparison spans a decade of lags, not the
    next step. When it never levels off, the longest lag at which the slowest timescale is still resolved
    (longer than the lag), with a warning: the self-check on the implied timescales then fails.
    ``n_samples``: Bayesian MSM samples per lag for the intervals (20 give a rough 95 % interval), drawn with
    ``seed``, so that a run is repeated exactly.
    """
    lags = lagmod.lag_grid(int(micro.lengths.min()), n_lags)
    if lag is not None:
        if not 1 <= int(lag) < micro.lengths.max():
            raise ValueError(f"lag {lag} frames must be >= 1 and shorter than the longest trajectory "
                             f"({micro.lengths.max()} frames)")
        lags = np.unique(np.r_[lags, int(lag)])
    with warnings.catch_warnings():
        # a timescale that no Bayesian sample resolves (fewer processes than k at some lag) has no interval: its
        # bounds are nan, which the report shows as "–"; numpy's warning about it only alarmed the user. Samples
        # whose timescale is infinite (a process that never relaxes in them) make numpy's quantile interpolate
        # inf - inf: the bound is nan again, and so is the warning
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in (scalar )?subtract", RuntimeWarning)
        its = lagmod.implied_timescales(list(micro.trajs), lags, micro.n_states, k=min(k, micro.n_states - 1),
                                        dt=micro.dt, n_samples=n_samples, seed=seed)
    if lag is not None:
        return its, Choice(int(lag), "given")
    return its, lag_rule(its, rtol=rtol)


def lag_rule(its, *, rtol: float = RTOL) -> Choice:
    """The MSM lag that implied timescales ``its`` (:func:`~mdlstm_utils.states.implied_timescales`, any lag
    grid) support, by the rule of :func:`choose_lag`: the smallest scanned lag whose slowest implied timescale
    agrees with its values at every longer scanned lag up to ten times it, within ``rtol`` or within the two 95 %
    intervals; when it never levels off, the longest lag that still resolves it, with a warning."""
    best = lagmod.converged_lag(its, rtol=rtol)
    if best is None:
        resolved = its.lags[np.isfinite(its.slowest) & (its.slowest > its.lag_times)]
        take = int(resolved.max()) if resolved.size else int(its.lags[0])
        print(f"warning: the slowest implied timescale does not level off (within {rtol:.0%} or its intervals) "
              f"up to {its.lags[-1]} frames; using {take} frames, the longest lag that still resolves it. "
              "Longer trajectories, other features or a finer partition would help.")
        return Choice(take, f"longest lag that resolves the slowest timescale: it did not converge "
                            f"within {rtol:.0%} or its intervals")
    return Choice(int(best), f"slowest implied timescale agrees (within {rtol:.0%} or its 95 % intervals) "
                             "with its values at every longer lag up to 10 times it")


def _index_of(its, lag: int) -> int:
    return int(np.flatnonzero(np.asarray(its.lags) == lag)[0])


def timescales_at(its, lag: int) -> np.ndarray:
    """The implied timescales (time units) of ``its`` at the scanned lag ``lag`` (frames)."""
    return np.asarray(its.timescales[_index_of(its, lag)], dtype=float)


def msm_slowest(its, lag: int) -> tuple[float, float, float]:
    """The microstate MSM's slowest implied timescale at ``lag`` with its interval (``nan`` bounds without one)."""
    i = _index_of(its, lag)
    lo, hi = its.slowest_interval(i) or (np.nan, np.nan)
    return float(its.slowest[i]), float(lo), float(hi)


#: :func:`choose_n_macro`: a gap between implied timescales must be at least this ratio ...
MIN_GAP = 2.0
#: ... and this many times larger than every other resolved gap, to set the number of states.
GAP_STANDS_OUT = 1.5


def choose_n_macro(its, lag: int, *, n_macro: int | None = None, max_macro: int = 6) -> Choice:
    """The number of metastable states: one more than the number of timescales before a clear gap.

    The gaps are the ratios ``t_j / t_(j+1)`` of consecutive implied timescales at the chosen lag; only gaps
    whose slow side ``t_j`` is longer than the lag (resolved) count, while the fast side may be unresolved (then
    the gap is at least that large). The largest gap sets the number of states when it is a gap: at least
    :data:`MIN_GAP` and :data:`GAP_STANDS_OUT` times every other one. Otherwise (ratios such as 1.8, 1.9, 1.9
    all alike) no number of states is marked, and the rule takes 2: the slowest process, which any
    partition must get right, split by PCCA+ into its two sides.
    """
    if n_macro is not None:
        if int(n_macro) < 2:
            raise ValueError(f"n_macro={n_macro}: need at least 2 metastable states")
        return Choice(int(n_macro), "given")
    t = timescales_at(its, lag) / its.dt
    t = t[np.isfinite(t)]
    gaps = (t[:-1] / t[1:])[: max_macro - 1]
    ok = t[: len(gaps)] > lag
    if not ok.any():
        return Choice(2, "no timescale longer than the lag: 2 states")
    listed = ", ".join(f"t{j + 1}/t{j + 2} = {g:.2f}" for j, g in enumerate(gaps) if ok[j])
    j = int(np.argmax(np.where(ok, gaps, -np.inf)))
    others = gaps[ok & (np.arange(len(gaps)) != j)]
    if gaps[j] < MIN_GAP:
        return Choice(2, f"no gap between the timescales ({listed}; a gap needs >= {MIN_GAP:g}): 2 states, "
                         "the slowest process")
    if others.size and gaps[j] < GAP_STANDS_OUT * others.max():
        return Choice(2, f"no gap stands out ({listed}; the largest must be {GAP_STANDS_OUT:g} times the others): "
                         "2 states, the slowest process")
    return Choice(j + 2, f"the gap t{j + 1}/t{j + 2} = {gaps[j]:.1f} ({listed}), 2-{max_macro} states")


#: The longest minimum dwell :func:`choose_min_dwell` scans, as a fraction of the slowest timescale: visits of a
#: metastable state last about that timescale or longer, and a dwell of a tenth of it removes at most ~10 % of them.
DWELL_FRACTION = 0.1


def choose_min_dwell(cores: StateSpace, *, min_dwell: int | None = None, max_dwell: int | None = None,
                     rtol: float = 0.1, slowest: float | None = None):
    """Dynamical coring: ``(scan, Choice)`` with ``scan = (dwells, transitions)``.

    Rule (a plateau): the shortest minimum dwell ``d`` (1, 2, 4, ...) at which
    doubling it removes fewer than ``rtol`` of the remaining transitions: the
    short recrossing visits are gone, the rest are real transitions. Without a
    plateau, the longest dwell scanned. ``slowest``: the slowest timescale in
    frames, when known; the scan then stops at :data:`DWELL_FRACTION` of it, so
    that no choice (the fallback included) removes the real visits whose
    transitions make the slow process.
    """
    top = int(max_dwell or 32)
    top = max(1, min(top, int(cores.lengths.min()) // 20))
    cap = None
    if slowest is not None and np.isfinite(slowest) and slowest > 0:
        cap = int(DWELL_FRACTION * slowest)
        if cap < top:
            top = max(cap, 1)
        else:
            cap = None  # the cap did not bind
    dwells = [1]
    while dwells[-1] * 2 <= top:
        dwells.append(dwells[-1] * 2)
    counts = []
    for d in dwells:
        lab = min_dwell_filter(list(cores.trajs), d, n_states=cores.n_states)
        counts.append(int(sum(np.count_nonzero(t[1:] != t[:-1]) for t in lab)))
    counts = np.array(counts)
    if min_dwell is not None:
        return (np.array(dwells), counts), Choice(int(min_dwell), "given")
    for i in range(len(dwells) - 1):
        if counts[i + 1] >= (1 - rtol) * counts[i]:
            return (np.array(dwells), counts), Choice(dwells[i], f"transitions fall < {rtol:.0%} when the dwell doubles")
    if len(dwells) == 1:
        why = ("trajectories too short to scan" if cap is None else
               f"a tenth of the slowest timescale ({slowest:.3g} frames) leaves no dwell to scan")
        return (np.array(dwells), counts), Choice(1, f"{why}: no coring")
    capped = "" if cap is None else (f" (capped at a tenth of the slowest timescale, {slowest:.3g} frames: a "
                                     "longer dwell would remove real visits)")
    return (np.array(dwells), counts), Choice(dwells[-1], f"no plateau: the longest dwell scanned{capped}")
