"""State partitions: from continuous coordinates to integer labels (the LM's tokens).

A *partition* maps each frame of a trajectory to one of ``n_states`` integer
labels. Grid bins over a low-dimensional coordinate are the simplest; bins (or
any microstates) can then be lumped into metastable wells with a lookup table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_int as _check_int
from .runtime import resolve_device
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


# ---------------------------------------------------------------------------
# k-means microstates of high-dimensional features (CPU via deeptime, or torch on CPU/GPU)
# ---------------------------------------------------------------------------

__all__ += [
    "KMeansResult",
    "kmeans",
    "assign_to_centers",
    "tica",
    "PCCAResult",
    "pcca_lump",
    "core_set_labels",
    "cores_from_memberships",
    "min_dwell_filter",
]

_KMEANS_BACKENDS = ("deeptime", "torch")


def _as_feature_list(X, name: str = "X", dim: int | None = None) -> tuple[list[np.ndarray], bool]:
    """Validate features: one ``(T, d)`` array (``(T,)`` means ``d = 1``) or a list of them.

    Returns the trajectories as a list of C-contiguous 2-D float arrays (float32
    stays float32, anything else becomes float64) and whether the input was a list.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        trajs, is_list = [X], False
    elif isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is an empty list; expected at least one (T, d) array")
        trajs, is_list = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x for x in X], True
    else:
        raise TypeError(f"{name} must be a (T, d) NumPy array or a list of them, got {type(X).__name__}")
    out = []
    for i, x in enumerate(trajs):
        where = f"{name}[{i}]" if is_list else name
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise TypeError(f"{where} must hold real numbers, got dtype {x.dtype}")
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"{where} must be 2-D (frames x features), got shape {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{where} is empty (shape {x.shape}); expected at least one frame and one feature")
        x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        if not np.all(np.isfinite(x)):
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{where} contains NaN or inf (first at frame {bad[0]}, feature {bad[1]}); features must be finite")
        out.append(x)
    d = out[0].shape[1]
    for i, x in enumerate(out):
        if x.shape[1] != d:
            raise ValueError(f"{name}[{i}] has {x.shape[1]} features but {name}[0] has {d}; all trajectories need the same d")
    if dim is not None and d != dim:
        raise ValueError(f"{name} has {d} features per frame but {dim} are expected")
    return out, is_list


