"""k-means microstates (deeptime and torch backends), assignment, TICA, and the hidden-slow-mode toy system."""

import numpy as np
import pytest
import torch

from mdlstm_utils.states import assign_to_centers, kmeans, tica
from mdlstm_utils.data.systems import HiddenSlowND, langevin


def _blobs(n_per=400, n_blobs=6, d=12, seed=0, spread=8.0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, d)) * spread
    lab = rng.integers(n_blobs, size=n_per * n_blobs)
    return centers[lab] + rng.normal(size=(len(lab), d)), lab


@pytest.mark.parametrize("k", [6, 20])
def test_torch_and_deeptime_kmeans_agree(k):
    X, _ = _blobs()
    ref = kmeans(X, k, backend="deeptime", seed=1, n_jobs=1)
    tor = kmeans(X, k, backend="torch", device="cpu", seed=1)
    assert ref.centers.shape == tor.centers.shape == (k, X.shape[1])
    assert tor.converged and tor.device == "cpu" and tor.backend == "torch"
    assert tor.inertia == pytest.approx(ref.inertia, rel=0.01)
    # the reported inertia is the objective at the returned centres
    for r in (ref, tor):
        lab, inertia = assign_to_centers(X, r.centers, return_inertia=True)
        np.testing.assert_array_equal(lab, r.labels)
        assert inertia == pytest.approx(r.inertia, rel=1e-5)


