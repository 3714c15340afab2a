"""The report of ``mdlstm analyze``: its figures, each with how to read it, and the offline HTML page.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

import numpy as np

from mdlstm_utils.report import plots
from mdlstm_utils.runtime import fmt
from mdlstm_utils.cli.checks import SelfChecks

if TYPE_CHECKING:  # types of the annotations only: the method's module imports this one
    from mdlstm_utils.cli.method import Analysis, Partial

__all__ = ["FIGURE_NAMES", "HOW_TO_READ", "figure", "figures", "report_html", "partial_report_html"]



# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
FIGURE_NAMES = ("implied timescales", "free energy", "CK test", "populations and kinetics", "learning and transitions",
                "state trajectories")


def _its_figure(its, lag: int, unit: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    plots.plot_implied_timescales(its, lag=lag, dt_unit=unit, ax=ax)  # with the Bayesian intervals as bands
    ax.set_xscale("log")
    ax.set_title("microstate MSM: implied timescales")
    return fig


def figure(a: Analysis, name: str):
    """One of the report's figures (:data:`FIGURE_NAMES`) as a matplotlib Figure; ``None`` where it does not apply
    (no free-energy map for label inputs). :data:`HOW_TO_READ` says how to read it."""
    import matplotlib.pyplot as plt

    unit = a.space.dt_unit or "time units"
    res = a.learned.result
    if name == "implied timescales":
        return _its_figure(a.its, a.choices["lag"].value, unit)
    if name == "learning and transitions":
        if res.learning is None and a.transitions is None:
            return None
        fig, axs = plt.subplots(1, 2, figsize=(10, 3.8))
        if res.learning is not None:
            plots.plot_learning(res.learning, ax=axs[0])
            err = abs(a.learned.slowest["lm"][0] / a.learned.slowest["reference"][0] - 1)
            axs[0].set_title(f"learning; slow-process error {fmt(err, '.0%')} (slowest relaxation)", fontsize=9, loc="left")
        else:
            axs[0].set_axis_off()
        if a.transitions is not None:
            plots.plot_transition_errors(a.transitions, ax=axs[1])
        else:
            axs[1].set_axis_off()
        fig.tight_layout()
        return fig
    if name == "free energy":
        if a.reduction is None or a.reduction.tics[0].shape[1] < 2:
            return None
        fig, ax = plt.subplots(figsize=(5.2, 4.0))
        plots.plot_fes_2d(np.concatenate([x[:, :2] for x in a.reduction.tics]), ax=ax,
                          title="free energy on the first two TICs, metastable cores")
        centers = np.asarray(a.kmeans.centers)[:, :2]
        for k in range(a.metastable.n_macro):
            sel = a.metastable.cores == k
            ax.scatter(centers[sel, 0], centers[sel, 1], s=14, color=f"C{k + 1}", edgecolor="white", lw=0.4,
                       label=a.space.set_names[k])
        ax.set_xlabel("TIC 1")
        ax.set_ylabel("TIC 2")
        ax.legend(frameon=True, fontsize=8, loc="best", title="cores")
        return fig
    if name == "CK test":
        axes = plots.plot_ck_test(a.ck, dt_unit=unit)
        lag_t = a.ck.lags[1] * a.ck.dt
        axes[0, 0].figure.suptitle(f"Chapman–Kolmogorov test of the microstate MSM at {lag_t:g} {unit} on the "
                                   "metastable sets", fontsize=9)
        return axes[0, 0].figure
    if name == "populations and kinetics":
        fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
        sl = a.learned.slowest
        plots.plot_kinetics_comparison({a.model.upper(): res.comparison, "MSM": res.baseline_comparison},
                                       {"reference": sl["reference"], a.model.upper(): sl["lm"], "MSM": sl["msm"]},
                                       axes=axs, dt_unit=unit)
        fig.tight_layout()
        return fig
    if name == "state trajectories":
        gen = res.generated[0]
        series = {"reference (trajectory 1)": a.space.trajs[0][: len(gen)], f"generated ({a.model.upper()})": gen}
        axes = plots.plot_trajectories(series, dt=a.space.dt, dt_unit=unit, ylabel="state")
        for ax in axes:
            ax.set_yticks(range(a.space.n_states), a.space.set_names)
        return axes[0].figure
    raise ValueError(f"unknown figure {name!r}; choose one of {FIGURE_NAMES}")


def figures(a: Analysis, failed: list | None = None) -> dict:
    """The report's figures that apply to this analysis, ``{name: Figure}``.

    A figure that cannot be drawn (an estimate without a finite value, ...) is left out rather than lose the
    whole report; ``failed``, when given, collects ``"name: why"`` for each, so that the page can say so."""
    out = {}
    for n in FIGURE_NAMES:
        try:
            f = figure(a, n)
        except Exception as exc:  # noqa: BLE001 - any plotting error costs one figure, never the report
            if failed is not None:
                failed.append(f"{n}: {type(exc).__name__}: {exc}")
            continue
        if f is not None:
            out[n] = f
    return out


HOW_TO_READ = {
    "implied timescales": "Each curve is one relaxation process of the microstate MSM, the bands its 95 % intervals "
                          "(Bayesian MSM). Where the slowest curves are flat, the MSM is Markovian at that lag; the "
                          "dashed line is the lag chosen. Timescales in the grey area are faster than the lag and not "
                          "resolved.",
    "free energy": "Free energy of the frames on the first two TICA components (the slowest directions). The dots are "
                   "microstates in a metastable core; each colour is one metastable state.",
    "CK test": "Each panel: the probability to be in set j after a time t when starting in set i. Black: estimated "
               "at each multiple of the lag; red: predicted by the MSM at the lag. They agree within noise when the "
               "partition is Markovian.",
    "populations and kinetics": "Left: population of each metastable state; middle: mean first-passage times between "
                                "them (log scale); right: the slowest relaxation time (from the rates between the states). Grey is the reference, the "
                                "bars beside it the language model and the MSM baseline, all with 95 % intervals. A "
                                "good model's bars overlap the reference's intervals.",
    "learning and transitions": "Left: the language model's training and validation loss against optimizer steps, "
                                "the dashed line a lag-1 MSM's validation loss on the same held-out frames; the "
                                "title gives the slow-process error. A model can beat the MSM on the loss and still "
                                "miss the slow process: rare transitions weigh little in the loss. Right: each "
                                "transition's probability at the MSM lag, generated against reference (log-log); "
                                "red: transitions across the slowest process. Points off the diagonal are the "
                                "transitions the model gets wrong.",
    "state trajectories": "The first reference trajectory and one generated trajectory of the same length, as "
                          "metastable states: the model should switch as rarely as the reference does.",
}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mfpt_table(m: dict, unit: str) -> str:
    names = m["set_names"]
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            cells = []
            for k in ("reference", "lm", "msm"):
                v, lo, hi = m["mfpt"][k][i][j], m["mfpt_low"][k][i][j], m["mfpt_high"][k][i][j]
                cells.append("never" if v is None else f"{v:.4g} [{fmt(lo, '.4g')}, {fmt(hi, '.4g')}]")
            rows.append(f"<tr><td>{html.escape(a)} → {html.escape(b)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table><tr><th>MFPT ({html.escape(unit)})</th><th>reference</th><th>{m['model'].upper()}</th><th>MSM</th></tr>"
            + "".join(rows) + "</table>")


_STYLE = """<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
img{max-width:100%}.verdict{background:#f3f6fa;border-left:4px solid #3b6ea5;padding:.5rem 1rem}.read{color:#555}
.fail{background:#fbeeee;border-left:4px solid #b03030;padding:.5rem 1rem}td.FAIL{color:#b03030;font-weight:bold}</style>"""


def _choices_html(choices: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(c.value))}</td><td>{html.escape(c.rule)}</td></tr>"
                   for k, c in choices.items())
    return (f"<h2>Choices</h2><p>Each step's setting and the rule that chose it; override any with the options of "
            f"<code>mdlstm analyze</code>.</p><table><tr><th>step</th><th>value</th><th>rule</th></tr>{rows}</table>")