def _split_like(flat: np.ndarray, trajs: list[np.ndarray], is_list: bool):
    """Split a concatenated per-frame array back into the input's trajectories."""
    if not is_list:
        return flat
    return list(np.split(flat, np.cumsum([len(t) for t in trajs])[:-1]))


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
    trajs, is_list = _as_feature_list(X)
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
    return KMeansResult(
        centers=centers,
        labels=_split_like(labels_flat.astype(np.int64), trajs, is_list),
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
    trajs, is_list = _as_feature_list(X)
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
    labels_np = _split_like(labels.cpu().numpy().astype(np.int64), trajs, is_list)
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
        TICA lag time in frames, ``1 <= lag < `` the longest trajectory.
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

    trajs, is_list = _as_feature_list(X)
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
    return out if is_list else out[0]


# ---------------------------------------------------------------------------
# PCCA+ lumping of microstates into metastable macrostates (deeptime)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PCCAResult:
    """Result of :func:`pcca_lump`.

    Attributes
    ----------
    memberships
        Fuzzy PCCA+ memberships, shape ``(n_micro, n_macro)``. Rows of
        microstates in the largest connected set sum to 1; rows of the other
        microstates (never visited, or outside the largest connected set at
        this lag) are all **zero**: they belong to no macrostate.
    assignments
        Crisp lumping micro -> macro (``argmax`` of the memberships), shape
        ``(n_micro,)``; ``-1`` for microstates outside the connected set.
        Usable with :func:`lump` where no ``-1`` occurs, and with
        :func:`cores_from_memberships` / :func:`core_set_labels`.
    macro_labels
        The macrostate trajectories (list of ``int64`` arrays, one per input
        trajectory); see ``unassigned`` of :func:`pcca_lump` for frames in
        microstates outside the connected set.
    active_set
        The microstates of the largest connected set (sorted).
    macro_populations
        Stationary probability of each macrostate (coarse-grained by PCCA+).
    macro_transition_matrix
        The PCCA+ coarse-grained transition matrix at ``lag``.
    lag
        The MSM lag time in frames.
    """

    memberships: np.ndarray
    assignments: np.ndarray
    macro_labels: list[np.ndarray]
    active_set: np.ndarray
    macro_populations: np.ndarray
    macro_transition_matrix: np.ndarray
    lag: int

    @property
    def n_macro(self) -> int:
        return int(self.memberships.shape[1])

    def sets(self) -> list[np.ndarray]:
        """The microstates of each macrostate (crisp), as a list of arrays."""
        return [np.flatnonzero(self.assignments == k) for k in range(self.n_macro)]


def _fill_unassigned(t: np.ndarray) -> np.ndarray:
    """Replace ``-1`` entries by the previous valid entry (leading ones by the first valid entry)."""
    idx = np.where(t >= 0, np.arange(len(t)), -1)
    idx = np.maximum.accumulate(idx)
    valid = np.flatnonzero(t >= 0)
    if valid.size == 0:
        return t.copy()
    idx[idx < 0] = valid[0]
    return t[idx]


def estimate_msm(dtrajs, n_states: int, lag: int, *, reversible: bool = True):
    """Maximum-likelihood MSM (deeptime) on the largest connected set of sliding-window counts at ``lag``.

    Returns the :class:`deeptime.markov.msm.MarkovStateModel`; its
    ``count_model.state_symbols`` are the original state labels of its states.
    """
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    trajs = check_labels(dtrajs, n_states, name="dtrajs")
    lag = _check_int("lag", lag, 1)
    longest = max(len(t) for t in trajs)
    if lag >= longest:
        raise ValueError(f"lag={lag} frames is not shorter than the longest trajectory ({longest} frames)")
    counts = TransitionCountEstimator(lagtime=lag, count_mode="sliding", n_states=n_states).fit(trajs).fetch_model()
    largest = counts.submodel_largest(directed=True)
    if largest.n_states < 2 or largest.count_matrix.sum() == 0:
        raise ValueError(
            f"the largest connected set at lag={lag} has {largest.n_states} state(s); "
            "an MSM needs transitions between at least 2 states (more data or a shorter lag)"
        )
    return MaximumLikelihoodMSM(reversible=reversible).fit(largest).fetch_model()


__all__ += ["estimate_msm"]


def pcca_lump(dtrajs, n_micro: int, n_macro: int, lag: int, *, unassigned: str = "previous") -> PCCAResult:
    """Lump microstates into ``n_macro`` metastable macrostates with PCCA+ (deeptime).

    A reversible maximum-likelihood MSM is estimated with deeptime on the
    largest (strongly) connected set of the sliding-window transition counts
    at ``lag``; PCCA+ (:meth:`deeptime.markov.msm.MarkovStateModel.pcca`) then
    gives fuzzy memberships, and each microstate is assigned to the macrostate
    of its largest membership.

    Parameters
    ----------
    dtrajs
        Microstate trajectories (one 1-D array, a 2-D array or a list of arrays) with labels in ``[0, n_micro)``.
    n_micro
        Number of microstates.
    n_macro
        Number of macrostates, ``2 <= n_macro <=`` size of the connected set.
    lag
        MSM lag time in frames.
    unassigned
        What the macro trajectories hold at frames in microstates outside the
        connected set (these have no PCCA+ membership): ``"previous"``
        (default) the macrostate of the most recent frame that had one (frames
        before the first such frame take the first one's macrostate), so every
        frame gets a valid label; ``"keep"`` leaves ``-1`` there.

    Returns
    -------
    PCCAResult
    """
    if unassigned not in ("previous", "keep"):
        raise ValueError(f"unassigned={unassigned!r}; expected 'previous' or 'keep'")
    n_micro = _check_int("n_micro", n_micro, 2)
    n_macro = _check_int("n_macro", n_macro, 2)
    trajs = check_labels(dtrajs, n_micro, name="dtrajs")
    msm = estimate_msm(trajs, n_micro, lag)
    active = np.asarray(msm.count_model.state_symbols, dtype=np.int64)
    if n_macro > len(active):
        raise ValueError(
            f"n_macro={n_macro} exceeds the {len(active)} microstates of the largest connected set at lag={lag}"
        )
    pcca = msm.pcca(n_macro)
    memberships = np.zeros((n_micro, n_macro))
    memberships[active] = np.asarray(pcca.memberships)
    assignments = np.full(n_micro, -1, dtype=np.int64)
    assignments[active] = np.argmax(pcca.memberships, axis=1)
    macro = [assignments[t] for t in trajs]
    if unassigned == "previous":
        macro = [_fill_unassigned(m) for m in macro]
    return PCCAResult(
        memberships=memberships,
        assignments=assignments,
        macro_labels=macro,
        active_set=active,
        macro_populations=np.asarray(pcca.coarse_grained_stationary_probability, dtype=float),
        macro_transition_matrix=np.asarray(pcca.coarse_grained_transition_matrix, dtype=float),
        lag=int(lag),
    )


# ---------------------------------------------------------------------------
# Recrossing removal: core sets (milestoning) and dynamical coring, in NumPy
# ---------------------------------------------------------------------------


def _core_lookup(cores, n_states: int | None, max_label: int) -> np.ndarray:
    """``cores`` (lookup array, or list of state collections) -> lookup state -> core index / -1."""
    if isinstance(cores, torch.Tensor):
        cores = cores.detach().cpu().numpy()
    is_lookup = (isinstance(cores, np.ndarray) and cores.ndim == 1 and np.issubdtype(cores.dtype, np.integer)) or (
        isinstance(cores, (list, tuple)) and len(cores) > 0 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in cores)
    )
    if is_lookup:
        lookup = np.asarray(cores, dtype=np.int64)
        if n_states is not None and len(lookup) != n_states:
            raise ValueError(f"cores as a lookup array must have length n_states={n_states}, got {len(lookup)}")
        if len(lookup) <= max_label:
            raise ValueError(
                f"cores as a lookup array has {len(lookup)} entries but the labels go up to {max_label}; "
                "it needs one entry (core index or -1) per state"
            )
        if lookup.min() < -1:
            raise ValueError(f"cores lookup holds {lookup.min()}; entries must be a core index >= 0 or -1")
        if lookup.max() < 0:
            raise ValueError("cores lookup assigns no state to any core")
        return lookup
    if not isinstance(cores, (list, tuple)) or len(cores) == 0:
        raise TypeError(
            "cores must be a lookup array (core index or -1 per state) or a non-empty list of state collections, "
            f"got {type(cores).__name__}"
        )
    members = [np.asarray(m, dtype=np.int64).reshape(-1) for m in cores]
    top = max([max_label] + [int(m.max()) for m in members if m.size])
    n = n_states if n_states is not None else top + 1
    lookup = np.full(n, -1, dtype=np.int64)
    for k, m in enumerate(members):
        if m.size == 0:
            raise ValueError(f"cores[{k}] is empty; every core needs at least one state")
        if m.min() < 0 or m.max() >= n:
            raise ValueError(f"cores[{k}] holds states outside [0, {n - 1}]")
        if np.any(lookup[m] >= 0):
            raise ValueError(f"cores[{k}] overlaps an earlier core; cores must be disjoint")
        lookup[m] = k
    return lookup


