"""The method of ``mdlstm analyze``: the suite's whole method on your own trajectories, features or labels.

The command line itself is :mod:`~mdlstm_utils.cli.analyze`, which imports this module (and with it torch,
deeptime and matplotlib) only after its arguments are parsed, so that ``mdlstm analyze --help`` answers at once.

One command (or :func:`run` from Python, or notebook 08 step by step) takes
what a researcher has: trajectory files that mdtraj reads with their topology,
feature arrays (``.npy`` / ``.npz``), or label trajectories that were
discretized elsewhere. It then does what the tutorial notebooks teach, each
step chosen by a rule that is printed and can be overridden:

1. TICA of the features (lag: 1 % of the shortest trajectory; dimension:
   95 % of the kinetic variance, between 2 and 10);
2. k-means microstates (``sqrt(frames)``, capped by the profile);
3. the MSM lag where the slowest implied timescale has levelled off, judged
   with its 95 % intervals over a decade of longer lags;
4. the number of metastable states at a clear gap between timescales (2, the
   slowest process, when no gap stands out);
5. PCCA+ and core sets (a frame between cores keeps the last core), with
   dynamical coring (the shortest minimum dwell at which the number of
   transitions stops falling), at the lowest core threshold whose cores sit in
   the wells and relax like the microstate MSM's slowest process; when cores
   cannot be formed, fewer states or a longer lag, each alternative printed;
6. four self-checks from the data alone (implied timescales converged; the
   states' slowest relaxation matches the MSM's; cores in free-energy minima
   with a sensible share of frames; populations as PCCA+ says). The verdict on
   the model says "Targets met" only when they pass, and otherwise which
   failed, what it means and what to try;
7. a language model trained on the cored metastable labels, trajectories
   generated like the reference (same number, same lengths), an MSM at the same
   lag sampled the same way, and the comparison of populations, mean
   first-passage times and the slowest relaxation time (from the rates
   between the metastable states, :func:`~mdlstm_utils.kinetics.relaxation_timescales`)
   with 95 % intervals.

The model's learning record (learning curve, validation loss beside a lag-1
MSM's) is shown beside its slow-process error, with the transitions it gets
wrong (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`).

It writes ``OUT/report.html`` (figures embedded, readable offline) and
``OUT/metrics.json``; times are in the unit of ``--dt``. Every input that reads
correctly ends with both files: when a step past reading fails (no state space
can be formed, the model cannot be trained, ...), they hold the steps so far, the
step that failed, why, and what to try (:class:`Partial`), and the command exits
with status 2. Bad input, and input too short for the model's training windows
(:func:`check_length`), is refused before any long step, with a message that
names the file or the setting and the problem, and then nothing is written to
``OUT``; otherwise nothing is written to ``OUT`` until the analysis has finished.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.lm.diagnostics import transition_errors
from mdlstm_utils.kinetics.memory import memory_test
from mdlstm_utils.runtime import fmt, jsonable, mfpt_tolerance, seed_everything, verdict as profile_verdict
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.lm.train import FULL_STEPS, QUICK_BATCH, TrainConfig
from mdlstm_utils.states import StateSpace, estimate_msm, from_labels
# the steps' names are also reached as analyze.<name> (notebook 08, the tests): some are imported for that alone
from mdlstm_utils.cli.checks import Check, SelfChecks, check_cores, check_its, check_populations, check_relaxation
from mdlstm_utils.cli.inputs import Inputs, read_inputs
from mdlstm_utils.cli.metastable import (AnalysisFailed, CoreTrial, StateChoice, find_metastable, slowest_relaxation,
                                         try_threshold)
from mdlstm_utils.cli.report import FIGURE_NAMES, HOW_TO_READ, figure, figures, partial_report_html, report_html
from mdlstm_utils.states.rules import (Choice, Reduction, agree, choose_lag, choose_min_dwell, choose_n_macro,
                                       cluster, msm_slowest, reduce_features, timescales_at)

# its own names; the steps' names (rules, checks, inputs, figures) are importable from here too, documented where
# they are defined
__all__ = ["PROFILES", "STEP_ADVICE", "Analysis", "Partial", "States", "build_states", "check_length", "learn",
           "slow_groups", "train_config", "transitions", "run", "write_report"]

#: Sizes per profile: ``smoke`` checks that everything runs (seconds), ``quick`` gives numbers worth reading
#: in minutes on two CPU cores, ``full`` uses finer microstates, the suite's full training recipe
#: (:data:`~mdlstm_utils.lm.train.FULL_STEPS` steps of :data:`~mdlstm_utils.lm.train.QUICK_BATCH` windows of 50
#: frames) and 200 posterior samples per lag for the timescale intervals (bounds good to about 5 % of the width).
PROFILES = {
    "smoke": dict(max_frames=3000, max_micro=20, n_lags=6, hidden=32, its_samples=10,
                  train=TrainConfig(seq_len=32, batch_size=16, epochs=4, steps=30)),
    "quick": dict(max_frames=None, max_micro=100, n_lags=12, hidden=64, its_samples=20,
                  train=TrainConfig(seq_len=50, batch_size=32, epochs=4, steps=1000)),
    "full": dict(max_frames=None, max_micro=200, n_lags=16, hidden=64, its_samples=200,
                 train=TrainConfig(seq_len=50, batch_size=QUICK_BATCH, epochs=4, steps=FULL_STEPS)),
}


@dataclass
class Learned:
    """The language model's and the MSM baseline's trajectories and their comparison with the reference."""

    result: object  # experiment.LearnResult
    slowest: dict  # "reference" / "lm" / "msm" -> (value, low, high): slowest relaxation time, in time units


#: What to try when a step of the method fails, in the options of ``mdlstm analyze`` (the partial report's
#: advice; a step whose own error says what to try, such as :func:`find_metastable`'s, gives that instead).
STEP_ADVICE = {
    "features (TICA)": "give the TICA lag or dimension (--tica-lag, --tica-dim), other features (--features), or "
                       "longer trajectories",
    "microstates (k-means)": "give fewer microstates (--n-micro), or other features (--features)",
    "implied timescales and the MSM lag": "give the lag (--lag), fewer microstates (--n-micro), or longer "
                                          "trajectories",
    "metastable states": "give fewer microstates (--n-micro), more data, or features that separate the wells",
    "self-checks": "give the lag (--lag), fewer microstates (--n-micro), or more data",
    "language model": "a shorter training window (--seq-len), or longer or more trajectories; the state space "
                      "above was formed, and its choices and self-checks can be read as they are",
    "transitions and memory": "more data: the reference has too few transitions for this comparison",
    "verdict": "this looks like a bug of mdlstm analyze: please report it with the message above",
}


def train_config(profile: str = "quick", seq_len: int | None = None) -> TrainConfig:
    """The profile's training recipe (:data:`PROFILES`), with ``seq_len`` (frames per training window) when given."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    cfg = PROFILES[profile]["train"]
    return cfg if seq_len is None else replace(cfg, seq_len=int(seq_len))