def _notes_html(notes: list) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"<h3>Alternatives the rules took</h3><ul>{items}</ul>"


def _dropped_html(dropped: dict | None) -> str:
    """The line that says which trajectories were left out (they never visit a core) and what that cost."""
    if not dropped or not dropped["files"]:
        return ""
    files = ", ".join(dropped["files"][:10]) + (" ..." if len(dropped["files"]) > 10 else "")
    return (f"<p class='fail'>{len(dropped['files'])} trajectories never visit a metastable core and were left out "
            f"of the labels the model learns: {dropped['frames']} frames, {dropped['share']:.1%} of all "
            f"({html.escape(files)}). A trajectory that stays in the transition region (or outside the states the "
            "MSM connects) carries no transition between the states.</p>")


def _checks_html(checks: SelfChecks | None) -> str:
    if checks is None:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(c.title)}</td><td class='{'pass' if c.passed else 'FAIL'}'>"
        f"{'pass' if c.passed else 'FAIL'}</td><td>{html.escape(c.finding)}"
        + (f"<br><b>What it means:</b> {html.escape(c.meaning)}<br><b>Try:</b> {html.escape(c.advice)}"
           if not c.passed else "") + "</td></tr>" for c in checks.checks)
    return ("<h2>Self-checks of the state space</h2><p>What the data alone say about the metastable states the model "
            "learned, before any model: the verdict on the model counts only when all pass.</p>"
            f"<table><tr><th>check</th><th></th><th>finding</th></tr>{rows}</table>")