def _restore_shape(out: list[np.ndarray], labels, ragged_ok: bool):
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        return out[0]
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and not ragged_ok:
        return np.stack(out)
    if isinstance(labels, (list, tuple)) and len(labels) and all(np.isscalar(v) for v in labels):
        return out[0]
    return out


def core_set_labels(labels, cores, *, n_states: int | None = None, before_first: str = "keep"):
    """Remove recrossing with core sets: each frame gets the core it visited last.

    Frames inside a core get that core's index; frames outside every core
    (in the transition region) keep the index of the last core visited. A
    crossing is thus only counted when the trajectory reaches the next core,
    which removes the fast back-and-forth recrossings of a barrier that inflate
    transition counts (core-set MSMs / milestoning; Buchete & Hummer 2008).

    Parameters
    ----------
    labels
        State trajectories: one 1-D array, a 2-D array (one per row) or a list of 1-D arrays.
    cores
        Either a lookup array with one entry per state, the state's core index
        (``0, 1, ...``) or ``-1`` for states outside every core (e.g. the
        output of :func:`cores_from_memberships`), or a list of disjoint
        collections of states, one per core.
    n_states
        Number of states (checks the labels; defaults to the lookup length, or
        the largest label in data or cores + 1).
    before_first
        Frames before the first core visit of a trajectory have no "last core":
        ``"keep"`` (default) gives them ``-1``; ``"backfill"`` gives them the
        first core the trajectory enters; ``"drop"`` removes them, so the
        trajectory starts at its first core visit. A trajectory that never
        enters a core stays all ``-1`` (``"keep"``, ``"backfill"``) or becomes
        empty (``"drop"``).

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        ``int64`` core-index trajectories, shaped like the input (a 2-D input
        gives a list with ``"drop"``, as the rows may differ in length).
    """
    if before_first not in ("keep", "backfill", "drop"):
        raise ValueError(f"before_first={before_first!r}; expected 'keep', 'backfill' or 'drop'")
    trajs = check_labels(labels, n_states)
    lookup = _core_lookup(cores, n_states, max(int(t.max()) for t in trajs))
    out = []
    for t in trajs:
        c = lookup[t]
        last = np.maximum.accumulate(np.where(c >= 0, np.arange(len(c)), -1))
        cored = np.where(last >= 0, c[np.maximum(last, 0)], -1)
        n_before = int(np.argmax(last >= 0)) if np.any(last >= 0) else len(c)
        if before_first == "backfill" and 0 < n_before < len(c):
            cored[:n_before] = cored[n_before]
        elif before_first == "drop":
            cored = cored[n_before:]
        out.append(cored.astype(np.int64))
    return _restore_shape(out, labels, ragged_ok=before_first == "drop")


