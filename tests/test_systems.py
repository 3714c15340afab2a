"""The integrator samples the right equilibrium, and the toy potentials are what their docstrings say."""

import numpy as np
import pytest

from mdlstm_utils.data.systems import FourWell1D, Harmonic, HiddenSlowND, Potential, ThreeWell2D, langevin


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("scheme", ["overdamped", "underdamped"])
def test_harmonic_well_boltzmann(scheme, backend):
    # Boltzmann density of U = k/2 x^2 at kT is a Gaussian of variance kT / k
    k, kT = 4.0, 1.5
    x = langevin(
        Harmonic(k=k), np.zeros(2000), 100, dt=2e-3, save_every=25, burn_in=2000,
        kT=kT, gamma=2.0, scheme=scheme, seed=3, device="cpu", dtype=__import__("torch").float64, progress=False,
        backend=backend,
    )
    assert x.shape == (2000, 100, 1)
    assert abs(x.mean()) < 0.02
    assert x.var() == pytest.approx(kT / k, rel=0.03)


def test_two_dimensional_harmonic_is_isotropic():
    x = langevin(Harmonic(k=2.0, center=(1.0, -1.0)), np.zeros((2000, 2)), 100, save_every=50,
                 burn_in=3000, seed=0, device="cpu", progress=False)
    assert x.shape == (2000, 100, 2)
    np.testing.assert_allclose(x.reshape(-1, 2).mean(0), [1.0, -1.0], atol=0.03)
    np.testing.assert_allclose(x.reshape(-1, 2).var(0), [0.5, 0.5], rtol=0.06)


def test_four_well_geometry_and_populations():
    p = FourWell1D()
    np.testing.assert_allclose(p.minima, [-1.5, -0.5, 0.5, 1.5], atol=0.05)
    np.testing.assert_allclose(p.barriers, [-1.0, 0.0, 1.0], atol=0.02)
    u = p.energy_numpy(p.minima)
    # each well lies about tau above its left neighbour
    np.testing.assert_allclose(np.diff(u), p.tau, atol=0.05)
    pops = p.boltzmann_well_populations()
    assert pops.sum() == pytest.approx(1.0)
    assert np.all(np.diff(pops) < 0)
    # the integrator reproduces the exact well populations (walkers start in Boltzmann proportions)
    x0 = np.repeat(p.minima, np.round(pops * 2000).astype(int))
    x = langevin(p, x0, 400, dt=1e-3, save_every=50, burn_in=1000, seed=1, device="cpu", progress=False)
    w = p.well_of(x.ravel())
    # every well within 5 % of its own population (well D holds 0.098; measured errors up to about 3 %),
    # so a 10 % error in any well fails (checked once in a scratch copy: well D's measured population times 1.1)
    np.testing.assert_allclose(np.bincount(w, minlength=4) / w.size, pops, rtol=0.05)


def test_analytic_force_matches_autograd():
    import torch

    from mdlstm_utils.data.systems import Potential

    x = torch.linspace(-2.2, 2.2, 101, dtype=torch.float64)[:, None]
    p = FourWell1D()
    np.testing.assert_allclose(p.force(x).numpy(), Potential.force(p, x).numpy(), atol=1e-9)
    t = ThreeWell2D()
    xy = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(t.force(xy).numpy(), Potential.force(t, xy).numpy(), atol=1e-9)
    # the refined minima are stationary points
    assert np.abs(t.force(torch.as_tensor(t.minima)).numpy()).max() < 1e-6


def test_same_seed_same_trajectory_and_seed_matters():
    p = FourWell1D()
    a = langevin(p, np.zeros(8), 50, seed=5, device="cpu", progress=False)
    b = langevin(p, np.zeros(8), 50, seed=5, device="cpu", progress=False)
    c = langevin(p, np.zeros(8), 50, seed=6, device="cpu", progress=False)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_exact_mfpt_is_consistent_with_simulation():
    # overdamped MFPT from the bottom of well 0 to the bottom of well 1, by quadrature vs Langevin walkers
    p = FourWell1D()
    tau_exact = p.exact_mfpt(0, 1)  # about 3.6 time units
    n = 2000
    x = langevin(p, np.full(n, p.minima[0]), 4000, dt=1e-3, save_every=10, seed=2, device="cpu", progress=False)[..., 0]
    hit = x >= p.minima[1]
    assert hit.any(axis=1).all()  # 40 time units: every walker arrives, so no passage is censored
    first = (hit.argmax(axis=1) + 1) * 1e-2
    # 2000 exponential-like passages: standard error about 2 %; a 10 % error in either value fails this
    # (checked once in a scratch copy with the exact value times 1.1)
    assert first.mean() == pytest.approx(tau_exact, rel=0.05)


