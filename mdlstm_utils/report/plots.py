"""The figures the notebooks show. Each function draws into ``ax`` (or a new figure) and returns the axes.

The field's library draws where it does the job for our inputs: the 2-D free
energy is deeptime's ``plot_energy2d``. The implied timescales and the CK test
stay ours: deeptime's ``plot_implied_timescales`` and ``plot_ck_test`` compute
their intervals from the Bayesian samples they are given, while our results
(:class:`~mdlstm_utils.states.lag.ImpliedTimescalesResult`,
:class:`~mdlstm_utils.states.lag.CKTestResult`) carry the seeded 95 % bounds
themselves, and deeptime's CK plot makes a figure of its own where ours draws
into the caller's ``axes``. The 1-D free-energy profiles have no counterpart in
deeptime (it plots 2-D landscapes only).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from deeptime.plots import plot_energy2d
from deeptime.util.stats import EnergyLandscape2d

from mdlstm_utils._checks import check_int, check_positive
from mdlstm_utils.data.md import BASIN_NAMES, PHI_CORES
from mdlstm_utils.data.systems import Potential
from mdlstm_utils.kinetics import Comparison, populations, transition_counts
from mdlstm_utils.states import check_labels, estimate_msm

__all__ = [
    "plot_potential_1d",
    "plot_free_energy",
    "plot_fes_2d",
    "plot_trajectories",
    "plot_populations",
    "plot_mfpt",
    "plot_mfpt_bars",
    "plot_training",
    "plot_model_comparison",
]

REF_STYLE = {"color": "black", "label": "reference"}
GEN_STYLE = {"color": "tab:red", "label": "generated (LM)"}


def _ax(ax, figsize=(5, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_potential_1d(potential: Potential, grid=None, wells: np.ndarray | None = None, kT: float = 1.0, ax=None):
    """The 1-D potential in kT, with grid bins coloured by their well when ``grid`` and ``wells`` are given."""
    ax = _ax(ax)
    x = np.linspace(-2.1, 2.1, 1000)
    u = potential.energy_numpy(x) / kT
    ax.plot(x, u - u.min(), color="black")
    if grid is not None:
        edges = grid.edges[0]
        top = float(np.max(u - u.min())) if wells is None else 8.0
        for i in range(len(edges) - 1):
            c = f"C{wells[i]}" if wells is not None else "0.9"
            ax.axvspan(edges[i], edges[i + 1], color=c, alpha=0.15 if i % 2 else 0.25, lw=0)
        ax.set_ylim(-0.3, top)
    ax.set_xlabel("x")
    ax.set_ylabel("U(x) / kT")
    return ax


def plot_free_energy(centers: np.ndarray, f_ref: np.ndarray, f_gen: np.ndarray, *, xlabel: str = "x", ax=None):
    """Free-energy profiles ``-kT ln p`` of reference and generated trajectories over the bins.

    Ours: deeptime plots 2-D energy landscapes only (``plot_energy2d``), not 1-D profiles side by side.
    """
    ax = _ax(ax)
    ax.plot(centers, f_ref, "o-", ms=3, **REF_STYLE)
    ax.plot(centers, f_gen, "s--", ms=3, **GEN_STYLE)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("F / kT")
    ax.legend(frameon=False)
    return ax


def plot_fes_2d(xy: np.ndarray, *, bins: int = 60, kT: float = 1.0, vmax: float = 8.0, ax=None, title: str = "",
                range=None):
    """2-D free-energy surface ``-kT ln p(x, y)`` from samples ``(n, 2)``, drawn by deeptime's ``plot_energy2d``.

    Filled contours from 0 to ``vmax`` (in the units of ``kT``; higher free
    energies get the top colour, bins without samples stay blank).
    ``range`` (``[[xmin, xmax], [ymin, ymax]]``) fixes the histogram's extent;
    by default the data's. The histogram is ours (deeptime's ``energy2d``
    has no ``range``), the landscape and the plot are deeptime's
    (``EnergyLandscape2d``, ``plot_energy2d``).
    """
    ax = _ax(ax, figsize=(4.5, 3.8))
    xy = np.asarray(xy).reshape(-1, 2)
    h, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=range)
    f = np.full(h.shape, np.inf)
    f[h > 0] = -kT * np.log(h[h > 0] / h.sum())
    f -= f[h > 0].min()
    landscape = EnergyLandscape2d(0.5 * (xe[:-1] + xe[1:]), 0.5 * (ye[:-1] + ye[1:]), f.T, kT)
    plot_energy2d(landscape, ax=ax, levels=np.linspace(0.0, vmax, 33),
                  contourf_kws={"cmap": "viridis", "extend": "max"}, cbar_kws={"label": "F / kT"})
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    return ax


def plot_trajectories(series: dict[str, np.ndarray], *, dt: float = 1.0, dt_unit: str = "", ylabel: str = "state", axes=None):
    """Stacked time series, one panel per entry of ``series`` (name -> 1-D array)."""
    n = len(series)
    if axes is None:
        _, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n), sharex=True, squeeze=False)
        axes = axes[:, 0]
    for ax, (name, y) in zip(axes, series.items()):
        t = np.arange(len(y)) * dt
        ax.plot(t, y, lw=0.5, color=GEN_STYLE["color"] if "gen" in name.lower() else "black")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1].set_xlabel(f"time {f'({dt_unit})' if dt_unit else ''}".strip())
    return axes


def plot_populations(comparison: Comparison, ax=None, *, names: list[str] | None = None):
    """Bar chart of set (well) populations, reference against generated, with their 95 % bootstrap intervals.

    ``comparison``: a :class:`~mdlstm_utils.kinetics.Comparison` with sets (:func:`~mdlstm_utils.kinetics.comparison`,
    or ``LearnResult.comparison``); ``names`` overrides its set names on the axis.
    """
    ax = _ax(ax)
    c = _with_sets(comparison)
    k = np.arange(len(c.set_pop_ref))
    for off, p, lo, hi, color, label in ((-0.2, c.set_pop_ref, c.set_pop_ref_low, c.set_pop_ref_high, "0.3", "reference"),
                                         (0.2, c.set_pop_gen, c.set_pop_gen_low, c.set_pop_gen_high, GEN_STYLE["color"],
                                          "generated (LM)")):
        ax.bar(k + off, p, 0.4, color=color, label=label, yerr=np.clip(np.vstack([p - lo, hi - p]), 0.0, None), capsize=2)
    ax.set_xticks(k, names or list(c.set_names))
    ax.set_ylabel("population")
    ax.legend(frameon=False)
    return ax


def _with_sets(comparison) -> Comparison:
    if not isinstance(comparison, Comparison):
        raise TypeError(f"expected a kinetics.Comparison (kinetics.comparison(...) or LearnResult.comparison), "
                        f"got {type(comparison).__name__}")
    if not comparison.has_sets:
        raise ValueError("this Comparison has no sets: pass sets= to kinetics.comparison")
    return comparison


def _unit(dt_unit: str | None, comparison=None) -> str:
    """`` (unit)`` for an axis label: ``dt_unit``, else the comparison's, else nothing."""
    u = dt_unit if dt_unit is not None else (comparison.dt_unit if comparison is not None else "")
    return f" ({u})" if u else ""


