"""Grid partitions of low-dimensional coordinates, basins of a potential, and per-state means of a coordinate.

The simplest partition: grid bins over a low-dimensional coordinate, labelled
in C order; bin centres can be given to the basins of a potential's minima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from mdlstm_utils._checks import check_int as _check_int
from mdlstm_utils.states._labels import check_labels

__all__ = ["Grid", "Drains", "make_grid", "discretize_grid", "assign_basins", "state_means"]


class Drains(Protocol):
    """What :func:`assign_basins` needs of a potential: its dimension and its force (``minima`` optional). Every
    :class:`~mdlstm_utils.data.systems.Potential` has them; the protocol lets this layer, which the data layer
    builds on, name the type without importing it."""

    dim: int

    def force(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Grid:
    """A regular grid: ``edges[d]`` are the ``n_bins[d] + 1`` bin edges of dimension ``d``.

    Labels are flattened in C order (the last dimension varies fastest).
    Points outside the grid are put into the nearest edge bin.
    """

    edges: tuple[np.ndarray, ...]

    @property
    def dim(self) -> int:
        return len(self.edges)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def n_states(self) -> int:
        return int(np.prod(self.shape))

    def centers(self) -> np.ndarray:
        """Bin centres, shape ``(n_states, dim)``, in label order."""
        mids = [0.5 * (e[1:] + e[:-1]) for e in self.edges]
        mesh = np.meshgrid(*mids, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)


def make_grid(lo: float | tuple[float, ...], hi: float | tuple[float, ...], n_bins: int | tuple[int, ...]) -> Grid:
    """A regular grid from lower/upper bounds and bin counts (scalars for 1-D, tuples for d-D)."""
    lo_t, hi_t, n_t = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (lo, hi, n_bins))
    if not (len(lo_t) == len(hi_t) == len(n_t)):
        raise ValueError(f"lo, hi and n_bins must have the same length, got {len(lo_t)}, {len(hi_t)}, {len(n_t)}")
    if np.any(n_t < 1) or np.any(n_t != np.round(n_t)):
        raise ValueError(f"n_bins must be positive integers, got {n_bins!r}")
    if np.any(~np.isfinite(lo_t)) or np.any(~np.isfinite(hi_t)) or np.any(hi_t <= lo_t):
        raise ValueError(f"grid bounds must be finite with hi > lo, got lo={lo!r}, hi={hi!r}")
    return Grid(tuple(np.linspace(a, b, int(n) + 1) for a, b, n in zip(lo_t, hi_t, n_t)))


def discretize_grid(x: np.ndarray, grid: Grid) -> np.ndarray:
    """Label each frame with its grid bin.

    Parameters
    ----------
    x
        Coordinates of shape ``(..., dim)``; for a 1-D grid a trailing dimension
        of size 1 may be omitted.
    grid
        The :class:`Grid`.

    Returns
    -------
    numpy.ndarray
        ``int64`` labels of shape ``x.shape[:-1]`` (or ``x.shape`` for 1-D
        input without the trailing axis), in ``[0, grid.n_states)``.
    """
    x = np.asarray(x, dtype=float)
    if grid.dim == 1 and (x.ndim == 0 or x.shape[-1] != 1):
        x = x[..., None]
    if x.shape[-1] != grid.dim:
        raise ValueError(f"x has {x.shape[-1]} coordinates per frame but the grid has dim={grid.dim}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf; cannot assign grid bins")
    idx = []
    for d, e in enumerate(grid.edges):
        i = np.searchsorted(e, x[..., d], side="right") - 1
        idx.append(np.clip(i, 0, len(e) - 2))
    return np.ravel_multi_index(tuple(idx), grid.shape).astype(np.int64)


def assign_basins(
    potential: Drains,
    points: np.ndarray,
    minima: np.ndarray | None = None,
    *,
    step: float = 1e-3,
    n_iter: int = 5000,
) -> np.ndarray:
    """Assign points (e.g. bin centres) to the basin of attraction of a potential minimum.

    Each point follows steepest descent on ``potential`` for ``n_iter`` steps of
    size ``step`` and is then given the index of the nearest minimum. This is the
    basin of the minimum that the point drains into, which for a 1-D potential is
    the interval between the neighbouring barriers.

    Parameters
    ----------
    potential
        The potential (a :class:`~mdlstm_utils.data.systems.Potential`: its force and minima are used).
    points
        Shape ``(n, dim)``.
    minima
        Minimum positions, shape ``(n_wells, dim)``; defaults to ``potential.minima``.

    Returns
    -------
    numpy.ndarray
        Well index of each point, shape ``(n,)``.
    """
    if minima is None:
        minima = getattr(potential, "minima", None)
        if minima is None:
            raise ValueError("minima not given and the potential has no 'minima' attribute")
    minima = np.asarray(minima, dtype=float).reshape(-1, potential.dim)
    pts = np.asarray(points, dtype=float).reshape(-1, potential.dim)
    x = torch.as_tensor(pts, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(n_iter):
            f = potential.force(x)
            # a capped step keeps points on steep walls from overshooting
            x = x + torch.clamp(step * f, -0.02, 0.02)
    d = ((x.numpy()[:, None, :] - minima[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1)


def state_means(labels, values, n_states: int) -> np.ndarray:
    """Mean of a per-frame quantity over the frames of each state.

    Parameters
    ----------
    labels
        State trajectories (one 1-D array, a 2-D array or a list of 1-D arrays), labels in ``[0, n_states)``.
    values
        The quantity per frame, in the same layout as ``labels`` (e.g. the
        hidden slow coordinate of a toy system, or 1.0 where a frame lies in
        the alphaL core of alanine dipeptide and 0.0 elsewhere).
    n_states
        Number of states.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length ``n_states``: the mean of ``values`` over
        the frames in each state, ``nan`` for states without frames.
    """
    n_states = _check_int("n_states", n_states, 1)
    trajs = check_labels(labels, n_states)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray) and values.ndim == 1:
        vals = [values]
    elif isinstance(values, np.ndarray) and values.ndim == 2:
        vals = list(values)
    else:
        vals = [np.asarray(v) for v in values]
    if len(vals) != len(trajs) or any(np.shape(v) != t.shape for v, t in zip(vals, trajs)):
        raise ValueError(
            f"values must have one entry per frame, in the layout of labels "
            f"(trajectory lengths {[len(t) for t in trajs]}), got lengths {[np.shape(v) for v in vals]}"
        )
    vals = [np.asarray(v, dtype=float) for v in vals]
    if not all(np.all(np.isfinite(v)) for v in vals):
        raise ValueError("values contains NaN or inf")
    flat_l = np.concatenate(trajs)
    flat_v = np.concatenate(vals)
    counts = np.bincount(flat_l, minlength=n_states)
    sums = np.bincount(flat_l, weights=flat_v, minlength=n_states)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
