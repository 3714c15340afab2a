"""Memory: does the next state depend on more than the current one, and the models that use it.

A first-order Markov state model at lag one frame assumes that the current state is all the past that matters.
When the states hide part of the slow dynamics (a projection onto too few coordinates), the earlier states carry
information about the hidden part, and a first-order model gets the slow kinetics wrong. Three tools here:

* :func:`memory_test` answers, for any label trajectories, whether history matters at this saving interval:
  chains of order 1, 2, ... are counted on training frames and scored on held-out frames
  (:func:`~mdlstm_utils.kinetics.markov.choose_order`); a higher order that predicts held-out frames better by more
  than its sampling error says yes. It returns a typed :class:`MemoryTest` with a plain-words sentence.
* :func:`igme` is a memory-kernel model of the research line of the reproduced paper: the integrative
  generalized master equation (Cao, Montoya-Castillo, Wang, Markland & Huang, J. Chem. Phys. 159, 134106, 2023),
  which fits :math:`\\ln T(t) = \\ln A + t \\ln \\hat T` to the transition matrices over a range of lags.
* :func:`slowest_its` measures the slowest implied timescale of label trajectories at one lag, with a
  bootstrap interval over trajectories: the kinetic observable by which generated trajectories are judged
  (its exact value for a toy system is :func:`~mdlstm_utils.data.systems.projected_timescales`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_int, check_positive
from mdlstm_utils.kinetics.markov import OrderChoice, choose_order, label_sequences
from mdlstm_utils.states import check_labels, estimate_msm

__all__ = ["MemoryTest", "memory_test", "IGMEResult", "igme", "SlowestITS", "slowest_its", "transition_matrix"]


# ------------------------------------------------------------------------------------------------- memory test
@dataclass(frozen=True)
class MemoryTest:
    """The answer of :func:`memory_test`: does the next state depend on earlier states beyond the current one?

    ``history_matters`` is true when a chain of order ``order > 1`` predicts the held-out frames better than
    the first-order chain by more than three standard errors (:func:`~mdlstm_utils.kinetics.markov.choose_order`); then
    ``gain`` (nats per held-out frame) and its 95 % interval ``(gain_low, gain_high)`` lie above zero.
    ``val_loss`` holds each order's held-out loss (nats per frame, ``nan`` where the order was not scored).
    """

    history_matters: bool
    order: int  # the order chosen on held-out frames (1: no evidence of memory)
    gain: float  # val_loss[order 1] - val_loss[chosen order], nats per held-out frame
    gain_low: float
    gain_high: float
    orders: np.ndarray
    val_loss: np.ndarray
    unseen_fraction: np.ndarray  # held-out frames whose full context of each order never occurs in training
    n_train_frames: int
    n_val_frames: int
    sentence: str

    @property
    def relative_gain(self) -> float:
        """The gain as a fraction of the first-order chain's held-out loss."""
        first = float(self.val_loss[list(self.orders).index(1)])
        return float(self.gain / first) if first > 0 else float("nan")

    def to_dict(self) -> dict:
        """JSON form (``metrics.json``'s ``memory`` object)."""
        return {"history_matters": bool(self.history_matters), "order": int(self.order), "gain": float(self.gain),
                "gain_low": float(self.gain_low), "gain_high": float(self.gain_high),
                "relative_gain": self.relative_gain, "orders": [int(o) for o in self.orders],
                "val_loss": [None if not np.isfinite(v) else float(v) for v in self.val_loss],
                "unseen_fraction": [float(u) for u in self.unseen_fraction],
                "n_train_frames": int(self.n_train_frames), "n_val_frames": int(self.n_val_frames),
                "sentence": self.sentence}


def _check_no_gaps(trajs: list[np.ndarray], n_states: int) -> None:
    """Refuse states between 0 and ``n_states - 1`` that never occur (a numbering with gaps)."""
    counts = np.bincount(np.concatenate(trajs), minlength=n_states)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise ValueError(f"{missing.size} of the {n_states} states never occur (e.g. {missing[:5].tolist()}): the "
                         "labels have gaps. Renumber them 0..n-1 without gaps (states.from_labels does) or pass the "
                         "n_states the data use; with unused states a higher order looks better than it is")


def _split(trajs: list[np.ndarray], val_fraction: float, seed: int) -> tuple[list, list]:
    """Held-out frames: whole trajectories (a random ``val_fraction`` of them) when there are at least 10, else
    the last ``val_fraction`` of each trajectory."""
    if len(trajs) >= 10:
        n_val = max(1, int(round(val_fraction * len(trajs))))
        perm = np.random.default_rng(seed).permutation(len(trajs))
        val = set(perm[:n_val].tolist())
        return [t for i, t in enumerate(trajs) if i not in val], [t for i, t in enumerate(trajs) if i in val]
    cut = [int(round(len(t) * (1.0 - val_fraction))) for t in trajs]
    return [t[:c] for t, c in zip(trajs, cut)], [t[c:] for t, c in zip(trajs, cut)]