def plot_kinetics_comparison(comparisons: dict, slowest: dict | None = None, *, dt_unit: str | None = None, axes=None):
    """Reference vs several generators on three panels: set populations, MFPTs (log), slowest relaxation time.

    ``comparisons``: ``{name: Comparison}`` (:func:`~mdlstm_utils.kinetics.comparison`, all against the same
    reference, e.g. a language model and the MSM baseline; times in their ``dt_unit`` unless ``dt_unit`` is given); ``slowest``: ``{"reference" or a name of
    comparisons: (value, low, high)}``, each drawn where given. Bars carry the 95 % intervals. Returns the three axes.
    """
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    first = next(iter(comparisons.values()))
    names = list(first.set_names)
    groups = [("reference", first.set_pop_ref, first.set_pop_ref_low, first.set_pop_ref_high, first.mfpt_ref, first.mfpt_ref_low,
               first.mfpt_ref_high)]
    groups += [(n, c.set_pop_gen, c.set_pop_gen_low, c.set_pop_gen_high, c.mfpt_gen, c.mfpt_gen_low, c.mfpt_gen_high)
               for n, c in comparisons.items()]
    colors = ["0.35", GEN_STYLE["color"], "tab:blue", "tab:green"]
    w = 0.8 / len(groups)
    pairs = [(i, j) for i in range(len(names)) for j in range(len(names)) if i != j]
    for g, (label, p, plo, phi, m, mlo, mhi) in enumerate(groups):
        x = np.arange(len(names)) + (g - (len(groups) - 1) / 2) * w
        axes[0].bar(x, p, w, color=colors[g % 4], label=label,
                    yerr=np.clip(np.vstack([p - plo, phi - p]), 0, None), capsize=2)
        v = np.array([m[i, j] for i, j in pairs])
        lo = np.array([mlo[i, j] for i, j in pairs])
        hi = np.array([mhi[i, j] for i, j in pairs])
        xp = np.arange(len(pairs)) + (g - (len(groups) - 1) / 2) * w
        ok = np.isfinite(v)
        axes[1].bar(xp[ok], v[ok], w, color=colors[g % 4], label=label,
                    yerr=np.clip(np.nan_to_num(np.vstack([v - lo, hi - v])[:, ok]), 0, None), capsize=2)
    axes[0].set_xticks(np.arange(len(names)), names)
    axes[0].set_ylabel("population")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].set_xticks(np.arange(len(pairs)), [f"{names[i]}→{names[j]}" for i, j in pairs],
                       rotation=45 if len(pairs) > 4 else 0, fontsize=8)
    axes[1].set_yscale("log")
    unit = _unit(dt_unit, first)
    axes[1].set_ylabel(f"MFPT{unit}")
    if slowest:
        labels = ["reference"] + list(comparisons)
        for g, label in enumerate(labels):
            if label not in slowest:
                continue
            v, lo, hi = slowest[label]
            err = None if not (np.isfinite(lo) and np.isfinite(hi)) else [[max(v - lo, 0)], [max(hi - v, 0)]]
            axes[2].bar(g, v, 0.6, color=colors[g % 4], yerr=err, capsize=3)
        axes[2].set_xticks(range(len(labels)), labels)
        axes[2].set_ylabel(f"slowest relaxation time{unit}")
    else:
        axes[2].set_visible(False)
    return axes