def check_length(inputs: Inputs, *, profile: str = "quick", seq_len: int | None = None) -> None:
    """Refuse inputs too short for the language model before any work, with the reason in the user's terms.

    The model learns from windows of ``seq_len + 1`` frames (``seq_len`` frames and the one each predicts), cut
    from the part of a trajectory it trains on: :func:`~mdlstm_utils.lm.train.fit` holds out the last
    ``val_fraction`` of each for validation, so the longest trajectory must keep one window after that. Without
    this check the state-space steps ran first (on 20 frames of noise they even passed their self-checks), and
    training then failed on a setting the command line did not offer.
    """
    _check_overrides(inputs, seq_len=seq_len)
    cfg = train_config(profile, seq_len)
    longest = int(inputs.lengths.max())

    def kept(n: int) -> int:  # frames fit trains on, out of n (its split_trajectories)
        return int(round(n * (1.0 - cfg.val_fraction)))

    if kept(longest) >= cfg.seq_len + 1:
        return
    need = next(n for n in itertools.count(cfg.seq_len + 1) if kept(n) >= cfg.seq_len + 1)
    fits = kept(longest) - 1  # the longest window that the longest trajectory holds, less its predicted frame
    shorter = f"a shorter --seq-len (at most {fits})" if fits >= 2 else "no --seq-len fits trajectories this short"
    which = "" if len(inputs.data) == 1 else " (the longest trajectory)"
    raise ValueError(f"{longest} frames{which}: the model needs windows of at least {cfg.seq_len + 1} frames "
                     f"(--seq-len {cfg.seq_len} and the frame it predicts) in the {1 - cfg.val_fraction:.0%} of a "
                     f"trajectory it trains on, so trajectories of at least {need} frames; give longer trajectories "
                     f"or {shorter}")


