"""Self-checks of a state space against the data alone (no model involved): are the implied timescales
converged at the lag, does the metastable model relax like the microstate MSM, do the cores sit in
free-energy minima, do the populations agree with PCCA+? A failed check says what it means and what to try.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils.kinetics import population_interval, set_labels
from mdlstm_utils.runtime import fmt, jsonable
from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.states import StateSpace
from mdlstm_utils.states.rules import RTOL, agree

__all__ = ["MAX_CORE_OFFSET_KT", "MIN_CORE_SHARE", "POPULATION_RTOL", "Check", "SelfChecks", "check_its", "check_relaxation", "check_cores", "check_populations"]



# ---------------------------------------------------------------------------------------------
# Self-checks: what the data alone say about the state space the model will learn
# ---------------------------------------------------------------------------------------------
@dataclass
class Check:
    """One self-check: its verdict, its numbers, and in plain words what it found, what a failure means for the
    kinetics reported and what to try."""

    name: str  # key in metrics.json
    title: str  # what is checked, in plain words
    passed: bool
    numbers: dict  # JSON-ready numbers behind the verdict
    finding: str  # what was measured
    meaning: str = ""  # what a failure means for the kinetics reported
    advice: str = ""  # what to try

    def to_dict(self) -> dict:
        return {"title": self.title, "passed": self.passed, "finding": self.finding, "meaning": self.meaning,
                "advice": self.advice, **jsonable(self.numbers)}


@dataclass
class SelfChecks:
    """The self-checks of an analysis, in order."""

    checks: list

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"passed": self.passed, **{c.name: c.to_dict() for c in self.checks}}


#: :func:`check_cores`: a core's most populated microstate may lie at most this many kT above its state's
#: (so that the core sits in the free-energy minimum) ...
MAX_CORE_OFFSET_KT = 1.0
#: ... and the core holds at least this share of its state's frames.
MIN_CORE_SHARE = 0.25
#: :func:`check_populations`: set populations and PCCA+ populations agree within this relative difference
#: (or within the population's 95 % interval).
POPULATION_RTOL = 0.2


def check_its(its, lag: int, *, given: bool = False) -> Check:
    """Self-check 1: the slowest implied timescale has converged in the lag at ``lag``
    (:func:`~mdlstm_utils.states.lag.lag_convergence`)."""
    lc = lagmod.lag_convergence(its, lag, rtol=RTOL)
    dt = its.dt
    changes = ", ".join(f"{t:.3g} at {l * dt:g}" for l, t in zip(lc.compared_lags, lc.compared_timescales))
    if not changes:
        finding = (f"slowest implied timescale {lc.timescale:.3g} [{fmt(lc.low, '.4g')}, {fmt(lc.high, '.4g')}] at lag {lag * dt:g}; "
                   "no longer lag that still resolves it to compare with")
    else:
        finding = (f"slowest implied timescale {lc.timescale:.3g} [{fmt(lc.low, '.4g')}, {fmt(lc.high, '.4g')}] at lag {lag * dt:g}; "
                   f"at longer lags {changes} (largest change {lc.max_change:+.0%})")
    meaning = advice = ""
    if not lc.converged:
        meaning = ("the microstate MSM is not Markovian at this lag: its slowest timescale is still growing, so it "
                   "underestimates the slowest process, and the metastable states built on it may split the wrong "
                   "process. The kinetics reported may be off by more than the intervals say.")
        advice = ("give a longer lag (--lag) if the trajectories allow it; more microstates (--n-micro) or features "
                  "that include the slow coordinate; longer trajectories")
        if given:
            advice = "the lag was given: let analyze choose it (drop --lag), or " + advice
    return Check("its_converged", "implied timescales converged in the lag", lc.converged,
                 {"lag": lag * dt, **{k: v for k, v in lc.to_dict().items() if k != "lag"},
                  "compared_lags": (lc.compared_lags * dt).tolist()}, finding, meaning, advice)


def check_relaxation(relax: tuple, msm: tuple, n_states: int) -> Check:
    """Self-check 2: the slowest relaxation time of the chosen state space (from the rates between its states)
    agrees with the microstate MSM's slowest implied timescale (:func:`agree`)."""
    (v, lo, hi), (t, tlo, thi) = relax, msm
    ok = agree(v, lo, hi, t, tlo, thi)
    ratio = v / t if t > 0 else np.nan
    finding = (f"slowest relaxation of the {n_states} metastable states {v:.3g} [{fmt(lo, '.4g')}, {fmt(hi, '.4g')}], microstate "
               f"MSM {t:.3g} [{fmt(tlo, '.4g')}, {fmt(thi, '.4g')}]: ratio {ratio:.2f}")
    meaning = advice = ""
    if not ok:
        if ratio > 1:
            meaning = ("the states relax more slowly than the MSM's slowest process: the cores miss transitions "
                       "(they sit away from the wells, or lump wells across a faster process). The reference "
                       "kinetics, and every comparison with them, are then too slow.")
        else:
            meaning = ("the states relax faster than the MSM's slowest process: the partition counts recrossings "
                       "of a barrier as transitions, or splits a well. The reference kinetics, and every "
                       "comparison with them, are then too fast.")
        advice = ("let analyze choose the core threshold and the number of states (drop --core-threshold, "
                  "--n-macro), or give fewer states (--n-macro 2: the slowest process alone)")
    return Check("relaxation_agrees", "the states' slowest relaxation matches the microstate MSM's", ok,
                 {"relaxation": v, "relaxation_low": lo, "relaxation_high": hi, "msm_timescale": t,
                  "msm_timescale_low": tlo, "msm_timescale_high": thi, "ratio": ratio, "rtol": RTOL},
                 finding, meaning, advice)