def plot_mfpt(comparison: Comparison, *, dt_unit: str | None = None, tolerance: float = 0.25, ax=None):
    """Generated against reference MFPT for every ordered pair of sets (log-log), with a ±tolerance band; each
    point carries its 95 % intervals, horizontal for the reference and vertical for the generated trajectories.

    ``comparison``: a :class:`~mdlstm_utils.kinetics.Comparison` with sets; ``dt_unit`` overrides its unit.
    """
    ax = _ax(ax, figsize=(4.5, 4.2))
    c = _with_sets(comparison)
    ref, gen = c.mfpt_ref, c.mfpt_gen
    ok = np.isfinite(ref) & np.isfinite(gen) & (ref > 0) & (gen > 0)
    if not ok.any():
        ax.text(0.5, 0.5, "no passages to compare", ha="center", transform=ax.transAxes)
        return ax
    both = np.r_[ref[ok], gen[ok]]
    t = np.geomspace(both.min() / 2, both.max() * 2, 50)
    ax.fill_between(t, t * (1 - tolerance), t * (1 + tolerance), color="0.85", label=f"±{tolerance:.0%}")
    ax.plot(t, t, color="0.5", lw=1)
    for i, j in zip(*np.nonzero(ok)):
        xerr = [[ref[i, j] - c.mfpt_ref_low[i, j]], [c.mfpt_ref_high[i, j] - ref[i, j]]]
        yerr = [[gen[i, j] - c.mfpt_gen_low[i, j]], [c.mfpt_gen_high[i, j] - gen[i, j]]]
        ax.errorbar(ref[i, j], gen[i, j], xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr), fmt="o",
                    color=GEN_STYLE["color"], ms=5, elinewidth=1, capsize=2)
        ax.annotate(f"{c.set_names[i]}→{c.set_names[j]}", (ref[i, j], gen[i, j]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    unit = _unit(dt_unit, c)
    ax.set_xlabel(f"MFPT reference{unit}")
    ax.set_ylabel(f"MFPT generated{unit}")
    ax.legend(frameon=False, loc="upper left")
    return ax


def plot_mfpt_bars(comparison: Comparison, *, truth=None, truth_label: str = "exact", dt_unit: str | None = None,
                   tolerance: float | None = None, ax=None):
    """The MFPT of every ordered pair of sets as bars: reference and generated with their 95 % intervals.

    ``comparison``: a :class:`~mdlstm_utils.kinetics.Comparison` with sets. With ``truth`` (a ``(k, k)`` matrix of
    exact MFPTs between the same sets) a black tick marks the exact value on each pair (legend ``truth_label``),
    and with ``tolerance`` a grey band spans the truth ± tolerance: the reference bar shows how close the data
    themselves come (the noise floor), the generated bar what the model learned.
    """
    ax = _ax(ax, figsize=(5.5, 3.5))
    c = _with_sets(comparison)
    n = len(c.mfpt_ref)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    x = np.arange(len(pairs))
    for off, vals, low, high, kind, style in ((-0.2, c.mfpt_ref, c.mfpt_ref_low, c.mfpt_ref_high, "ref", REF_STYLE),
                                              (0.2, c.mfpt_gen, c.mfpt_gen_low, c.mfpt_gen_high, "gen", GEN_STYLE)):
        v = np.array([vals[i, j] for i, j in pairs])
        err = np.array([[v[k] - low[i, j], high[i, j] - v[k]] for k, (i, j) in enumerate(pairs)]).T
        ax.bar(x + off, v, 0.4, color=style["color"], alpha=0.75 if kind == "gen" else 0.55, label=style["label"],
               yerr=np.where(np.isfinite(err), err, 0.0), capsize=2, error_kw={"elinewidth": 1})
    if truth is not None:
        t = np.array([np.asarray(truth, dtype=float)[i, j] for i, j in pairs])
        if tolerance is not None:
            for k, tk in enumerate(t):
                ax.fill_between([k - 0.45, k + 0.45], tk * (1 - tolerance), tk * (1 + tolerance), color="0.85", zorder=0,
                                label=f"{truth_label} ±{tolerance:.0%}" if k == 0 else None)
        ax.hlines(t, x - 0.45, x + 0.45, color="black", lw=2, label=truth_label)
    ax.set_xticks(x, [f"{c.set_names[i]}→{c.set_names[j]}" for i, j in pairs], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(f"MFPT{_unit(dt_unit, c)}")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


__all__ += ["plot_error_grid"]


def plot_error_grid(table, *, vmax: float = 1.0, xlabel: str = "", title: str = "", ylabels: bool = True, ax=None):
    """A table of relative errors (a ``pandas.DataFrame``, e.g. partition × saving interval) as a heat map.

    Each cell shows its value; colours are clipped at ``vmax``. An infinite
    error (a passage never generated) reads ``inf`` on a hatched cell, a
    missing one ``–``. Returns the image, for a shared colour bar.
    """
    ax = _ax(ax, figsize=(4.2, 3.3))
    vals = table.to_numpy(dtype=float)
    im = ax.imshow(np.clip(np.where(np.isfinite(vals), vals, vmax), 0, vmax), cmap="viridis_r", vmin=0, vmax=vmax,
                   aspect="auto")
    for (i, j), v in np.ndenumerate(vals):
        if not np.isfinite(v):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="w", lw=0))
        ax.text(j, i, "–" if np.isnan(v) else ("inf" if np.isinf(v) else f"{v:.2f}"), ha="center", va="center",
                color="w" if (not np.isfinite(v) or v > 0.5 * vmax) else "k", fontsize=8)
    ax.set_xticks(range(table.shape[1]), [f"{c:g}" for c in table.columns])
    ax.set_yticks(range(table.shape[0]), table.index if ylabels else [])
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    return im


def plot_model_comparison(summary, column: str, *, order: list[str] | None = None,
                          models: tuple[str, ...] = ("LSTM", "Transformer"), ylabel: str = "",
                          tolerance: float | None = None, ax=None):
    """Grouped bars of ``summary[column]`` per data set (``summary["data"]``) and model (``summary["model"]``).

    Error bars come from ``summary[column + "_std"]`` when present. Each bar is
    placed by its own data-set name, so a tick label always sits under its own
    values whatever the row order of the table (a ``groupby`` sorts it).
    ``order``: the data sets from left to right (default: as they first appear).
    ``tolerance``: a dotted horizontal line, labelled, at that value.
    """
    ax = _ax(ax)
    order = list(order) if order is not None else list(dict.fromkeys(summary["data"]))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        rows = summary[summary["model"] == model].set_index("data").reindex(order)
        std = rows[column + "_std"] if column + "_std" in rows else None
        x = np.arange(len(order)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, rows[column], width, yerr=std, capsize=3, label=model)
    if tolerance is not None:
        ax.axhline(tolerance, color="0.5", ls=":", lw=1, label=f"{tolerance:.0%} line")
    ax.set_xticks(range(len(order)), order, fontsize=8)
    ax.set_ylabel(ylabel)
    return ax


def plot_training(history: list, ax=None):
    """Training and validation loss per epoch (``history``: :attr:`~mdlstm_utils.lm.train.TrainResult.history`)."""
    ax = _ax(ax)
    ep = [h.epoch for h in history]
    ax.plot(ep, [h.train_loss for h in history], "o-", label="train")
    ax.plot(ep, [h.val_loss for h in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats/frame)")
    ax.legend(frameon=False)
    return ax


__all__ += ["plot_implied_timescales", "plot_ck_test"]


def plot_implied_timescales(its, *, lag=None, dt_unit: str = "", n_processes: int | None = None, ax=None):
    """Implied timescales vs lag time (log y), from an :class:`mdlstm_utils.states.lag.ImpliedTimescalesResult`.

    The grey area below the diagonal ``t = lag`` marks timescales faster than
    the lag time, which the MSM cannot resolve; shaded bands around the curves
    are the 95 % intervals when ``its`` carries them; ``lag`` (in frames, e.g. from
    :func:`mdlstm_utils.states.lag.suggest_lag`) is marked with a dashed line.
    Ours, not deeptime's ``plot_implied_timescales``: that one draws intervals
    only from Bayesian samples (``ImpliedTimescales.its_stats``) and cannot
    draw the seeded 95 % bounds that ``its`` carries instead of its samples.
    """
    ax = _ax(ax)
    lag_t = np.asarray(its.lags, dtype=float) * its.dt
    ts = np.asarray(its.timescales, dtype=float)
    n = ts.shape[1] if n_processes is None else min(int(n_processes), ts.shape[1])
    bands = getattr(its, "timescales_low", None) is not None
    for j in range(n):
        ax.plot(lag_t, ts[:, j], "o-", ms=3, color=f"C{j}", label=f"process {j + 1}")
        if bands:  # the Bayesian MSM's credible interval
            ax.fill_between(lag_t, its.timescales_low[:, j], its.timescales_high[:, j], color=f"C{j}", alpha=0.25, lw=0)
    finite = ts[:, :n][np.isfinite(ts[:, :n])]
    top = max(float(finite.max()) * 2 if finite.size else 1.0, float(lag_t.max()) * 2)
    ax.fill_between(lag_t, np.full_like(lag_t, min(lag_t.min(), finite.min() if finite.size else lag_t.min()) / 2), lag_t,
                    color="0.85", lw=0, label="t < lag")
    ax.plot(lag_t, lag_t, color="0.5", lw=1)
    if lag is not None:
        ax.axvline(float(lag) * its.dt, color="black", ls="--", lw=1, label=f"lag = {float(lag) * its.dt:g}")
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    unit = f" ({dt_unit})" if dt_unit else ""
    ax.set_xlabel(f"lag time{unit}")
    ax.set_ylabel(f"implied timescale{unit}")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_ck_test(ck, *, dt_unit: str = "", axes=None):
    """Chapman–Kolmogorov test grid from an :class:`mdlstm_utils.states.lag.CKTestResult`.

    Panel ``(i, j)``: probability to be in set ``j`` after time ``t`` when
    starting in set ``i``; estimated at each lag (black) vs predicted by the
    MSM at the tested lag (red, dashed). Returns the ``(n_sets, n_sets)`` axes array.
    Ours, not deeptime's ``plot_ck_test``: that one always makes a figure of
    its own (``CKTestGrid``), so it cannot draw into the ``axes`` given here.
    """
    n = ck.predictions.shape[1]
    if axes is None:
        _, axes = plt.subplots(n, n, figsize=(2.2 * n + 0.5, 1.9 * n + 0.3), sharex=True, sharey=True, squeeze=False)
    t = np.asarray(ck.lags, dtype=float) * ck.dt
    for i in range(n):
        for j in range(n):
            a = axes[i, j]
            a.plot(t, ck.estimates[:, i, j], "o-", ms=3, color=REF_STYLE["color"], label="estimate")
            a.plot(t, ck.predictions[:, i, j], "s--", ms=3, color=GEN_STYLE["color"], label="MSM prediction")
            a.set_title(f"{i} → {j}", fontsize=8, loc="left")
            a.set_ylim(-0.05, 1.05)
    unit = f" ({dt_unit})" if dt_unit else ""
    for a in axes[-1]:
        a.set_xlabel(f"time{unit}")
    for a in axes[:, 0]:
        a.set_ylabel("probability")
    axes[0, 0].legend(frameon=False, fontsize=7)
    return axes


__all__ += ["plot_ramachandran", "plot_structure"]


def plot_ramachandran(phi_psi: np.ndarray, *, bins: int = 72, kT: float = 1.0, vmax: float = 8.0, basins: bool = True,
                      ax=None, title: str = ""):
    """Ramachandran free-energy surface ``-kT ln p(phi, psi)`` (degrees), with the basin boxes of
    :func:`mdlstm_utils.data.md.ramachandran_basins` and the phi-flip cores of :data:`mdlstm_utils.data.md.PHI_CORES`."""

    ax = _ax(ax, figsize=(4.8, 3.9))
    plot_fes_2d(np.asarray(phi_psi, dtype=float), bins=bins, kT=kT, vmax=vmax, ax=ax, range=[[-180, 180], [-180, 180]])
    if basins:
        style = dict(color="0.35", lw=0.8, ls="--")
        ax.axvline(0, **style)
        ax.axvline(120, **style)
        ax.plot([-180, 0], [-120, -120], **style)
        ax.plot([-180, 0], [50, 50], **style)
        ax.plot([120, 180], [-120, -120], **style)
        ax.plot([120, 180], [50, 50], **style)
        for name, (x, y) in zip(BASIN_NAMES, [(-100, 160), (-100, -30), (60, 150)]):
            ax.text(x, y, name, color="black", ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.7))
        for lo, hi in PHI_CORES.values():
            ax.axvspan(lo, hi, ymin=0, ymax=0.03, color="tab:red", lw=0)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-180, 180)
    ax.set_xticks(range(-180, 181, 90))
    ax.set_yticks(range(-180, 181, 90))
    ax.set_xlabel("φ (degrees)")
    ax.set_ylabel("ψ (degrees)")
    ax.set_title(title)
    return ax


