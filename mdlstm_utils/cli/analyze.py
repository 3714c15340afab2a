"""``mdlstm analyze``: the suite's whole method on your own trajectories, features or labels.

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
``OUT/metrics.json``; times are in the unit of ``--dt``. When no state space can
be formed, it writes the report of the steps so far and exits with status 2. Bad input is refused
before any long step, with a message that names the file and the problem, and
nothing is written to ``OUT`` until the analysis has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.lm.diagnostics import transition_errors
from mdlstm_utils.kinetics.memory import memory_test
from mdlstm_utils.runtime import fmt, jsonable, mfpt_tolerance, seed_everything
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
__all__ = ["PROFILES", "Analysis", "Partial", "States", "build_states", "learn", "slow_groups", "transitions",
           "run", "write_report", "main"]

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


def learn(space: StateSpace, lag: int, *, model: str = "lstm", profile: str = "quick", seed: int = 0, device="auto",
          progress: bool = True) -> Learned:
    """Train ``model`` on the metastable labels, generate like the reference, sample the MSM at ``lag``; compare."""
    cfg = PROFILES[profile]
    prompt = int(min(100, max(1, space.lengths.min() // 10)))
    res = learn_and_compare(space, model=model, prompt_len=prompt, train=cfg["train"], hidden=cfg["hidden"],
                            baseline_lag=lag, seed=seed, device=device, progress=progress)
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
    """The steps of an analysis up to a failure, for the report that explains it (:func:`write_partial_report`)."""

    inputs: Inputs
    profile: str
    choices: dict
    its: object | None
    notes: list
    reason: str
    seconds: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        return jsonable({
            "failed": self.reason, "dt": float(self.inputs.dt), "dt_unit": self.inputs.dt_unit,
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "fallbacks": list(self.notes), "implied_timescales": _its_dict(self.its),
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "profile": self.profile, "seconds": self.seconds,
            "self_checks": {"passed": False},
        })


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
        rel_pop = {k: float(np.max(np.abs(c.set_pop_gen / c.set_pop_ref - 1))) for k, c in (("lm", lm), ("msm", msm))}
        rel_its = {k: abs(sl[k][0] / sl["reference"][0] - 1) for k in ("lm", "msm")}
        ref_half = np.nanmax((lm.mfpt_ref_high - lm.mfpt_ref_low) / (2 * lm.mfpt_ref))
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
        verdict["lm_met"] = all(verdict["checks"].values())
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
    for name in ("tica_lag", "lag", "min_dwell", "n_micro", "n_macro", "tica_dim"):
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

    Raises :class:`AnalysisFailed` (with the steps so far in ``partial``) when no state space can be formed.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    cfg = PROFILES[profile]
    _check_overrides(inputs, tica_lag=tica_lag, lag=lag, min_dwell=min_dwell, n_micro=n_micro, n_macro=n_macro,
                     tica_dim=tica_dim, core_threshold=core_threshold)
    seed_everything(seed)
    choices: dict = {}
    seconds: dict = {}
    t = time.perf_counter()
    print(inputs.describe())
    red = km = None
    if inputs.kind == "labels":
        micro = from_labels(inputs.data, dt=inputs.dt, dt_unit=inputs.dt_unit, kind="micro")
        choices["n_micro"] = Choice(micro.n_states, "the given labels")
    else:
        red = reduce_features(inputs.data, lag=tica_lag, dim=tica_dim)
        choices["tica_lag"], choices["tica_dim"] = red.lag, red.dim
        micro, km, choices["n_micro"] = cluster(red.tics, inputs.dt, inputs.dt_unit, n_micro=n_micro,
                                                max_micro=cfg["max_micro"], seed=seed, device=device)
    seconds["states"] = time.perf_counter() - t
    its, lag_c = choose_lag(micro, lag=lag, n_lags=cfg["n_lags"], n_samples=cfg["its_samples"], seed=seed)
    nm = choose_n_macro(its, lag_c.value, n_macro=n_macro)
    try:
        sc = find_metastable(micro, its, lag_c, nm, core_threshold=core_threshold, min_dwell=min_dwell)
    except AnalysisFailed as exc:
        choices |= {"lag": lag_c, "n_macro": nm}
        seconds["msm"] = time.perf_counter() - t - seconds["states"]
        exc.partial = Partial(inputs, profile, choices, its, [], str(exc), seconds)
        raise
    for note in sc.notes:
        print(f"note: {note}")
    choices |= sc.choices
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
    return States(choices, red, micro, km, its, ms, sc.dwell_scan, space, ck, checks, sc.notes, sc.trials, seconds)


def run(inputs: Inputs, *, profile: str = "quick", model: str = "lstm", seed: int = 0, device="auto",
        tica_lag=None, tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
        progress: bool = True) -> Analysis:
    """The whole method on read inputs (:func:`read_inputs`); each step's choice is printed.

    :func:`build_states` (raises :class:`AnalysisFailed` with the steps so far when no state space forms), then
    the language model on the metastable labels (:func:`learn`) and the transitions it gets wrong.
    """
    st = build_states(inputs, profile=profile, seed=seed, device=device, tica_lag=tica_lag, tica_dim=tica_dim,
                      n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold, min_dwell=min_dwell)
    tau = st.choices["lag"].value
    seconds = dict(st.seconds)
    t_learn = time.perf_counter()
    learned = learn(st.space, tau, model=model, profile=profile, seed=seed, device=device, progress=progress)
    seconds["learn"] = time.perf_counter() - t_learn
    te = transitions(st.space, learned, tau)
    mt = history_test(st.space)
    print("memory:", mt if isinstance(mt, str) else mt.sentence)
    steps = {f.name: getattr(st, f.name) for f in fields(States)} | {"seconds": seconds}
    a = Analysis(**steps, inputs=inputs, profile=profile, model=model, seed=seed, learned=learned, transitions=te,
                 memory=mt)
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



# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mdlstm analyze",
        description="Learn the kinetics of your own trajectories with a language model, beside an MSM baseline; "
                    "writes OUT/report.html and OUT/metrics.json.",
        epilog="Example: mdlstm analyze run1.xtc run2.xtc --top system.pdb --dt 1ps --out report/")
    p.add_argument("inputs", nargs="+", help="trajectory files (xtc, dcd, h5, nc, trr, pdb), .npy/.npz feature arrays, "
                                             "or label arrays with --labels")
    p.add_argument("--top", help="topology for trajectory files (default: topology.pdb beside each file)")
    p.add_argument("--features", default="torsions", choices=("torsions", "distances", "contacts"),
                   help="features of trajectory files: sin/cos of backbone and chi1 torsions, heavy-atom distances, "
                        "or C-alpha contacts (default: torsions)")
    p.add_argument("--labels", action="store_true", help="the inputs are already discretized state labels")
    p.add_argument("--dt", default="1", help="time between frames with an optional unit: 1ps, 0.05, 2ns (default: 1)")
    p.add_argument("--out", required=True, help="folder for report.html and metrics.json")
    p.add_argument("--model", default="lstm", choices=("lstm", "transformer"))
    p.add_argument("--profile", default="quick", choices=tuple(PROFILES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    g = p.add_argument_group("override a rule")
    g.add_argument("--tica-lag", type=int, help="TICA lag in frames")
    g.add_argument("--tica-dim", type=int, help="TICA dimensions kept")
    g.add_argument("--n-micro", type=int, help="k-means microstates")
    g.add_argument("--lag", type=int, help="MSM lag in frames")
    g.add_argument("--n-macro", type=int, help="metastable states")
    g.add_argument("--core-threshold", type=float, help="PCCA+ membership of a core microstate, in (0.5, 1)")
    g.add_argument("--min-dwell", type=int, help="dynamical coring: minimum dwell in frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _dt_value_joined(argv: list[str]) -> list[str]:
    """``--dt -1ps`` as ``--dt=-1ps``, so that a negative interval reaches the check of ``--dt``.

    argparse takes a value that starts with ``-`` and is not a plain number (``-1ps``, ``-0.5 ns``) for an
    option and answers "expected one argument"; joined to ``--dt`` it is read as its value, and
    :func:`read_inputs` then says that the time between frames must be > 0.
    """
    out, rest = [], list(argv)
    while rest:
        a = rest.pop(0)
        if a == "--":  # what follows is positional: left as it is
            return out + [a] + rest
        if a == "--dt" and rest and len(rest[0]) > 1 and rest[0][0] == "-" and rest[0][1] in "0123456789.":
            a = f"--dt={rest.pop(0)}"
        out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(_dt_value_joined(argv))
    try:
        inputs = read_inputs(args.inputs, top=args.top, features=args.features, labels=args.labels, dt=args.dt,
                             max_frames=PROFILES[args.profile]["max_frames"])
        a = run(inputs, profile=args.profile, model=args.model, seed=args.seed, device=args.device,
                tica_lag=args.tica_lag, tica_dim=args.tica_dim, n_micro=args.n_micro, lag=args.lag,
                n_macro=args.n_macro, core_threshold=args.core_threshold, min_dwell=args.min_dwell,
                progress=not args.no_progress)
    except AnalysisFailed as exc:
        print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
        if exc.partial is not None:
            path = write_report(exc.partial, args.out)
            print(f"wrote the steps so far to {path} and {path.parent / 'metrics.json'}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
        return 2
    path = write_report(a, args.out)
    print(f"wrote {path} and {path.parent / 'metrics.json'}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """The ``mdlstm`` console script: ``mdlstm analyze ...``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mdlstm analyze INPUT... --out OUT [options]\n\n"
              "commands:\n  analyze   the suite's method on your own trajectories (mdlstm analyze --help)")
        return 0 if argv else 2
    if argv[0] != "analyze":
        print(f"mdlstm: unknown command {argv[0]!r}; the command is 'analyze'", file=sys.stderr)
        return 2
    return main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
