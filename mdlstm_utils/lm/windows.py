"""The frames a model learns from: the validation tail of each training trajectory, and the windows of frames
cut from trajectories for training, validation and teacher-forced evaluation."""

from __future__ import annotations

import numpy as np

__all__ = ["split_trajectories", "make_windows"]


def split_trajectories(trajs: list[np.ndarray], val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hold out the last ``val_fraction`` of every trajectory for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    train, val = [], []
    for t in trajs:
        cut = int(round(len(t) * (1.0 - val_fraction)))
        train.append(t[:cut])
        val.append(t[cut:])
    return train, val


def make_windows(trajs: list[np.ndarray], seq_len: int, offset: int = 0) -> np.ndarray:
    """Non-overlapping windows of ``seq_len + 1`` frames starting at ``offset`` in each trajectory.

    Returns an ``int64`` array of shape ``(n_windows, seq_len + 1)`` (possibly
    with zero rows when every trajectory is too short).
    """
    w = seq_len + 1
    blocks = []
    for t in trajs:
        t = t[offset:]
        n = len(t) // w
        if n:
            blocks.append(t[: n * w].reshape(n, w))
    if not blocks:
        return np.zeros((0, w), dtype=np.int64)
    return np.concatenate(blocks).astype(np.int64)