def _learning_html(m: dict) -> str:
    rec, te = m.get("learning"), m.get("transitions")
    parts = []
    if rec is not None:
        gap = rec["loss_gap"]
        err = m["verdict"]["lm_slowest_timescale_rel_err"]
        parts.append(
            f"Validation loss {rec['val_loss']:.4g} nats per frame, a lag-1 MSM's on the same held-out frames "
            f"{rec['msm_val_loss']:.4g} (gap {gap:+.3g}: the model predicts the next state "
            f"{'better' if gap < 0 else 'no better'} than the MSM), beside a slow-process error of {fmt(err, '.0%')}. "
            "The loss weighs every frame alike, and the rare transitions that make the slow process are few: a "
            "small loss gap says little about the slow kinetics.")
    if te is not None:
        parts.append(te["summary"])
    mem = m.get("memory") or {}
    if mem.get("sentence"):
        nums = (f" (order {mem['order']} chain against the first-order one on held-out frames: gain "
                f"{mem['gain']:.3g} nats per frame, 95 % interval {mem['gain_low']:.3g} to {mem['gain_high']:.3g})"
                if mem.get("history_matters") is not None else "")
        parts.append(f"Memory: {mem['sentence']}{nums}")
    if not parts:
        return ""
    return "<h2>Learning and the transitions it gets wrong</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in parts)