def test_kmeans_finds_separated_blobs_and_is_reproducible():
    X, truth = _blobs(n_blobs=5, spread=10.0)
    a = kmeans(X, 5, backend="torch", device="cpu", seed=3)
    b = kmeans(X, 5, backend="torch", device="cpu", seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    # each true blob maps onto one cluster (the partition is the truth up to renaming)
    pairs = set(zip(truth.tolist(), a.labels.tolist()))
    assert len(pairs) == 5
    # the optimum: the within-blob scatter, about n * d * var(noise)
    assert a.inertia == pytest.approx(X.shape[0] * X.shape[1], rel=0.05)


def test_kmeans_list_input_and_labels_layout():
    X, _ = _blobs(n_per=100, n_blobs=3, d=4)
    parts = [X[:100], X[100:250], X[250:]]
    for backend in ("deeptime", "torch"):
        r = kmeans(parts, 3, backend=backend, device="cpu", n_jobs=1)
        assert isinstance(r.labels, list) and [len(v) for v in r.labels] == [100, 150, 50]
        assert all(v.dtype == np.int64 for v in r.labels)
    # 1-D input is one feature
    r1 = kmeans(np.r_[np.zeros(50), np.ones(50) * 10], 2, backend="torch", device="cpu")
    assert sorted(np.round(r1.centers[:, 0], 6).tolist()) == [0.0, 10.0]
    assert r1.inertia == pytest.approx(0.0, abs=1e-8)


def test_kmeans_validation():
    X = np.random.default_rng(0).normal(size=(20, 3))
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(first at frame 4, feature 1\)"):
        kmeans(bad, 2)
    with pytest.raises(ValueError, match="n_clusters=21 is larger than the number of frames"):
        kmeans(X, 21)
    with pytest.raises(ValueError, match="n_clusters must be >= 1"):
        kmeans(X, 0)
    with pytest.raises(ValueError, match="backend='sklearn'"):
        kmeans(X, 2, backend="sklearn")
    with pytest.raises(ValueError, match="X\\[1\\] has 2 features but X\\[0\\] has 3"):
        kmeans([X, X[:, :2]], 2)
    with pytest.raises(ValueError, match="must be 2-D"):
        kmeans(np.zeros((2, 3, 4)), 2)
    with pytest.raises(TypeError, match="must be a \\(T, d\\) NumPy array"):
        kmeans("data", 2)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            kmeans(X, 2, backend="torch", device="cuda")
    with pytest.raises(ValueError, match="centers have d=2 but X has 3"):
        assign_to_centers(X, np.zeros((4, 2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_kmeans_on_gpu_matches_cpu():
    X, _ = _blobs(n_per=2000, n_blobs=8, d=20)
    cpu = kmeans(X, 8, backend="torch", device="cpu", seed=0)
    gpu = kmeans(X, 8, backend="torch", device="cuda", seed=0)
    assert gpu.device.startswith("cuda")
    assert gpu.inertia == pytest.approx(cpu.inertia, rel=1e-3)


def test_tica_projects_onto_the_slow_coordinate():
    # a slow two-state switch hidden in one noisy direction of 6 features
    rng = np.random.default_rng(0)
    T = 4000
    s = np.repeat(rng.choice([-1.0, 1.0], size=T // 100), 100)
    R = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    Y = np.column_stack([s + 0.1 * rng.normal(size=T), 2.0 * rng.normal(size=(T, 5))])
    X = Y @ R.T
    proj = tica(X, lag=10, dim=1)
    assert proj.shape == (T, 1)
    assert abs(np.corrcoef(proj[:, 0], s)[0, 1]) > 0.95
    two = tica([X[:2000], X[2000:]], lag=10, dim=2)
    assert isinstance(two, list) and two[1].shape == (2000, 2)
    with pytest.raises(ValueError, match="lag=5000 frames is not shorter"):
        tica(X, lag=5000)
    with pytest.raises(ValueError, match="dim=7 exceeds the number of features \\(6\\)"):
        tica(X, lag=1, dim=7)


def test_hidden_slow_nd_geometry_and_energy():
    p = HiddenSlowND(dim=24, seed=2)
    R = p.rotation
    np.testing.assert_allclose(R.T @ R, np.eye(24), atol=1e-12)
    np.testing.assert_allclose(np.abs(p.slow_direction), 1 / np.sqrt(24))
    # the energy of the rotated point (s, 0, ..., 0) is the double well in s alone
    s = np.linspace(-1.8, 1.8, 37)
    Y = np.zeros((len(s), 24))
    Y[:, 0] = s
    X = p.embed(Y)
    np.testing.assert_allclose(p.energy_numpy(X), p.barrier * (s**2 - 1) ** 2, atol=1e-10)
    np.testing.assert_allclose(p.slow_coordinate(X), s, atol=1e-12)
    # with fast modes the energy is separable: double well + f.K.f / 2
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(10, 24))
    e = p.slow_energy(Y[:, 0]) + 0.5 * np.einsum("ni,ij,nj->n", Y[:, 1:], p.stiffness, Y[:, 1:])
    np.testing.assert_allclose(p.energy_numpy(p.embed(Y)), e, rtol=1e-10)
    np.testing.assert_allclose(p.slow_coordinate(p.minima), [-1.0, 1.0], atol=1e-12)
    # analytic force = autograd force
    x = torch.as_tensor(rng.normal(size=(7, 24)))
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(p.energy(xr).sum(), xr)
    torch.testing.assert_close(p.force(x), -g)
    # the slow timescale is much longer than the fast modes' relaxation
    assert p.slow_timescale() > 10 / np.linalg.eigvalsh(p.stiffness).min()
    with pytest.raises(ValueError, match="dim must be >= 3"):
        HiddenSlowND(dim=2)


def test_hidden_slow_nd_hides_the_slow_coordinate_in_every_feature():
    p = HiddenSlowND(dim=30)
    x = langevin(p, p.sample_start(32, seed=1), 300, dt=1e-3, save_every=20, seed=0, device="cpu", progress=False)
    assert x.shape == (32, 300, 30) and np.all(np.isfinite(x))
    s = p.slow_coordinate(x).ravel()
    feats = x.reshape(-1, 30)
    # the walkers sit in both wells ...
    assert 0.3 < np.mean(s > 0) < 0.7
    assert np.mean(np.abs(np.abs(s) - 1) < 0.5) > 0.8
    # ... but no single feature reveals the slow coordinate
    corr = np.array([np.corrcoef(feats[:, j], s)[0, 1] for j in range(30)])
    assert np.max(np.abs(corr)) < 0.5
    # while the projection onto the (known) slow direction does, exactly
    np.testing.assert_allclose(feats @ p.slow_direction, s, atol=1e-4)
