"""k-means microstates of high-dimensional features (CPU via deeptime, or torch on CPU/GPU), and TICA.

Features (e.g. dihedrals or distances) are clustered into microstates; TICA
first projects them onto their slowest components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mdlstm_utils._checks import check_int as _check_int
from mdlstm_utils.runtime import resolve_device
from mdlstm_utils.states._labels import as_feature_list, like_input

__all__ = ["KMeansResult", "kmeans", "assign_to_centers", "tica"]

_KMEANS_BACKENDS = ("deeptime", "torch")


@dataclass(frozen=True)
class KMeansResult:
    """Result of :func:`kmeans`.

    Attributes
    ----------
    centers
        Cluster centres, shape ``(n_clusters, d)`` (float64).
    labels
        Microstate label of each frame (``int64``): one array for one input
        array, a list of arrays for a list of trajectories.
    inertia
        Sum over all frames of the squared Euclidean distance to the assigned
        centre (the k-means objective), evaluated at the returned ``centers``.
    n_iter
        Lloyd iterations run (``-1`` where the backend does not report it).
    converged
        Whether the relative change of the inertia fell below ``tol``.
    backend
        ``"deeptime"`` or ``"torch"``; ``device`` is where it ran.
    """

    centers: np.ndarray
    labels: np.ndarray | list[np.ndarray]
    inertia: float
    n_iter: int
    converged: bool
    backend: str
    device: str

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])


def _chunk_rows(n_centers: int, budget_elems: int = 2**24) -> int:
    """Rows per chunk so that a (rows x n_centers) distance block holds about ``budget_elems`` numbers."""
    return max(1024, budget_elems // max(n_centers, 1))


def _torch_assign(x: torch.Tensor, centers: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre and squared distance for every row of ``x``, in chunks of ``chunk`` rows."""
    c_sq = (centers * centers).sum(1)
    labels = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    dist = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], chunk):
        xc = x[s : s + chunk]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the |x|^2 term does not change the argmin
        d2 = torch.addmm(c_sq[None, :], xc, centers.T, alpha=-2.0)
        m, idx = d2.min(1)
        labels[s : s + chunk] = idx
        dist[s : s + chunk] = torch.clamp(m + (xc * xc).sum(1), min=0.0)
    return labels, dist


def _sq_dist_to(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor, chunk: int) -> torch.Tensor:
    """Squared distances of all rows of ``x`` (``x_sq`` their squared norms) to the points ``c``: ``(n, m)``."""
    c_sq = (c * c).sum(1)
    out = torch.empty((x.shape[0], c.shape[0]), dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], chunk):
        d2 = torch.addmm(c_sq[None, :], x[s : s + chunk], c.T, alpha=-2.0)
        out[s : s + chunk] = torch.clamp(d2 + x_sq[s : s + chunk, None], min=0.0)
    return out