def _sentence(oc: OrderChoice) -> str:
    g = f"{oc.gain:.3g} nats per frame, 95 % interval {oc.gain_low:.3g} to {oc.gain_high:.3g}"
    if oc.order > 1:
        return (f"history matters here: the next state depends on the last {oc.order} states, not only the current "
                f"one (held-out log-likelihood gain of order {oc.order} over order 1: {g}); a first-order MSM at this "
                "lag will be biased: choose a longer lag (implied timescales, CK test), states that resolve the slow "
                "coordinates, or a model with memory")
    best = int(np.nanargmin(oc.val_loss))
    return (f"no evidence that history matters at this saving interval: chains of order up to "
            f"{int(oc.orders[np.isfinite(oc.val_loss)].max())} predict held-out frames no better than the "
            f"first-order chain (best order {int(oc.orders[best])}, within three standard errors of order 1); "
            "a first-order MSM at this lag is not biased by memory, as far as this test can tell")


def memory_test(labels, n_states: int, *, val_fraction: float = 0.2, orders=(1, 2, 3, 4), seed: int = 0,
                max_unseen: float = 0.5, n_blocks: int = 20) -> MemoryTest:
    """Does the next state depend on earlier states beyond the current one, at this saving interval?

    Markov chains of each order in ``orders`` (which must include 1) are counted on training frames and
    scored on held-out frames (:func:`~mdlstm_utils.kinetics.markov.choose_order`: held-out log-likelihood, the order
    chosen is the lowest within three standard errors of the best). History matters when an order above 1 is
    chosen; the gain over order 1 comes with a 95 % interval over ``n_blocks`` blocks of held-out frames.

    Held-out frames: with at least 10 trajectories a random ``val_fraction`` of them (``seed`` picks which),
    otherwise the last ``val_fraction`` of each.

    Refuses, with what to change: labels with gaps (a state number that never occurs; frames marked missing
    with a negative label), a trajectory not longer than the highest order (it has no context of that length),
    and an order that the data cannot support (more than ``max_unseen`` of the held-out frames have a context
    of that order never seen in training, so its score would only measure the smoothing).
    """
    n_states = check_int("n_states", n_states, 2)
    if isinstance(labels, np.ndarray) and labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("the labels hold NaN or inf frames (gaps in the trajectory): split each trajectory at its "
                         "gaps into separate trajectories, then call memory_test on the pieces")
    try:
        trajs = label_sequences(labels, n_states, "labels")
    except ValueError as e:
        if "negative label" in str(e):
            raise ValueError(f"{e}. A negative label marks a missing frame (a gap): split each trajectory at its "
                             "gaps into separate trajectories, then call memory_test on the pieces") from None
        raise
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    orders = sorted({check_int("order", o, 1) for o in orders})
    if 1 not in orders or len(orders) < 2:
        raise ValueError(f"orders must include 1 and at least one higher order to compare with, got {orders}")
    _check_no_gaps(trajs, n_states)
    k = max(orders)
    short = [i for i, t in enumerate(trajs) if len(t) <= k]
    if short:
        raise ValueError(f"{len(short)} trajectories (e.g. number {short[0]}, {len(trajs[short[0]])} frames) are not "
                         f"longer than the highest order {k}: drop trajectories of {k} frames or fewer, join "
                         f"pieces that belong together, or pass lower orders (e.g. orders=(1, 2))")
    train, val = _split(trajs, val_fraction, seed)
    if any(len(t) <= k for t in val):
        raise ValueError(f"the held-out part of some trajectory is not longer than the order {k}: raise val_fraction "
                         "or pass lower orders")
    oc = choose_order(train, val, n_states, orders, max_unseen=max_unseen, n_blocks=n_blocks)
    unsupported = [int(o) for o, loss in zip(oc.orders, oc.val_loss) if not np.isfinite(loss)]
    if unsupported:
        ok = [int(o) for o, loss in zip(oc.orders, oc.val_loss) if np.isfinite(loss)]
        raise ValueError(f"order {unsupported[0]} is more than these data can support: over {max_unseen:.0%} of the "
                         f"held-out frames have a context of that order never seen in training "
                         f"({oc.unseen_fraction[list(oc.orders).index(unsupported[0])]:.0%}). Pass orders up to "
                         f"{max(ok)} (orders={tuple(ok)}), fewer states, or more data")
    return MemoryTest(history_matters=bool(oc.order > 1), order=int(oc.order), gain=float(oc.gain),
                      gain_low=float(oc.gain_low), gain_high=float(oc.gain_high), orders=np.asarray(oc.orders),
                      val_loss=np.asarray(oc.val_loss), unseen_fraction=np.asarray(oc.unseen_fraction),
                      n_train_frames=int(sum(len(t) for t in train)), n_val_frames=int(sum(len(t) for t in val)),
                      sentence=_sentence(oc))


