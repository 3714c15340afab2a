"""Reading a user's trajectories for ``mdlstm analyze``: MD files with a topology, feature arrays or label
arrays, checked before any long step, with messages that name the file and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdlstm_utils.data import md
from mdlstm_utils.states import parse_dt

__all__ = ["TRAJECTORY_SUFFIXES", "ARRAY_SUFFIXES", "Inputs", "read_inputs"]



TRAJECTORY_SUFFIXES = (".xtc", ".dcd", ".h5", ".nc", ".trr", ".pdb", ".netcdf", ".lammpstrj", ".gro")
ARRAY_SUFFIXES = (".npy", ".npz")


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------
@dataclass
class Inputs:
    """What was read: feature trajectories or label trajectories, each with the file it came from."""

    kind: str  # "trajectories", "features" or "labels"
    sources: list[str]  # one entry per trajectory: "file" or "file[key]"
    data: list[np.ndarray]  # (n_frames, d) float features, or (n_frames,) int labels
    dt: float
    dt_unit: str
    feature_kind: str | None = None  # for trajectory files: "torsions", "distances" or "contacts"

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.data], dtype=np.int64)

    def describe(self) -> str:
        what = {"trajectories": f"trajectories ({self.feature_kind} features)", "features": "feature arrays",
                "labels": "label trajectories"}[self.kind]
        width = "" if self.kind == "labels" else f", {self.data[0].shape[1]} features"
        return (f"{len(self.data)} {what}, {self.lengths.sum()} frames in all "
                f"({self.lengths.min()}–{self.lengths.max()} per trajectory){width}, dt = {self.dt:g} {self.dt_unit or 'time units'}")


def _arrays_of(path: Path) -> list[tuple[str, np.ndarray]]:
    """The arrays of a ``.npy`` / ``.npz`` file with their source names; clear errors for unreadable files."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                items = [(f"{path}[{k}]", np.asarray(z[k])) for k in z.files]
        else:
            items = [(str(path), np.load(path, allow_pickle=False))]
    except Exception as exc:  # numpy raises several kinds for a damaged file
        raise ValueError(f"{path}: cannot be read as a NumPy {path.suffix} file ({type(exc).__name__}: {exc})") from None
    if not items:
        raise ValueError(f"{path}: holds no array")
    return items


def _split_features(name: str, a: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim == 2:
        return [(name, a)]
    if a.ndim == 3:
        return [(f"{name}[{i}]", a[i]) for i in range(len(a))]
    raise ValueError(f"{name}: a feature array must be 2-D (frames, features) or 3-D (trajectories, frames, features), "
                     f"got shape {a.shape}")


def _split_labels(name: str, a: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if a.ndim == 1:
        return [(name, a)]
    if a.ndim == 2:
        return [(f"{name}[{i}]", a[i]) for i in range(len(a))]
    raise ValueError(f"{name}: labels must be 1-D (frames) or 2-D (trajectories, frames), got shape {a.shape}")


def read_inputs(paths, *, top=None, features: str = "torsions", labels: bool = False, dt="1",
                max_frames: int | None = None) -> Inputs:
    """Read and check every input file before any long work.

    ``paths``: trajectory files that mdtraj reads (with ``top``, or a
    ``topology.pdb`` beside each file), or ``.npy`` / ``.npz`` feature arrays
    (one 2-D array per trajectory, or a 3-D array of trajectories), or, with
    ``labels=True``, label trajectories in the same containers. ``dt`` is the
    time between frames, with an optional unit (``"1ps"``, ``"0.05"``).
    ``max_frames`` keeps the first frames of each trajectory (the smoke profile).
    Raises ``FileNotFoundError`` / ``ValueError`` naming the file and the problem.
    """
    value, unit = parse_dt(dt)
    paths = _input_paths(paths)
    kind, items = _read_items(paths, top=top, features=features, labels=labels)
    if max_frames is not None:
        items = [(n, a[:max_frames]) for n, a in items]
    for name, a in items:
        if len(a) < 2:
            raise ValueError(f"{name}: has {len(a)} frame{'s' if len(a) != 1 else ''}; a trajectory needs at least 2")
    data = _label_data(items) if kind == "labels" else _feature_data(items)
    return Inputs(kind, [n for n, _ in items], data, value, unit, features if kind == "trajectories" else None)


def _input_paths(paths) -> list[Path]:
    """``paths`` (one path or several) as a list of existing files: a missing file is named before any reading."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no input files given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    return paths


def _read_items(paths: list[Path], *, top, features: str, labels: bool) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """The kind of input (``"labels"``, ``"features"`` or ``"trajectories"``) and its arrays with their sources.

    The kind follows from ``labels`` and the file suffixes; one call reads one kind, so a mix of trajectory
    files and arrays is refused rather than guessed. Trajectory files are featurized here (``features``).
    """
    suffixes = {p.suffix.lower() for p in paths}
    items: list[tuple[str, np.ndarray]] = []
    if labels:
        for p in paths:
            if p.suffix.lower() not in ARRAY_SUFFIXES:
                raise ValueError(f"{p}: labels must be given as .npy or .npz files")
            for name, a in _arrays_of(p):
                items += _split_labels(name, a)
        return "labels", items
    if suffixes <= set(ARRAY_SUFFIXES):
        for p in paths:
            for name, a in _arrays_of(p):
                items += _split_features(name, a)
        return "features", items
    if suffixes <= set(TRAJECTORY_SUFFIXES):
        if features not in md.FEATURES:
            raise ValueError(f"features={features!r}; choose one of {md.FEATURES}")
        for p in paths:
            traj = md.load_trajectory(p, top=top)
            items.append((str(p), np.asarray(md.featurize(traj, features), dtype=np.float64)))
        return "trajectories", items
    raise ValueError(f"cannot mix or read these inputs ({', '.join(sorted(map(str, paths)))}): give trajectory files "
                     f"({', '.join(TRAJECTORY_SUFFIXES)}) or feature arrays (.npy, .npz), or labels with --labels")


def _label_data(items: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Label trajectories as ``int64`` arrays, after checking that each holds whole, non-negative numbers."""
    for name, a in items:
        if not (np.issubdtype(a.dtype, np.integer) or (np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a))
                                                         and np.all(a == np.round(a)))):
            raise ValueError(f"{name}: labels must be whole numbers, got dtype {a.dtype}")
        if a.min() < 0:
            raise ValueError(f"{name}: holds a negative label ({a.min()})")
    return [a.astype(np.int64) for _, a in items]


def _feature_data(items: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Feature trajectories as ``float64`` arrays, after checking one width for all, real dtypes and finite values.

    A NaN or an infinite value is named with its file and first frame: TICA and k-means would otherwise fail
    later, or silently give nonsense, far from the cause.
    """
    widths = {a.shape[1] for _, a in items}
    if len(widths) > 1:
        first = items[0]
        odd = next((n, a) for n, a in items if a.shape[1] != first[1].shape[1])
        raise ValueError(f"features of different widths: {first[0]} has {first[1].shape[1]} columns, "
                         f"{odd[0]} has {odd[1].shape[1]} columns")
    for name, a in items:
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{name}: features must be real numbers, got dtype {a.dtype}")
        bad = ~np.isfinite(a)
        if bad.any():
            frame = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(f"{name}: {int(bad.sum())} NaN or infinite feature values (first in frame {frame})")
    return [a.astype(np.float64) for _, a in items]
