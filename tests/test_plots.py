"""The figures put each value where its label says."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from mdlstm_utils.report import plots


def _bar_heights_by_tick(ax):
    """{(tick label, legend label): bar height}, read back from the drawn bars."""
    ticks = {round(t, 6): lab.get_text() for t, lab in zip(ax.get_xticks(), ax.get_xticklabels())}
    out = {}
    for container in ax.containers:
        if not hasattr(container, "patches"):
            continue
        for patch in container.patches:
            centre = patch.get_x() + patch.get_width() / 2
            tick = min(ticks, key=lambda t: abs(t - centre))
            out[(ticks[tick], container.get_label())] = patch.get_height()
    return out


def test_model_comparison_bars_follow_their_labels():
    # rows in an order that a groupby would re-sort: "high" before "low" alphabetically, "low" first here
    summary = pd.DataFrame({"data": ["low-dim", "low-dim", "high-dim", "high-dim"],
                            "model": ["LSTM", "Transformer", "LSTM", "Transformer"],
                            "slow_error": [0.1, 0.2, 0.7, 0.8], "slow_error_std": [0.01, 0.02, 0.03, 0.04]})
    for order in (["low-dim", "high-dim"], ["high-dim", "low-dim"], None):
        ax = plots.plot_model_comparison(summary.sort_values("data"), "slow_error", order=order, tolerance=0.25)
        heights = _bar_heights_by_tick(ax)
        expected = {(r.data, r.model): r.slow_error for r in summary.itertuples()}
        assert heights == pytest.approx(expected)
        assert [t.get_text() for t in ax.get_xticklabels()] == (order or ["high-dim", "low-dim"])
        matplotlib.pyplot.close("all")


def test_population_bars_carry_the_bootstrap_intervals_of_the_comparison():
    import matplotlib.pyplot as plt

    from mdlstm_utils.kinetics import comparison
    from mdlstm_utils.report.plots import plot_populations

    rng = np.random.default_rng(0)
    ref, gen = rng.integers(0, 3, size=(12, 500)), rng.integers(0, 3, size=(12, 500))
    c = comparison(ref, gen, n_states=3, sets=[[0], [1], [2]], set_names=["a", "b", "c"])
    ax = plot_populations(c)
    caps = [b for b in ax.containers if getattr(b, "errorbar", None) is not None]
    assert len(caps) == 2  # one set of error bars per bar group
    seg = caps[0].errorbar.lines[2][0].get_segments()  # the reference's vertical bars
    assert np.allclose([s[:, 1].min() for s in seg], c.set_pop_ref_low)
    assert np.allclose([s[:, 1].max() for s in seg], c.set_pop_ref_high)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(TypeError, match="kinetics.Comparison"):
        plot_populations(c.to_dict())
    plt.close("all")


def _arrow_rates(ax, unit="ps"):
    """{(source, target): rate} read back from the arrow labels ``<rate>/<unit>`` and the state labels.

    deeptime writes an arrow's label past the middle of the arrow, on the side of its target: the
    state label nearest to it names the target, the other one the source (two states).
    """
    import re

    nodes = {t.get_text().split("\n")[0]: np.array(t.get_position()) for t in ax.texts if "%" in t.get_text()}
    out = {}
    for t in ax.texts:
        m = re.fullmatch(rf"([0-9.e+-]+)/{unit}", t.get_text())
        if m is None:
            continue
        xy = np.array(t.get_position())
        target = min(nodes, key=lambda n: np.linalg.norm(nodes[n] - xy))
        (source,) = set(nodes) - {target}
        out[(source, target)] = float(m.group(1))
    return out


def test_transition_network_arrows_carry_the_rates_of_the_chain():
    import matplotlib.pyplot as plt
    from deeptime.markov.msm import MarkovStateModel

    P = np.array([[0.977, 0.023], [0.061, 0.939]])
    dt = 0.5  # ps per frame: exact rates 0.046/ps (A -> B) and 0.122/ps (B -> A)
    ref = np.stack([MarkovStateModel(P).simulate(40_000, seed=s) for s in (1, 2)])
    gen = [MarkovStateModel(P).simulate(30_000, seed=s) for s in (3, 4, 5)]
    axes = plots.plot_transition_network(ref, gen, 2, dt=dt, dt_unit="ps", state_names=["A", "B"])
    assert len(axes) == 2 and [a.get_title() for a in axes] == ["reference", "generated"]
    exact = {("A", "B"): P[0, 1] / dt, ("B", "A"): P[1, 0] / dt}
    for ax in axes:
        rates = _arrow_rates(ax)
        assert rates.keys() == exact.keys()
        for edge, k in exact.items():
            assert abs(rates[edge] / k - 1) < 0.1, (edge, rates[edge], k)
        assert all(t.get_fontsize() >= 8 for t in ax.texts)
    # the discs (and their names) sit at the same places in both panels
    where = [{t.get_text().split("\n")[0]: t.get_position() for t in a.texts if "%" in t.get_text()} for a in axes]
    assert where[0] == where[1]
    # at a lag of 2 frames the label is P(2 dt)_ij / (2 dt), from the square of P
    axes = plots.plot_transition_network(ref, gen, 2, lag=2, dt=dt, dt_unit="ps", state_names=["A", "B"],
                                         titles=("MD", "LSTM"))
    assert [a.get_title() for a in axes] == ["MD", "LSTM"]
    P2 = P @ P
    assert _arrow_rates(axes[0])[("A", "B")] == pytest.approx(P2[0, 1] / (2 * dt), rel=0.1)
    plt.close("all")


def test_transition_network_rejects_labels_outside_the_states():
    import matplotlib.pyplot as plt

    ok = np.tile([0, 0, 1, 1], 50)
    with pytest.raises(ValueError, match=r"generated\[0\] holds label 2 but n_states=2"):
        plots.plot_transition_network(ok, np.r_[ok, 2], 2)
    with pytest.raises(ValueError, match=r"reference\[1\] holds a negative label"):
        plots.plot_transition_network([ok, ok - 1], ok, 2)
    with pytest.raises(ValueError, match="state_names has 3 names"):
        plots.plot_transition_network(ok, ok, 2, state_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="2 to 6 metastable states"):
        plots.plot_transition_network(ok, ok, 20)
    plt.close("all")


def test_transition_network_draws_a_model_that_never_returns():
    import matplotlib.pyplot as plt

    ref = np.tile([0, 0, 1, 1, 2, 2], 100)
    stuck = np.r_[np.zeros(50, int), np.ones(50, int)]  # one jump 0 -> 1 and never back: no MSM
    axes = plots.plot_transition_network(ref, stuck, 3)
    texts = [t.get_text() for t in axes[1].texts]
    assert "2\n0%" in texts and any("no MSM" in t for t in texts)
    plt.close("all")


def test_plot_error_grid_labels_every_cell_and_marks_missing_passages():
    import pandas as pd

    from mdlstm_utils.report.plots import plot_error_grid

    table = pd.DataFrame([[0.1, np.inf], [np.nan, 2.0]], index=["micro", "cored"], columns=[1, 10])
    im = plot_error_grid(table, vmax=1.0, xlabel="saving interval")
    ax = im.axes
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["0.10", "2.00", "inf", "–"]
    assert np.allclose(im.get_array(), [[0.1, 1.0], [1.0, 1.0]])  # clipped at vmax; inf and nan drawn as the worst
    assert [t.get_text() for t in ax.get_yticklabels()] == ["micro", "cored"] and ax.get_xlabel() == "saving interval"
    matplotlib.pyplot.close(ax.figure)


def test_slow_process_points_sit_at_each_models_timescale():
    from mdlstm_utils.kinetics import SlowProcess

    ts = {"reference": np.array([50.0]), "generated": np.array([20.0]), "MSM (validated)": np.array([48.0])}
    lo = {k: v * 0.9 for k, v in ts.items()}
    hi = {k: v * 1.1 for k, v in ts.items()}
    ax = plots.plot_slow_process(SlowProcess(2, 0.5, ts, lo, hi, truth=np.array([49.0])), dt_unit="ps")
    points = ax.lines[0].get_ydata()  # the errorbar's markers, in the order of the models
    assert list(points) == pytest.approx([50.0, 20.0, 48.0])
    assert [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()] == list(ts)
    assert any(np.allclose(line.get_ydata(), 49.0) for line in ax.lines[1:])  # the exact value, dotted
    assert "lag 1 (ps)" in ax.get_title(loc="left")
    matplotlib.pyplot.close("all")


def test_unseen_mass_bars_are_the_models_per_state_mass():
    import torch
    from mdlstm_utils.lm.unseen import unseen_diagnostic
    from mdlstm_utils.lm.models import LSTMConfig

    rng = np.random.default_rng(0)
    train = [rng.integers(0, 4, 200) % 2 for _ in range(3)]  # states 0 and 1 only: every jump to 2, 3 unseen
    test = [np.r_[rng.integers(0, 2, 100), 2, 3] for _ in range(2)]
    torch.manual_seed(0)
    model = LSTMConfig(embed_dim=4, hidden_dim=4).build(4)
    u = unseen_diagnostic(model, train, test, test, n_states=4, seq_len=20, sides=np.array([0, 0, 1, 1]))
    ax = plots.plot_unseen_mass(u)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx(np.nan_to_num(u.model.unseen_mass_per_state))
    matplotlib.pyplot.close("all")


def test_fes_2d_is_deeptimes_energy_plot_on_our_histogram():
    from matplotlib.contour import ContourSet

    rng = np.random.default_rng(0)
    xy = np.r_[rng.normal([-1.0, 0.0], 0.3, (5000, 2)), rng.normal([1.0, 0.5], 0.4, (5000, 2))]
    ax = plots.plot_fes_2d(xy, bins=30, kT=2.0, vmax=6.0, range=[[-3, 3], [-2, 2]], title="fes")
    (cs,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert list(cs.levels) == pytest.approx(np.linspace(0.0, 6.0, 33)), "filled from 0 to vmax"
    assert cs.zmin == pytest.approx(0.0), "the densest bin is the zero of the free energy"
    h, _, _ = np.histogram2d(xy[:, 0], xy[:, 1], bins=30, range=[[-3, 3], [-2, 2]])
    assert cs.zmax == pytest.approx(-2.0 * np.log(h[h > 0].min() / h.max())), "-kT ln p, empty bins left out"
    assert ax.get_xlim() == pytest.approx((-3 + 0.1, 3 - 0.1)) and ax.get_ylim() == pytest.approx((-2 + 2 / 30, 2 - 2 / 30))
    assert cs.colorbar.ax.get_ylabel() == "F / kT" and ax.get_title() == "fes"
    matplotlib.pyplot.close("all")
