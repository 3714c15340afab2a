"""Systems the tutorial notebooks do not use, with exact answers, for the tests of ``mdlstm analyze``.

Three 2-D overdamped diffusions in multi-well potentials:

* deeptime's ``triple_well_2d`` and ``quadruple_well`` (``deeptime.data``, its own integrator);
* :class:`FourGaussianWells`, a four-well potential of our own design (four Gaussian wells of unequal depth on
  a rectangle, in a quartic box), integrated with :func:`mdlstm_utils.data.systems.langevin`. Its three slow
  timescales are close to each other (ratios 1.4 and 1.7), so no gap between them marks a number of states;
  the gap to the fourth is 15.

Each is seen through all coordinates (the deeptime systems: the two slow coordinates plus 18 fast
Ornstein-Uhlenbeck noise coordinates, mixed by a random rotation, so that nothing marks which directions are
slow; the four-well system: its (x, y)) and through one coordinate (``x`` alone). The truth is the exact
slowest relaxation time of the 2-D dynamics, from the square-root-approximation generator on a fine grid
(:func:`mdlstm_utils.data.systems.grid_generator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import eigsh

from mdlstm_utils.data.systems import Potential, langevin


@dataclass
class OwnSystem:
    name: str
    features: list  # (n_frames, d) arrays: all coordinates (20-D embedding, or the 2-D positions)
    coordinate: list  # (n_frames, 1) arrays: x alone
    positions: list  # (n_frames, 2) arrays: the 2-D positions (to check which wells were visited)
    dt: float  # time between frames
    timescales: np.ndarray  # exact, the slowest first, in the time unit of dt

    @property
    def slowest_timescale(self) -> float:
        return float(self.timescales[0])

    def view(self, which: str) -> list:
        """``"all"``: every coordinate; ``"x"``: the first coordinate alone."""
        if which not in ("all", "x"):
            raise ValueError(f"view {which!r}; choose 'all' or 'x'")
        return self.features if which == "all" else self.coordinate


class _Potential:
    def __init__(self, system):
        self.system = system

    def energy_numpy(self, x):
        return self.system.potential(np.atleast_2d(x))


def exact_timescales(potential, lo, hi, n: int, kT: float, k: int = 3) -> np.ndarray:
    """The ``k`` slowest relaxation times of ``dX = -grad V dt + sqrt(2 kT) dW`` (SqRA generator, ``n x n`` cells);
    ``potential`` has ``energy_numpy``."""
    from mdlstm_utils.data.systems import grid_generator

    gen = grid_generator(potential, lo, hi, (n, n), kT=kT, D=kT)
    d = np.sqrt(gen.stationary)
    s = sparse.diags(d) @ gen.rates @ sparse.diags(1 / d)
    w = eigsh(0.5 * (s + s.T), k=k + 1, sigma=-1e-6, which="LM", return_eigenvectors=False)
    return 1 / np.sort(np.abs(w))[1:]


def _embed(x2: list, dim: int, rng) -> list:
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    out = []
    for x in x2:
        noise = np.empty((len(x), dim - 2))
        noise[0] = rng.normal(size=dim - 2)
        phi = 0.3  # fast noise: correlation 0.3 from one frame to the next
        for t in range(1, len(x)):
            noise[t] = phi * noise[t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=dim - 2)
        out.append(np.hstack([x, 0.5 * noise]) @ q.T)
    return out


def _simulate(system, starts, n_frames: int, seed: int) -> list:
    return [np.asarray(system.trajectory(np.asarray([s], dtype=float), n_frames, seed=seed + i, n_jobs=1))
            for i, s in enumerate(starts)]


def _own(name, x2, dt, timescales, dim, seed) -> OwnSystem:
    feats = _embed(x2, dim, np.random.default_rng(seed)) if dim > 2 else [x.copy() for x in x2]
    return OwnSystem(name, feats, [x[:, :1].copy() for x in x2], x2, dt, np.asarray(timescales, dtype=float))


def triple_well(n_traj: int = 8, n_frames: int = 20000, seed: int = 0, dim: int = 20) -> OwnSystem:
    """deeptime's ``triple_well_2d`` (sigma 1.09, so kT = 0.594), frames 0.1 apart, in ``dim`` dimensions.
    Exact timescales 12.7, 1.34, 0.26."""
    import deeptime.data as dd

    sysm = dd.triple_well_2d(h=1e-3, n_steps=100)
    starts = [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.5)] * n_traj
    x2 = _simulate(sysm, starts[:n_traj], n_frames, seed)
    t = exact_timescales(_Potential(sysm), (-2.5, -2.0), (2.5, 3.0), 120, kT=1.09**2 / 2)
    return _own("triple well", x2, 0.1, t, dim, seed)


def quadruple_well(n_traj: int = 8, n_frames: int = 20000, seed: int = 0, dim: int = 20) -> OwnSystem:
    """deeptime's ``quadruple_well`` (beta 4), frames 0.1 apart, in ``dim`` dimensions.
    Exact timescales 33.5, 33.5, 16.8 (x and y are independent double wells), then 0.3."""
    import deeptime.data as dd

    sysm = dd.quadruple_well(h=1e-3, n_steps=100)
    starts = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] * n_traj
    x2 = _simulate(sysm, starts[:n_traj], n_frames, seed)
    t = exact_timescales(_Potential(sysm), (-2.0, -2.0), (2.0, 2.0), 120, kT=0.25)
    return _own("quadruple well", x2, 0.1, t, dim, seed)


class FourGaussianWells(Potential):
    r"""Four Gaussian wells of unequal depth at ``(±1.1, ±1.0)`` in a quartic box (kT = 1):

    .. math:: U(x, y) = -\sum_i A_i \exp\left(-\frac{|r - c_i|^2}{2 s^2}\right) + 0.1 (x^4 + y^4)

    with depths ``A = (5, 4.5, 4.5, 4)`` for the wells at ``(-1.1, -1), (1.1, -1), (-1.1, 1), (1.1, 1)`` and
    ``s = 0.5``. Exact (SqRA, 200 x 200 cells on [-3, 3]^2, D = 1): timescales 5.05, 3.61, 2.11, then 0.14;
    well populations 0.35, 0.24, 0.24, 0.17.
    """

    centers = np.array([[-1.1, -1.0], [1.1, -1.0], [-1.1, 1.0], [1.1, 1.0]])
    depths = np.array([5.0, 4.5, 4.5, 4.0])
    width = 0.5
    box = 0.1

    def __init__(self):
        self.dim = 2

    def _gauss(self, x):
        d = x[:, None, :] - self.centers[None]
        return d, self.depths * np.exp(-(d**2).sum(-1) / (2 * self.width**2))

    def energy_numpy(self, x):
        x = np.asarray(x, dtype=float).reshape(-1, 2)
        _, g = self._gauss(x)
        return -g.sum(1) + self.box * (x**4).sum(1)

    def force_numpy(self, x):
        d, g = self._gauss(x)
        return -(g[..., None] * d).sum(1) / self.width**2 - 4 * self.box * x**3

    def energy(self, x):  # torch, for the interface; the tests integrate with NumPy
        return torch.as_tensor(self.energy_numpy(x.detach().cpu().numpy()))

    def well_of(self, x: np.ndarray) -> np.ndarray:
        """Index of the well (the quadrant) of each position."""
        x = np.asarray(x).reshape(-1, 2)
        return (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)


def four_gaussian_wells(n_traj: int = 100, n_frames: int = 2000, seed: int = 0, dt: float = 0.05) -> OwnSystem:
    """:class:`FourGaussianWells`, overdamped (D = 1, step 1e-3), frames ``dt`` apart, walkers started in the
    four wells in turn; seen through (x, y) and through x."""
    pot = FourGaussianWells()
    starts = pot.centers[np.arange(n_traj) % 4]
    x = langevin(pot, starts, n_frames, dt=1e-3, save_every=int(round(dt / 1e-3)), seed=seed, device="cpu",
                 dtype=torch.float64, progress=False, backend="numpy")
    t = exact_timescales(pot, (-3.0, -3.0), (3.0, 3.0), 200, kT=1.0)
    return _own("four Gaussian wells", [np.asarray(xi) for xi in x], dt, t, 2, seed)


SYSTEMS = {"triple well": triple_well, "quadruple well": quadruple_well, "four Gaussian wells": four_gaussian_wells}