# ---------------------------------------------------------------------------------------- timescales of data
def transition_matrix(labels, n_states: int, lag: int) -> np.ndarray:
    """Reversible transition matrix at ``lag`` frames from symmetrized sliding-window counts (all states).

    ``T = diag(C_s 1)^{-1} C_s`` with ``C_s = (C + C^T) / 2``: the estimate IGME and the timescales here
    use; every state must occur (a row without counts is an error).
    """
    trajs = check_labels(labels, n_states)
    lag = check_int("lag", lag, 1)
    c = np.zeros((n_states, n_states))
    for t in trajs:
        if len(t) > lag:
            np.add.at(c, (t[:-lag], t[lag:]), 1.0)
    c = 0.5 * (c + c.T)
    rows = c.sum(1)
    if np.any(rows == 0):
        raise ValueError(f"states {np.flatnonzero(rows == 0)[:5].tolist()} have no transition at lag {lag}: "
                         "renumber the labels without unused states or give more data")
    return c / rows[:, None]


def _slowest(T: np.ndarray, lag_time: float) -> float:
    """The slowest implied timescale of the transition matrix ``T`` at a lag of ``lag_time``."""
    ev = np.sort(np.abs(np.linalg.eigvals(T)))[::-1]
    lam = min(max(ev[1], 1e-300), 1.0 - 1e-15)
    return float(-lag_time / np.log(lam))


@dataclass(frozen=True)
class SlowestITS:
    """The slowest implied timescale of label trajectories at one lag (:func:`slowest_its`), with its spread.

    ``samples`` are the bootstrap estimates (resampled trajectories); ``(low, high)`` their 95 % percentile
    interval.
    """

    value: float
    low: float
    high: float
    samples: np.ndarray
    lag: int  # frames
    dt: float

    def rel_error(self, exact: float) -> float:
        """``|value / exact - 1|``."""
        return float(abs(self.value / exact - 1.0))

    def noise_floor(self) -> float:
        """The median ``|a / b - 1|`` over pairs of bootstrap estimates: the error a model reproducing these
        dynamics exactly would show against data like these, from sampling alone (``nan`` without samples)."""
        s = self.samples[np.isfinite(self.samples)]
        if len(s) < 4:
            return float("nan")
        half = len(s) // 2
        return float(np.median(np.abs(s[:half] / s[half: 2 * half] - 1.0)))

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "lag_frames": self.lag, "dt": self.dt,
                "noise_floor": self.noise_floor()}


def slowest_its(labels, n_states: int, lag: int, *, dt: float = 1.0, n_boot: int = 100, level: float = 0.95,
                seed: int = 0) -> SlowestITS:
    """The slowest implied timescale ``-lag dt / ln lambda_2`` of a reversible MSM at ``lag`` frames, with a
    bootstrap interval over trajectories, in the unit of ``dt``.

    On trajectories of a process seen through states that are not Markovian, the value depends on the lag;
    its exact limit for infinite data of a toy system is
    :func:`~mdlstm_utils.data.systems.projected_timescales` at the same lag, which makes it a kinetic observable
    with an exact value by which generated trajectories can be judged. The MSM is deeptime's reversible
    maximum-likelihood estimate on the largest connected set (:func:`~mdlstm_utils.states.estimate_msm`); the
    percentile interval resamples whole trajectories (``nan`` with fewer than 2 or ``n_boot=0``).
    """
    trajs = check_labels(labels, n_states)
    dt = check_positive("dt", dt)
    lag = check_int("lag", lag, 1)

    def its(ts):
        return float(estimate_msm(ts, n_states, lag).timescales(k=1)[0]) * dt

    value = its(trajs)
    boot = []
    if len(trajs) >= 2:
        rng = np.random.default_rng(seed)
        for _ in range(int(n_boot)):
            try:
                boot.append(its([trajs[i] for i in rng.integers(0, len(trajs), len(trajs))]))
            except ValueError:  # a resample without transitions between two states
                continue
    boot = np.asarray(boot, dtype=float)
    a = (1.0 - level) / 2
    lo, hi = np.quantile(boot, [a, 1.0 - a]) if len(boot) > 1 else (np.nan, np.nan)
    return SlowestITS(value, float(lo), float(hi), boot, lag, dt)


