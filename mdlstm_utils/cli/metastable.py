"""Metastable states from microstates with the alternatives the rules allow: PCCA+, cores at a membership
threshold (several tried, in order), dynamical coring, each trial recorded, so that a failure says what was
tried and a success says which rule chose it.

Frames before a trajectory's first core visit take the first core it enters (the ``"backfill"`` rule of
:func:`~mdlstm_utils.states.metastable_states`); a trajectory that never visits a core has no label to take and
is left out of the learned labels, with a note that says how many frames that cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mdlstm_utils.kinetics import relaxation_timescales
from mdlstm_utils.runtime import fmt
from mdlstm_utils.states import StateSpace, metastable_space, metastable_states, pcca_lump
from mdlstm_utils.states.metastable import never_in_a_core
from mdlstm_utils.states.rules import Choice, agree, choose_min_dwell, choose_n_macro, msm_slowest
from mdlstm_utils.cli.checks import Check, check_cores

__all__ = ["CORE_THRESHOLDS", "slowest_relaxation", "CoreTrial", "try_threshold", "visiting", "StateChoice", "AnalysisFailed",
           "find_metastable"]



def slowest_relaxation(trajs, n_states: int, dt: float, n_boot: int = 200) -> tuple[float, float, float]:
    """The slowest relaxation time of label trajectories with its bootstrap 95 % interval: ``(value, low, high)``."""
    v, lo, hi = relaxation_timescales(list(trajs), n_states, dt=dt, n_boot=n_boot)
    return float(v[0]), float(lo[0]), float(hi[0])




# ---------------------------------------------------------------------------------------------
# Metastable states: PCCA+, cores and coring, with the alternatives the rules allow
# ---------------------------------------------------------------------------------------------
#: Core thresholds :func:`find_metastable` tries, in order: the PCCA+ membership a microstate needs to be in a
#: core, in (0.5, 1) so that a microstate is in at most one core.
CORE_THRESHOLDS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass
class CoreTrial:
    """One core threshold tried: the cores (or why none formed), the learned labels and their checks."""

    threshold: float
    error: str = ""  # why the cores could not be formed ("" when they were)
    metastable: object = None  # MetastableStates
    dwell_scan: tuple | None = None
    min_dwell: Choice | None = None
    space: StateSpace | None = None  # core-set labels after dynamical coring
    relaxation: tuple = (np.nan, np.nan, np.nan)  # slowest relaxation of `space` with its interval
    cores: Check | None = None
    agrees: bool = False
    dropped: tuple = ()  # trajectories left out of `space`: they never visit a core at this threshold
    drop_note: str = ""  # that, and the frames it cost, in words (empty when none was left out)

    @property
    def good(self) -> bool:
        return not self.error and self.agrees and self.cores.passed

    def line(self) -> str:
        if self.error:
            return f"{self.threshold:g}: {self.error}"
        v, lo, hi = self.relaxation
        where = "cores in the wells" if self.cores.passed else "cores off the wells' minima or small"
        lost = f", {len(self.dropped)} trajectories without a core visit left out" if self.dropped else ""
        return f"{self.threshold:g}: relaxation {v:.3g} [{fmt(lo, '.4g')}, {fmt(hi, '.4g')}], {where}{lost}"


def _no_core_error(memberships: np.ndarray, threshold: float) -> str:
    """Why some set has no core at ``threshold`` (and what would help), or ``""``."""
    top = memberships.max(axis=0)
    empty = np.flatnonzero(top < threshold)
    if not empty.size:
        return ""
    lowest = float(top[empty].min())
    hint = f"a threshold <= {lowest:.2f} would form it" if lowest > 0.5 else "no threshold in (0.5, 1) can"
    return f"no core for state(s) {empty.tolist()} (largest membership {lowest:.3f}: {hint})"


def try_threshold(micro: StateSpace, n_macro: int, lag: int, threshold: float, msm: tuple, *, pcca=None,
                  min_dwell: int | None = None, n_boot: int = 200) -> CoreTrial:
    """Cores at ``threshold``, coring, and the checks that choose the threshold (:func:`find_metastable`).

    Trajectories that never visit a core at this threshold are left out of the labels (:func:`visiting`), and
    the trial says so (``dropped``, ``drop_note``)."""
    pc = pcca or pcca_lump(list(micro.trajs), micro.n_states, n_macro, lag)
    err = _no_core_error(pc.memberships, threshold)
    if err:
        return CoreTrial(threshold, err)
    try:
        ms = metastable_states(list(micro.trajs), micro.n_states, n_macro, lag, core_threshold=threshold, pcca=pc)
    except ValueError as exc:
        return CoreTrial(threshold, str(exc))
    kept, kept_ms, lost, note = visiting(micro, ms)
    if not kept.n_traj:
        return CoreTrial(threshold, "no trajectory visits a core")
    cores = metastable_space(kept, "cores", metastable=kept_ms, lag=lag)
    scan, dwell = choose_min_dwell(cores, min_dwell=min_dwell, max_dwell=max(32, lag), slowest=msm[0] / micro.dt)
    space = metastable_space(kept, "coring", metastable=kept_ms, lag=lag, min_dwell=dwell.value,
                             set_names=[f"S{k}" for k in range(n_macro)])
    v = float(relaxation_timescales(list(space.trajs), n_macro, dt=space.dt, n_boot=0)[0][0])
    relax = (v, np.nan, np.nan)
    if not agree(v, np.nan, np.nan, *msm[:1], np.nan, np.nan) and np.isfinite(v):
        relax = slowest_relaxation(space.trajs, n_macro, space.dt, n_boot=n_boot)  # the interval decides
    return CoreTrial(threshold, "", ms, scan, dwell, space, relax, check_cores(micro, ms), agree(*relax, *msm),
                     lost, note)


def visiting(micro: StateSpace, ms) -> tuple:
    """The microstates and metastable states without the trajectories that never visit a core:
    ``(micro, ms, dropped, note)``.

    Such a trajectory (:func:`~mdlstm_utils.states.metastable.never_in_a_core`) stays all ``-1`` in the
    core-set labels, which no estimator counts and no model learns; it holds no transition between metastable
    states either, so it is left out, and ``note`` says which and how many frames that cost (``""`` when
    every trajectory visits a core). ``ms`` keeps its lumping and cores; only its label trajectories shrink.
    """
    lost = tuple(int(i) for i in never_in_a_core(list(ms.core_labels)))
    if not lost:
        return micro, ms, lost, ""
    keep = [i for i in range(micro.n_traj) if i not in set(lost)]
    frames = int(micro.lengths[list(lost)].sum())
    shown = ", ".join(str(i) for i in lost[:10]) + (" ..." if len(lost) > 10 else "")
    note = (f"{len(lost)} of {micro.n_traj} trajectories never visit a core (membership >= {ms.core_threshold:g}) "
            f"and are left out of the metastable labels: {frames} frames, {frames / micro.n_frames:.1%} of all "
            f"(trajectories {shown}, counted from 0)")
    return (replace(micro, trajs=tuple(micro.trajs[i] for i in keep)),
            replace(ms, core_labels=[ms.core_labels[i] for i in keep],
                    macro_labels=[ms.macro_labels[i] for i in keep]), lost, note)


@dataclass
class StateChoice:
    """What :func:`find_metastable` settled on, and what it tried on the way."""

    metastable: object  # MetastableStates
    space: StateSpace
    dwell_scan: tuple
    choices: dict  # "lag", "n_macro", "core_threshold", "min_dwell" -> Choice
    trials: list  # (lag, n_macro, [CoreTrial, ...]) in the order tried
    notes: list  # the alternatives taken, and why, in plain words
    dropped: tuple = ()  # trajectories (indices into the microstates') left out of `space`: never in a core


class AnalysisFailed(ValueError):
    """A step of the analysis failed (no state space could be formed, ...); ``partial`` holds the steps so far
    (:class:`~mdlstm_utils.cli.method.Partial`: the step, why, what to try) for the report, ``advice`` what to
    try, in the options of ``mdlstm analyze``."""

    def __init__(self, message: str, partial=None, *, advice: str = ""):
        super().__init__(message)
        self.partial = partial
        self.advice = advice


def find_metastable(micro: StateSpace, its, lag: Choice, n_macro: Choice, *, core_threshold: float | None = None,
                    min_dwell: int | None = None, max_macro: int = 6) -> StateChoice:
    """PCCA+ into ``n_macro`` states, their cores and coring, falling back to what the rules allow.

    Rule for the core threshold: the lowest of :data:`CORE_THRESHOLDS` whose cores sit in the wells
    (:func:`check_cores`) and whose slowest relaxation (after coring) agrees with the microstate MSM's slowest
    implied timescale at the lag (:func:`agree`: within 10 % or the intervals, on both sides: cores reaching into
    the barrier relax too fast, cores on a well's rim too slowly), preferring one that relaxes no faster than
    the MSM (whose timescale underestimates the true one: variational principle) to one that agrees from
    below. When no threshold does at ``n_macro`` states,
    fewer states are tried (down to 2); when no cores form at all, the next longer scanned lags (up to three).
    When cores form but none passes, the threshold whose relaxation comes closest is taken (its self-checks
    then fail). Values given by the user (``core_threshold``, a given ``n_macro`` or ``lag``) are kept fixed.
    A trial that raises ``ValueError`` is a failed trial (its error recorded), never a crash of the loop;
    trajectories that never visit a core are left out of the chosen labels (:func:`visiting`), with a note.
    Raises :class:`AnalysisFailed` (with ``advice``) when no cores form anywhere.
    """
    notes, trials = [], []
    lags = [lag.value]
    if lag.rule != "given":
        after = [int(l) for l in its.lags if l > lag.value and msm_slowest(its, int(l))[0] > l * its.dt]
        lags += after[:3]
    thresholds = [core_threshold] if core_threshold is not None else list(CORE_THRESHOLDS)
    best_usable = None  # (score, lag, n, trial): cores formed but the checks failed
    for tau in lags:
        msm = msm_slowest(its, tau)
        nm = n_macro if tau == lag.value or n_macro.rule == "given" else choose_n_macro(its, tau, max_macro=max_macro)
        counts = [nm.value] if nm.rule == "given" else list(range(nm.value, 1, -1))
        for n in counts:
            try:
                pc = pcca_lump(list(micro.trajs), micro.n_states, n, tau)
            except ValueError as exc:
                trials.append((tau, n, [CoreTrial(float("nan"), str(exc))]))
                continue
            tried = []
            for th in thresholds:
                try:
                    tr = try_threshold(micro, n, tau, th, msm, pcca=pc, min_dwell=min_dwell)
                except ValueError as exc:  # a threshold that cannot be tried is a failed trial, not a crash
                    tr = CoreTrial(th, str(exc))
                tried.append(tr)
                if tr.good and tr.relaxation[0] >= msm[0]:
                    break
            trials.append((tau, n, tried))
            # the MSM's timescale is a lower bound (variational principle): cores that agree from above first
            good = sorted((tr for tr in tried if tr.good), key=lambda tr: tr.relaxation[0] < msm[0])
            formed = [tr for tr in tried if not tr.error]
            for tr in formed:
                score = (not tr.cores.passed, abs(np.log(tr.relaxation[0] / msm[0])) if tr.relaxation[0] > 0 else np.inf)
                if best_usable is None or score < best_usable[0]:
                    best_usable = (score, tau, n, tr)
            if good:
                return _settle(good[0], tau, n, lag, nm, core_threshold, its, trials, notes)
            what = "; ".join(tr.line() for tr in tried)
            if n > 2 and nm.rule != "given":
                notes.append(f"{n} states at lag {tau * its.dt:g}: no core threshold passes ({what}); trying {n - 1}")
            else:
                notes.append(f"{n} states at lag {tau * its.dt:g}: no core threshold passes ({what})")
        if best_usable is not None:
            break  # cores formed at this lag: keep it, take the closest below
        if tau != lags[-1]:
            notes.append(f"no cores form at lag {tau * its.dt:g}; trying a longer lag")
    if best_usable is None:
        raise AnalysisFailed("no metastable states could be formed: " + "; ".join(notes) + ".",
                             advice=_failure_hint(trials, core_threshold, n_macro))
    _, tau, n, tr = best_usable
    notes.append(f"taking {n} states at membership >= {tr.threshold:g}, the closest to passing: the self-checks "
                 "below say what is wrong")
    return _settle(tr, tau, n, lag, n_macro if tau == lag.value else choose_n_macro(its, tau), core_threshold, its,
                   trials, notes, passed=False)


def _failure_hint(trials, core_threshold, n_macro: Choice) -> str:
    """What to try when no cores formed: hints that can help (never a threshold <= 0.5)."""
    hints = []
    if core_threshold is not None:
        hints.append("drop --core-threshold and let analyze try the thresholds in (0.5, 1)")
    if n_macro.rule == "given":
        hints.append(f"fewer states than --n-macro {n_macro.value}, or drop it")
    hints.append("more data, a finer partition (--n-micro) or features that separate the wells")
    return "; ".join(hints)


def _settle(tr: CoreTrial, tau: int, n: int, lag: Choice, nm: Choice, core_threshold, its, trials, notes,
            passed: bool = True) -> StateChoice:
    choices = {}
    choices["lag"] = lag if tau == lag.value else Choice(tau, f"{lag.rule}; longer, as no cores formed at "
                                                              f"{lag.value} frames")
    if n == nm.value:
        choices["n_macro"] = nm
    else:
        choices["n_macro"] = Choice(n, f"{nm.rule}; fewer, as no core threshold passed at {nm.value}")
    if core_threshold is not None:
        choices["core_threshold"] = Choice(core_threshold, "given")
    else:
        tried = "; ".join(t.line() for t in next(t for l, k, t in trials if l == tau and k == n))
        rule = ("lowest membership whose cores sit in the wells and relax as the microstate MSM's slowest "
                "timescale (within 10 % or the intervals; no faster than it where one does)" if passed
                else "closest to passing")
        choices["core_threshold"] = Choice(tr.threshold, f"{rule} ({tried})")
    choices["min_dwell"] = tr.min_dwell
    if tr.drop_note:
        notes.append(tr.drop_note)
    return StateChoice(tr.metastable, tr.space, tr.dwell_scan, choices, trials, notes, tr.dropped)
