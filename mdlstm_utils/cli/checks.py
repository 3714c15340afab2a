"""Self-checks of a state space against the data alone (no model involved). A failed check says what it means
and what to try.

The verdict on the model counts only when the **verdict checks** pass: the implied timescales converged at the
lag, the populations agree with PCCA+, and two checks on the **held-out part** (the test trajectories of the
evaluation protocol, :func:`~mdlstm_utils.states.train_test_split` with the run's seed, the same split
:func:`~mdlstm_utils.lm.experiment.learn_and_compare` makes), with criteria that did not choose the states: a
Chapman–Kolmogorov test of the chosen states (:func:`check_ck_heldout`) and their slowest implied timescale
against the microstate MSM's on the same frames (:func:`check_timescale_heldout`).

Two checks are **information only** (``role == "information"``): whether the states' slowest relaxation
matches the microstate MSM's (:func:`check_relaxation`) and whether the cores sit in free-energy minima
(:func:`check_cores`). They are the criteria by which ``find_metastable`` picks the core threshold
(``CoreTrial.good``), so on the normal path they pass by construction; they fail only where the rules fell back
to the threshold "closest to passing", which the report already says. Shown beside the verdict checks, they
say how the states were chosen, not whether to trust them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from mdlstm_utils.kinetics import population_interval, set_labels
from mdlstm_utils.kinetics.validated import CK_ATOL
from mdlstm_utils.runtime import fmt, jsonable
from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.states import Split, StateSpace, estimate_msm, train_test_split
from mdlstm_utils.states.rules import RTOL, agree

__all__ = ["MAX_CORE_OFFSET_KT", "MIN_CORE_SHARE", "POPULATION_RTOL", "CK_MLAGS", "CK_MAX_MLAGS", "CK_NULL_SAMPLES", "Check", "SelfChecks", "HeldOut",
           "held_out", "ck_null", "check_its", "check_relaxation", "check_cores", "check_populations", "check_ck_heldout",
           "check_timescale_heldout"]



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
    role: str = "verdict"  # "verdict": the verdict on the model counts only when it passes; "information": shown

    def to_dict(self) -> dict:
        return {"title": self.title, "passed": self.passed, "role": self.role, "finding": self.finding,
                "meaning": self.meaning, "advice": self.advice, **jsonable(self.numbers)}


@dataclass
class SelfChecks:
    """The self-checks of an analysis, in order: ``checks`` decide whether the verdict on the model counts,
    ``info`` (the criteria that chose the states, see the module's docstring) are shown beside them."""

    checks: list
    info: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> Check:
        for c in self.checks + self.info:
            if c.name == name:
                return c
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(c.name == name for c in self.checks + self.info)

    def to_dict(self) -> dict:
        """``passed`` (the verdict checks all pass), each verdict check by name, and the information-only ones
        under ``information``."""
        return {"passed": self.passed, **{c.name: c.to_dict() for c in self.checks},
                "information": {c.name: c.to_dict() for c in self.info}}


#: :func:`check_cores`: a core's most populated microstate may lie at most this many kT above its state's
#: (so that the core sits in the free-energy minimum) ...
MAX_CORE_OFFSET_KT = 1.0
#: ... and the core holds at least this share of its state's frames.
MIN_CORE_SHARE = 0.25
#: :func:`check_populations`: set populations and PCCA+ populations agree within this relative difference
#: (or within the population's 95 % interval).
POPULATION_RTOL = 0.2


def check_its(its, lag: int, *, given: bool = False) -> Check:
    """Self-check: the slowest implied timescale has converged in the lag at ``lag``
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
    """Information (the criterion that chose the core threshold): the slowest relaxation time of the chosen state
    space (from the rates between its states) agrees with the microstate MSM's slowest implied timescale
    (:func:`agree`). It passes by construction unless the rules fell back; the held-out check
    :func:`check_timescale_heldout` is the verdict's."""
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
    return Check("relaxation_agrees", "the states' slowest relaxation matches the microstate MSM's (the rule that "
                 "chose the core threshold)", ok,
                 {"relaxation": v, "relaxation_low": lo, "relaxation_high": hi, "msm_timescale": t,
                  "msm_timescale_low": tlo, "msm_timescale_high": thi, "ratio": ratio, "rtol": RTOL},
                 finding, meaning, advice, role="information")


def _micro_counts(micro: StateSpace) -> np.ndarray:
    return np.bincount(np.concatenate(list(micro.trajs)), minlength=micro.n_states).astype(float)


def check_cores(micro: StateSpace, ms) -> Check:
    """Information (the other criterion that chose the core threshold): every core sits in its state's free-energy minimum and holds a sensible share of its frames.

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
    return Check("cores_in_minima", "cores sit in free-energy minima and hold a sensible share of frames (the rule "
                 "that chose the core threshold)", ok,
                 {"free_energy_offset_kT": offset, "core_share": share, "core_threshold": ms.core_threshold,
                  "max_offset_kT": MAX_CORE_OFFSET_KT, "min_share": MIN_CORE_SHARE}, finding, meaning, advice,
                 role="information")


def check_populations(space: StateSpace, ms) -> Check:
    """Self-check: the populations of the learned states (fraction of frames) agree with the PCCA+ ones
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


# ---------------------------------------------------------------------------------------------
# Checks on the held-out part: criteria that did not choose the states, on trajectories the model is judged on
# ---------------------------------------------------------------------------------------------
#: :func:`check_ck_heldout` compares the MSM's prediction with the estimate at least at this many multiples of the
#: lag (fewer only where the test trajectories are shorter; at least 2) ...
CK_MLAGS = 5
#: ... and at as many as reach the slowest implied timescale, up to this many.
CK_MAX_MLAGS = 50
#: Markov surrogates of the test part that give the CK test's sampling error (:func:`ck_null`): with 19, the
#: observed error exceeds all of them by chance with probability 1/20 when the states are Markovian.
CK_NULL_SAMPLES = 19


@dataclass
class HeldOut:
    """The held-out part of the chosen states: the test trajectories of the evaluation protocol's split of the
    learned labels (``split``, by the run's seed: the split :func:`~mdlstm_utils.lm.experiment.learn_and_compare`
    makes of the same labels), and the microstate labels of the same frames (``micro_test``)."""

    split: Split
    test: list  # metastable labels of the test trajectories (or blocks)
    micro_test: list  # microstate labels of the same frames


def held_out(space: StateSpace, micro: StateSpace, kept, *, seed: int = 0) -> HeldOut:
    """The test part of ``space`` (the learned labels) and the microstate labels of the same frames.

    ``kept``: for each trajectory of ``space``, the index of its microstate trajectory (trajectories that never
    visit a core are left out of ``space``). The split is :func:`~mdlstm_utils.states.train_test_split` with
    its defaults and ``seed``, exactly as :func:`~mdlstm_utils.lm.experiment.learn_and_compare` splits ``space``.
    """
    split = train_test_split(list(space.trajs), seed=seed, n_states=space.n_states)
    kept = np.asarray(kept, dtype=np.int64)
    micro_test = [np.asarray(micro.trajs[kept[s]][a:a + len(t)])
                  for t, s, a in zip(split.test, split.test_source, split.test_start)]
    return HeldOut(split, list(split.test), micro_test)


def _test_frames(h: HeldOut) -> str:
    unit = "blocks" if h.split.protocol == "blocks" else "trajectories"
    return f"the {len(h.test)} test {unit} ({h.split.test_frames} frames, held out from training)"


def ck_null(test: list, n_states: int, lag: int, mlags: int, *, n: int = CK_NULL_SAMPLES, seed: int = 0) -> np.ndarray:
    """The CK test's largest error on ``n`` Markov surrogates of ``test``: trajectories sampled from the MSM at
    ``lag`` estimated on ``test`` itself, one frame per lag, as many and as long (in lags) as ``test``, each
    CK-tested at one frame over ``mlags`` multiples. On Markovian states the observed error is as large as these
    (the sampling error of data of this size): the spread a CK test of these data cannot resolve. Surrogates
    whose test cannot run are left out."""
    msm = estimate_msm(test, n_states, lag)
    symbols = np.asarray(msm.count_model.state_symbols, dtype=np.int64)
    pi = np.asarray(msm.stationary_distribution, dtype=float)
    rng = np.random.default_rng(seed)
    steps = [max(2, len(t) // lag) for t in test]
    out = []
    for i in range(n):
        trajs = [symbols[msm.simulate(k, start=int(rng.choice(len(pi), p=pi)), seed=int(seed) * 1000 + i * 100 + j)]
                 for j, k in enumerate(steps)]
        m = min(mlags, (max(steps) - 1))
        if m < 2:
            continue
        try:
            out.append(lagmod.ck_test(trajs, 1, n_states, n_states=n_states, mlags=m).max_error)
        except ValueError:
            continue
    return np.asarray(out, dtype=float)


def check_ck_heldout(h: HeldOut, n_states: int, lag: int, dt: float, *, reach: float | None = None,
                     advice: str = "", seed: int = 0) -> Check:
    """Self-check on the held-out part: a Chapman–Kolmogorov test of the chosen states.

    An MSM of the learned labels at ``lag``, estimated on the test trajectories alone, predicts where each
    state's frames are after ``m * lag`` (``m = 2 .. M``: as many multiples as reach ``reach`` frames, the
    slowest implied timescale, at least :data:`CK_MLAGS` and at most :data:`CK_MAX_MLAGS`, fewer where the test
    trajectories are short: memory shows where the slow process does); MSMs estimated at those lags give the same probabilities directly
    (:func:`~mdlstm_utils.states.lag.ck_test`, each state its own set). It passes when every predicted
    probability is within :data:`~mdlstm_utils.kinetics.validated.CK_ATOL` of the estimate: the states are
    Markovian enough at the lag for an MSM on them, and for the reference kinetics computed from them, to hold.
    Where the test part is small, sampling noise alone exceeds that tolerance; then the check also passes when
    the error is no larger than the largest of :data:`CK_NULL_SAMPLES` Markov surrogates of the same size
    (:func:`ck_null`, drawn with ``seed``): a deviation the data cannot tell from noise, said so in the finding.
    No rule that chose the states looks at it. ``advice``: what to try when it fails (default: the lag, the
    number of states, more data)."""
    title = "CK test of the chosen states on the held-out trajectories"
    longest = max(len(t) for t in h.test)
    want = CK_MLAGS if reach is None or not np.isfinite(reach) else int(np.ceil(reach / lag))
    mlags = min(int(np.clip(want, CK_MLAGS, CK_MAX_MLAGS)), (longest - 1) // lag)
    advice = advice or ("a longer lag (--lag), fewer states (--n-macro), or more data; with labels you made on "
                        "purpose, other labels")
    numbers = {"lag": lag * dt, "atol": CK_ATOL, "test_frames": h.split.test_frames,
               "test_pieces": len(h.test), "protocol": h.split.protocol}
    if mlags < 2:
        return Check("ck_heldout", title, False, numbers | {"max_error": None, "mlags": mlags},
                     f"not run: the longest of {_test_frames(h)} has {longest} frames, too short for two lags of "
                     f"{lag} frames and the estimate at both",
                     "whether the states are Markovian cannot be checked on held-out data, so nothing supports "
                     "the reference kinetics computed from them.", "longer or more trajectories, or a shorter "
                     "lag (--lag)")
    try:
        ck = lagmod.ck_test(h.test, lag, n_states, n_states=n_states, mlags=mlags, dt=dt)
    except ValueError as exc:
        return Check("ck_heldout", title, False, numbers | {"max_error": None, "mlags": mlags},
                     f"not run on {_test_frames(h)}: {exc}",
                     "on the held-out trajectories the states do not form one connected MSM at the lag (some "
                     "state is never left or never entered there): the kinetics between them cannot be "
                     "estimated from those trajectories.", advice)
    err = ck.max_error
    null = ck_null(h.test, n_states, lag, mlags, seed=seed) if err > CK_ATOL else np.zeros(0)
    noise = float(null.max()) if null.size else float("nan")
    ok = bool(err <= CK_ATOL or (np.isfinite(noise) and err <= noise))
    where = np.unravel_index(int(np.argmax(np.abs(ck.predictions - ck.estimates))), ck.predictions.shape)
    finding = (f"on {_test_frames(h)}: largest |prediction - estimate| {err:.3f} (at most {CK_ATOL:g}) over "
               f"{mlags} multiples of the lag {lag * dt:g}, worst at {ck.lags[where[0]] * dt:g}")
    if null.size:
        finding += (f"; {null.size} Markov surrogates of the same size reach {noise:.3f} by sampling noise alone, "
                    + ("so the data cannot tell this error from noise" if ok else "so the error is not noise"))
    meaning = "" if ok else (
        "the chosen states are not Markovian at the lag on trajectories the model is judged on: an MSM of them "
        "predicts where the frames go at longer times wrongly. The MSM baseline on them is then biased, and the "
        "states may mix a slow process with a fast one, so the reference kinetics the model is compared with "
        "depend on the lag at which they are measured.")
    return Check("ck_heldout", title, ok, numbers | {"max_error": err, "mlags": mlags, "noise_error": noise},
                 finding, meaning, "" if ok else advice)


def check_timescale_heldout(h: HeldOut, n_states: int, n_micro: int, lag: int, dt: float, *, n_samples: int = 20,
                            seed: int = 0, advice: str = "") -> Check:
    """Self-check on the held-out part: the slowest implied timescale of the chosen states against the
    microstate MSM's, both at ``lag`` and both estimated on the test trajectories alone, with Bayesian 95 %
    intervals (``n_samples`` samples, drawn with ``seed``); they must agree (:func:`agree`: within 10 % or the
    intervals). States that lump across the slowest process, or split a well, relax at another rate than the
    microstates they are made of. The rule that chose the states compared a different estimate (the relaxation
    time from the rates between cored states) on all trajectories."""
    title = "slowest implied timescale of the chosen states matches the microstate MSM's on the held-out trajectories"
    numbers = {"lag": lag * dt, "rtol": RTOL, "test_frames": h.split.test_frames}
    advice = advice or ("other core thresholds (--core-threshold) or another number of states (--n-macro); with "
                        "labels you made on purpose (--labels), --keep-states and labels that separate the wells")
    try:
        with warnings.catch_warnings():  # samples without a finite timescale: a nan bound ("–"), no numpy warning
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            warnings.filterwarnings("ignore", "invalid value encountered in (scalar )?subtract", RuntimeWarning)
            est = [lagmod.implied_timescales(t, [lag], n, k=1, dt=dt, n_samples=n_samples, seed=seed)
                   for t, n in ((h.test, n_states), (h.micro_test, n_micro))]
    except ValueError as exc:
        return Check("timescale_heldout", title, False, numbers | {"timescale": None, "msm_timescale": None},
                     f"not run on {_test_frames(h)}: {exc}",
                     "the slowest process cannot be estimated from the held-out trajectories at this lag, so "
                     "nothing on held-out data supports the reference kinetics.", "longer or more trajectories")
    (v, lo, hi), (t, tlo, thi) = [(float(e.slowest[0]), *(e.slowest_interval(0) or (np.nan, np.nan))) for e in est]
    ok = agree(v, lo, hi, t, tlo, thi)
    ratio = v / t if t > 0 else np.nan
    finding = (f"on {_test_frames(h)} at lag {lag * dt:g}: the {n_states} states {v:.3g} [{fmt(lo, '.4g')}, "
               f"{fmt(hi, '.4g')}], the {n_micro} microstates {t:.3g} [{fmt(tlo, '.4g')}, {fmt(thi, '.4g')}]: "
               f"ratio {fmt(ratio, '.2f')}")
    meaning = ""
    if not ok:
        meaning = ("the states' slowest process on held-out trajectories is not the microstates' slowest process: "
                   + ("they relax more slowly, so their cores miss transitions or they lump wells across a faster "
                      "process" if ratio > 1 else
                      "they relax faster, so they count recrossings of a barrier as transitions or split a well")
                   + ". The reference kinetics, and every comparison with them, are then not those of the "
                     "system's slowest process.")
    return Check("timescale_heldout", title, ok,
                 numbers | {"timescale": v, "timescale_low": lo, "timescale_high": hi, "msm_timescale": t,
                            "msm_timescale_low": tlo, "msm_timescale_high": thi, "ratio": ratio},
                 finding, meaning, "" if ok else advice)
