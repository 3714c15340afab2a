"""Two systems the tutorial notebooks do not use, made from ``deeptime.data`` for the analysis pipeline's tests.

Each is a 2-D diffusion in a multi-well potential (deeptime's integrator), embedded in 20 dimensions: the two slow
coordinates plus 18 fast Ornstein-Uhlenbeck noise coordinates, mixed by a random rotation, so that nothing marks
which directions are slow. The truth is the exact slowest relaxation time of the 2-D dynamics, from the
square-root-approximation generator on a fine grid (:func:`mdlstm_utils.systems.grid_generator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import eigsh


@dataclass
class OwnSystem:
    name: str
    features: list  # (n_frames, 20) arrays
    dt: float  # time between frames
    slowest_timescale: float  # exact, in the time unit of dt


class _Potential:
    def __init__(self, system):
        self.system = system

    def energy_numpy(self, x):
        return self.system.potential(np.atleast_2d(x))


def exact_timescales(system, lo, hi, n: int, kT: float, k: int = 3) -> np.ndarray:
    """The ``k`` slowest relaxation times of ``dX = -grad V dt + sqrt(2 kT) dW`` (SqRA generator, ``n x n`` cells)."""
    from mdlstm_utils.systems import grid_generator

    gen = grid_generator(_Potential(system), lo, hi, (n, n), kT=kT, D=kT)
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


def triple_well(n_traj: int = 8, n_frames: int = 20000, seed: int = 0, dim: int = 20) -> OwnSystem:
    """deeptime's ``triple_well_2d`` (sigma 1.09, so kT = 0.594), frames 0.1 apart, in ``dim`` dimensions."""
    import deeptime.data as dd

    sysm = dd.triple_well_2d(h=1e-3, n_steps=100)
    starts = [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.5)] * n_traj
    x2 = _simulate(sysm, starts[:n_traj], n_frames, seed)
    t = exact_timescales(sysm, (-2.5, -2.0), (2.5, 3.0), 120, kT=1.09**2 / 2)
    return OwnSystem("triple well", _embed(x2, dim, np.random.default_rng(seed)), 0.1, float(t[0]))


def quadruple_well(n_traj: int = 8, n_frames: int = 20000, seed: int = 0, dim: int = 20) -> OwnSystem:
    """deeptime's ``quadruple_well`` (beta 4), frames 0.1 apart, in ``dim`` dimensions."""
    import deeptime.data as dd

    sysm = dd.quadruple_well(h=1e-3, n_steps=100)
    starts = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] * n_traj
    x2 = _simulate(sysm, starts[:n_traj], n_frames, seed)
    t = exact_timescales(sysm, (-2.0, -2.0), (2.0, 2.0), 120, kT=0.25)
    return OwnSystem("quadruple well", _embed(x2, dim, np.random.default_rng(seed)), 0.1, float(t[0]))