def cores_from_memberships(memberships: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """Core sets from fuzzy memberships: state ``i`` is in core ``k`` when ``memberships[i, k] >= threshold``.

    Parameters
    ----------
    memberships
        Shape ``(n_states, n_sets)`` with entries in ``[0, 1]`` (e.g.
        :attr:`PCCAResult.memberships`; all-zero rows, states outside the MSM,
        fall in no core).
    threshold
        Membership needed to belong to a core, in ``(0.5, 1]`` so that a state
        belongs to at most one core.

    Returns
    -------
    numpy.ndarray
        Lookup array of length ``n_states``: core index or ``-1`` (transition
        region), for :func:`core_set_labels`.

    Raises
    ------
    ValueError
        For a bad shape or threshold, or when some set has no state above the
        threshold (its core would be empty: lower ``threshold``).
    """
    m = np.asarray(memberships, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"memberships must have shape (n_states, n_sets), got {m.shape}")
    if not np.all(np.isfinite(m)) or m.min() < -1e-8 or m.max() > 1 + 1e-8:
        raise ValueError("memberships must be finite numbers in [0, 1]")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not (0.5 < threshold <= 1):
        raise ValueError(f"threshold must be a number in (0.5, 1], got {threshold!r}")
    best = m.argmax(axis=1)
    lookup = np.where(m[np.arange(len(m)), best] >= threshold, best, -1).astype(np.int64)
    empty = [k for k in range(m.shape[1]) if not np.any(lookup == k)]
    if empty:
        raise ValueError(
            f"no state has membership >= threshold={threshold} in set(s) {empty} "
            f"(largest memberships there: {[round(float(m[:, k].max()), 3) for k in empty]}); lower the threshold"
        )
    return lookup


def min_dwell_filter(labels, min_dwell: int, *, n_states: int | None = None):
    """Dynamical coring: a visit shorter than ``min_dwell`` frames is given to the previous state.

    A *visit* is a maximal run of consecutive frames with the same label. A
    visit of at least ``min_dwell`` frames is *kept*; every frame of a shorter
    visit gets the label of the last kept visit before it (Jain & Stock, JCTC
    8, 3810, 2012). Whether a visit is kept is decided on the raw labels, so a
    series of short visits all fall back to the last long one: with
    ``min_dwell=2``, ``0 0 0 1 2 1 0 0`` becomes ``0 0 0 0 0 0 0 0`` and
    ``0 0 0 1 2 2 1`` becomes ``0 0 0 0 2 2 2``. The first visit of each trajectory is always kept (it has no
    predecessor), and a short last visit is reassigned like any other.
    ``min_dwell=1`` returns the labels unchanged.

    Parameters
    ----------
    labels
        State trajectories: one 1-D array, a 2-D array or a list of 1-D arrays.
    min_dwell
        Minimum visit length in frames (``>= 1``).
    n_states
        Optional number of states, for checking the labels.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        Filtered ``int64`` labels, shaped like the input.
    """
    min_dwell = _check_int("min_dwell", min_dwell, 1)
    trajs = check_labels(labels, n_states)
    out = []
    for t in trajs:
        starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
        lengths = np.diff(np.r_[starts, len(t)])
        keep = lengths >= min_dwell
        keep[0] = True
        src = np.maximum.accumulate(np.where(keep, np.arange(len(starts)), 0))
        out.append(np.repeat(t[starts][src], lengths))
    return _restore_shape(out, labels, ragged_ok=False)


# ---------------------------------------------------------------------------
# Metastable states in one call: PCCA+ macrostates in a fixed order, their cores,
# and the macro and core-set trajectories (notebooks 04 and 05)
# ---------------------------------------------------------------------------

__all__ += ["state_means", "MetastableStates", "metastable_states"]


def _layout_like(out: list[np.ndarray], labels):
    """Return per-trajectory results in the layout of ``labels``: 1-D, 2-D (equal lengths) or list."""
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        return out[0]
    if isinstance(labels, np.ndarray) and labels.ndim == 2 and len({len(o) for o in out}) == 1:
        return np.stack(out)
    return out


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


@dataclass(frozen=True)
class MetastableStates:
    """Result of :func:`metastable_states`: micro -> macro lumping, cores and the label trajectories.

    Macrostate ``k`` and core ``k`` are the same metastable state, in the order
    chosen by ``order_by`` of :func:`metastable_states` (so "state 0" means
    the same thing in every notebook and every run).

    Attributes
    ----------
    memberships
        PCCA+ memberships, ``(n_micro, n_macro)``, columns in the chosen order
        (all-zero rows for microstates outside the MSM's connected set).
    assignments
        Crisp lumping micro -> macrostate (``argmax`` of the memberships),
        ``(n_micro,)``; ``-1`` outside the connected set.
    cores
        Lookup micro -> core index (membership ``>= core_threshold``) or ``-1``
        (transition region, or outside the connected set), ``(n_micro,)``.
    macro_labels
        Crisp macrostate trajectories (frames in microstates outside the
        connected set take the macrostate of the previous frame), in the
        layout of the input trajectories.
    core_labels
        Core-set trajectories: each frame labelled by the core visited last
        (:func:`core_set_labels`), in the layout of the input trajectories;
        frames before the first core visit follow ``before_first``.
    order
        ``order[k]`` is the index deeptime's PCCA+ gave macrostate ``k``.
    pcca
        The :class:`PCCAResult` in deeptime's order (MSM details: lag,
        coarse-grained transition matrix, connected set).
    core_threshold
        The membership a microstate needs to belong to a core.
    """

    memberships: np.ndarray
    assignments: np.ndarray
    cores: np.ndarray
    macro_labels: np.ndarray | list[np.ndarray]
    core_labels: np.ndarray | list[np.ndarray]
    order: np.ndarray
    pcca: PCCAResult
    core_threshold: float

    @property
    def n_macro(self) -> int:
        return int(self.memberships.shape[1])

    @property
    def n_micro(self) -> int:
        return int(self.memberships.shape[0])

    def macro_sets(self) -> list[np.ndarray]:
        """The microstates of each macrostate (crisp lumping), one array per macrostate."""
        return [np.flatnonzero(self.assignments == k) for k in range(self.n_macro)]

    def core_sets(self) -> list[np.ndarray]:
        """The microstates of each core: the metastable sets for MFPTs measured on microstate trajectories."""
        return [np.flatnonzero(self.cores == k) for k in range(self.n_macro)]


def metastable_states(
    dtrajs,
    n_micro: int,
    n_macro: int,
    lag: int,
    *,
    core_threshold: float = 0.9,
    order_by=None,
    before_first: str = "backfill",
) -> MetastableStates:
    """Microstates -> PCCA+ macrostates, their core sets and both label trajectories, in a fixed order.

    The steps (each one a function of this module):

    1. :func:`pcca_lump`: reversible MSM of the microstates at ``lag`` and
       PCCA+ memberships into ``n_macro`` sets (deeptime);
    2. the macrostates are put in a reproducible order (deeptime's PCCA+ order
       depends on the data): by ``order_by``, see below;
    3. :func:`cores_from_memberships`: core ``k`` holds the microstates with
       membership ``>= core_threshold`` in macrostate ``k``;
    4. :func:`core_set_labels`: the core-set trajectories (recrossing of the
       transition region removed: a frame keeps the core visited last).

    Parameters
    ----------
    dtrajs
        Microstate trajectories (one 1-D array, a 2-D array or a list of
        arrays), labels in ``[0, n_micro)``.
    n_micro, n_macro, lag
        Number of microstates, of macrostates (``>= 2``) and the MSM lag in frames.
    core_threshold
        Membership needed to be in a core, in ``(0.5, 1]``.
    order_by
        How macrostates are numbered. ``None``: by decreasing stationary
        population (PCCA+ coarse-grained), so macrostate 0 is the most
        populated. An array of length ``n_micro``: a score per microstate
        (e.g. the mean of a known slow coordinate over its frames,
        :func:`state_means`); macrostates are numbered by increasing
        frame-weighted mean score of their microstates (``nan`` scores,
        unvisited microstates, are skipped).
    before_first
        For the core-set trajectories: frames before the first core visit
        (see :func:`core_set_labels`); ``"backfill"`` (default) gives them the
        first core entered, so every frame has a label a language model can
        learn. ``"drop"`` returns a list (trajectories may then differ in length).

    Returns
    -------
    MetastableStates

    Raises
    ------
    ValueError
        From the steps above (e.g. a macrostate without any microstate above
        ``core_threshold``), or for an ``order_by`` of the wrong length or
        with no finite score in some macrostate.
    """
    n_micro = _check_int("n_micro", n_micro, 2)
    trajs = check_labels(dtrajs, n_micro, name="dtrajs")
    pc = pcca_lump(trajs, n_micro, n_macro, lag)
    if order_by is None:
        score = -np.asarray(pc.macro_populations, dtype=float)
    else:
        sc = np.asarray(order_by, dtype=float).reshape(-1)
        if sc.shape != (n_micro,):
            raise ValueError(f"order_by must hold one score per microstate (length n_micro={n_micro}), got shape {np.shape(order_by)}")
        counts = np.bincount(np.concatenate(trajs), minlength=n_micro).astype(float)
        score = np.empty(pc.n_macro)
        for k in range(pc.n_macro):
            ok = (pc.assignments == k) & np.isfinite(sc) & (counts > 0)
            if not np.any(ok):
                raise ValueError(f"order_by has no finite score for any visited microstate of PCCA+ macrostate {k}")
            score[k] = np.sum(counts[ok] * sc[ok]) / np.sum(counts[ok])
    order = np.argsort(score, kind="stable").astype(np.int64)
    rank = np.argsort(order).astype(np.int64)  # deeptime index -> our index
    assignments = np.where(pc.assignments >= 0, rank[np.maximum(pc.assignments, 0)], -1).astype(np.int64)
    memberships = pc.memberships[:, order]
    cores = cores_from_memberships(memberships, core_threshold)
    macro = [np.where(m >= 0, rank[np.maximum(m, 0)], -1).astype(np.int64) for m in pc.macro_labels]
    cored = core_set_labels(trajs, cores, n_states=n_micro, before_first=before_first)
    return MetastableStates(
        memberships=memberships,
        assignments=assignments,
        cores=cores,
        macro_labels=_layout_like(macro, dtrajs),
        core_labels=_layout_like(list(cored), dtrajs),
        order=order,
        pcca=pc,
        core_threshold=float(core_threshold),
    )