@pytest.mark.parametrize("make", [lambda: Harmonic(k=2.0, center=(1.0, -1.0)), FourWell1D, ThreeWell2D,
                                  lambda: HiddenSlowND(dim=12)],
                         ids=["harmonic", "four-well", "three-well", "hidden-slow"])
def test_numpy_force_is_the_torch_force(make):
    # the CPU integrator's NumPy force must be the potential's force (checked in float64 at random points)
    import torch

    p = make()
    x = np.random.default_rng(0).uniform(-2.2, 2.2, size=(64, p.dim))
    np.testing.assert_allclose(p.force_numpy(x), p.force(torch.as_tensor(x)).numpy(), rtol=1e-12, atol=1e-12)
    # and the torch force is -dU/dx (autograd), so both are
    np.testing.assert_allclose(p.force_numpy(x), Potential.force(p, torch.as_tensor(x)).numpy(), rtol=1e-10, atol=1e-10)


def test_backend_choice():
    x0 = np.zeros(4)
    a = langevin(Harmonic(), x0, 20, seed=1, device="cpu", progress=False)
    b = langevin(Harmonic(), x0, 20, seed=1, device="cpu", progress=False, backend="numpy")
    c = langevin(Harmonic(), x0, 20, seed=1, device="cpu", progress=False, backend="torch")
    assert np.array_equal(a, b) and not np.array_equal(a, c) and a.dtype == c.dtype == np.float32
    with pytest.raises(ValueError, match="backend='gpu'"):
        langevin(Harmonic(), x0, 5, progress=False, backend="gpu")

    class NoNumpy(Harmonic):
        force_numpy = Potential.force_numpy

    with pytest.raises(ValueError, match="needs a NumPy force; NoNumpy has none"):
        langevin(NoNumpy(), x0, 5, progress=False, backend="numpy")
    assert langevin(NoNumpy(), x0, 5, seed=1, device="cpu", progress=False).shape == (4, 5, 1)


def test_hidden_slow_exact_core_mfpt_matches_a_discretized_generator():
    from mdlstm_utils.data.systems import HiddenSlowND

    p = HiddenSlowND(dim=5)
    m = p.exact_core_mfpt(core=0.5)
    # independent oracle: the finite-volume generator of s (detailed balance on the grid), first-passage
    # times from solving L tau = -1 outside the target with tau = 0 inside
    grid = np.linspace(-2.5, 2.5, 2001)
    h = grid[1] - grid[0]
    u = p.slow_energy(grid)
    L = np.zeros((len(grid), len(grid)))
    i = np.arange(len(grid) - 1)
    L[i, i + 1] = np.exp(-0.5 * (u[1:] - u[:-1])) / h**2
    L[i + 1, i] = np.exp(-0.5 * (u[:-1] - u[1:])) / h**2
    L[np.arange(len(grid)), np.arange(len(grid))] = -L.sum(1)
    free = grid < 0.5
    tau = np.linalg.solve(L[np.ix_(free, free)], -np.ones(free.sum()))
    start = np.argmin(np.abs(grid[free] + 0.5))
    assert m[0, 1] == pytest.approx(tau[start], rel=0.01)
    assert m[1, 0] == pytest.approx(m[0, 1], rel=1e-9)  # the double well is symmetric
    assert np.isnan(m[0, 0]) and np.isnan(m[1, 1])
    # a deeper barrier is slower: exp(barrier) scaling of the rate
    assert HiddenSlowND(dim=5, barrier=6.0).exact_core_mfpt()[0, 1] > 2 * m[0, 1]


def test_grid_generator_mfpt_matches_the_quadrature_in_one_dimension():
    from mdlstm_utils.data.systems import exact_set_mfpt, grid_generator

    p = FourWell1D()
    g = grid_generator(p, -2.6, 2.6, 2080, kT=1.0, D=1.0)
    cell = lambda x: int(np.argmin(np.abs(g.centers[:, 0] - x)))  # noqa: E731
    sets = np.full(len(g.centers), -1)
    sets[cell(p.minima[0])], sets[cell(p.minima[1])], sets[cell(p.minima[3])] = 0, 1, 2
    m = exact_set_mfpt(g, sets)
    # from one point to another the transition-path-theory MFPT is the first-passage time of the quadrature;
    # a 10 % error fails (the discretisation error at 2080 cells is far below 1 %)
    assert m[0, 1] == pytest.approx(p.exact_mfpt(0, 1), rel=0.01)
    assert m[2, 0] == pytest.approx(p.exact_mfpt(3, 0), rel=0.01)
    assert np.isnan(np.diag(m)).all()