def report_html(a: Analysis, m: dict | None = None) -> str:
    """The report as one self-contained HTML page (figures embedded as PNG); ``m``: ``a.metrics()`` if computed."""
    m = a.metrics() if m is None else m
    unit = a.space.dt_unit or "time units"
    pops = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{m['populations'][k][i]:.3f} [{m['populations_low'][k][i]:.3f}, {m['populations_high'][k][i]:.3f}]</td>"
            for k in ("reference", "lm", "msm")) + "</tr>" for i, n in enumerate(m["set_names"]))
    slow = "".join(f"<td>{fmt(m['slowest_timescale'][k], '.4g')} [{fmt(m['slowest_timescale_low'][k], '.4g')}, "
                   f"{fmt(m['slowest_timescale_high'][k], '.4g')}]</td>" for k in ("reference", "lm", "msm"))
    missing: list = []
    figs = "".join(f"<h3>{html.escape(t)}</h3><img src='data:image/png;base64,{_png(f)}' alt='{html.escape(t)}'>"
                   f"<p class='read'>{html.escape(HOW_TO_READ.get(t, ''))}</p>" for t, f in figures(a, missing).items())
    figs += "".join(f"<p class='read'>Figure not drawn: {html.escape(w)}</p>" for w in missing)
    model = m["model"].upper()
    box = "verdict" if m["verdict"]["trust"] else "fail"
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mdlstm analyze report</title>
{_STYLE}
</head><body><h1>Kinetics report</h1>
<p>{html.escape(a.inputs.describe())}. Profile <code>{a.profile}</code>, model {model}, seed {a.seed}.</p>
<div class="{box}"><p>{html.escape(m['verdict']['summary'])}</p></div>
{_checks_html(a.self_checks)}
{_choices_html(a.choices)}{_notes_html(a.notes)}{_dropped_html(m.get("dropped"))}
<p>Times in {html.escape(unit)} (dt = {a.inputs.dt:g}); the MSM lag is {m['lag']:g} {html.escape(unit)}, the minimum dwell {m['min_dwell']:g} {html.escape(unit)}.</p>
<h2>Populations (95 % intervals)</h2><table><tr><th>state</th><th>reference</th><th>{model}</th><th>MSM</th></tr>{pops}</table>
<h2>Mean first-passage times (95 % intervals)</h2>{_mfpt_table(m, unit)}
<h2>Slowest relaxation time ({html.escape(unit)}, 95 % intervals, from the rates between the states)</h2>
<table><tr><th>reference</th><th>{model}</th><th>MSM</th></tr><tr>{slow}</tr></table>
{_learning_html(m)}
<h2>Figures</h2>{figs}
<p class="read">Written by mdlstm_utils.cli.analyze. The reference is your data; the language model and the MSM baseline
(sampled at the same lag) generated as many trajectories of the same lengths.</p></body></html>"""


def partial_report_html(p: Partial) -> str:
    """The report of an analysis that stopped (:class:`Partial`): which step failed, why, what to try, the
    choices so far, the self-checks when the state space was formed, and the implied timescales."""
    fig = ""
    if p.its is not None and "lag" in p.choices:
        try:
            fig = (f"<h3>implied timescales</h3><img src='data:image/png;base64,"
                   f"{_png(_its_figure(p.its, p.choices['lag'].value, p.inputs.dt_unit))}' alt='implied timescales'>"
                   f"<p class='read'>{html.escape(HOW_TO_READ['implied timescales'])}</p>")
        except Exception as exc:  # noqa: BLE001 - the page that explains a failure must not fail on its figure
            fig = f"<p class='read'>Figure not drawn: implied timescales: {html.escape(str(exc))}</p>"
    advice = f"<p><b>Try:</b> {html.escape(p.advice)}.</p>" if p.advice else ""
    m = p.metrics()
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mdlstm analyze report (stopped)</title>
{_STYLE}
</head><body><h1>Kinetics report: the analysis stopped</h1>
<p>{html.escape(p.inputs.describe())}. Profile <code>{p.profile}</code>.</p>
<div class="fail"><p><b>Stopped at the step:</b> {html.escape(p.step or 'unknown')}.</p>
<p><b>Why:</b> {html.escape(p.reason)}</p>{advice}</div>
{_checks_html(p.self_checks)}
{_choices_html(p.choices)}{_notes_html(p.notes)}{_dropped_html(m.get("dropped"))}
<h2>Figures</h2>{fig}
<p class="read">Written by mdlstm_utils.cli.analyze: the steps before the failure, so that you can see why.</p></body></html>"""
