"""Verdicts with power: a paired comparison of two models over training seeds.

Two models trained with the same seeds on the same split (an LSTM and a Transformer, a remedy and the plain
model, a language model and its MSM) differ seed by seed far less than their errors spread over seeds, so
the comparison is made on the per-seed differences: the mean difference of the log errors (a ratio of
errors), its 95 % Student-t interval, and the smallest true ratio the test would have detected with 80 %
power at this number of seeds and this spread. "No difference detected" then says how large a difference
could have hidden in the noise; a test with two seeds and a wide spread finds nothing and says so.

A run that failed (its error is infinite or missing: the generated trajectories never made the passage) is
not dropped silently: it is counted, and the verdict names how many failed on each side; the interval is
computed on the pairs where both runs succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PairedTest", "paired_test", "POWER"]

#: The power at which :attr:`PairedTest.detectable` is computed.
POWER = 0.8


@dataclass(frozen=True)
class PairedTest:
    """The paired comparison of errors ``a`` against ``b`` over seeds (:func:`paired_test`).

    On the log scale ``d_i = ln a_i - ln b_i``: :attr:`ratio` = ``exp(mean d)`` is the typical factor by which
    ``a``'s error exceeds ``b``'s, with its interval :attr:`ratio_low` / :attr:`ratio_high`. :attr:`detected` is
    true when the interval excludes a ratio of 1. :attr:`detectable` is the smallest ratio (>= 1, either way)
    the test would detect with :data:`POWER` power.
    """

    name_a: str
    name_b: str
    n_pairs: int  # seeds where both runs succeeded
    n_failed_a: int
    n_failed_b: int
    mean: float  # mean of ln a - ln b
    low: float
    high: float
    sd: float
    detectable_log: float
    level: float = 0.95

    @property
    def ratio(self) -> float:
        return float(np.exp(self.mean))

    @property
    def ratio_low(self) -> float:
        return float(np.exp(self.low))

    @property
    def ratio_high(self) -> float:
        return float(np.exp(self.high))

    @property
    def detectable(self) -> float:
        return float(np.exp(self.detectable_log))

    @property
    def detected(self) -> bool:
        return bool(np.isfinite(self.low) and (self.low > 0 or self.high < 0))

    def verdict(self) -> str:
        """One sentence: which is lower, by what factor with its interval, or that no difference was detected and
        the smallest one the test could have seen; failed runs named."""
        failed = ""
        if self.n_failed_a or self.n_failed_b:
            failed = (f"; failed runs (passage never generated, infinite error): {self.name_a} {self.n_failed_a}, "
                      f"{self.name_b} {self.n_failed_b}, left out of the interval")
        if self.n_pairs < 2:
            return f"{self.name_a} vs {self.name_b}: too few seeds for a paired test ({self.n_pairs} pairs){failed}"
        ci = f"{self.ratio:.2f}× (95 % interval {self.ratio_low:.2f}–{self.ratio_high:.2f}, {self.n_pairs} seeds)"
        if self.detected:
            which = "larger" if self.mean > 0 else "smaller"
            return f"{self.name_a}'s error is {which} than {self.name_b}'s: {ci}{failed}"
        return (f"no difference detected between {self.name_a} and {self.name_b}: {ci}; the test would have seen "
                f"a factor of {self.detectable:.2f} either way{failed}")

    def to_dict(self) -> dict:
        def f(v):
            return float(v) if np.isfinite(v) else None

        return {"a": self.name_a, "b": self.name_b, "n_pairs": self.n_pairs, "n_failed_a": self.n_failed_a,
                "n_failed_b": self.n_failed_b, "ratio": f(self.ratio), "ratio_low": f(self.ratio_low),
                "ratio_high": f(self.ratio_high), "detected": self.detected, "detectable_ratio": f(self.detectable),
                "power": POWER, "level": self.level, "verdict": self.verdict()}


def _values(x, name: str) -> np.ndarray:
    arr = np.array([np.inf if v is None else v for v in np.ravel(np.asarray(x, dtype=object))], dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} holds no values")
    if np.any(arr < 0):
        raise ValueError(f"{name} holds negative errors: {arr[arr < 0][:3].tolist()}")
    return np.where(np.isnan(arr), np.inf, arr)


def paired_test(a, b, *, names: tuple[str, str] = ("a", "b"), level: float = 0.95) -> PairedTest:
    """Paired comparison of two models' errors over the same seeds: ``a[i]`` and ``b[i]`` from seed ``i``.

    Errors are compared as ratios (log differences): a slow-process error of 0.2 against 0.1 is the same
    verdict as 0.02 against 0.01. ``None``, ``nan`` and ``inf`` are failed runs (counted, left out of the
    interval); a zero error is floored at 1e-12 so that its log is finite. Needs at least 2 pairs where both
    succeeded for an interval.
    """
    from scipy.stats import t as student_t

    x, y = _values(a, "a"), _values(b, "b")
    if x.size != y.size:
        raise ValueError(f"a and b must hold one error per seed each, got {x.size} and {y.size}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    ok = np.isfinite(x) & np.isfinite(y)
    d = np.log(np.maximum(x[ok], 1e-12)) - np.log(np.maximum(y[ok], 1e-12))
    n = int(d.size)
    failed = (int(np.sum(~np.isfinite(x))), int(np.sum(~np.isfinite(y))))
    if n < 2:
        mean = float(d.mean()) if n else float("nan")
        return PairedTest(names[0], names[1], n, *failed, mean, np.nan, np.nan, np.nan, np.nan, level)
    sd = float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    q = float(student_t.ppf(0.5 + level / 2, n - 1))
    detectable = (q + float(student_t.ppf(POWER, n - 1))) * se
    mean = float(d.mean())
    return PairedTest(names[0], names[1], n, *failed, mean, mean - q * se, mean + q * se, sd, detectable, level)