def _kmeanspp_torch(x: torch.Tensor, k: int, gen: torch.Generator, chunk: int) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; ``2 + ln k`` trials per centre, as scikit-learn)."""
    n = x.shape[0]
    n_trials = 2 + int(math.log(k))
    x_sq = (x * x).sum(1)
    first = int(torch.randint(n, (1,), generator=gen, device=gen.device).item())
    centers = [x[first]]
    closest = _sq_dist_to(x, x_sq, x[first : first + 1], chunk)[:, 0]
    for _ in range(1, k):
        cum = torch.cumsum(closest.double(), 0)
        total = cum[-1]
        if total <= 0:  # fewer distinct points than centres: pick any
            cand = torch.randint(n, (n_trials,), generator=gen, device=gen.device)
        else:
            u = torch.rand(n_trials, generator=gen, device=gen.device, dtype=torch.float64) * total
            cand = torch.clamp(torch.searchsorted(cum, u), max=n - 1)
        d_cand = torch.minimum(_sq_dist_to(x, x_sq, x[cand], chunk), closest[:, None])
        pot = d_cand.double().sum(0)
        best = int(torch.argmin(pot).item())
        centers.append(x[cand[best]])
        closest = d_cand[:, best].contiguous()
    return torch.stack(centers)


def _kmeans_torch(
    data: np.ndarray, k: int, *, dev: torch.device, seed: int, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, float, int, bool]:
    x = torch.as_tensor(np.ascontiguousarray(data, dtype=np.float32), device=dev)
    n, d = x.shape
    chunk = _chunk_rows(max(k, 2 + int(math.log(k))))
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    with torch.no_grad():
        centers = _kmeanspp_torch(x, k, gen, chunk)
        prev = None
        converged = False
        it = 0
        for it in range(1, max_iter + 1):
            labels, dist = _torch_assign(x, centers, chunk)
            inertia = float(dist.double().sum().item())
            # M-step: means of the assigned points (sums in float64)
            sums = torch.zeros((k, d), dtype=torch.float64, device=dev)
            for s in range(0, n, chunk):
                sums.index_add_(0, labels[s : s + chunk], x[s : s + chunk].double())
            counts = torch.bincount(labels, minlength=k)
            new = (sums / counts.clamp(min=1)[:, None].double()).to(x.dtype)
            empty = torch.nonzero(counts == 0).flatten()
            if len(empty):
                # an empty cluster gets the points farthest from their centres
                far = torch.topk(dist, len(empty)).indices
                new[empty] = x[far]
            else:
                new = torch.where(counts[:, None] > 0, new, centers)
            centers = new
            if prev is not None and abs(prev - inertia) <= tol * max(inertia, 1e-300):
                converged = True
                break
            prev = inertia
        labels, dist = _torch_assign(x, centers, chunk)
        inertia = float(dist.double().sum().item())
    return centers.double().cpu().numpy(), labels.cpu().numpy(), inertia, it, converged


def kmeans(
    X,
    n_clusters: int,
    *,
    backend: str = "deeptime",
    device: str | torch.device = "auto",
    seed: int = 0,
    max_iter: int = 300,
    tol: float = 1e-5,
    n_jobs: int | None = None,
) -> KMeansResult:
    r"""k-means microstates of features ``X`` (k-means++ seeding, then Lloyd iterations).

    Minimises the inertia :math:`\sum_t \lVert x_t - c_{s(t)}\rVert^2` (squared
    Euclidean distances to the assigned centres) over all frames of all
    trajectories.

    Parameters
    ----------
    X
        Features: one array of shape ``(T, d)`` (``(T,)`` for one feature) or a
        list of such arrays (one per trajectory, same ``d``). Must be finite.
    n_clusters
        Number of centres (microstates), ``1 <= n_clusters <= total frames``.
    backend
        ``"deeptime"``: :class:`deeptime.clustering.KMeans` on the CPU with
        ``n_jobs`` threads (C++; with ``n_jobs > 1`` the seeding is not bitwise
        reproducible). ``"torch"``: the implementation of this module, greedy
        k-means++ seeding and Lloyd iterations with distances computed in
        chunks (so ``10^6 x 45`` frames with 100 centres fit in well under
        1 GB), on ``device`` (a GPU when ``"auto"`` finds one). Coordinates are
        float32 in the torch backend; sums and the inertia are accumulated in float64.
    device
        Only for ``backend="torch"``: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``
        (see :func:`mdlstm_utils.runtime.resolve_device`).
    seed
        Seed of the k-means++ seeding.
    max_iter, tol
        At most ``max_iter`` Lloyd iterations; stop when the relative change of
        the inertia between two iterations is ``<= tol`` (the criterion of deeptime).
    n_jobs
        Threads of the deeptime backend; ``None`` uses ``torch.get_num_threads()``.

    Returns
    -------
    KMeansResult
        Centres, labels shaped like the input (an array for an array, a list for
        a list), and the inertia evaluated at the returned centres (computed
        the same way for both backends, so the two can be compared).

    Raises
    ------
    ValueError
        For NaN/inf features, inconsistent shapes, ``n_clusters`` larger than
        the number of frames, an unknown backend, or a bad ``max_iter``/``tol``.
    """
    trajs, _ = as_feature_list(X)
    n_clusters = _check_int("n_clusters", n_clusters, 1)
    max_iter = _check_int("max_iter", max_iter, 1)
    seed = _check_int("seed", seed, 0)
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not (0 <= tol < 1):
        raise ValueError(f"tol must be a number in [0, 1), got {tol!r}")
    if backend not in _KMEANS_BACKENDS:
        raise ValueError(f"backend={backend!r}; expected one of {_KMEANS_BACKENDS}")
    n_frames = sum(len(t) for t in trajs)
    if n_clusters > n_frames:
        raise ValueError(f"n_clusters={n_clusters} is larger than the number of frames ({n_frames})")
    data = trajs[0] if len(trajs) == 1 else np.concatenate(trajs)

    if backend == "deeptime":
        import warnings

        from deeptime.clustering import KMeans

        jobs = torch.get_num_threads() if n_jobs is None else _check_int("n_jobs", n_jobs, 1)
        est = KMeans(n_clusters, max_iter=max_iter, tolerance=float(tol), fixed_seed=seed % 2**32, n_jobs=jobs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = est.fit(data).fetch_model()
        for w in caught:
            if "convergence" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        centers = np.asarray(model.cluster_centers, dtype=np.float64)
        labels_flat, inertia = assign_to_centers(data, centers, device="cpu", return_inertia=True)
        n_iter = len(model.inertias) if model.inertias is not None else -1
        converged, dev_name = bool(model.converged), "cpu"
    else:
        dev = resolve_device(device)
        centers, labels_flat, inertia, n_iter, converged = _kmeans_torch(
            data, n_clusters, dev=dev, seed=seed, max_iter=max_iter, tol=float(tol)
        )
        dev_name = str(dev)
    if not converged:
        import warnings

        warnings.warn(
            f"k-means ({backend}) did not converge to tol={tol} in max_iter={max_iter} iterations; "
            "increase max_iter", RuntimeWarning, stacklevel=2,
        )
    ends = np.cumsum([len(t) for t in trajs])[:-1]
    return KMeansResult(
        centers=centers,
        labels=like_input(np.split(labels_flat.astype(np.int64), ends), X, rows="frames"),
        inertia=float(inertia),
        n_iter=int(n_iter),
        converged=converged,
        backend=backend,
        device=dev_name,
    )


def assign_to_centers(
    X, centers: np.ndarray, *, device: str | torch.device = "cpu", return_inertia: bool = False
):
    """Label each frame with its nearest centre (squared Euclidean distance).

    Parameters
    ----------
    X
        One ``(T, d)`` array or a list of them (as for :func:`kmeans`).
    centers
        Shape ``(n_centers, d)``, e.g. :attr:`KMeansResult.centers`.
    device
        Where the distances are computed (chunked, float64 on the CPU, float32 on a GPU).
    return_inertia
        Also return the sum of squared distances to the assigned centres.

    Returns
    -------
    labels or (labels, inertia)
        ``int64`` labels shaped like the input (array for array, list for list).
    """
    trajs, _ = as_feature_list(X)
    c = np.asarray(centers, dtype=np.float64)
    if c.ndim == 1 and trajs[0].shape[1] == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] == 0:
        raise ValueError(f"centers must have shape (n_centers, d) with n_centers >= 1, got {c.shape}")
    if c.shape[1] != trajs[0].shape[1]:
        raise ValueError(f"centers have d={c.shape[1]} but X has {trajs[0].shape[1]} features per frame")
    if not np.all(np.isfinite(c)):
        raise ValueError("centers contain NaN or inf")
    dev = resolve_device(device)
    dtype = torch.float64 if dev.type == "cpu" else torch.float32
    data = trajs[0] if len(trajs) == 1 else np.concatenate(trajs)
    with torch.no_grad():
        x = torch.as_tensor(data, device=dev).to(dtype)
        ct = torch.as_tensor(c, device=dev).to(dtype)
        labels, dist = _torch_assign(x, ct, _chunk_rows(len(c)))
    ends = np.cumsum([len(t) for t in trajs])[:-1]
    labels_np = like_input(np.split(labels.cpu().numpy().astype(np.int64), ends), X, rows="frames")
    if return_inertia:
        return labels_np, float(dist.double().sum().item())
    return labels_np


def tica(X, lag: int, dim: int | None = None, *, var_cutoff: float | None = None, scaling: str = "kinetic_map"):
    """Project features onto their slowest time-lagged independent components (deeptime TICA).

    Parameters
    ----------
    X
        One ``(T, d)`` array or a list of them.
    lag
        TICA lag time in frames: at least 1 and shorter than the longest trajectory.
    dim
        Number of components to keep; ``None`` keeps what ``var_cutoff``
        selects (or all when both are ``None``).
    var_cutoff
        Keep the components that explain this fraction of the kinetic variance (in ``(0, 1]``).
    scaling
        ``"kinetic_map"`` (default; components scaled by their eigenvalues),
        ``"commute_map"`` or ``None``.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        The projections, ``(T, dim)`` each, shaped like the input.
    """
    from deeptime.decomposition import TICA

    trajs, _ = as_feature_list(X)
    lag = _check_int("lag", lag, 1)
    longest = max(len(t) for t in trajs)
    if lag >= longest:
        raise ValueError(f"lag={lag} frames is not shorter than the longest trajectory ({longest} frames)")
    d = trajs[0].shape[1]
    if dim is not None:
        dim = _check_int("dim", dim, 1)
        if dim > d:
            raise ValueError(f"dim={dim} exceeds the number of features ({d})")
    if var_cutoff is not None and not (0 < var_cutoff <= 1):
        raise ValueError(f"var_cutoff must be in (0, 1], got {var_cutoff!r}")
    if scaling not in ("kinetic_map", "commute_map", None):
        raise ValueError(f"scaling={scaling!r}; expected 'kinetic_map', 'commute_map' or None")
    data = [t.astype(np.float64) for t in trajs if len(t) > lag]
    model = TICA(lagtime=lag, dim=dim, var_cutoff=var_cutoff, scaling=scaling).fit(data).fetch_model()
    out = [np.asarray(model.transform(t.astype(np.float64))) for t in trajs]
    return like_input(out, X, rows="frames")