def plot_structure(frame, *, ax=None, title: str = ""):
    """A stick model of one frame of an ``mdtraj.Trajectory`` (a static stand-in for nglview in HTML and PDFs).

    Heavy atoms are drawn as coloured balls (C grey, N blue, O red), hydrogens
    small and white, bonds from the topology as sticks.
    """
    if ax is None:
        fig = plt.figure(figsize=(3, 3))
        ax = fig.add_subplot(projection="3d")
    xyz = np.asarray(frame.xyz[0]) * 10.0  # nm -> Å
    xyz = xyz - xyz.mean(axis=0)
    for a, b in frame.topology.bonds:
        p = xyz[[a.index, b.index]]
        ax.plot(p[:, 0], p[:, 1], p[:, 2], color="0.3", lw=2)
    colours = {"C": "0.45", "N": "tab:blue", "O": "tab:red", "H": "white"}
    for atom in frame.topology.atoms:
        sym = atom.element.symbol if atom.element is not None else "C"
        x, y, z = xyz[atom.index]
        ax.scatter([x], [y], [z], s=25 if sym == "H" else 70, color=colours.get(sym, "tab:green"),
                   edgecolors="black", linewidths=0.5, depthshade=False)
    r = np.abs(xyz).max()
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-r, r)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return ax


