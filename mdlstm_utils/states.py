"""State partitions: from continuous coordinates to integer labels (the LM's tokens).

A *partition* maps each frame of a trajectory to one of ``n_states`` integer
labels. Grid bins over a low-dimensional coordinate are the simplest; bins (or
any microstates) can then be lumped into metastable wells with a lookup table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .systems import Potential

__all__ = [
    "Grid",
    "make_grid",
    "discretize_grid",
    "assign_basins",
    "lump",
    "check_labels",
]


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
    potential: Potential,
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
        The potential.
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


def check_labels(labels, n_states: int | None = None, name: str = "labels") -> list[np.ndarray]:
    """Validate label trajectories and return them as a list of 1-D ``int64`` arrays.

    Accepts one 1-D array, a 2-D array (one trajectory per row) or a list of
    1-D arrays. Raises a clear error for floats that are not whole numbers,
    negative labels, labels ``>= n_states`` and empty trajectories.
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    if isinstance(labels, np.ndarray):
        if labels.ndim == 1:
            trajs = [labels]
        elif labels.ndim == 2:
            trajs = list(labels)
        else:
            raise ValueError(f"{name} must be 1-D or 2-D (trajectories x frames), got shape {labels.shape}")
    elif isinstance(labels, (list, tuple)):
        if len(labels) == 0:
            raise ValueError(f"{name} is empty; expected at least one trajectory")
        if all(np.isscalar(v) for v in labels):
            trajs = [np.asarray(labels)]
        else:
            trajs = [np.asarray(t) for t in labels]
    else:
        raise TypeError(f"{name} must be a NumPy array or a list of arrays, got {type(labels).__name__}")
    out = []
    for i, t in enumerate(trajs):
        t = np.asarray(t)
        if t.ndim != 1:
            raise ValueError(f"{name}[{i}] must be 1-D, got shape {t.shape}")
        if t.size == 0:
            raise ValueError(f"{name}[{i}] is empty")
        if not np.issubdtype(t.dtype, np.integer):
            if not np.issubdtype(t.dtype, np.floating) or not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
                raise TypeError(f"{name}[{i}] must hold integer state labels, got dtype {t.dtype}")
        t = t.astype(np.int64)
        if t.min() < 0:
            raise ValueError(f"{name}[{i}] holds a negative label ({t.min()}); labels must be >= 0")
        if n_states is not None and t.max() >= n_states:
            raise ValueError(
                f"{name}[{i}] holds label {t.max()} but n_states={n_states}; labels must be in [0, {n_states - 1}]"
            )
        out.append(t)
    return out


def lump(labels: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Map micro labels to macro labels with a lookup table: ``mapping[labels]``.

    ``mapping[i]`` is the macrostate (e.g. the well) of microstate ``i``. Works on
    any array shape of labels.
    """
    mapping = np.asarray(mapping)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(mapping)):
        raise ValueError(
            f"labels range [{labels.min()}, {labels.max()}] does not fit a mapping of {len(mapping)} states"
        )
    return mapping[labels]
