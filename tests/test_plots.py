"""The figures put each value where its label says."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from mdlstm_utils import plots


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


def test_population_bars_carry_the_bootstrap_intervals_of_compare():
    import matplotlib.pyplot as plt

    from mdlstm_utils.kinetics import compare
    from mdlstm_utils.plots import plot_populations

    rng = np.random.default_rng(0)
    ref, gen = rng.integers(0, 3, size=(12, 500)), rng.integers(0, 3, size=(12, 500))
    m = compare(ref, gen, n_states=3, sets=[[0], [1], [2]])
    ax = plot_populations(m["set_pop_ref"], m["set_pop_gen"], ["a", "b", "c"], intervals=m)
    caps = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    assert len(caps) == 2  # one set of error bars per bar group
    seg = caps[0].errorbar.lines[2][0].get_segments()  # the reference's vertical bars
    assert np.allclose([s[:, 1].min() for s in seg], m["set_pop_ref_low"])
    assert np.allclose([s[:, 1].max() for s in seg], m["set_pop_ref_high"])
    plt.close("all")
