"""Resampling units of label trajectories for bootstrap intervals: whole trajectories, or pieces of them
when there are too few trajectories to resample (:func:`bootstrap_units`), and random units that add up to a
given number of frames (:func:`draw_units`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_units", "draw_units"]


def bootstrap_units(trajs: list[np.ndarray], min_units: int) -> list[np.ndarray]:
    """The pieces a bootstrap resamples: the trajectories, or equal blocks of each when there are few."""
    if len(trajs) >= min_units:
        return list(trajs)
    per = -(-min_units // len(trajs))
    return [b for t in trajs for b in np.array_split(t, min(per, max(len(t), 1))) if len(b)]


def draw_units(lengths: np.ndarray, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of units drawn with replacement until they hold at least ``n_frames`` frames."""
    idx = rng.integers(0, len(lengths), size=int(np.ceil(n_frames / lengths.min())) + 1)
    return idx[: int(np.searchsorted(np.cumsum(lengths[idx]), n_frames)) + 1]