__all__ += ["plot_transition_network"]

#: Transitions with a stationary flux ``pi_i P_ij`` below this are not drawn (deeptime's default).
_MIN_FLUX = 1e-6


def _network_positions(n: int) -> np.ndarray:
    """Node positions on the unit circle, state 0 at the top and the others clockwise.

    Two states sit on a slightly tilted line: deeptime sizes the discs by the
    smaller side of the layout's bounding box, which a flat line makes zero.
    """
    if n == 2:
        return np.array([[-1.0, -0.15], [1.0, 0.15]])
    a = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    return np.c_[np.cos(a), np.sin(a)]


def _network_model(labels, n_states: int, lag: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Transition matrix ``P`` at ``lag`` and stationary populations on all ``n_states``, and whether an MSM was fitted.

    The reversible maximum-likelihood MSM (:func:`mdlstm_utils.states.estimate_msm`)
    lives on the largest strongly connected set; states outside it keep
    ``P_ii = 1`` and population 0. Without any state pair visited both ways
    there is no MSM: ``P`` is the identity and the populations are frame counts.
    """
    from scipy.sparse.csgraph import connected_components


    counts = transition_counts(labels, n_states, lag)  # checks the labels and the lag
    _, component = connected_components(counts, directed=True, connection="strong")
    if np.bincount(component).max() < 2:
        return np.eye(n_states), populations(labels, n_states), False
    msm = estimate_msm(labels, n_states, lag)
    idx = np.asarray(msm.count_model.state_symbols)
    P, pi = np.eye(n_states), np.zeros(n_states)
    P[np.ix_(idx, idx)] = msm.transition_matrix
    pi[idx] = msm.stationary_distribution
    return P, pi, True


def _without_small_flux(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``P`` without the transitions of stationary flux ``pi_i P_ij`` below :data:`_MIN_FLUX` (their probability
    moves to the diagonal, which is not drawn), so that it stays a transition matrix for deeptime."""
    keep = (pi[:, None] * P >= _MIN_FLUX) | np.eye(len(P), dtype=bool)
    out = np.where(keep, P, 0.0)
    out[np.diag_indices_from(out)] += 1.0 - out.sum(axis=1)
    return out


def _percent(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.095 else f"{100 * p:.1g}%"


def _draw_network(ax, P, pi, pos, *, names, colours, radius, top_pop, top_p, tau, rate_unit, note):
    """One panel of :func:`plot_transition_network`: deeptime's network of ``P``, discs and arrows on shared scales.

    ``top_pop`` and ``top_p`` are the largest population and transition probability
    of both panels; the arrows are labelled with ``P_ij / tau`` (``tau`` = lag time).
    """
    from deeptime.plots import plot_markov_model

    n = len(pi)
    off = ~np.eye(n, dtype=bool)
    gap = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[off].min()
    side = min(np.ptp(pos[:, 0]), np.ptp(pos[:, 1]))
    # deeptime's disc radius is (side / 4) sqrt(state_scale pi_i / (n max pi)); this state_scale makes it
    # radius sqrt(pi_i / top_pop), the same scale in both panels
    state_scale = 16 * radius**2 * n * pi.max() / (top_pop * side**2)
    peak = float(P[off].max())
    rates = np.where(off & (P > 0), P, 0.0) / tau
    edge_labels = np.array([[f"{k:.2g}{rate_unit}" for k in row] for row in rates], dtype=object)
    n_before = len(ax.texts)
    plot_markov_model(P, pos=pos, state_sizes=pi, state_scale=state_scale, state_colors=colours,
                      state_labels=[f"{s}\n{_percent(p)}" for s, p in zip(names, pi)], minflux=0.0,
                      edge_scale=peak / top_p if peak > 0 else 1.0, edge_curvature=0.35 * gap / 0.075,
                      edge_labels=edge_labels, ax=ax, size=9, arrow_label_size=8)
    for text in ax.texts[n_before:n_before + n]:  # the state names: above everything else
        text.set_zorder(4)
    for text in ax.texts[n_before + n:]:  # the arrow labels: on a white patch over their arrow
        text.set_bbox(dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for i in np.flatnonzero(pi == 0):
        ax.add_patch(plt.Circle(pos[i], 0.3 * radius, fill=False, ls="--", color="0.5", zorder=1))
    ax.text(0.5, 0.0, note, transform=ax.transAxes, ha="center", va="top", fontsize=8, color="0.3")
    margin = radius + 0.45
    ax.set_xlim(pos[:, 0].min() - margin, pos[:, 0].max() + margin)
    ax.set_ylim(pos[:, 1].min() - margin, pos[:, 1].max() + margin)
    ax.set_aspect("equal")
    ax.set_axis_off()


def plot_transition_network(reference, generated, n_states: int, *, lag: int = 1, dt: float = 1.0,
                            dt_unit: str = "", state_names: list[str] | None = None,
                            titles: tuple[str, str] = ("reference", "generated"), axes=None):
    """The metastable transition network of the reference beside the generated one, drawn alike.

    Each panel is a reversible maximum-likelihood MSM at ``lag`` frames
    (:func:`mdlstm_utils.states.estimate_msm`) drawn with
    :func:`deeptime.plots.plot_markov_model`: one disc per state, at the same
    place in both panels, its area proportional to the stationary population
    (one scale for both panels); one arrow per transition ``i -> j``, labelled
    with its rate ``P_ij(lag) / (lag dt)`` (e.g. ``0.012/ps``; close to the
    rate constant while ``P_ij`` is small) and as wide as that rate relative
    to the fastest in either panel. A state outside the largest connected set
    of a data set has no disc there (population 0, dashed outline);
    transitions with a stationary flux ``pi_i P_ij`` below 1e-6 are not drawn.

    Parameters
    ----------
    reference, generated
        Label trajectories on the states ``0 .. n_states - 1``: a 1-D array, a
        2-D array (one trajectory per row) or a list of 1-D arrays.
    n_states
        Number of states, 2 to 6 (a network of a few metastable states).
    lag
        Lag time of the MSMs in frames.
    dt, dt_unit
        Time between frames and its unit: the rates are per ``dt_unit``.
    state_names
        A name per state, written in its disc with its population; default the state numbers.
    titles
        Titles of the two panels.
    axes
        Two matplotlib axes; default a new 1 x 2 figure, larger for more than 4 states.

    Returns
    -------
    numpy.ndarray or sequence of matplotlib.axes.Axes
        The two axes (reference, generated).
    """
    from matplotlib.colors import to_rgb

    n_states = check_int("n_states", n_states, 2)
    if n_states > 6:
        raise ValueError(f"n_states={n_states}: a transition network is readable for 2 to 6 metastable states; "
                         "lump microstates first (mdlstm_utils.states.metastable_states)")
    lag, dt = check_int("lag", lag, 1), check_positive("dt", dt)
    names = [str(i) for i in range(n_states)] if state_names is None else [str(s) for s in state_names]
    if len(names) != n_states:
        raise ValueError(f"state_names has {len(names)} names but n_states={n_states}")
    if len(titles) != 2:
        raise ValueError(f"titles must be two strings (reference, generated), got {titles!r}")

    trajs = [check_labels(labels, n_states, name=what) for what, labels in (("reference", reference), ("generated", generated))]
    models = [_network_model(t, n_states, lag) for t in trajs]
    off = ~np.eye(n_states, dtype=bool)
    drawn = [_without_small_flux(P, pi) for P, pi, _ in models]
    if axes is None:
        grow = max(1.0, n_states / 4)
        _, axes = plt.subplots(1, 2, figsize=(10 * grow, 4.4 * grow))
    pos = _network_positions(n_states)
    radius = 0.2 * np.linalg.norm(pos[:, None] - pos[None], axis=-1)[off].min()  # of the most populated disc
    lag_text = f"{lag * dt:g} {dt_unit}".strip()
    style = dict(names=names, colours=[tuple(0.5 + 0.5 * np.array(to_rgb(f"C{i}"))) for i in range(n_states)],
                 radius=radius, top_pop=max(float(pi.max()) for _, pi, _ in models),
                 top_p=max(float(P[off].max()) for P in drawn), tau=lag * dt,
                 rate_unit=f"/{dt_unit}" if dt_unit else "")
    for ax, title, P, (_, pi, fitted) in zip(axes, titles, drawn, models):
        note = (f"disc area ∝ population; arrow i→j: P_ij(τ)/τ, τ = {lag_text}" if fitted
                else f"no two states visited both ways at τ = {lag_text}: no MSM, populations from frames")
        _draw_network(ax, P, pi, pos, note=note, **style)
        ax.set_title(title, fontsize=10)
    return axes


__all__ += ["plot_learning", "plot_transition_errors", "plot_loss_sensitivity"]


def plot_learning(record, ax=None, *, label: str = ""):
    """A :class:`~mdlstm_utils.lm.experiment.LearningRecord`: training and validation loss against optimizer steps,
    with the lag-1 MSM's validation loss on the same held-out frames as a dashed line."""
    ax = _ax(ax)
    tag = f"{label}: " if label else ""
    line, = ax.plot(record.steps, record.val_loss_curve, "s-", ms=3, label=f"{tag}validation")
    ax.plot(record.steps, record.train_loss, "o:", ms=3, color=line.get_color(), alpha=0.6, label=f"{tag}train")
    ax.axhline(record.msm_val_loss, color=line.get_color() if label else "0.3", ls="--", lw=1,
               label=f"{tag}lag-1 MSM (validation)")
    ax.set_xlabel("optimizer steps")
    ax.set_ylabel("cross-entropy (nats/frame)")
    ax.legend(frameon=False, fontsize=7)
    return ax


def plot_transition_errors(te, ax=None, *, title: str = ""):
    """Transition probabilities of generated trajectories against the reference's (a
    :class:`~mdlstm_utils.lm.diagnostics.TransitionErrors`), log-log; the transitions between metastable sets in red."""
    ax = _ax(ax, (4.5, 4))
    lo = max(min(te.p_ref.min(), te.p_gen[te.p_gen > 0].min() if np.any(te.p_gen > 0) else 1.0) / 2, 1e-7)
    lim = [lo, 1.0]
    ax.loglog(lim, lim, color="0.5", lw=1)
    ax.fill_between(lim, [lo / 2, 0.5], [2 * lo, 2.0], color="0.9", lw=0, label="within a factor 2")
    pg = np.maximum(te.p_gen, lo)
    ax.scatter(te.p_ref[~te.crossing], pg[~te.crossing], s=6, color="0.45", label="within a set")
    ax.scatter(te.p_ref[te.crossing], pg[te.crossing], s=12, color="tab:red", label="between sets (slow)")
    ax.set_xlim(lim); ax.set_ylim(lim)
    ax.set_xlabel("transition probability, reference")
    ax.set_ylabel("transition probability, generated")
    expl = "" if not np.isfinite(te.explained) else f"; between-set transitions explain {te.explained:.0%} of it"
    ax.set_title(title or f"slowest ITS {te.timescale_gen:.3g} vs {te.timescale_ref:.3g}{expl}", fontsize=8, loc="left")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    return ax


def plot_loss_sensitivity(ls, *, seed_spread: float | None = None, ax=None):
    """A :class:`~mdlstm_utils.lm.diagnostics.LossSensitivity` as bars: the change of the held-out loss when the slow
    (between-set) or the fast (within-set) transitions are scaled, labelled with the slowest timescale that results;
    ``seed_spread``: the sd of the model's validation loss between training seeds, as a dashed line."""
    ax = _ax(ax, (6, 3.2))
    labels, vals, colours, notes = [], [], [], []
    for kind, delta, ts, colour in (("slow", ls.slow_delta, ls.slow_timescale, "tab:red"),
                                    ("fast", ls.fast_delta, ls.fast_timescale, "0.5")):
        for f, d, t in zip(ls.factors, delta, ts):
            labels.append(f"{kind} x{f:g}"); vals.append(d); colours.append(colour)
            notes.append(f"ITS {t / ls.base_timescale:.2f}x")
    bars = ax.bar(labels, vals, color=colours)
    ax.bar_label(bars, notes, fontsize=7)
    if seed_spread is not None:
        ax.axhline(seed_spread, color="tab:blue", ls="--", lw=1, label="model's loss: sd between seeds")
        ax.legend(frameon=False, fontsize=7)
    if all(v > 0 for v in vals):
        ax.set_yscale("log")
    ax.set_ylabel("held-out loss increase (nats/frame)")
    return ax


__all__ += ["plot_interval_scan"]

#: the models of an interval scan's summary: (model, marker style, legend label)
_SCAN_STYLES = (("LSTM", "o-", "LSTM"), ("MSM", "s--", "MSM"), ("noise floor", "k^:", "noise floor (a perfect model)"))


def _scan_errors(ax, summary, dt_unit: str, title: str, tolerance: float | None):
    """Left panel of :func:`plot_interval_scan`: the slow-process error of each model against the interval."""
    for model, style, label in _SCAN_STYLES:
        d = summary[summary.model == model]
        ax.errorbar(d.interval, d["slow-process error"], yerr=d["slow-process error sd"].fillna(0), fmt=style,
                    capsize=3, label=label)
    if tolerance is not None:
        ax.axhline(tolerance, color="0.5", ls=":", lw=1, label=f"tolerance ({tolerance:.0%})")
    ax.set(xscale="log", xlabel=f"saving interval ({dt_unit})", ylabel="max |MFPT gen / ref − 1|", title=title)
    ax.legend(frameon=False)


def _scan_mfpts(ax, summary, a: str, b: str, dt_unit: str):
    """Right panel of :func:`plot_interval_scan`: the MFPT ``a→b`` of the reference, the LSTM and the MSM."""
    d, m = summary[summary.model == "LSTM"], summary[summary.model == "MSM"]
    ax.plot(d.interval, d[f"MFPT {a}→{b} ref"], "k-o", label=f"reference {a}→{b}")
    for t, style, name in ((d, "r--s", "LSTM"), (m, "b:^", "MSM")):
        ax.errorbar(t.interval, t[f"MFPT {a}→{b} gen"], yerr=t[f"MFPT {a}→{b} gen sd"].fillna(0), fmt=style,
                    capsize=3, label=f"{name} {a}→{b}")
    ax.set(xscale="log", xlabel=f"saving interval ({dt_unit})", ylabel=f"MFPT ({dt_unit})")
    ax.legend(frameon=False, fontsize=8)


def plot_interval_scan(summary, set_names, *, dt_unit: str, title: str = "", tolerance: float | None = None,
                       axes=None):
    """A saving-interval scan on two panels against the interval (log scale), each point the mean over seeds
    with a bar of ± one sd over seeds.

    Left: the slow-process error (``max |MFPT gen / ref − 1|``) of the LSTM, the MSM at the same lag and the noise
    floor (what a perfect model would score), with the profile's ``tolerance`` as a dotted line (none when
    ``None``). Right: the MFPT from the first set of ``set_names`` to the second, of the reference at each
    interval, the LSTM and the MSM. ``summary``: :attr:`~mdlstm_utils.lm.resolution.IntervalScan.summary`
    (columns ``interval``, ``model``, ``slow-process error`` and ``… sd``, ``MFPT a→b ref`` / ``gen`` / ``gen sd``);
    ``dt_unit`` labels the time axes. Returns the two axes (``axes[0].figure`` to save the figure).
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _scan_errors(axes[0], summary, dt_unit, title, tolerance)
    _scan_mfpts(axes[1], summary, set_names[0], set_names[1], dt_unit)
    axes[0].figure.tight_layout()
    return axes


__all__ += ["plot_slow_process"]


def plot_slow_process(slow, *, dt_unit: str = "", ax=None):
    """The slowest implied timescales of every set of trajectories in a
    :class:`~mdlstm_utils.kinetics.SlowProcess` (test reference, generated, both MSMs) at its lag: one point
    per model and process with its 95 % interval, the exact value as a horizontal line where known.

    deeptime's ``plot_implied_timescales`` draws one model's timescales against the lag; this figure puts
    several models side by side at one lag, which is the comparison a verdict rests on.
    """
    ax = _ax(ax, figsize=(6, 3.4))
    names = list(slow.timescales)
    width = 0.8 / max(1, slow.k)
    for j in range(slow.k):
        x = np.arange(len(names)) + (j - (slow.k - 1) / 2) * width
        t = np.array([slow.timescales[n][j] for n in names], dtype=float)
        lo = np.array([slow.low[n][j] for n in names], dtype=float)
        hi = np.array([slow.high[n][j] for n in names], dtype=float)
        err = np.vstack([np.where(np.isfinite(lo), t - lo, 0), np.where(np.isfinite(hi), hi - t, 0)])
        ax.errorbar(x, t, yerr=np.clip(err, 0, None), fmt="o", color=f"C{j}", capsize=3, label=f"process {j + 1}")
        if slow.truth is not None and np.isfinite(slow.truth[j]):
            ax.axhline(slow.truth[j], color=f"C{j}", ls=":", lw=1)
    ax.set_xticks(np.arange(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_yscale("log")
    unit = f" ({dt_unit})" if dt_unit else ""
    ax.set_ylabel(f"implied timescale{unit}")
    ax.set_title(f"slowest implied timescales at lag {slow.lag * slow.dt:g}{unit}"
                 + ("; dotted: exact" if slow.truth is not None else ""), fontsize=9, loc="left")
    if slow.k > 1:
        ax.legend(frameon=False, fontsize=7)
    return ax


__all__ += ["plot_unseen_mass"]


def plot_unseen_mass(unseen, *, ax=None, title: str = ""):
    """Per state: the probability a model puts on transitions it never saw in training (teacher-forced on test
    windows), against how often the test trajectories make such transitions and the Good–Turing estimate
    from the training counts (:class:`~mdlstm_utils.lm.unseen.UnseenTransitions`). Bars far above both
    marks are the excess that makes generated trajectories jump where the data never go."""
    ax = _ax(ax, figsize=(7, 3.2))
    x = np.arange(unseen.n_states)
    model = np.asarray(unseen.model.unseen_mass_per_state, dtype=float)
    held = np.asarray(unseen.held_out.unseen_per_state, dtype=float)
    gt = np.asarray(unseen.good_turing_per_state, dtype=float)
    ax.bar(x, np.nan_to_num(model), width=0.8, color="tab:red", alpha=0.6, label="model (teacher-forced on test)")
    ax.plot(x, held, "_", color="black", ms=9, mew=2, label="test trajectories")
    ax.plot(x, gt, ".", color="tab:blue", ms=6, label="Good–Turing (training counts)")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("current state")
    ax.set_ylabel("unseen-transition probability per frame")
    ax.set_title(title or (f"per frame: model {unseen.model.unseen_mass:.2%}, test {unseen.held_out.unseen_rate:.2%}, "
                           f"Good–Turing {unseen.good_turing:.2%}"), fontsize=9, loc="left")
    ax.legend(frameon=False, fontsize=7)
    return ax
