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