# ------------------------------------------------------------------------------------------------------- IGME
@dataclass(frozen=True)
class IGMEResult:
    """An integrative generalized master equation: :math:`T(t) = A \\hat T^{t}` for lags ``t >= lags[0]``.

    ``log_A`` and ``log_T_hat`` are the fitted intercept and slope of :math:`\\ln T(t)` against ``t`` (frames);
    ``timescales`` are ``-dt / mu_j`` for the eigenvalues ``mu_j`` of ``log_T_hat`` (slowest first), the
    relaxation times of the long-time dynamics with the memory kernel integrated out; ``rmse`` is the
    root-mean-square difference between the predicted and the measured :math:`T(t)` over the fitted lags.
    """

    lags: np.ndarray  # frames fitted
    log_A: np.ndarray
    log_T_hat: np.ndarray
    timescales: np.ndarray
    rmse: float
    dt: float

    def predict(self, lag: int) -> np.ndarray:
        """The predicted transition matrix ``A T_hat^lag`` (rows normalised)."""
        from scipy.linalg import expm

        T = expm(self.log_A) @ expm(self.log_T_hat * float(lag))
        T = np.clip(T.real, 0.0, None)
        return T / T.sum(1, keepdims=True)

    def its_at(self, lag: int) -> float:
        """The slowest implied timescale of :meth:`predict` at ``lag`` frames, in the unit of ``dt``."""
        return _slowest(self.predict(lag), lag * self.dt)


def _logm_reversible(T: np.ndarray, pi: np.ndarray, floor: float) -> np.ndarray:
    """Matrix logarithm of a reversible ``T`` through its symmetric form, eigenvalues clipped to ``[floor, 1]``."""
    s = np.sqrt(pi)
    S = s[:, None] * T / s[None, :]
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    L = (V * np.log(np.clip(w, floor, 1.0))) @ V.T
    return L / s[:, None] * s[None, :]


def igme(labels, n_states: int, lags, *, dt: float = 1.0, floor: float = 1e-3, eval_lags=None) -> IGMEResult:
    """Fit an IGME (J. Chem. Phys. 159, 134106, 2023) to the transition matrices at ``lags`` (frames).

    At each lag ``t`` the reversible transition matrix :func:`transition_matrix` is taken to its matrix
    logarithm (through the symmetric form; eigenvalues below ``floor``, which only count noise of processes
    much faster than the lag, are clipped to it), and :math:`\\ln T(t) = \\ln A + t \\ln \\hat T` is fitted by
    least squares element by element. The fitted lags should start where the memory kernel has decayed: the
    paper scans the start and keeps the fit with the lowest ``rmse``, which the notebook shows. ``rmse``
    compares the prediction with the measured matrices at ``eval_lags`` (default: the fitted lags); give the
    same ``eval_lags`` to every fit of a scan, so that they are judged on the same yardstick.
    """
    trajs = check_labels(labels, n_states)
    lags = np.asarray(sorted({check_int("lag", int(x), 1) for x in lags}))
    if len(lags) < 2:
        raise ValueError(f"IGME fits a line through at least 2 lags, got {lags.tolist()}")
    dt = check_positive("dt", dt)
    Ts = [transition_matrix(trajs, n_states, int(t)) for t in lags]
    c1 = np.zeros(n_states)
    for t in trajs:
        c1 += np.bincount(t, minlength=n_states)
    pi = c1 / c1.sum()
    logs = np.stack([_logm_reversible(T, pi, floor) for T in Ts])  # (n_lags, n, n)
    x = lags.astype(float)
    xm = x.mean()
    slope = np.tensordot(x - xm, logs - logs.mean(0), axes=(0, 0)) / np.sum((x - xm) ** 2)
    intercept = logs.mean(0) - slope * xm
    mu = np.linalg.eigvals(slope).real
    mu = np.delete(mu, np.argmin(np.abs(mu)))  # the stationary eigenvalue 0 (ln T(t) 1 = 0 at every lag)
    mu = np.sort(mu)[::-1]  # slowest first; a positive one (a growing mode) is noise of the fit: nan
    with np.errstate(divide="ignore"):
        ts = np.where(mu < 0, -dt / np.minimum(mu, -1e-300), np.nan)
    res = IGMEResult(lags=lags, log_A=intercept, log_T_hat=slope, timescales=ts, rmse=float("nan"), dt=dt)
    ev = lags if eval_lags is None else np.asarray(sorted({check_int("lag", int(x), 1) for x in eval_lags}))
    pred = np.stack([res.predict(int(t)) for t in ev])
    meas = np.stack([transition_matrix(trajs, n_states, int(t)) for t in ev]) if eval_lags is not None else np.stack(Ts)
    rmse = float(np.sqrt(np.mean((pred - meas) ** 2)))
    return IGMEResult(lags=lags, log_A=intercept, log_T_hat=slope, timescales=ts, rmse=rmse, dt=dt)
