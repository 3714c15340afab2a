"""Toy systems: model potentials and a batched Langevin integrator in torch.

All quantities are in reduced units: lengths are dimensionless, energies are in
units of the thermal energy of the default temperature (``kT = 1``), and time
is measured in units of ``x0**2 / D`` with the diffusion constant
``D = kT / (mass * gamma)``; with the defaults (``kT = mass = gamma = 1``) one
time unit is the time a free particle needs to diffuse a mean-square distance
of 2 (one well spacing of :class:`FourWell1D` is 1).

The integrator advances many independent walkers at once (a batch), on the CPU
or a GPU, from one seed, so a reference data set of thousands of barrier
crossings is a single call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from mdlstm_utils._checks import check_int as _check_count, check_positive as _check_positive
from mdlstm_utils.runtime import resolve_device

__all__ = [
    "Potential",
    "Harmonic",
    "FourWell1D",
    "ThreeWell2D",
    "HiddenSlowND",
    "langevin",
    "mfpt_1d",
    "GridGenerator",
    "grid_generator",
    "exact_set_mfpt",
    "HiddenRows2D",
    "generator_timescales",
    "projected_timescales",
]


def mfpt_1d(u: np.ndarray, grid: np.ndarray, start: float, target: float, D: float = 1.0) -> float:
    r"""Exact mean first-passage time of 1-D overdamped diffusion from ``start`` to ``target``.

    .. math:: \tau = \frac{1}{D}\int_a^b e^{u(y)}\int_{-\infty}^{y} e^{-u(z)}\,dz\,dy

    for ``a = start < b = target`` (mirrored for ``a > b``), with reflecting
    ends of ``grid``. ``u`` is the energy in units of kT on the uniform
    ``grid``, which must cover both wells' Boltzmann weight; ``D = kT/(m gamma)``.
    """
    u = np.asarray(u, dtype=float)
    dx = grid[1] - grid[0]
    u = u - u.min()
    if target > start:
        inner = np.cumsum(np.exp(-u)) * dx  # integral from -inf to y
        sel = (grid >= start) & (grid <= target)
    else:
        inner = np.cumsum(np.exp(-u)[::-1])[::-1] * dx  # integral from y to +inf
        sel = (grid >= target) & (grid <= start)
    return float(np.sum(np.exp(u[sel]) * inner[sel]) * dx / D)


@dataclass
class GridGenerator:
    """Overdamped Langevin dynamics as a continuous-time Markov jump process on the cells of a regular grid."""

    rates: "scipy.sparse.csr_matrix"  # (N, N) rate matrix: off-diagonal jump rates, rows sum to zero
    centers: np.ndarray  # (N, dim) cell centres, C order over the grid axes
    stationary: np.ndarray  # (N,) Boltzmann weight of each cell, normalised
    shape: tuple  # cells along each axis


def grid_generator(potential, lo, hi, shape, *, kT: float = 1.0, D: float = 1.0) -> GridGenerator:
    r"""The generator of overdamped Langevin dynamics in ``potential``, discretised on a grid.

    Square-root approximation (Lie, Fackeldey & Weber, SIAM J. Matrix Anal.
    Appl. 34, 738, 2013): a jump between neighbouring cells :math:`i \to j`
    along axis :math:`d` has the rate :math:`D/h_d^2 \, e^{-(U_j - U_i)/2kT}`.
    It satisfies detailed balance with the Boltzmann weights of the cell
    centres exactly and converges to the Fokker-Planck operator as the cells
    shrink. The box ``[lo, hi]`` must hold all the Boltzmann weight that
    matters (its faces reflect). ``D = kT / (mass * friction)`` is the
    diffusion constant of :func:`langevin`'s overdamped scheme.
    """
    from scipy import sparse

    lo = np.atleast_1d(np.asarray(lo, dtype=float))
    hi = np.atleast_1d(np.asarray(hi, dtype=float))
    shape = tuple(int(n) for n in np.atleast_1d(shape))
    if not (len(lo) == len(hi) == len(shape)) or np.any(hi <= lo) or min(shape) < 2:
        raise ValueError(f"need lo < hi and at least 2 cells per axis, got lo={lo}, hi={hi}, shape={shape}")
    _check_positive("kT", kT)
    _check_positive("D", D)
    h = (hi - lo) / np.asarray(shape)
    axes = [lo[d] + (np.arange(shape[d]) + 0.5) * h[d] for d in range(len(shape))]
    centers = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
    u = np.asarray(potential.energy_numpy(centers if len(shape) > 1 else centers[:, 0]), dtype=float).reshape(-1) / kT
    idx = np.arange(len(centers)).reshape(shape)
    rows, cols, vals = [], [], []
    for d in range(len(shape)):
        a = np.take(idx, np.arange(shape[d] - 1), axis=d).ravel()  # each cell and its neighbour up axis d
        b = np.take(idx, np.arange(1, shape[d]), axis=d).ravel()
        w = D / h[d] ** 2
        rows += [a, b]
        cols += [b, a]
        vals += [w * np.exp(-(u[b] - u[a]) / 2), w * np.exp(-(u[a] - u[b]) / 2)]
    n = len(centers)
    Q = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    Q = (Q - sparse.diags(np.asarray(Q.sum(axis=1)).ravel())).tocsr()
    pi = np.exp(-(u - u.min()))
    return GridGenerator(Q, centers, pi / pi.sum(), shape)


def exact_set_mfpt(generator: GridGenerator, set_of_cell, n_sets: int | None = None, *,
                   saving_interval: float | None = None) -> np.ndarray:
    """Exact MFPTs between sets of grid cells, as the transition-based estimator defines them.

    ``set_of_cell``: the set (0, 1, ...) of every cell of ``generator``, or -1
    for a cell in no set. Entry ``[i, j]`` is the mean time with set ``i`` as
    the last visited of ``{i, j}`` per ``i -> j`` transition, ``1 / k_ij`` of
    transition path theory (deeptime's ``reactive_flux``; the other sets count
    as intermediate space): what :func:`~mdlstm_utils.kinetics.mfpt`
    estimates from trajectories labelled by the same cells. ``nan`` on the
    diagonal.

    ``saving_interval=None`` gives the continuous-time process, which counts
    every touch of a set. Trajectories saved every ``saving_interval`` see a
    set only when a frame falls in it and miss brief visits between frames;
    with ``saving_interval`` the MFPTs are those of the frames, from the exact
    one-frame propagator ``expm(Q * saving_interval)`` (a dense matrix from a
    symmetric eigendecomposition: keep the grid to a few thousand cells). They are the truth to judge frame-based
    estimates by: on the three-well potential at kT = 0.75 with frames every
    0.05 and cores of 1/3-wide bins (notebook 00), they are 3-17 % longer
    than the continuous-time ones.
    """
    from deeptime.markov import reactive_flux
    from scipy import sparse

    labels = np.asarray(set_of_cell, dtype=np.int64).ravel()
    if labels.shape != (len(generator.centers),):
        raise ValueError(f"set_of_cell needs one entry per cell ({len(generator.centers)}), got {labels.shape}")
    k = int(labels.max()) + 1 if n_sets is None else int(n_sets)
    Q = generator.rates
    if saving_interval is None:
        step = 1.0 / float(-Q.diagonal().min())  # uniformisation: a jump chain with steps of 1 / (largest exit rate)
        P = (sparse.identity(Q.shape[0], format="csr") + Q * step).tocsr()
    else:
        step = _check_positive("saving_interval", saving_interval)
        if Q.shape[0] > 6000:
            raise ValueError(f"saving_interval needs a dense propagator; {Q.shape[0]} cells are too many (at most 6000)")
        # Q is reversible: pi^(1/2) Q pi^(-1/2) is symmetric, so expm(Q t) comes from one symmetric eigendecomposition
        sq = np.sqrt(generator.stationary)
        S = sq[:, None] * Q.toarray() / sq[None, :]
        w, V = np.linalg.eigh(0.5 * (S + S.T))
        P = np.clip(((V * np.exp(w * step)) @ V.T) / sq[:, None] * sq[None, :], 0.0, None)
        P /= P.sum(axis=1, keepdims=True)
    out = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            a, b = np.flatnonzero(labels == i), np.flatnonzero(labels == j)
            if len(a) == 0 or len(b) == 0:
                raise ValueError(f"set {i if len(a) == 0 else j} holds no cell")
            # the jump chain shares the committor of Q (deeptime's own solve is dense: minutes on a fine 2-D grid);
            # the propagator over a frame has its own
            q = _committor(Q, a, b) if saving_interval is None else None
            flux = reactive_flux(P, a, b, stationary_distribution=generator.stationary, qplus=q,
                                 qminus=None if q is None else 1.0 - q)
            out[i, j] = flux.mfpt * step
    return out


def _committor(Q, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Forward committor from ``a`` to ``b`` of the rate matrix ``Q``: ``Q q = 0`` outside both, 0 on ``a``, 1 on ``b``."""
    from scipy.sparse.linalg import spsolve

    q = np.zeros(Q.shape[0])
    q[b] = 1.0
    free = np.ones(Q.shape[0], dtype=bool)
    free[a] = free[b] = False
    Qf = Q[free]
    q[free] = spsolve(Qf[:, free].tocsc(), -Qf[:, b].sum(axis=1).A1)
    return q