def test_grid_generator_is_a_reversible_rate_matrix_and_its_mfpts_are_deeptimes():
    from deeptime.markov.msm import MarkovStateModel

    from mdlstm_utils.data.systems import exact_set_mfpt, grid_generator

    p = ThreeWell2D()
    g = grid_generator(p, (-2.5, -2.0), (2.5, 3.0), (20, 24), kT=0.75, D=0.75)
    Q = g.rates.toarray()
    assert np.abs(Q.sum(1)).max() < 1e-9 and (Q - np.diag(np.diag(Q)) >= 0).all()
    flow = g.stationary[:, None] * Q
    assert np.allclose(flow, flow.T, atol=1e-14)  # detailed balance with the Boltzmann weights
    # single cells: TPT's MFPT is the hitting time, which deeptime's MSM computes another way
    a = int(np.argmin(np.linalg.norm(g.centers - p.minima[0], axis=1)))
    b = int(np.argmin(np.linalg.norm(g.centers - p.minima[2], axis=1)))
    sets = np.full(len(g.centers), -1)
    sets[a], sets[b] = 0, 1
    lam = -Q.diagonal().min()
    msm = MarkovStateModel(np.eye(len(Q)) + Q / lam)
    m = exact_set_mfpt(g, sets)
    assert m[0, 1] == pytest.approx(msm.mfpt([a], [b]) / lam, rel=1e-6)
    assert m[1, 0] == pytest.approx(msm.mfpt([b], [a]) / lam, rel=1e-6)


def test_three_well_core_mfpts_converge_and_respect_the_mirror_symmetry():
    from mdlstm_utils.data.systems import exact_set_mfpt, grid_generator

    p = ThreeWell2D()

    def cores(n):
        g = grid_generator(p, (-2.5, -2.0), (2.5, 3.0), (n, n), kT=0.75, D=0.75)
        d = np.linalg.norm(g.centers[:, None, :] - p.minima[None], axis=2)
        return exact_set_mfpt(g, np.where(d.min(1) <= 0.5, d.argmin(1), -1), 3)

    coarse, fine = cores(60), cores(120)
    assert np.allclose(fine, coarse, rtol=0.03, equal_nan=True)  # converged in the grid
    # the potential is even in x: left -> top equals right -> top, left -> right equals right -> left
    assert fine[0, 2] == pytest.approx(fine[1, 2], rel=1e-6) and fine[0, 1] == pytest.approx(fine[1, 0], rel=1e-6)
    with pytest.raises(ValueError, match="one entry per cell"):
        exact_set_mfpt(grid_generator(p, (-2.5, -2.0), (2.5, 3.0), (10, 10)), np.zeros(5, dtype=int))


def test_frame_mfpts_are_what_the_estimator_measures_on_frames():
    from deeptime.markov.msm import MarkovStateModel
    from scipy.linalg import expm

    from mdlstm_utils.kinetics import mfpt_matrix
    from mdlstm_utils.data.systems import exact_set_mfpt, grid_generator

    p = FourWell1D()
    g = grid_generator(p, -2.4, 2.4, 96, kT=1.0, D=1.0)  # cells of 0.05
    x = g.centers[:, 0]
    sets = np.select([np.abs(x - p.minima[0]) < 0.15, np.abs(x - p.minima[3]) < 0.15], [0, 1], -1)
    tau = 0.2
    frames = exact_set_mfpt(g, sets, 2, saving_interval=tau)
    continuous = exact_set_mfpt(g, sets, 2)
    # the frames of the exact dynamics, sampled directly: the transition-based estimate converges to the frame value
    P = expm(g.rates.toarray() * tau)
    P = np.clip(P, 0, None) / np.clip(P, 0, None).sum(1, keepdims=True)
    traj = MarkovStateModel(P).simulate(400_000, seed=4)
    measured = mfpt_matrix(traj, sets, n_states=len(x), dt=tau)[0]
    # about 600 transitions each way: a 4 % standard error; 10 % off fails
    assert measured[0, 1] == pytest.approx(frames[0, 1], rel=0.1) and measured[1, 0] == pytest.approx(frames[1, 0], rel=0.1)
    assert (frames[[0, 1], [1, 0]] > continuous[[0, 1], [1, 0]]).all()  # frames miss brief visits: longer