def learn(space: StateSpace, lag: int, *, model: str = "lstm", profile: str = "quick", seed: int = 0, device="auto",
          seq_len: int | None = None, progress: bool = True) -> Learned:
    """Train ``model`` on the metastable labels, generate like the reference, sample the MSM at ``lag``; compare.

    ``seq_len``: frames per training window (default: the profile's, :func:`train_config`)."""
    cfg = PROFILES[profile]
    prompt = int(min(100, max(1, space.lengths.min() // 10)))
    res = learn_and_compare(space, model=model, prompt_len=prompt, train=train_config(profile, seq_len),
                            hidden=cfg["hidden"], baseline_lag=lag, seed=seed, device=device, progress=progress)
    slowest = {
        "reference": slowest_relaxation(space.trajs, space.n_states, space.dt),
        "lm": slowest_relaxation(res.generated, space.n_states, space.dt),
        "msm": slowest_relaxation(res.baseline, space.n_states, space.dt * lag),
    }
    return Learned(res, slowest)


def slow_groups(space: StateSpace, lag: int) -> np.ndarray:
    """The two sides of the slowest process among the metastable states: PCCA+ into 2 sets of the reference's
    MSM on the learned labels at ``lag`` (with 2 states, each state is one side). Transitions between the sides
    make the slowest process (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`)."""
    n = space.n_states
    if n == 2:
        return np.arange(2)
    msm = estimate_msm(list(space.trajs), n, lag)
    groups = np.zeros(n, dtype=int)
    active = np.asarray(msm.count_model.state_symbols, dtype=int)
    groups[active] = np.argmax(np.asarray(msm.pcca(2).memberships), axis=1)
    return groups


def transitions(space: StateSpace, learned: Learned, lag: int):
    """Which transitions the language model gets wrong: :func:`~mdlstm_utils.lm.diagnostics.transition_errors` of
    the generated against the reference labels at ``lag``, the sides of the slowest process as the groups
    (:func:`slow_groups`); ``None`` when the reference has too few transitions at that lag."""
    try:
        return transition_errors(list(space.trajs), list(learned.result.generated), space.n_states,
                                 slow_groups(space, lag), lag=lag, dt=space.dt)
    except ValueError as exc:
        print(f"warning: no transition comparison ({exc})")
        return None


def _transitions_text(te, n_states: int) -> str:
    if te is None:
        return "The reference has too few transitions at the lag to compare transition probabilities."
    head = (f"At the MSM lag the generated trajectories' slowest implied timescale is {te.timescale_gen:.3g} "
            f"against the reference's {te.timescale_ref:.3g}. Transitions across the slowest process are off by "
            f"{fmt(te.crossing_rel_err, '.0%')} (median), those within its sides by {fmt(te.within_rel_err, '.0%')}. ")
    if not np.isfinite(te.explained):
        return head + "The two timescales agree within 1 %: there is no error to explain."
    if n_states == 2:
        return head + ("With two states every transition crosses the slowest process, so these transitions "
                       "explain all of the error.")
    return head + (f"Taking only the transitions across the slowest process from the generated trajectories, and "
                   f"everything else from the reference, reproduces {te.explained:.0%} of the timescale error: "
                   + ("the error sits in the rare crossings." if te.explained >= 0.5 else
                      "most of the error comes from the transitions within the sides."))




# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------
@dataclass
class Partial:
    """The steps of an analysis up to a failure, for the report that explains it (:func:`write_report`): which
    step failed (``step``), why (``reason``), what to try (``advice``), and what was done before it."""

    inputs: Inputs
    profile: str
    choices: dict
    its: object | None
    notes: list
    reason: str
    seconds: dict = field(default_factory=dict)
    step: str = ""  # the step that failed, one of STEP_ADVICE's
    advice: str = ""
    self_checks: SelfChecks | None = None  # when the state space was formed before the failure
    dropped: tuple = ()  # indices of the trajectories left out (they never visit a core)

    def metrics(self) -> dict:
        summary = (f"The analysis stopped at the step '{self.step}': {self.reason.rstrip('.')}."
                   + (f" Try: {self.advice}." if self.advice else ""))
        return jsonable({
            "failed": self.reason, "failed_step": self.step, "advice": self.advice,
            "dt": float(self.inputs.dt), "dt_unit": self.inputs.dt_unit,
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "fallbacks": list(self.notes), "implied_timescales": _its_dict(self.its),
            "dropped": _dropped_dict(self.inputs, self.dropped),
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "profile": self.profile, "seconds": self.seconds,
            "self_checks": self.self_checks.to_dict() if self.self_checks is not None else {"passed": False},
            "verdict": {"summary": summary, "trust": False, "judged": False, "lm_met": None,
                        "targets": f"not judged: the analysis stopped at {self.step}"},
        })


def _dropped_dict(inputs: Inputs, dropped) -> dict:
    """The trajectories left out of the metastable labels (they never visit a core) and the frames they held."""
    frames = int(sum(len(inputs.data[i]) for i in dropped))
    return {"files": [inputs.sources[i] for i in dropped], "frames": frames,
            "share": frames / float(inputs.lengths.sum())}


def _stopped(done: Partial, exc: Exception) -> AnalysisFailed:
    """``exc``, raised in step ``done.step``, as an :class:`AnalysisFailed` whose ``partial`` is ``done`` with the
    reason and what to try: every failure past reading ends in a report that says which step failed and why.
    An error type other than ``ValueError`` is named in the reason (it may be a bug; the cause stays chained)."""
    if isinstance(exc, AnalysisFailed):
        done.reason, done.advice = str(exc), exc.advice or STEP_ADVICE.get(done.step, "")
    else:
        what = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
        done.reason = f"{what}{exc}"
        done.advice = STEP_ADVICE.get(done.step, "")
    return AnalysisFailed(done.reason, done, advice=done.advice)


def _its_dict(its) -> dict | None:
    if its is None:
        return None
    d = {"lags": (its.lags * its.dt).tolist(), "timescales": its.timescales.tolist()}
    if its.timescales_low is not None:
        d |= {"low": its.timescales_low.tolist(), "high": its.timescales_high.tolist()}
    return d


@dataclass
class States:
    """The state-space steps of :func:`run` (everything before the language model), with their self-checks."""

    choices: dict  # step name -> Choice
    reduction: Reduction | None
    micro: StateSpace
    kmeans: object | None
    its: object
    metastable: object
    dwell_scan: tuple
    space: StateSpace  # the metastable labels the model learns
    ck: object
    self_checks: SelfChecks
    notes: list  # alternatives taken by the rules, and why
    trials: list
    seconds: dict
    dropped: tuple  # indices of the trajectories left out of `space`: they never visit a core


@dataclass
class Analysis(States):
    """Everything :func:`run` computed: the state-space steps (:class:`States`, with ``seconds`` including the
    learning) and the language model on them; :meth:`metrics` is the JSON of ``metrics.json``."""

    inputs: Inputs
    profile: str
    model: str
    seed: int
    learned: Learned
    transitions: object = None  # diagnostics.TransitionErrors of the generated labels, or None
    memory: object = None  # memory.MemoryTest of the metastable labels, or the reason it could not run (str)

    def verdict(self) -> dict:
        """The verdict on the language model: its errors beside the MSM baseline's, the targets of the profile, and
        whether the state space's self-checks allow trusting them (``metrics.json``'s ``verdict``)."""
        lm, msm = self.learned.result.comparison, self.learned.result.baseline_comparison
        sl = self.learned.slowest
        tol = mfpt_tolerance(self.profile)
        with np.errstate(divide="ignore", invalid="ignore"):  # a state or a passage never seen: inf / nan, no warning
            rel_pop = {k: float(np.max(np.abs(c.set_pop_gen / c.set_pop_ref - 1))) for k, c in (("lm", lm), ("msm", msm))}
            rel_its = {k: float(abs(np.float64(sl[k][0]) / sl["reference"][0] - 1)) for k in ("lm", "msm")}
            ref_half = _finite_max((lm.mfpt_ref_high - lm.mfpt_ref_low) / (2 * lm.mfpt_ref))
        checks = self.self_checks
        verdict = {
            "tolerance": tol,
            "populations_target": 0.10,
            "lm_population_rel_err": rel_pop["lm"],
            "msm_population_rel_err": rel_pop["msm"],
            "lm_mfpt_rel_err": _finite_or_none(lm.mfpt_max_rel_err),
            "msm_mfpt_rel_err": _finite_or_none(msm.mfpt_max_rel_err),
            "lm_slowest_timescale_rel_err": rel_its["lm"],
            "msm_slowest_timescale_rel_err": rel_its["msm"],
            "reference_mfpt_rel_halfwidth": float(ref_half),
            "lm_mfpt_intervals_overlap": bool(lm.mfpt_overlap[~np.eye(len(lm.mfpt_ref), dtype=bool)].all()),
        }
        verdict["checks"] = {
            "populations within 10 %": bool(rel_pop["lm"] <= 0.10),
            f"MFPTs within {tol:.0%}": bool(np.isfinite(lm.mfpt_max_rel_err) and lm.mfpt_max_rel_err <= tol),
            f"slowest relaxation within {tol:.0%}": bool(np.isfinite(rel_its["lm"]) and rel_its["lm"] <= tol),
            "self-checks of the state space pass": bool(checks is not None and checks.passed),
        }
        # smoke trains far too briefly for a target to mean anything: not judged, as in the notebooks
        verdict["judged"] = self.profile != "smoke"
        verdict["targets"] = (profile_verdict(self.profile, verdict["checks"]) if verdict["judged"] else
                              "not judged: the smoke profile only checks that analyze runs")
        verdict["lm_met"] = all(verdict["checks"].values()) if verdict["judged"] else None
        verdict["trust"] = bool(checks is not None and checks.passed)
        verdict["failed_checks"] = [] if checks is None else [c.name for c in checks.failed]
        verdict["summary"] = _summary(verdict, self.model, checks)
        return verdict

    def metrics(self) -> dict:
        dt = self.inputs.dt
        res = self.learned.result
        lm, msm = res.comparison, res.baseline_comparison
        ld, bd = lm.to_dict(), msm.to_dict()  # JSON form: nested lists, None on the diagonal and for no event

        def three(ref_key, gen_key):
            return {"reference": ld[ref_key], "lm": ld[gen_key], "msm": bd[gen_key]}

        sl = self.learned.slowest
        checks = self.self_checks
        verdict = self.verdict()
        rec = res.learning
        return jsonable({
            "dt": float(dt), "dt_unit": self.inputs.dt_unit,
            "lag": float(self.choices["lag"].value * dt),
            "n_micro": int(self.micro.n_states), "n_macro": int(self.space.n_states),
            "min_dwell": float(self.choices["min_dwell"].value * dt),
            "set_names": list(self.space.set_names),
            "populations": three("set_pop_ref", "set_pop_gen"),
            "populations_low": three("set_pop_ref_low", "set_pop_gen_low"),
            "populations_high": three("set_pop_ref_high", "set_pop_gen_high"),
            "mfpt": three("mfpt_ref", "mfpt_gen"),
            "mfpt_low": three("mfpt_ref_low", "mfpt_gen_low"),
            "mfpt_high": three("mfpt_ref_high", "mfpt_gen_high"),
            "mfpt_events": three("mfpt_n_ref", "mfpt_n_gen"),
            "slowest_timescale": {k: v[0] for k, v in sl.items()},
            "slowest_timescale_low": {k: _finite_or_none(v[1]) for k, v in sl.items()},
            "slowest_timescale_high": {k: _finite_or_none(v[2]) for k, v in sl.items()},
            "verdict": verdict,
            "self_checks": checks.to_dict() if checks is not None else {"passed": False},
            "fallbacks": list(self.notes),
            "dropped": _dropped_dict(self.inputs, self.dropped),
            "implied_timescales": _its_dict(self.its),
            "learning": None if rec is None else rec.to_dict(),
            "transitions": None if self.transitions is None else
            self.transitions.to_dict() | {"summary": _transitions_text(self.transitions, self.space.n_states)},
            "memory": _memory_dict(self.memory),
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "model": self.model, "profile": self.profile, "seed": self.seed,
            "train_steps": res.metrics["train_steps"], "val_loss": res.metrics["val_loss"],
            "seconds": self.seconds,
        })


def history_test(space: StateSpace):
    """:func:`~mdlstm_utils.kinetics.memory.memory_test` of the metastable labels the model learns (orders 1-3): does their
    next state depend on more than the current one? Returns the reason as a string when the data cannot answer."""
    try:
        return memory_test(list(space.trajs), space.n_states, orders=(1, 2, 3))
    except ValueError as exc:
        return f"the memory test could not run on these labels: {exc}"


def _memory_dict(mt) -> dict:
    if mt is None or isinstance(mt, str):
        return {"history_matters": None, "sentence": mt or "not run"}
    return mt.to_dict()


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _finite_max(x) -> float:
    """The largest finite entry of ``x``, ``nan`` when none is (numpy's ``nanmax`` warns on an all-NaN array, and
    that warning reached the user on inputs without a single passage)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.max()) if x.size else float("nan")


def _summary(v: dict, model: str, checks: SelfChecks | None = None) -> str:
    name = model.upper() if model == "lstm" else model.capitalize()

    def pct(x):
        return "never made" if x is None or not np.isfinite(x) else f"{x:.0%}"

    better = (v["lm_mfpt_rel_err"] is not None and v["msm_mfpt_rel_err"] is not None
              and v["lm_mfpt_rel_err"] < v["msm_mfpt_rel_err"])
    text = (f"{name}: MFPTs within {pct(v['lm_mfpt_rel_err'])} of the reference (MSM baseline {pct(v['msm_mfpt_rel_err'])}, "
            f"reference's own 95 % half-width {pct(v['reference_mfpt_rel_halfwidth'])}); slowest relaxation "
            f"{pct(v['lm_slowest_timescale_rel_err'])} off (MSM {pct(v['msm_slowest_timescale_rel_err'])}); populations "
            f"{pct(v['lm_population_rel_err'])} (MSM {pct(v['msm_population_rel_err'])}). ")
    if not v.get("judged", True):
        state = ("the self-checks of the state space passed" if checks is not None and checks.passed else
                 "the self-checks of the state space failed (" + "; ".join(
                     [c.title for c in checks.failed] if checks is not None else ["none were run"]) + ")")
        return text + (f"Targets not judged: the smoke profile trains far too briefly for them to mean anything, it "
                       f"only checks that analyze runs ({state}); use --profile quick or full for a verdict.")
    if checks is None or not checks.passed:
        failed = [c.title for c in checks.failed] if checks is not None else ["none were run"]
        return text + (f"Do not trust this: the self-checks of the state space failed ({'; '.join(failed)}), so the "
                       "reference kinetics the model is compared with may themselves be wrong. Targets not judged; "
                       "see the self-checks for what it means and what to try.")
    return text + (f"{'Targets met' if v['lm_met'] else 'Targets not met'} (populations <= 10 %, kinetics <= "
                   f"{v['tolerance']:.0%}; the state space passed its self-checks); the language model is "
                   f"{'closer than' if better else 'no closer than'} the MSM baseline on MFPTs.")


def _check_overrides(inputs: Inputs, **given) -> None:
    """Refuse impossible overrides before any long step (a lag longer than every trajectory, ...)."""
    longest = int(inputs.lengths.max())
    for name in ("tica_lag", "lag", "min_dwell", "n_micro", "n_macro", "tica_dim", "seq_len"):
        v = given.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
        if name in ("tica_lag", "lag") and v >= longest:
            raise ValueError(f"{name}={v} frames: every trajectory is shorter (the longest has {longest} frames)")
    if inputs.kind == "labels" and given.get("tica_lag") is not None:
        raise ValueError("tica_lag applies to features; the inputs are labels")
    th = given.get("core_threshold")
    if th is not None and not 0.5 < th < 1:
        raise ValueError(f"core_threshold={th} must be in (0.5, 1): above 0.5 so that a microstate is in at most "
                         "one core, below 1 so that a core can hold any microstate")


def _print_choice(name: str, c: Choice) -> None:
    print(f"  {name:<16} {c.value!s:>8}   ({c.rule})")


def build_states(inputs: Inputs, *, profile: str = "quick", seed: int = 0, device="auto", tica_lag=None,
                 tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None) -> States:
    """The steps of :func:`run` up to the metastable labels, each choice printed, and the self-checks.

    A bad profile or override is refused first (``ValueError``). A step that fails after that, for any reason,
    raises :class:`AnalysisFailed` whose ``partial`` (:class:`Partial`) holds the steps so far, the step that
    failed, why, and what to try: the report of an analysis that stopped (:func:`write_report`).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    _check_overrides(inputs, tica_lag=tica_lag, lag=lag, min_dwell=min_dwell, n_micro=n_micro, n_macro=n_macro,
                     tica_dim=tica_dim, core_threshold=core_threshold)
    seed_everything(seed)
    done = Partial(inputs, profile, {}, None, [], "")
    try:
        return _states(inputs, done, PROFILES[profile], seed=seed, device=device, tica_lag=tica_lag,
                       tica_dim=tica_dim, n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold,
                       min_dwell=min_dwell)
    except Exception as exc:
        raise _stopped(done, exc) from exc


def _states(inputs: Inputs, done: Partial, cfg: dict, *, seed, device, tica_lag, tica_dim, n_micro, lag, n_macro,
            core_threshold, min_dwell) -> States:
    """:func:`build_states`' steps in order; ``done`` records each step as it starts and each choice as it is
    made, so that a failure anywhere reports what was done before it."""
    choices, seconds = done.choices, done.seconds
    t = time.perf_counter()
    print(inputs.describe())
    red = km = None
    if inputs.kind == "labels":
        done.step = "microstates (the given labels)"
        micro = from_labels(inputs.data, dt=inputs.dt, dt_unit=inputs.dt_unit, kind="micro")
        choices["n_micro"] = Choice(micro.n_states, "the given labels")
    else:
        done.step = "features (TICA)"
        red = reduce_features(inputs.data, lag=tica_lag, dim=tica_dim)
        choices["tica_lag"], choices["tica_dim"] = red.lag, red.dim
        done.step = "microstates (k-means)"
        micro, km, choices["n_micro"] = cluster(red.tics, inputs.dt, inputs.dt_unit, n_micro=n_micro,
                                                max_micro=cfg["max_micro"], seed=seed, device=device)
    seconds["states"] = time.perf_counter() - t
    done.step = "implied timescales and the MSM lag"
    its, choices["lag"] = choose_lag(micro, lag=lag, n_lags=cfg["n_lags"], n_samples=cfg["its_samples"], seed=seed)
    done.its = its
    done.step = "metastable states"
    choices["n_macro"] = choose_n_macro(its, choices["lag"].value, n_macro=n_macro)
    sc = find_metastable(micro, its, choices["lag"], choices["n_macro"], core_threshold=core_threshold,
                         min_dwell=min_dwell)
    done.notes, done.dropped = list(sc.notes), sc.dropped
    for note in sc.notes:
        print(f"note: {note}")
    choices |= sc.choices
    done.step = "self-checks"
    tau, ms, space = choices["lag"].value, sc.metastable, sc.space
    checks = SelfChecks([
        check_its(its, tau, given=choices["lag"].rule == "given"),
        check_relaxation(slowest_relaxation(space.trajs, space.n_states, space.dt), msm_slowest(its, tau), space.n_states),
        check_cores(micro, ms),
        check_populations(space, ms),
    ])
    # the CK test's lag: 5 multiples of it reach the slowest timescale (the chosen lag if that is longer)
    slowest = timescales_at(its, tau)[0] / micro.dt
    ck_lag = int(max(tau, min(round(slowest / 4), int(micro.lengths.max()) // 10))) if np.isfinite(slowest) else tau
    ck = lagmod.ck_test(list(micro.trajs), ck_lag, ms.n_macro, n_states=micro.n_states, dt=micro.dt)
    seconds["msm"] = time.perf_counter() - t - seconds["states"]
    print("choices (override any of them; see --help):")
    for k, c in choices.items():
        _print_choice(k, c)
    print("self-checks of the state space:")
    for c in checks.checks:
        print(f"  {'pass' if c.passed else 'FAIL'}  {c.title}: {c.finding}")
    return States(choices, red, micro, km, its, ms, sc.dwell_scan, space, ck, checks, sc.notes, sc.trials, seconds,
                  sc.dropped)


def run(inputs: Inputs, *, profile: str = "quick", model: str = "lstm", seed: int = 0, device="auto",
        tica_lag=None, tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
        seq_len=None, progress: bool = True) -> Analysis:
    """The whole method on read inputs (:func:`read_inputs`); each step's choice is printed.

    Inputs too short for the model's training windows are refused before any work (:func:`check_length`,
    ``ValueError``). Then :func:`build_states`, the language model on the metastable labels (:func:`learn`, with
    ``seq_len`` frames per training window, default the profile's), the transitions it gets wrong and the memory
    test. A step that fails raises :class:`AnalysisFailed` with the steps so far in ``partial`` (:class:`Partial`:
    which step, why, what to try), so that the caller can still write a report.
    """
    check_length(inputs, profile=profile, seq_len=seq_len)
    st = build_states(inputs, profile=profile, seed=seed, device=device, tica_lag=tica_lag, tica_dim=tica_dim,
                      n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold, min_dwell=min_dwell)
    done = Partial(inputs, profile, st.choices, st.its, list(st.notes), "", dict(st.seconds),
                   self_checks=st.self_checks, dropped=st.dropped)
    try:
        return _model_steps(st, done, model=model, seed=seed, device=device, seq_len=seq_len, progress=progress)
    except Exception as exc:
        raise _stopped(done, exc) from exc


def _model_steps(st: States, done: Partial, *, model: str, seed: int, device, seq_len, progress: bool) -> Analysis:
    """:func:`run`'s steps after the state space, recorded in ``done`` as they start (see :func:`_states`)."""
    tau = st.choices["lag"].value
    done.step = "language model"
    t_learn = time.perf_counter()
    learned = learn(st.space, tau, model=model, profile=done.profile, seed=seed, device=device, seq_len=seq_len,
                    progress=progress)
    done.seconds["learn"] = time.perf_counter() - t_learn
    done.step = "transitions and memory"
    te = transitions(st.space, learned, tau)
    mt = history_test(st.space)
    print("memory:", mt if isinstance(mt, str) else mt.sentence)
    steps = {f.name: getattr(st, f.name) for f in fields(States)} | {"seconds": done.seconds}
    a = Analysis(**steps, inputs=done.inputs, profile=done.profile, model=model, seed=seed, learned=learned,
                 transitions=te, memory=mt)
    done.step = "verdict"
    print(a.metrics()["verdict"]["summary"])
    return a



# ---------------------------------------------------------------------------------------------
# Report files
# ---------------------------------------------------------------------------------------------
def write_report(a: Analysis | Partial, out) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out``; both appear only when both are complete.

    ``a``: a finished :class:`Analysis`, or the :class:`Partial` steps of one that stopped
    (:attr:`AnalysisFailed.partial`), whose report says why, with the choices and the implied timescales.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = a.metrics()
    page = partial_report_html(a) if isinstance(a, Partial) else report_html(a, m)
    metrics = json.dumps(m, indent=1, allow_nan=False, default=float)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        (Path(tmp) / "report.html").write_text(page, encoding="utf-8")
        (Path(tmp) / "metrics.json").write_text(metrics, encoding="utf-8")
        for name in ("metrics.json", "report.html"):
            os.replace(Path(tmp) / name, out / name)
    return out / "report.html"