def _micro_counts(micro: StateSpace) -> np.ndarray:
    return np.bincount(np.concatenate(list(micro.trajs)), minlength=micro.n_states).astype(float)


def check_cores(micro: StateSpace, ms) -> Check:
    """Self-check 3: every core sits in its state's free-energy minimum and holds a sensible share of its frames.

    Per metastable state: the free energy ``-ln p`` (kT) of the core's most populated microstate above that of
    the state's most populated microstate (crisp PCCA+ assignment), at most :data:`MAX_CORE_OFFSET_KT`; and the
    frames in the core over the frames in the state, at least :data:`MIN_CORE_SHARE`. Cores on the rim of a well
    (where PCCA+ memberships are most extreme) fail both.
    """
    counts = _micro_counts(micro)
    offset, share = [], []
    for k in range(ms.n_macro):
        state, core = counts[ms.assignments == k], counts[ms.cores == k]
        top_state = state.max() if state.size else 0.0
        top_core = core.max() if core.size else 0.0
        offset.append(float(np.log(top_state / top_core)) if top_core > 0 else np.inf)
        share.append(float(core.sum() / state.sum()) if state.sum() > 0 else 0.0)
    offset, share = np.array(offset), np.array(share)
    ok = bool(np.all(offset <= MAX_CORE_OFFSET_KT) and np.all(share >= MIN_CORE_SHARE))
    finding = (f"cores' lowest free energy above their state's minimum: {', '.join(f'{o:.1f}' for o in offset)} kT "
               f"(at most {MAX_CORE_OFFSET_KT:g}); share of the state's frames in the core: "
               f"{', '.join(f'{s:.0%}' for s in share)} (at least {MIN_CORE_SHARE:.0%})")
    meaning = advice = ""
    if not ok:
        meaning = ("a core that misses its well's minimum, or holds few of its frames, counts the transitions of "
                   "a small rim region: its populations, first-passage times and relaxation time are not those of "
                   "the well.")
        advice = ("a lower core threshold (--core-threshold, above 0.5) gives larger cores; with memberships that "
                  "never come near 1, fewer states (--n-macro)")
    return Check("cores_in_minima", "cores sit in free-energy minima and hold a sensible share of frames", ok,
                 {"free_energy_offset_kT": offset, "core_share": share, "core_threshold": ms.core_threshold,
                  "max_offset_kT": MAX_CORE_OFFSET_KT, "min_share": MIN_CORE_SHARE}, finding, meaning, advice)


def check_populations(space: StateSpace, ms) -> Check:
    """Self-check 4: the populations of the learned states (fraction of frames) agree with the PCCA+ ones
    (stationary populations coarse-grained with the memberships): within :data:`POPULATION_RTOL` or within the
    populations' 95 % bootstrap interval."""
    sl = set_labels(list(space.trajs), list(space.sets), space.n_states)
    pop = np.bincount(np.concatenate(sl), minlength=space.n_states)[: space.n_states] / sum(len(s) for s in sl)
    lo, hi = population_interval(sl, space.n_states, n_boot=200)
    pcca = np.asarray(ms.pcca.macro_populations, dtype=float)[ms.order]
    ok_each = (np.abs(pop / pcca - 1) <= POPULATION_RTOL) | ((pcca >= lo) & (pcca <= hi))
    ok = bool(np.all(ok_each))
    finding = "populations " + ", ".join(f"{n} {p:.3f} (PCCA+ {q:.3f})" for n, p, q in zip(space.set_names, pop, pcca))
    meaning = advice = ""
    if not ok:
        meaning = ("the states hold a different share of the frames than the metastable sets PCCA+ found: the "
                   "cores split the transition region unevenly (or sit off the wells), so the reported populations "
                   "and the MFPTs into the states are biased.")
        advice = "let analyze choose the core threshold (drop --core-threshold), or fewer states (--n-macro)"
    return Check("populations_agree", "state populations agree with the PCCA+ memberships", ok,
                 {"populations": pop, "populations_low": lo, "populations_high": hi, "pcca_populations": pcca,
                  "rtol": POPULATION_RTOL}, finding, meaning, advice)