class Potential:
    """A potential energy surface ``U(x)`` for walkers ``x`` of shape ``(n, dim)``.

    Subclasses implement :meth:`energy` (torch, batched) and may implement
    :meth:`force` analytically; the default force uses autograd. A subclass
    that also implements :meth:`force_numpy` is integrated with NumPy on the
    CPU by :func:`langevin` (a step is a few small array operations, whose cost
    there is the per-call overhead, several times lower in NumPy than in torch).
    """

    dim: int = 1

    def energy(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Energy of each walker, shape ``(n,)``, in units of kT(=1)."""
        raise NotImplementedError

    def force(self, x: torch.Tensor) -> torch.Tensor:
        """``-dU/dx`` for each walker, shape ``(n, dim)``."""
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(xr).sum(), xr)
        return -grad

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`force` on a NumPy array of shape ``(n, dim)``; subclasses with an analytic force implement it."""
        raise NotImplementedError(f"{type(self).__name__} has no NumPy force")

    def energy_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`energy` on a NumPy array of shape ``(n, dim)`` or ``(n,)`` for 1-D."""
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1, self.dim)
        return self.energy(xt).numpy()


@dataclass
class Harmonic(Potential):
    """``U(x) = k/2 |x - center|^2``: its Boltzmann density is a Gaussian of variance ``kT/k``."""

    k: float = 1.0
    center: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        self.dim = len(self.center)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        return 0.5 * self.k * ((x - c) ** 2).sum(-1)

    def force(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        return -self.k * (x - c)

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        return -self.k * (x - np.asarray(self.center))


@dataclass
class FourWell1D(Potential):
    r"""One-dimensional four-well potential, in the spirit of the four-state model
    of Tsai, Kuo & Tiwary (Nat. Commun. 11, 5115, 2020).

    .. math::

        U(x)/k_BT = \frac{H}{2}\,(1 + \cos 2\pi x) + b\cos \pi x + \tau x
                    + k_w\,\max(|x| - 1.5,\, 0)^2

    * The cosine term puts four wells near ``x = -1.5, -0.5, 0.5, 1.5`` separated
      by barriers of height ``H`` at ``x = -1, 0, 1``.
    * ``b cos(pi x)`` raises the central barrier by ``b`` and lowers the two outer
      ones by ``b`` without moving the well bottoms' energies, so crossing the
      middle is the slowest process (left pair <-> right pair).
    * The tilt ``tau x`` makes the wells unequal: each well lies ``tau`` kT above
      its left neighbour, so the Boltzmann populations decrease from left to right.
    * The quadratic wall ``k_w`` confines the walkers to about ``[-2, 2]``.

    Defaults: ``H = 4``, ``b = 0.5``, ``tau = 0.5``, ``k_w = 50`` (all in kT),
    simulated with :func:`langevin` at ``kT = 1``, friction ``gamma = 1``, mass 1
    (overdamped, ``D = 1``) and time step ``dt = 1e-3``. Barriers are then
    3.2-4.8 kT and a walker leaves a well every few time units.

    The positions of minima and barrier tops are found numerically at
    construction and are available as :attr:`minima` and :attr:`barriers`.
    """

    H: float = 4.0
    b: float = 0.5
    tau: float = 0.5
    k_wall: float = 50.0
    wall: float = 1.5
    minima: np.ndarray = field(init=False, repr=False)
    barriers: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dim = 1
        grid = np.linspace(-2.2, 2.2, 44001)
        u = self.energy_numpy(grid)
        is_min = (u[1:-1] < u[:-2]) & (u[1:-1] < u[2:])
        is_max = (u[1:-1] > u[:-2]) & (u[1:-1] > u[2:])
        self.minima = grid[1:-1][is_min]
        self.barriers = grid[1:-1][is_max]
        if len(self.minima) != 4 or len(self.barriers) != 3:
            raise ValueError(
                f"FourWell1D parameters (H={self.H}, b={self.b}, tau={self.tau}) do not give four wells: "
                f"found {len(self.minima)} minima and {len(self.barriers)} barriers"
            )

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        x1 = x[..., 0]
        over = torch.clamp(x1.abs() - self.wall, min=0.0)
        return (
            0.5 * self.H * (1.0 + torch.cos(2 * math.pi * x1))
            + self.b * torch.cos(math.pi * x1)
            + self.tau * x1
            + self.k_wall * over**2
        )

    def force(self, x: torch.Tensor) -> torch.Tensor:
        return self._force(x, torch)

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        return self._force(x, np)

    def _force(self, x, xp):
        """The analytic force with the array module ``xp`` (torch or numpy): the same operations for both."""
        x1 = x[..., 0]
        over = (abs(x1) - self.wall).clip(min=0.0)
        f = (
            self.H * math.pi * xp.sin(2 * math.pi * x1)
            + self.b * math.pi * xp.sin(math.pi * x1)
            - self.tau
            - 2.0 * self.k_wall * over * xp.sign(x1)
        )
        return f[..., None]

    def well_of(self, x: np.ndarray) -> np.ndarray:
        """Index (0-3, left to right) of the well whose basin contains each ``x``."""
        return np.searchsorted(self.barriers, np.asarray(x, dtype=float).reshape(-1))

    def boltzmann_well_populations(self, kT: float = 1.0) -> np.ndarray:
        """Exact equilibrium probability of each well's basin (numerical quadrature)."""
        grid = np.linspace(-2.6, 2.6, 52001)
        w = np.exp(-(self.energy_numpy(grid) - self.energy_numpy(grid).min()) / kT)
        idx = self.well_of(grid)
        pops = np.bincount(idx, weights=w, minlength=4)
        return pops / pops.sum()

    def exact_mfpt(self, source: int, target: int, kT: float = 1.0, D: float = 1.0) -> float:
        r"""Exact overdamped mean first-passage time from the bottom of well ``source``
        to the bottom of well ``target`` (reflecting walls):

        .. math:: \tau = \frac{1}{D}\int_a^b e^{U(y)/kT}\int_{-\infty}^{y} e^{-U(z)/kT}\,dz\,dy

        for ``a < b`` (mirrored for ``a > b``). This is the time to reach the
        target well's minimum; a trajectory-based estimate that counts arrival in
        the target basin is slightly shorter.
        """
        grid = np.linspace(-2.6, 2.6, 52001)
        u = self.energy_numpy(grid) / kT
        return mfpt_1d(u, grid, self.minima[source], self.minima[target], D=D)


@dataclass
class ThreeWell2D(Potential):
    r"""The two-dimensional three-well potential of Metzner, Schütte & Vanden-Eijnden
    (J. Chem. Phys. 125, 084110, 2006):

    .. math::

        U(x, y) = 3 e^{-x^2-(y-1/3)^2} - 3 e^{-x^2-(y-5/3)^2}
                  - 5 e^{-(x-1)^2-y^2} - 5 e^{-(x+1)^2-y^2}
                  + 0.2 x^4 + 0.2 (y-1/3)^4

    Two deep wells at about ``(±1, 0)`` and a shallower one at about ``(0, 1.5)``.
    Energies are in the units of the formula; simulate at ``kT`` of about 0.6-1
    (``beta = 1.67`` in the original paper), friction ``gamma = 1``, ``dt = 1e-3``.
    Direct transitions between the two deep wells cross a high saddle at the
    origin; the lower-barrier path runs through the upper well.
    """

    minima: np.ndarray = field(
        init=False, repr=False, default_factory=lambda: np.array([[-1.05, -0.04], [1.05, -0.04], [0.0, 1.54]])
    )

    def __post_init__(self) -> None:
        self.dim = 2
        # refine the minima by gradient descent from the approximate positions
        x = torch.as_tensor(self.minima, dtype=torch.float64)
        for _ in range(2000):
            x = x + 1e-2 * self.force(x)
        self.minima = x.numpy()

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        X, Y = x[..., 0], x[..., 1]
        return (
            3 * torch.exp(-(X**2) - (Y - 1 / 3) ** 2)
            - 3 * torch.exp(-(X**2) - (Y - 5 / 3) ** 2)
            - 5 * torch.exp(-((X - 1) ** 2) - Y**2)
            - 5 * torch.exp(-((X + 1) ** 2) - Y**2)
            + 0.2 * X**4
            + 0.2 * (Y - 1 / 3) ** 4
        )

    def force(self, x: torch.Tensor) -> torch.Tensor:
        return self._force(x, torch)

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        return self._force(x, np)

    def _force(self, x, xp):
        """The analytic force with the array module ``xp`` (torch or numpy): the same operations for both."""
        X, Y = x[..., 0], x[..., 1]
        g1 = 3 * xp.exp(-(X**2) - (Y - 1 / 3) ** 2)
        g2 = -3 * xp.exp(-(X**2) - (Y - 5 / 3) ** 2)
        g3 = -5 * xp.exp(-((X - 1) ** 2) - Y**2)
        g4 = -5 * xp.exp(-((X + 1) ** 2) - Y**2)
        dUdx = -2 * X * (g1 + g2) - 2 * (X - 1) * g3 - 2 * (X + 1) * g4 + 0.8 * X**3
        dUdy = -2 * (Y - 1 / 3) * g1 - 2 * (Y - 5 / 3) * g2 - 2 * Y * (g3 + g4) + 0.8 * (Y - 1 / 3) ** 3
        return -xp.stack([dUdx, dUdy], -1)


def langevin(
    potential: Potential,
    x0: np.ndarray | torch.Tensor,
    n_frames: int,
    *,
    dt: float = 1e-3,
    save_every: int = 10,
    kT: float = 1.0,
    gamma: float = 1.0,
    mass: float = 1.0,
    scheme: str = "overdamped",
    burn_in: int = 0,
    seed: int = 0,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    backend: str = "auto",
) -> np.ndarray:
    r"""Integrate many independent Langevin walkers at once.

    ``scheme="overdamped"`` (Euler-Maruyama, Brownian dynamics)::

        x <- x + F(x) dt / (m gamma) + sqrt(2 kT dt / (m gamma)) * N(0, 1)

    ``scheme="underdamped"`` uses the BAOAB splitting (Leimkuhler & Matthews)
    with velocities drawn from the Maxwell-Boltzmann distribution at the start.

    Parameters
    ----------
    potential
        A :class:`Potential` (its ``dim`` sets the walker dimension).
    x0
        Starting positions, shape ``(n_walkers, dim)`` (or ``(n_walkers,)`` for 1-D).
    n_frames
        Frames to save per walker; ``n_frames * save_every`` steps are taken
        after ``burn_in`` steps.
    dt, save_every
        Time step, and steps between saved frames (the saving interval is
        ``dt * save_every``).
    kT, gamma, mass
        Thermal energy, friction (1/time) and mass.
    seed, device, dtype
        Random seed (same seed, same device -> same trajectory), ``"auto"``
        device choice, floating-point type.
    progress
        Show a tqdm progress bar.
    backend
        ``"torch"`` integrates with torch on ``device``; ``"numpy"`` in float64
        NumPy on the CPU (the potential needs :meth:`Potential.force_numpy`);
        ``"auto"`` takes NumPy when the device is the CPU and the potential has
        a NumPy force, torch otherwise. A step is a few operations on small
        arrays, so on a CPU its cost is the per-call overhead, several times
        lower in NumPy. The two backends draw different random numbers: the
        same seed gives statistically equivalent, not identical, trajectories.

    Returns
    -------
    numpy.ndarray
        Positions of shape ``(n_walkers, n_frames, dim)``; frame ``k`` is the
        position after ``burn_in + (k + 1) * save_every`` steps.
    """
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a mdlstm_utils.data.systems.Potential, got {type(potential).__name__}")
    dt = _check_positive("dt", dt)
    kT = _check_positive("kT", kT)
    gamma = _check_positive("gamma", gamma)
    mass = _check_positive("mass", mass)
    n_frames = _check_count("n_frames", n_frames)
    save_every = _check_count("save_every", save_every)
    burn_in = _check_count("burn_in", burn_in, minimum=0)
    if scheme not in ("overdamped", "underdamped"):
        raise ValueError(f"scheme={scheme!r}; expected 'overdamped' or 'underdamped'")
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"backend={backend!r}; expected 'auto', 'torch' or 'numpy'")
    dev = resolve_device(device)
    has_numpy_force = type(potential).force_numpy is not Potential.force_numpy
    if backend == "numpy" and not has_numpy_force:
        raise ValueError(f"backend='numpy' needs a NumPy force; {type(potential).__name__} has none")
    use_numpy = backend == "numpy" or (backend == "auto" and dev.type == "cpu" and has_numpy_force)

    x0_np = np.asarray(x0.detach().cpu() if isinstance(x0, torch.Tensor) else x0, dtype=np.float64)
    if potential.dim == 1 and x0_np.ndim == 1:
        x0_np = x0_np[:, None]
    if x0_np.ndim != 2 or x0_np.shape[1] != potential.dim or x0_np.shape[0] == 0:
        raise ValueError(
            f"x0 must have shape (n_walkers, {potential.dim}) with n_walkers >= 1, got {x0_np.shape}"
        )
    if not np.all(np.isfinite(x0_np)):
        raise ValueError("x0 contains NaN or inf; starting positions must be finite")

    if use_numpy:
        rng = np.random.default_rng(int(seed))
        x = x0_np.copy()
        force, randn = potential.force_numpy, lambda: rng.standard_normal(x.shape)
        out = np.empty((n_frames, *x.shape))
    else:
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed))
        x = torch.as_tensor(x0_np, dtype=dtype, device=dev)
        force, randn = potential.force, lambda: torch.randn(x.shape, generator=gen, device=dev, dtype=dtype)
        out = torch.empty((n_frames, *x.shape), dtype=dtype, device=dev)
    step, v = _langevin_step(scheme, force, randn, x, dt=dt, kT=kT, gamma=gamma, mass=mass)

    with torch.no_grad():
        for _ in range(burn_in):
            x, v = step(x, v)
        bar = tqdm(total=n_frames, desc="Langevin", unit="frame", disable=not progress, mininterval=0.5)
        for k in range(n_frames):
            for _ in range(save_every):
                x, v = step(x, v)
            out[k] = x
            if (k + 1) % 100 == 0 or k + 1 == n_frames:
                bar.update(k + 1 - bar.n)
        bar.close()
    if use_numpy:
        out = out.transpose(1, 0, 2).astype(torch.empty((), dtype=dtype).numpy().dtype)
    else:
        out = out.permute(1, 0, 2).cpu().numpy()
    if not np.all(np.isfinite(out[:, -1])):
        raise FloatingPointError(
            "the integration diverged (NaN/inf positions): reduce dt or check the potential's force"
        )
    return out


