"""The report of ``mdlstm analyze``: its figures, each with how to read it, and the offline HTML page, rendered from
the jinja2 templates in ``templates/`` (:data:`TEMPLATES`).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from mdlstm_utils.report import plots
from mdlstm_utils.runtime import fmt

from mdlstm_utils.cli.results import Analysis, Partial

__all__ = ["FIGURE_NAMES", "HOW_TO_READ", "TEMPLATES", "figure", "figures", "load_example", "render", "report_html",
           "partial_report_html"]


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


#: The page templates (jinja2): ``report.html.j2`` (a finished analysis), ``partial.html.j2`` (one that stopped),
#: both on ``base.html.j2`` with the parts in ``macros.html.j2``. They ship with the package (pyproject's
#: package-data takes ``**/*.j2``).
TEMPLATES = Path(__file__).with_name("templates")


def _environment():
    """The jinja2 environment of the report pages: autoescaping on (every value is text), undefined names fail."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context) -> str:
    """The page ``template`` (a file of :data:`TEMPLATES`) rendered with ``context``."""
    return _environment().get_template(template).render(**context)


def _interval(v, lo, hi) -> str:
    return f"{fmt(v, '.4g')} [{fmt(lo, '.4g')}, {fmt(hi, '.4g')}]"


def _mfpt_rows(m: dict) -> list[dict]:
    names = m["set_names"]
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            cells = []
            for k in ("reference", "lm", "msm"):
                v, lo, hi = m["mfpt"][k][i][j], m["mfpt_low"][k][i][j], m["mfpt_high"][k][i][j]
                cells.append("never" if v is None else _interval(v, lo, hi))
            rows.append({"name": f"{a} → {b}", "cells": cells})
    return rows


def _population_rows(m: dict) -> list[dict]:
    return [{"name": n, "cells": [f"{m['populations'][k][i]:.3f} [{m['populations_low'][k][i]:.3f}, "
                                  f"{m['populations_high'][k][i]:.3f}]" for k in ("reference", "lm", "msm")]}
            for i, n in enumerate(m["set_names"])]


def load_example(out: str = "report") -> str:
    """Three lines of Python that load what ``write_report`` saved in ``out``."""
    return (f'import numpy as np; from mdlstm_utils.lm.train import load_model\n'
            f'states, gen = np.load("{out}/states.npz"), np.load("{out}/generated.npz")  '
            f'# states["states_0"], gen["lm_0"]\n'
            f'model = load_model("{out}/model.pt", device="cpu")  # torch.load(..., weights_only=True) inside')


def _learning(m: dict) -> list[str]:
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
    if m.get("unseen"):
        parts.append(_unseen_text(m["unseen"]))
    mem = m.get("memory") or {}
    if mem.get("sentence"):
        nums = (f" (order {mem['order']} chain against the first-order one on held-out frames: gain "
                f"{mem['gain']:.3g} nats per frame, 95 % interval {mem['gain_low']:.3g} to {mem['gain_high']:.3g})"
                if mem.get("history_matters") is not None else "")
        parts.append(f"Memory: {mem['sentence']}{nums}")
    return parts


def _unseen_text(u: dict) -> str:
    """The unseen-transition diagnostic in words: how much probability the model keeps on jumps the training part
    never made, against how often the test part makes them (and the Good-Turing estimate from the training
    counts), and what the excess does to the crossings of the slowest process."""
    model, held, gt = u.get("model_unseen_mass"), u.get("held_out_unseen_rate"), u.get("good_turing")
    text = ("Transitions never seen in training: " + u["summary"].replace("\n", "; ") + ". ")
    if model is None or held is None:
        return text
    if held > 0 and model > 2 * held:
        return text + (f"The model keeps {model / held:.1f} times the test part's probability on jumps it never saw; "
                       "spread over every state, the excess crosses the barrier and the slow process comes out too "
                       "fast. More training, more data, or fewer states reduce it.")
    if held == 0 and model > (gt or 0) + 1e-3:
        return text + ("The test part makes no unseen jump at all, yet the model keeps probability on them: the "
                       "generated trajectories may teleport between states that are never neighbours.")
    return text + "The model's unseen mass is about what the data have: not where its error comes from."


def _figure_list(figs: dict) -> list[dict]:
    return [{"title": t, "png": _png(f), "how": HOW_TO_READ.get(t, "")} for t, f in figs.items()]


def report_html(a: Analysis, m: dict | None = None, out: str = "report") -> str:
    """The report as one self-contained HTML page (figures embedded as PNG), rendered from ``report.html.j2``;
    ``m``: ``a.metrics()`` if computed; ``out``: the folder named in the example that loads the saved files."""
    m = a.metrics() if m is None else m
    unit = a.space.dt_unit or "time units"
    missing: list = []
    figs = _figure_list(figures(a, missing))
    return render("report.html.j2", inputs=a.inputs.describe(), profile=a.profile, model=m["model"].upper(),
                  seed=a.seed, summary=m["verdict"]["summary"], trust=m["verdict"]["trust"], checks=a.self_checks,
                  choices=a.choices, notes=a.notes, dropped=m.get("dropped"), kept=a.metastable is None,
                  unit=unit, dt=a.inputs.dt, lag=m["lag"], min_dwell=m["min_dwell"],
                  evaluation=m["evaluation"]["description"], populations=_population_rows(m), mfpt=_mfpt_rows(m),
                  slowest=[_interval(m["slowest_timescale"][k], m["slowest_timescale_low"][k],
                                     m["slowest_timescale_high"][k]) for k in ("reference", "lm", "msm")],
                  learning=_learning(m), outputs=m.get("outputs") or {}, example=load_example(out),
                  figures=figs, missing=missing)


def partial_report_html(p: Partial, out: str = "report") -> str:
    """The report of an analysis that stopped (:class:`Partial`), rendered from ``partial.html.j2``: which step
    failed, why, what to try, the choices so far, the self-checks when the state space was formed, the files
    saved (the state assignment, when the states were formed) and the implied timescales."""
    figs, missing = [], []
    if p.its is not None and "lag" in p.choices:
        try:
            figs = _figure_list({"implied timescales": _its_figure(p.its, p.choices["lag"].value, p.inputs.dt_unit)})
        except Exception as exc:  # noqa: BLE001 - the page that explains a failure must not fail on its figure
            missing = [f"implied timescales: {exc}"]
    m = p.metrics()
    outputs = m.get("outputs") or {}
    example = (f'import numpy as np\nstates = np.load("{out}/states.npz")\nlabels_0 = states["states_0"]  # per frame '
               'of input 0; -1: left out' if outputs else "")
    return render("partial.html.j2", inputs=p.inputs.describe(), profile=p.profile, step=p.step, reason=p.reason,
                  advice=p.advice, checks=p.self_checks, choices=p.choices, notes=p.notes, dropped=m.get("dropped"),
                  outputs=outputs, example=example, figures=figs, missing=missing)
