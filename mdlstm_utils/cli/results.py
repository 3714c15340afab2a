"""What ``mdlstm analyze`` found, typed: the state-space steps (:class:`States`), the whole analysis
(:class:`Analysis`, with the language model's :class:`Learned`), or the steps up to a failure (:class:`Partial`),
each with the JSON of its ``metrics.json``; and the files a report saves beside it (:data:`OUTPUT_FILES`).

The pipeline that computes them is :mod:`~mdlstm_utils.cli.method`; the page that renders them is
:mod:`~mdlstm_utils.cli.report`. Both import these types from here, so neither imports the other's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mdlstm_utils.runtime import fmt, jsonable, mfpt_tolerance, verdict as profile_verdict
from mdlstm_utils.states import StateSpace
from mdlstm_utils.states.rules import Reduction

from mdlstm_utils.cli.checks import SelfChecks
from mdlstm_utils.cli.inputs import Inputs

__all__ = ["OUTPUT_FILES", "Learned", "States", "Analysis", "Partial"]


@dataclass
class Learned:
    """The language model's and the MSM baseline's trajectories and their comparison with the reference."""

    result: object  # experiment.LearnResult
    slowest: dict  # "reference" / "lm" / "msm" -> (value, low, high): slowest relaxation time, in time units


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
    states: object = None  # the States, when the state space was formed before the failure (states.npz)
    seed: int = 0

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
            "outputs": {"states.npz": OUTPUT_FILES["states.npz"]} if self.states is not None else {},
        })


def _dropped_dict(inputs: Inputs, dropped) -> dict:
    """The trajectories left out of the metastable labels (they never visit a core) and the frames they held."""
    frames = int(sum(len(inputs.data[i]) for i in dropped))
    return {"files": [inputs.sources[i] for i in dropped], "frames": frames,
            "share": frames / float(inputs.lengths.sum())}


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
    seq_len: int | None = None  # frames per training window of the model

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
            "unseen": None if res.unseen is None else res.unseen.to_dict() | {"summary": res.unseen.summary()},
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "model": self.model, "profile": self.profile, "seed": self.seed,
            "train_steps": res.metrics["train_steps"], "val_loss": res.metrics["val_loss"],
            "evaluation": res.metrics["evaluation"] | {"description": res.split.describe()},
            "keep_states": self.metastable is None,
            "outputs": dict(OUTPUT_FILES),
            "seconds": self.seconds,
        })


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


#: The files :func:`write_report` saves beside ``report.html`` and ``metrics.json``, and what each holds (listed
#: in both, with :func:`~mdlstm_utils.cli.report.load_example`).
OUTPUT_FILES = {
    "states.npz": "the state assignment per frame of each input trajectory i (in the order of the inputs, from the "
                  "frames read): states_<i> the labels the model learned (-1 throughout for a trajectory left out), "
                  "micro_<i> the microstates (with --labels, your labels renumbered 0..n-1; original_labels maps "
                  "them back), part_<i> 1 where the frame was in the training part, 2 in the test part; sources, "
                  "set_names, dt, dt_unit",
    "generated.npz": "the trajectories the language model generated, lm_<j> (as many and as long as the test "
                     "trajectories, labels as in states_<i>), and those of the MSM baseline, msm_<j> (one frame per "
                     "MSM lag: msm_dt); set_names, dt, dt_unit",
    "model.pt": "the trained language model (mdlstm_utils.lm.train.save_checkpoint): load_model rebuilds it, reading "
                "the file with torch.load(weights_only=True); the file also holds n_states, set_names, dt, dt_unit, "
                "lag and seq_len",
}
