"""Ready-made reference data of the toy systems: simulate, then discretize, in one call.

Notebooks that need the same toy data set (the four-well grid states, the
microstates of the hidden-slow-mode system) build it here, so every notebook
gets exactly the same data from the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils.kinetics import mfpt_matrix
from mdlstm_utils.states import Grid, assign_basins, assign_to_centers, discretize_grid, kmeans, make_grid, state_means
from mdlstm_utils.data.systems import FourWell1D, HiddenRows2D, HiddenSlowND, langevin

__all__ = ["HIDDEN_SLOW_MSM_LAG", "HIDDEN_SLOW_MIN_DWELL", "FourWellData", "four_well", "HiddenSlowData", "hidden_slow", "slow_truth_mfpt", "HiddenRowsData", "hidden_rows"]

DT = 1e-3

#: MSM lag (frames of the base interval) for PCCA+ of the hidden-slow toy's k-means microstates: the lag at
#: which :func:`mdlstm_utils.states.lag.suggest_lag` finds the slowest implied timescale levelled off on these
#: microstates in notebook 05 (``full`` profile, seed 0). Used where a notebook builds the partition without
#: running that scan (the sweep point of notebook 07).
HIDDEN_SLOW_MSM_LAG = 50

#: Dynamical coring of the hidden-slow toy's core-set labels, in base frames: the start of the plateau of the
#: reference MFPT against the minimum dwell in notebook 05 (``full`` profile, seed 0; the first value that
#: changes the MFPT by less than 10 % to the next).
HIDDEN_SLOW_MIN_DWELL = 10


@dataclass
class FourWellData:
    """Four-well reference data: positions, grid labels, and the well of each bin."""

    potential: FourWell1D
    x: np.ndarray  # (walkers, frames)
    labels: np.ndarray  # (walkers, frames) grid bins
    grid: Grid
    wells: np.ndarray  # bin -> well index (0..3, left to right)
    saving_interval: float


def four_well(
    n_walkers: int, n_frames: int, *, save_every: int = 50, n_bins: int = 40, seed: int = 0, device="auto", progress: bool = True
) -> FourWellData:
    """Walkers on :class:`FourWell1D` started in Boltzmann proportions, equilibrated 5000 steps, binned on [-2, 2]."""
    pot = FourWell1D()
    x0 = np.repeat(pot.minima, np.round(pot.boltzmann_well_populations() * n_walkers).astype(int))
    x0 = np.resize(x0, n_walkers)
    x = langevin(pot, x0, n_frames, dt=DT, save_every=save_every, burn_in=5000, seed=seed, device=device, progress=progress)[..., 0]
    grid = make_grid(-2.0, 2.0, n_bins)
    return FourWellData(pot, x, discretize_grid(x, grid), grid, assign_basins(pot, grid.centers()), DT * save_every)


@dataclass
class HiddenSlowData:
    """Hidden-slow-mode reference data: features, the hidden slow coordinate, and k-means microstates."""

    potential: HiddenSlowND
    x: np.ndarray  # (walkers, frames, dim)
    s: np.ndarray  # (walkers, frames) exact slow coordinate
    micro: np.ndarray  # (walkers, frames) microstate labels
    centers: np.ndarray  # (n_micro, dim)
    saving_interval: float

    @property
    def n_micro(self) -> int:
        return len(self.centers)

    def micro_mean_s(self) -> np.ndarray:
        """Mean slow coordinate of the frames of each microstate (``nan`` for a microstate without frames)."""
        return state_means(self.micro, self.s, self.n_micro)


def hidden_slow(
    n_walkers: int,
    n_frames: int,
    *,
    dim: int = 30,
    save_every: int = 10,
    n_micro: int = 100,
    kmeans_frames: int = 400_000,
    seed: int = 0,
    device="auto",
    progress: bool = True,
) -> HiddenSlowData:
    """Walkers on :class:`HiddenSlowND`, then k-means (torch backend) on a random subset of
    ``kmeans_frames`` frames and assignment of every frame to its nearest centre."""
    pot = HiddenSlowND(dim=dim)
    x = langevin(pot, pot.sample_start(n_walkers, seed=seed), n_frames, dt=DT, save_every=save_every, burn_in=2000,
                 seed=seed, device=device, progress=progress)
    flat = x.reshape(-1, dim)
    rng = np.random.default_rng(seed)
    sub = flat[rng.choice(len(flat), size=min(kmeans_frames, len(flat)), replace=False)]
    km = kmeans(sub, n_micro, backend="torch", device=device, seed=seed)
    micro = assign_to_centers(flat, km.centers, device=device).reshape(x.shape[:2])
    return HiddenSlowData(pot, x, pot.slow_coordinate(x), micro, km.centers, DT * save_every)


def slow_truth_mfpt(s: np.ndarray, dt: float, core: float = 0.5) -> np.ndarray:
    """The slow kinetics of :class:`HiddenSlowND` measured on its hidden coordinate: MFPTs between the
    cores ``s < -core`` and ``s > core`` (:func:`~mdlstm_utils.kinetics.mfpt_matrix`).

    A sampled estimate with the noise and frame spacing of ``s``; the exact
    values are :meth:`HiddenSlowND.exact_core_mfpt`. The two differ by how
    well the labels of an ideal partition carry the slow process at this
    saving interval.

    ``s`` is the hidden slow coordinate per frame (``HiddenSlowData.s``, any
    layout of trajectories); frames between the cores belong to neither set.
    Returns the ``(2, 2)`` MFPT matrix in the unit of ``dt`` (``nan`` on the
    diagonal): ``[0, 1]`` is A (``s < -core``) → B, ``[1, 0]`` is B → A.
    """
    s = np.asarray(s)
    labels = np.where(s < -core, 0, np.where(s > core, 2, 1))
    return mfpt_matrix(labels, [[0], [2]], n_states=3, dt=dt)[0]


@dataclass
class HiddenRowsData:
    """:class:`~mdlstm_utils.data.systems.HiddenRows2D` reference data, seen through ``x`` and through ``(x, y)``.

    ``labels_x`` are the bins of ``x`` alone (the one-coordinate view); ``labels_xy`` the bins of ``x`` in each
    row (``y < 0`` or ``> 0``; the two-coordinate view). Both are numbered ``0..n-1`` over the bins the data
    visit (a state model needs no token that never occurs); ``x_state_of_bin`` and ``xy_state_of_bin`` map
    every bin (``xy``: ``bin + n_bins * row``) to its state, a bin without frames to the nearest visited bin's.
    ``x_sets`` lumps the ``x`` states into four intervals cut at ``x = -1, 0, 1``, the images in ``x`` of the
    four wells (bottom-left, top-left, bottom-right, top-right); ``xy_sets`` are the four wells themselves
    (:meth:`~mdlstm_utils.data.systems.HiddenRows2D.well_of`), in the order of the potential's ``minima``.
    """

    potential: HiddenRows2D
    xy: np.ndarray  # (walkers, frames, 2)
    labels_x: np.ndarray  # (walkers, frames)
    labels_xy: np.ndarray  # (walkers, frames)
    grid: Grid  # the x bins
    x_state_of_bin: np.ndarray
    xy_state_of_bin: np.ndarray
    x_sets: list
    xy_sets: list
    saving_interval: float

    @property
    def n_x(self) -> int:
        """Number of states of the one-coordinate view."""
        return int(self.x_state_of_bin.max()) + 1

    @property
    def n_xy(self) -> int:
        """Number of states of the two-coordinate view."""
        return int(self.xy_state_of_bin.max()) + 1

    def cell_states(self, centers: np.ndarray, view: str = "x") -> np.ndarray:
        """The state of each point of ``centers`` (``(N, 2)``, e.g. a generator's cells) in ``view`` ``"x"`` or ``"xy"``."""
        centers = np.asarray(centers, dtype=float)
        b = discretize_grid(centers[:, 0], self.grid)
        if view == "x":
            return self.x_state_of_bin[b]
        if view == "xy":
            return self.xy_state_of_bin[b + self.grid.n_states * (centers[:, 1] > 0)]
        raise ValueError(f"view must be 'x' or 'xy', got {view!r}")


def _compact(full: np.ndarray, n_bins: int, n_rows: int) -> np.ndarray:
    """Bin -> state over the visited bins (numbered in bin order); an unvisited bin takes its row's nearest visited one."""
    used = np.zeros(n_bins * n_rows, dtype=bool)
    used[np.unique(full)] = True
    state = np.cumsum(used) - 1
    out = np.empty(n_bins * n_rows, dtype=np.int64)
    for r in range(n_rows):
        row = np.arange(r * n_bins, (r + 1) * n_bins)
        vis = row[used[row]]
        out[row] = state[vis[np.abs(row[:, None] - vis[None, :]).argmin(1)]]
    return out


def hidden_rows(n_walkers: int, n_frames: int, *, save_every: int = 100, n_bins: int = 18, seed: int = 0,
                device="auto", progress: bool = True, **potential) -> HiddenRowsData:
    """Walkers on :class:`~mdlstm_utils.data.systems.HiddenRows2D` (options ``potential``) started at the well
    bottoms in Boltzmann proportions and equilibrated 5000 steps; ``x`` cut into ``n_bins`` bins on
    [-1.8, 1.8] (the outer bins take the tails; with ``n_bins`` a multiple of 9 the cuts ``x = -1, 0, 1``
    between the wells' images fall on bin edges)."""
    pot = HiddenRows2D(**potential)
    x = langevin(pot, pot.sample_start(n_walkers, seed=seed), n_frames, dt=DT, save_every=save_every, burn_in=5000,
                 seed=seed, device=device, progress=progress)
    grid = make_grid(-1.8, 1.8, n_bins)
    bx = discretize_grid(x[..., 0], grid)
    bxy = bx + n_bins * (x[..., 1] > 0)
    x_of, xy_of = _compact(bx, n_bins, 1), _compact(bxy, n_bins, 2)
    c = grid.centers()[:, 0]
    side = np.digitize(c, [-1.0, 0.0, 1.0])  # 0: x < -1 (bottom-left), 1: top-left, 2: bottom-right, 3: top-right
    x_sets = [np.unique(x_of[side == k]) for k in range(4)]
    wells = np.concatenate([pot.well_of(np.c_[c, np.full_like(c, -1.0)]), pot.well_of(np.c_[c, np.full_like(c, 1.0)])])
    xy_sets = [np.unique(xy_of[wells == k]) for k in range(4)]
    return HiddenRowsData(pot, x, x_of[bx], xy_of[bxy], grid, x_of, xy_of, x_sets, xy_sets, DT * save_every)