def _langevin_step(scheme: str, force, randn, x, *, dt: float, kT: float, gamma: float, mass: float):
    """The step function ``(x, v) -> (x, v)`` of ``scheme`` and the initial velocities (``None`` when overdamped).

    ``force`` and ``randn`` are torch or NumPy callables; the arithmetic is the same for both.
    """
    if scheme == "overdamped":
        mobility = dt / (mass * gamma)
        noise = math.sqrt(2.0 * kT * dt / (mass * gamma))

        def step(x, v):
            return x + mobility * force(x) + noise * randn(), v

        return step, None
    c1 = math.exp(-gamma * dt)
    c2 = math.sqrt((1.0 - c1 * c1) * kT / mass)
    f = force(x)

    def step(x, v):
        nonlocal f
        v = v + 0.5 * dt * f / mass  # B
        x = x + 0.5 * dt * v  # A
        v = c1 * v + c2 * randn()  # O
        x = x + 0.5 * dt * v  # A
        f = force(x)
        v = v + 0.5 * dt * f / mass  # B
        return x, v

    return step, math.sqrt(kT / mass) * randn()


@dataclass
class HiddenSlowND(Potential):
    r"""A slow double-well coordinate hidden among many fast coupled modes, rotated into ``dim`` dimensions.

    In internal coordinates :math:`y = (s, f_1, \dots, f_m)`, ``m = dim - 1``:

    .. math::

        U(y)/k_BT = h\,(s^2 - 1)^2
                    + \tfrac12 \sum_{i=1}^{m} k_i f_i^2
                    + \tfrac{\kappa}{2} \sum_{i=1}^{m-1} (f_i - f_{i+1})^2

    * ``s`` is the slow coordinate: a double well with minima at ``s = ±1`` and a
      barrier ``h`` (default 5 kT) at ``s = 0``.
    * the ``f_i`` are harmonic modes with stiffnesses ``k_i`` spaced
      geometrically between ``k_min`` and ``k_max``, mutually coupled as a chain
      of springs of stiffness ``kappa``. They relax in ``kT/(D lambda_i)``
      time units, ``lambda_i`` the eigenvalues of their stiffness matrix
      (0.1-0.9 with the defaults), while the slow process relaxes in
      about 18 time units (:meth:`slow_timescale`; overdamped, ``D = 1``), one
      well-to-well transition per ~36 time units per walker: the modes are *fast*, yet their
      thermal amplitudes (``sqrt(kT/k_i)``) are comparable to the distance
      between the wells, so they mask ``s``.
    * The energy is separable in ``s`` and ``f``, so the Boltzmann marginal of
      ``s`` and its dynamics are exactly those of the 1-D double well; the
      slowest relaxation time is :meth:`slow_timescale`.

    The observed coordinates are :math:`x = R\,y` with a fixed orthogonal
    matrix ``R`` (:attr:`rotation`, drawn from ``seed``; walkers are rows, so
    ``X = Y @ R.T`` and ``Y = X @ R``). Its first column, the slow direction
    :attr:`slow_direction`, has all entries ``±1/sqrt(dim)`` (random signs),
    so every feature carries the same small share ``1/dim`` of ``s`` and no
    single feature shows the slow process (``|corr(x_j, s)|`` is about 0.3-0.4
    with the defaults, walkers spread over both wells); the other columns are random. :meth:`slow_coordinate`
    recovers ``s = X @ R[:, 0]`` exactly.

    Defaults: ``dim = 30``, ``h = 5``, ``k_min = 1``, ``k_max = 5``,
    ``kappa = 1`` (energies in kT), simulated with :func:`langevin` at
    ``kT = 1``, ``gamma = mass = 1`` (overdamped) and ``dt = 1e-3`` (the stiffest
    curvature, ``8 h = 40`` at the well bottoms, is then well resolved); save
    every 10-100 steps. :attr:`minima` are the two well bottoms in ``x`` coordinates.
    """

    dim: int = 30
    barrier: float = 5.0
    k_min: float = 1.0
    k_max: float = 5.0
    coupling: float = 1.0
    seed: int = 0
    rotation: np.ndarray = field(init=False, repr=False)
    stiffness: np.ndarray = field(init=False, repr=False)
    minima: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dim = _check_count("dim", self.dim, minimum=3)
        for name in ("barrier", "k_min", "k_max"):
            _check_positive(name, getattr(self, name))
        if self.k_max < self.k_min:
            raise ValueError(f"k_max={self.k_max} must be >= k_min={self.k_min}")
        if isinstance(self.coupling, bool) or not (isinstance(self.coupling, (int, float)) and self.coupling >= 0):
            raise ValueError(f"coupling must be a number >= 0, got {self.coupling!r}")
        m = self.dim - 1
        rng = np.random.default_rng(self.seed)
        u = rng.choice([-1.0, 1.0], size=self.dim) / math.sqrt(self.dim)
        # complete u into an orthogonal basis: QR of [u, random], fixing the sign of the first column
        q, r = np.linalg.qr(np.column_stack([u, rng.normal(size=(self.dim, m))]))
        q = q * np.sign(np.diag(r))[None, :]
        q[:, 0] = u  # exact (QR reproduces it up to rounding)
        self.rotation = q
        k = np.geomspace(self.k_min, self.k_max, m)
        stiff = np.diag(k)
        if m > 1 and self.coupling > 0:
            lap = np.diag(np.r_[1.0, 2.0 * np.ones(m - 2), 1.0]) - np.eye(m, k=1) - np.eye(m, k=-1)
            stiff = stiff + self.coupling * lap
        self.stiffness = stiff  # the (m x m) matrix K of the fast modes, U_fast = f.K.f / 2
        self.minima = np.stack([-u, u])

    # --- coordinates -------------------------------------------------------
    @property
    def slow_direction(self) -> np.ndarray:
        """Unit vector of ``s`` in ``x`` space (first column of :attr:`rotation`)."""
        return self.rotation[:, 0].copy()

    def hidden_coordinates(self, X: np.ndarray) -> np.ndarray:
        """Internal coordinates ``Y = X @ R`` (column 0 is ``s``), shape ``(..., dim)``."""
        X = np.asarray(X, dtype=float)
        if X.shape[-1] != self.dim:
            raise ValueError(f"X has {X.shape[-1]} coordinates per frame but the system has dim={self.dim}")
        return X @ self.rotation

    def slow_coordinate(self, X: np.ndarray) -> np.ndarray:
        """The exact slow coordinate ``s`` of each frame of ``X`` (shape ``(..., dim)`` -> ``(...)``)."""
        return self.hidden_coordinates(X)[..., 0]

    def embed(self, Y: np.ndarray) -> np.ndarray:
        """Observed coordinates ``X = Y @ R.T`` of internal coordinates ``Y``."""
        Y = np.asarray(Y, dtype=float)
        if Y.shape[-1] != self.dim:
            raise ValueError(f"Y has {Y.shape[-1]} coordinates per frame but the system has dim={self.dim}")
        return Y @ self.rotation.T

    def sample_start(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` starting points, half in each well, with Boltzmann-distributed fast modes; shape ``(n, dim)``."""
        n = _check_count("n", n)
        rng = np.random.default_rng(seed)
        y = np.zeros((n, self.dim))
        y[:, 0] = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
        y[:, 1:] = rng.multivariate_normal(np.zeros(self.dim - 1), np.linalg.inv(self.stiffness), size=n)
        return self.embed(y)

    # --- energy and force --------------------------------------------------
    def _tensors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u`` (slow direction) and ``A = R_f K R_f^T`` (fast-mode stiffness in x space), cached per dtype/device."""
        key = (x.dtype, x.device)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            rf = self.rotation[:, 1:]
            A = rf @ self.stiffness @ rf.T
            cache[key] = (
                torch.as_tensor(self.rotation[:, 0], dtype=x.dtype, device=x.device),
                torch.as_tensor(0.5 * (A + A.T), dtype=x.dtype, device=x.device),
            )
        return cache[key]

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        u, A = self._tensors(x)
        s = x @ u
        # (x - s u) lies in the span of the fast directions, and A annihilates u
        return self.barrier * (s * s - 1.0) ** 2 + 0.5 * ((x @ A) * x).sum(-1)

    def force(self, x: torch.Tensor) -> torch.Tensor:
        u, A = self._tensors(x)
        s = x @ u
        return (-4.0 * self.barrier * s * (s * s - 1.0)).unsqueeze(-1) * u - x @ A

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        cache = self.__dict__.setdefault("_cache", {})
        if "numpy" not in cache:
            cache["numpy"] = tuple(t.numpy() for t in self._tensors(torch.zeros((), dtype=torch.float64)))
        u, A = cache["numpy"]
        s = x @ u
        return (-4.0 * self.barrier * s * (s * s - 1.0))[..., None] * u - x @ A

    def slow_energy(self, s: np.ndarray) -> np.ndarray:
        """The double-well part ``h (s^2 - 1)^2`` (the free energy of ``s`` up to a constant, in kT at kT = 1)."""
        s = np.asarray(s, dtype=float)
        return self.barrier * (s * s - 1.0) ** 2

    def slow_timescale(self, kT: float = 1.0, D: float = 1.0, n_grid: int = 2001) -> float:
        """Exact slowest relaxation time of the system (the double well's; the fast modes relax faster).

        Computed from the second eigenvalue of the 1-D Smoluchowski operator of
        ``s`` (finite-volume discretisation on ``[-2.5, 2.5]``, detailed balance
        exact on the grid), in time units with diffusion constant ``D = kT/(m gamma)``.
        """
        kT = _check_positive("kT", kT)
        D = _check_positive("D", D)
        grid = np.linspace(-2.5, 2.5, _check_count("n_grid", n_grid, minimum=101))
        h = grid[1] - grid[0]
        u = self.slow_energy(grid) / kT
        # rates between neighbouring cells: D/h^2 * exp(-(u_j - u_i)/2) (symmetrised generator)
        w = D / h**2 * np.exp(-0.5 * (u[1:] - u[:-1]))
        w_back = D / h**2 * np.exp(-0.5 * (u[:-1] - u[1:]))
        n = len(grid)
        L = np.zeros((n, n))
        idx = np.arange(n - 1)
        L[idx, idx + 1] = w
        L[idx + 1, idx] = w_back
        L[np.arange(n), np.arange(n)] = -L.sum(1)
        # symmetrise with the Boltzmann weights: S = P^{1/2} L P^{-1/2}
        p = np.exp(-(u - u.min()) / 2)
        S = (p[:, None] * L) / p[None, :]
        S = 0.5 * (S + S.T)
        ev = np.sort(np.linalg.eigvalsh(S))[::-1]
        slow = 1.0 / -ev[1]
        # the slowest fast mode relaxes in 1/(D/kT * smallest eigenvalue of K); report the larger time
        fast = kT / (D * np.linalg.eigvalsh(self.stiffness).min())
        return float(max(slow, fast))

    def exact_core_mfpt(self, core: float = 0.5, kT: float = 1.0, D: float = 1.0) -> np.ndarray:
        """Exact MFPTs between the cores ``s < -core`` (A) and ``s > core`` (B): a ``(2, 2)`` matrix.

        ``[0, 1]`` is the mean time from entering A (at ``s = -core``) to first
        reaching B, ``[1, 0]`` the reverse (equal by symmetry); ``nan`` on the
        diagonal. The energy is separable, so ``s`` diffuses exactly in the
        double well (:func:`mfpt_1d`). An estimate from frames saved every
        ``tau`` time units sees entries and arrivals only at frames and misses
        excursions between them, so it can differ from these values by more
        than its sampling error at long saving intervals.
        """
        _check_positive("core", core)
        grid = np.linspace(-2.6, 2.6, 52001)
        u = self.slow_energy(grid) / _check_positive("kT", kT)
        m = np.full((2, 2), np.nan)
        m[0, 1] = mfpt_1d(u, grid, -core, core, D=_check_positive("D", D))
        m[1, 0] = mfpt_1d(u, grid, core, -core, D=D)
        return m


@dataclass
class HiddenRows2D(Potential):
    r"""Four wells in two rows, whose slow exchange is only partly visible in ``x``: the case for memory.

    .. math::

        U(x, y)/k_BT = h_y\,(y^2 - 1)^2 + h(y)\,\big((x - s(y))^2 - 1\big)^2,
        \qquad h(y) = h_b + (h_t - h_b)\,\sigma(y),\quad s(y) = \delta\,(2\sigma(y) - 1),

    with the switch :math:`\sigma(y) = (1 + \tanh(y / w)) / 2` (0 in the bottom row, 1 in the top row).

    * ``y`` is the slow coordinate: a double well of barrier ``h_y`` (default 6 kT) between the bottom row
      (``y`` near -1) and the top row (``y`` near +1). Its exchange is the slowest process.
    * In each row ``x`` is a double well with minima near ``s(y) ± 1`` and a barrier ``h_b`` (bottom, 4 kT)
      or ``h_t`` (top, 2.5 kT): the four wells are (bottom, left), (bottom, right), (top, left),
      (top, right), and ``x`` hops between left and right several times faster in the top row.
    * The rows are shifted against each other by ``2 delta`` in ``x`` (default ``delta = 0.4``, against a
      well width of about 0.2): the well bottoms are at ``x`` near -1.4, 0.6 (bottom row) and -0.6, 1.4 (top
      row), so seen through ``x`` alone the row is only partly visible. At a well bottom ``x`` tells the row;
      in the barrier region between -0.6 and 0.6, which the hops of both rows cross, it does not, and only
      where the walker came from does. The next ``x`` then depends on the history beyond the current frame:
      binned ``x`` is not Markovian at short lags, while ``(x, y)`` is. A first-order model of binned ``x``
      lets a hop that entered the barrier region from one row leave it into the other, and so exchanges the
      rows at the rate of the fast hops.

    The exact slowest timescales and well populations come from the discretized 2-D generator
    (:meth:`exact_timescales`, :meth:`exact_populations`); simulate with :func:`langevin` at ``kT = 1``,
    ``gamma = mass = 1`` (overdamped, ``D = 1``) and ``dt = 1e-3`` (the stiffest curvature, ``8 h_y = 48``,
    is then well resolved). :attr:`minima` are the four well bottoms in the order (bottom, left),
    (bottom, right), (top, left), (top, right), the order of :meth:`well_of`.
    """

    h_y: float = 6.0
    h_bottom: float = 4.0
    h_top: float = 2.5
    shift: float = 0.4
    width: float = 0.5
    minima: np.ndarray = field(init=False, repr=False)

    #: the box the exact references integrate over: it holds all the Boltzmann weight that matters
    box_lo = (-2.6, -2.0)
    box_hi = (2.6, 2.0)

    def __post_init__(self) -> None:
        self.dim = 2
        for name in ("h_y", "h_bottom", "h_top", "width"):
            _check_positive(name, getattr(self, name))
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, float)) or not 0 <= self.shift < 0.5:
            raise ValueError(f"shift must be a number in [0, 0.5) (half the offset of the rows; at 0.5 and beyond "
                             f"the rows' inner wells overlap), got {self.shift!r}")
        x = np.array([[-1 - self.shift, -1.0], [1 - self.shift, -1.0], [-1 + self.shift, 1.0], [1 + self.shift, 1.0]])
        for _ in range(5000):  # refine by gradient descent from the approximate positions
            x = x + 2e-3 * self.force_numpy(x)
        self.minima = x

    def _terms(self, x, y, xp):
        th = xp.tanh(y / self.width)
        sig = 0.5 * (1.0 + th)
        dsig = 0.5 * (1.0 - th * th) / self.width
        h = self.h_bottom + (self.h_top - self.h_bottom) * sig
        z = x - self.shift * (2.0 * sig - 1.0)
        q = z * z - 1.0
        return sig, dsig, h, z, q

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        X, Y = x[..., 0], x[..., 1]
        _, _, h, _, q = self._terms(X, Y, torch)
        return self.h_y * (Y * Y - 1.0) ** 2 + h * q * q

    def force(self, x: torch.Tensor) -> torch.Tensor:
        return self._force(x, torch)

    def force_numpy(self, x: np.ndarray) -> np.ndarray:
        return self._force(np.asarray(x, dtype=float), np)

    def _force(self, x, xp):
        X, Y = x[..., 0], x[..., 1]
        _, dsig, h, z, q = self._terms(X, Y, xp)
        dUdx = 4.0 * h * z * q
        # dU/dy: the y double well, the row-dependent barrier, and the row-dependent shift of the x wells
        dUdy = (4.0 * self.h_y * Y * (Y * Y - 1.0) + (self.h_top - self.h_bottom) * dsig * q * q
                - 4.0 * h * z * q * 2.0 * self.shift * dsig)
        return -xp.stack([dUdx, dUdy], -1)

    def well_of(self, xy: np.ndarray) -> np.ndarray:
        """Well (0-3) of each point: ``2 * row + side``, row 1 for ``y > 0``, side 1 right of the row's barrier."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        sig = 0.5 * (1.0 + np.tanh(xy[:, 1] / self.width))
        side = xy[:, 0] > self.shift * (2.0 * sig - 1.0)
        return 2 * (xy[:, 1] > 0).astype(np.int64) + side.astype(np.int64)

    def generator(self, shape=(104, 80), *, kT: float = 1.0, D: float = 1.0) -> GridGenerator:
        """The discretized generator (:func:`grid_generator`) on the box :attr:`box_lo` - :attr:`box_hi`."""
        return grid_generator(self, self.box_lo, self.box_hi, shape, kT=kT, D=D)

    def exact_timescales(self, k: int = 3, shape=(104, 80), *, kT: float = 1.0, D: float = 1.0) -> np.ndarray:
        """The ``k`` slowest relaxation times of the 2-D dynamics, from the discretized generator
        (:func:`generator_timescales`); in time units with ``D = kT / (m gamma)``."""
        return generator_timescales(self.generator(shape, kT=kT, D=D), k)

    def exact_populations(self, shape=(104, 80), *, kT: float = 1.0) -> np.ndarray:
        """Exact Boltzmann population of each well's basin (:meth:`well_of`), summed over the generator's cells."""
        gen = self.generator(shape, kT=kT)
        return np.bincount(self.well_of(gen.centers), weights=gen.stationary, minlength=4)

    def sample_start(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` starting points at the well bottoms in Boltzmann proportions (then equilibrate with ``burn_in``)."""
        n = _check_count("n", n)
        p = self.exact_populations(shape=(52, 40))
        rng = np.random.default_rng(seed)
        return self.minima[rng.choice(4, size=n, p=p / p.sum())]


def generator_timescales(generator: GridGenerator, k: int = 3) -> np.ndarray:
    r"""The ``k`` slowest relaxation times ``-1 / lambda_i`` of a discretized generator (:func:`grid_generator`).

    The generator is reversible, so :math:`\pi^{1/2} Q \pi^{-1/2}` is symmetric: its ``k + 1`` eigenvalues
    closest to zero (sparse, shift-invert) give the stationary state (0) and the ``k`` slowest processes.
    """
    k = _check_count("k", k)
    lam, _ = _slow_modes(generator, max(k + 1, 8))  # a few more than asked: ARPACK finds the lowest few reliably
    return 1.0 / lam[1: k + 1]  # lam[0] = 0 is the stationary state


def _slow_modes(generator: GridGenerator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` eigenvalues of ``-Q`` closest to 0 (ascending) and the eigenvectors of the symmetrized generator."""
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh

    sq = np.sqrt(generator.stationary)
    S = diags(sq) @ generator.rates @ diags(1.0 / sq)
    S = 0.5 * (S + S.T)
    m = min(m, S.shape[0] - 2)
    # shift-invert just below 0: the eigenvalues nearest it are the slow ones (a shift scaled by a typical cell's
    # exit rate, not the largest: cells high up the walls have enormous ones)
    w, V = eigsh(S.tocsc(), k=m, sigma=-1e-6 * float(np.median(abs(S.diagonal()))), which="LM")
    order = np.argsort(-w)
    return -w[order], V[:, order]


def projected_timescales(generator: GridGenerator, cell_states, lag_times, k: int = 1,
                         n_states: int | None = None, n_modes: int = 150) -> np.ndarray:
    r"""Implied timescales that an MSM on the states ``cell_states`` would give with infinite data, at each lag.

    ``cell_states`` assigns each cell of ``generator`` to a state (for example the bin of its ``x``): the
    exact correlation matrix of the states at lag ``tau`` is
    :math:`C_{ab}(\tau) = \sum_{i \in a, j \in b} \pi_i\, [e^{Q\tau}]_{ij}`, the MSM is
    :math:`T(\tau) = \mathrm{diag}(C(0))^{-1} C(\tau)`, and its implied timescales are
    :math:`-\tau / \ln \lambda_j(T)`. This is the limit of what an MSM estimated from trajectories labelled
    by these states converges to: where it is below the exact slowest timescale
    (:func:`generator_timescales`), the states are not Markovian at that lag, however much data there is.

    :math:`e^{Q\tau}` is summed over the ``n_modes`` slowest eigenmodes of the generator; the faster ones have
    decayed by a factor below ``1e-6`` at the shortest lag (checked: a ``ValueError`` asks for more modes).
    Returns an array ``(len(lag_times), k)`` in time units.
    """
    from scipy import sparse

    states = np.asarray(cell_states, dtype=np.int64).ravel()
    if states.shape != (len(generator.centers),) or states.min() < 0:
        raise ValueError(f"cell_states needs one state >= 0 per cell ({len(generator.centers)}), got {states.shape}")
    n = int(states.max()) + 1 if n_states is None else int(n_states)
    lag_times = np.atleast_1d(np.asarray(lag_times, dtype=float))
    if lag_times.ndim != 1 or np.any(lag_times <= 0):
        raise ValueError(f"lag_times must be positive times, got {lag_times!r}")
    k = _check_count("k", k)
    lam, V = _slow_modes(generator, _check_count("n_modes", n_modes, minimum=k + 2))
    if np.exp(-lam[-1] * lag_times.min()) > 1e-6:
        raise ValueError(f"{len(lam)} modes do not resolve a lag of {lag_times.min():g} (the fastest kept decays "
                         f"only to {np.exp(-lam[-1] * lag_times.min()):.1e}): raise n_modes or the shortest lag")
    M = sparse.csr_matrix((np.ones(len(states)), (np.arange(len(states)), states)), shape=(len(states), n))
    pi = generator.stationary
    pops = np.asarray(M.T @ pi).ravel()
    keep = pops > 0
    B = np.asarray(M.T @ (np.sqrt(pi)[:, None] * V))[keep]  # C(tau) = B exp(-lam tau) B^T
    d = 1.0 / np.sqrt(pops[keep])
    out = np.full((len(lag_times), k), np.nan)
    for i, tau in enumerate(lag_times):
        C = (B * np.exp(-lam * tau)) @ B.T
        ev = np.sort(np.linalg.eigvalsh(d[:, None] * C * d[None, :]))[::-1]
        lam_t = np.clip(ev[1: k + 1], 1e-300, 1.0 - 1e-15)
        out[i, : len(lam_t)] = -tau / np.log(lam_t)
    return out
