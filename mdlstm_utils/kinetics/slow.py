"""Slow-process numbers that measure the slow process: the slowest implied timescales of each set of
trajectories (the test reference, the generated ones, the MSM baselines) at one lag, with intervals, beside
the exact values where they exist.

"The largest error over all MFPTs" is dominated by whichever passage is least certain, often the fastest
exit from a shallow well; it says little about the rare event. The implied timescales of the slowest
processes do: each is measured here the same way on every set of trajectories, by a reversible MSM at the
same lag ``tau`` (that of the validated MSM) estimated from those trajectories alone, with a 95 % credible
interval from its Bayesian posterior. The number of processes is the number of well-separated ones (the gap
rule of :func:`~mdlstm_utils.states.rules.choose_n_macro` on the validated MSM's timescales).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_int, check_positive
from mdlstm_utils.states import ImpliedTimescalesResult, implied_timescales
from mdlstm_utils.states import rules

__all__ = ["SlowProcess", "slow_process", "n_slow_processes"]


@dataclass(frozen=True, eq=False)
class SlowProcess:
    """The ``k`` slowest implied timescales of several sets of trajectories at one lag (:func:`slow_process`).

    ``timescales[name]`` (and ``low`` / ``high``, the 95 % credible interval) are arrays ``(k,)`` in the unit of
    ``dt``; ``nan`` where the trajectories do not resolve a process (no transition: an infinite error).
    ``truth``: the exact timescales of the system at this lag, where known.
    """

    lag: int  # frames of the reference
    dt: float
    timescales: dict
    low: dict
    high: dict
    truth: np.ndarray | None = None
    reference: str = "reference"

    @property
    def k(self) -> int:
        return len(self.timescales[self.reference])

    def error(self, name: str, against: str | None = None) -> float:
        """``max_j |t_j(name) / t_j(against) - 1|`` over the ``k`` processes; ``against`` is a name or ``"truth"``
        (default: the reference). ``inf`` where ``name`` misses a process the other resolves."""
        ref = self.truth if against == "truth" else self.timescales[against or self.reference]
        if ref is None:
            return float("nan")
        t, r = np.asarray(self.timescales[name], dtype=float), np.asarray(ref, dtype=float)
        ok = np.isfinite(r) & (r > 0)
        if not ok.any():
            return float("nan")
        rel = np.where(np.isfinite(t[ok]), np.abs(t[ok] / r[ok] - 1.0), np.inf)
        return float(rel.max())

    def spread(self, name: str | None = None) -> float:
        """The relative half-width of ``name``'s 95 % interval, largest over the processes (default: the test
        reference's): how far an estimate from data of this size scatters, the sampling spread a model's error
        is read against (``nan`` without an interval)."""
        n = name or self.reference
        t, lo, hi = (np.asarray(d[n], dtype=float) for d in (self.timescales, self.low, self.high))
        with np.errstate(invalid="ignore", divide="ignore"):
            half = (hi - lo) / (2.0 * t)
        half = half[np.isfinite(half)]
        return float(half.max()) if half.size else float("nan")

    def to_dict(self) -> dict:
        def _l(a):
            return None if a is None else [None if not np.isfinite(v) else float(v) for v in np.ravel(a)]

        names = list(self.timescales)
        out = {"lag": self.lag, "lag_time": self.lag * self.dt, "k": self.k, "reference": self.reference,
               "truth": _l(self.truth),
               **{f"{kind}": {n: _l(d[n]) for n in names}
                  for kind, d in (("timescales", self.timescales), ("low", self.low), ("high", self.high))},
               "error": {n: self.error(n) for n in names if n != self.reference},
               "spread": self.spread()}
        if self.truth is not None:  # inf (a process never resolved) stays a float: save_metrics writes it as null
            out["error_vs_truth"] = {n: self.error(n, "truth") for n in names}
        return out


def n_slow_processes(timescales, lag: int, dt: float, *, n_sets: int | None = None) -> int:
    """How many well-separated slow processes ``timescales`` (time units, slowest first, at ``lag`` frames) show:
    the gap rule of :func:`~mdlstm_utils.states.rules.choose_n_macro` (one fewer than its number of states), at
    most ``n_sets - 1`` when metastable sets are given."""
    t = np.asarray(timescales, dtype=float)[None, :]
    its = ImpliedTimescalesResult(lags=np.array([int(lag)]), timescales=t, dt=float(dt), active_fraction=np.ones(1))
    k = int(rules.choose_n_macro(its, int(lag)).value) - 1
    return max(1, min(k, n_sets - 1)) if n_sets else max(1, k)


def _its(trajs, n_states: int, lag: int, k: int, dt: float, n_samples: int, seed: int):
    try:
        r = implied_timescales(trajs, [lag], n_states, k=k, dt=dt, n_samples=n_samples, seed=seed)
    except ValueError:  # no transitions at this lag, or trajectories shorter than the lag
        nan = np.full(k, np.nan)
        return nan, nan, nan
    lo = r.timescales_low[0] if r.timescales_low is not None else np.full(k, np.nan)
    hi = r.timescales_high[0] if r.timescales_high is not None else np.full(k, np.nan)
    return r.timescales[0], lo, hi


def slow_process(reference, *, n_states: int, lag: int, dt: float = 1.0, k: int = 1, others: dict | None = None,
                 validated=None, truth=None, n_samples: int = 100, seed: int = 0) -> SlowProcess:
    """The ``k`` slowest implied timescales at ``lag`` frames of the ``reference`` (the test part) and of each of
    ``others``.

    ``others`` maps a name to label trajectories whose frames are ``dt`` apart, or to ``(trajectories, dt_other)``
    when they are sampled more coarsely (an MSM at a lag of several frames; ``lag * dt`` must then be a whole
    number of their frames). ``validated``: a :class:`~mdlstm_utils.kinetics.validated.ValidatedMSM` at this lag,
    added under ``"MSM (validated)"`` with the timescales of the model itself. ``truth``: exact timescales at
    this lag (``(k,)``, time units).
    """
    lag = check_int("lag", lag, 1)
    dt = check_positive("dt", dt)
    k = check_int("k", k, 1)
    ts, lo, hi = {}, {}, {}
    ts["reference"], lo["reference"], hi["reference"] = _its(reference, n_states, lag, k, dt, n_samples, seed)
    for i, (name, item) in enumerate((others or {}).items()):
        trajs, d = item if isinstance(item, tuple) else (item, dt)
        g = lag * dt / d
        if abs(g - round(g)) > 1e-9 or round(g) < 1:
            nan = np.full(k, np.nan)
            ts[name], lo[name], hi[name] = nan, nan, nan
            continue
        ts[name], lo[name], hi[name] = _its(trajs, n_states, int(round(g)), k, d, n_samples, seed + 1 + i)
    if validated is not None:
        if validated.lag != lag:
            raise ValueError(f"the validated MSM is at lag {validated.lag}, not {lag}")
        pad = lambda a: np.r_[a, np.full(max(0, k - len(a)), np.nan)][:k]  # noqa: E731
        ts["MSM (validated)"] = pad(validated.timescales)
        lo["MSM (validated)"], hi["MSM (validated)"] = pad(validated.timescales_low), pad(validated.timescales_high)
    tru = None if truth is None else np.r_[np.asarray(truth, dtype=float).ravel(), np.full(k, np.nan)][:k]
    return SlowProcess(lag, dt, ts, lo, hi, tru)
