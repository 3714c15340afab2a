"""``mdlstm analyze``: the suite's whole method on your own trajectories, features or labels.

One command (or :func:`run` from Python, or notebook 08 step by step) takes
what a researcher has: trajectory files that mdtraj reads with their topology,
feature arrays (``.npy`` / ``.npz``), or label trajectories that were
discretized elsewhere. It then does what the tutorial notebooks teach, each
step chosen by a rule that is printed and can be overridden:

1. TICA of the features (lag: 1 % of the shortest trajectory; dimension:
   95 % of the kinetic variance, between 2 and 10);
2. k-means microstates (``sqrt(frames)``, capped by the profile);
3. the MSM lag where the slowest implied timescale has levelled off, judged
   with its 95 % intervals over a decade of longer lags;
4. the number of metastable states at a clear gap between timescales (2, the
   slowest process, when no gap stands out);
5. PCCA+ and core sets (a frame between cores keeps the last core), with
   dynamical coring (the shortest minimum dwell at which the number of
   transitions stops falling), at the lowest core threshold whose cores sit in
   the wells and relax like the microstate MSM's slowest process; when cores
   cannot be formed, fewer states or a longer lag, each alternative printed;
6. four self-checks from the data alone (implied timescales converged; the
   states' slowest relaxation matches the MSM's; cores in free-energy minima
   with a sensible share of frames; populations as PCCA+ says). The verdict on
   the model says "Targets met" only when they pass, and otherwise which
   failed, what it means and what to try;
7. a language model trained on the cored metastable labels, trajectories
   generated like the reference (same number, same lengths), an MSM at the same
   lag sampled the same way, and the comparison of populations, mean
   first-passage times and the slowest relaxation time (from the rates
   between the metastable states, :func:`~mdlstm_utils.kinetics.relaxation_timescales`)
   with 95 % intervals.

The model's learning record (learning curve, validation loss beside a lag-1
MSM's) is shown beside its slow-process error, with the transitions it gets
wrong (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`).

It writes ``OUT/report.html`` (figures embedded, readable offline) and
``OUT/metrics.json``; times are in the unit of ``--dt``. When no state space can
be formed, it writes the report of the steps so far and exits with status 2. Bad input is refused
before any long step, with a message that names the file and the problem, and
nothing is written to ``OUT`` until the analysis has finished.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from mdlstm_utils.states import lag as lagmod
from mdlstm_utils.lm.diagnostics import transition_errors
from mdlstm_utils.kinetics.memory import memory_test
from mdlstm_utils.kinetics import population_interval, relaxation_timescales, set_labels
from mdlstm_utils.runtime import jsonable, mfpt_tolerance, resolve_device, seed_everything
from mdlstm_utils.data import md
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.lm.train import TrainConfig
from mdlstm_utils.report import plots
from mdlstm_utils.states import (StateSpace, kmeans_space, estimate_msm, from_labels, metastable_space, metastable_states, min_dwell_filter,
                     parse_dt, pcca_lump)

__all__ = ["PROFILES", "Inputs", "Choice", "Analysis", "Partial", "AnalysisFailed", "States", "read_inputs",
           "reduce_features", "cluster", "choose_lag", "choose_n_macro", "find_metastable", "try_threshold",
           "StateChoice", "CoreTrial", "choose_min_dwell", "agree", "Check", "SelfChecks", "check_its",
           "check_relaxation", "check_cores", "check_populations", "build_states", "learn", "slow_groups",
           "transitions", "run", "figure", "figures", "FIGURE_NAMES", "HOW_TO_READ", "write_report", "main"]

#: Sizes per profile: ``smoke`` checks that everything runs (seconds), ``quick`` gives numbers worth reading
#: in minutes on two CPU cores, ``full`` uses finer microstates and four times the training tokens (longer windows).
PROFILES = {
    "smoke": dict(max_frames=3000, max_micro=20, n_lags=6, hidden=32, its_samples=10,
                  train=TrainConfig(seq_len=32, batch_size=16, epochs=4, steps=30)),
    "quick": dict(max_frames=None, max_micro=100, n_lags=12, hidden=64, its_samples=20,
                  train=TrainConfig(seq_len=50, batch_size=32, epochs=4, steps=1000)),
    "full": dict(max_frames=None, max_micro=200, n_lags=16, hidden=64, its_samples=50,
                 train=TrainConfig(seq_len=100, batch_size=32, epochs=4, steps=2000)),
}
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


# ---------------------------------------------------------------------------------------------
# The steps, each with its rule
# ---------------------------------------------------------------------------------------------
@dataclass
class Choice:
    """One step's setting: its value, and the rule (or the user) that chose it."""

    value: float | int
    rule: str


@dataclass
class Reduction:
    """TICA of the features: the projected trajectories and the model's kinetic variance."""

    tics: list[np.ndarray]
    lag: Choice
    dim: Choice
    kinetic_variance: np.ndarray  # cumulative fraction per component


def reduce_features(data: list[np.ndarray], *, lag: int | None = None, dim: int | None = None,
                    var_cutoff: float = 0.95, max_dim: int = 10) -> Reduction:
    """TICA (deeptime, kinetic-map scaling) of feature trajectories.

    Rules: the lag is 1 % of the shortest trajectory (between 1 and 100
    frames), long enough to see past the fastest motion while every
    trajectory holds many lag windows; the dimension keeps ``var_cutoff`` of
    the kinetic variance, at least 2 components (for the free-energy map) and
    at most ``max_dim`` (k-means works poorly in many dimensions).
    """
    from deeptime.decomposition import TICA

    shortest = int(min(len(x) for x in data))
    width = data[0].shape[1]
    if lag is None:
        lag_c = Choice(int(np.clip(shortest // 100, 1, 100)), "1 % of the shortest trajectory, 1-100 frames")
    else:
        lag_c = Choice(int(lag), "given")
    if lag_c.value >= shortest:
        raise ValueError(f"TICA lag {lag_c.value} frames is not shorter than the shortest trajectory ({shortest} frames)")
    if width == 1:
        return Reduction([x.copy() for x in data], lag_c, Choice(1, "one feature: no TICA"), np.ones(1))
    model = TICA(lagtime=lag_c.value, scaling="kinetic_map").fit(data).fetch_model()
    sv = np.asarray(model.singular_values, dtype=float)
    cum = np.cumsum(sv**2) / np.sum(sv**2)
    if dim is None:
        k = int(np.clip(np.searchsorted(cum, var_cutoff) + 1, min(2, len(sv)), min(max_dim, len(sv))))
        dim_c = Choice(k, f"{var_cutoff:.0%} of the kinetic variance, 2-{max_dim} components")
    else:
        if not 1 <= int(dim) <= len(sv):
            raise ValueError(f"TICA dimension {dim} must be between 1 and {len(sv)}")
        dim_c = Choice(int(dim), "given")
    tics = [np.asarray(model.transform(x))[:, : dim_c.value] for x in data]
    return Reduction(tics, lag_c, dim_c, cum)


def cluster(tics: list[np.ndarray], dt: float, dt_unit: str, *, n_micro: int | None = None, max_micro: int = 100,
            seed: int = 0, device="auto"):
    """k-means microstates of the TICA projections: ``(StateSpace, KMeansResult, Choice)``.

    Rule: ``sqrt(total frames)`` clusters, between 10 and ``max_micro``, so that
    each holds enough frames for its transition counts.
    """
    total = sum(len(x) for x in tics)
    if n_micro is None:
        c = Choice(int(np.clip(int(np.sqrt(total)), 10, max_micro)), f"sqrt(frames), 10-{max_micro}")
    else:
        c = Choice(int(n_micro), "given")
    dev = resolve_device(device)
    backend = "torch" if dev.type == "cuda" else "deeptime"
    space, km = kmeans_space(tics, c.value, dt=dt, dt_unit=dt_unit, seed=seed, device=dev, backend=backend)
    return space, km, c


def _lag_grid(shortest: int, n: int) -> np.ndarray:
    top = max(2, min(shortest // 10, 1000))
    return np.unique(np.round(np.geomspace(1, top, n)).astype(int))


#: Relative tolerance of the rules and self-checks that compare two timescales: a difference within it, or
#: within the two 95 % intervals together, is agreement (:func:`agree`).
RTOL = 0.1


def agree(a: float, a_low: float, a_high: float, b: float, b_low: float, b_high: float, rtol: float = RTOL) -> bool:
    """Whether two estimates agree: ``|a - b| <= max(rtol * b, h_a + h_b)`` with ``h`` the half-widths of their
    intervals (``nan`` bounds count as zero width). The intervals cover noise; ``rtol`` the few per cent by which
    equally good estimators of one timescale differ (an MSM's timescale is biased low by its lag)."""
    if not (np.isfinite(a) and np.isfinite(b)) or b <= 0:
        return False
    h = lagmod._half(a_low, a_high) + lagmod._half(b_low, b_high)
    return bool(abs(a - b) <= max(rtol * b, h))


def choose_lag(micro: StateSpace, *, lag: int | None = None, n_lags: int = 12, rtol: float = RTOL, k: int = 5,
               n_samples: int = 20):
    """Implied timescales of the microstate MSM over lags (with Bayesian 95 % intervals), and the lag:
    ``(its, Choice)``.

    Rule (:func:`~mdlstm_utils.states.lag.converged_lag`): the smallest scanned lag at which the slowest
    implied timescale agrees with its value at every longer scanned lag up to ten times it, within ``rtol`` or
    within the two intervals. An MSM's timescales grow with the lag until the partition is Markovian, and
    a slow creep of a few per cent per step is still growth, so the comparison spans a decade of lags, not the
    next step. When it never levels off, the longest lag at which the slowest timescale is still resolved
    (longer than the lag), with a warning: the self-check on the implied timescales then fails.
    ``n_samples``: Bayesian MSM samples per lag for the intervals (20 give a rough 95 % interval).
    """
    lags = _lag_grid(int(micro.lengths.min()), n_lags)
    if lag is not None:
        if not 1 <= int(lag) < micro.lengths.max():
            raise ValueError(f"lag {lag} frames must be >= 1 and shorter than the longest trajectory "
                             f"({micro.lengths.max()} frames)")
        lags = np.unique(np.r_[lags, int(lag)])
    its = lagmod.implied_timescales(list(micro.trajs), lags, micro.n_states, k=min(k, micro.n_states - 1),
                                    dt=micro.dt, n_samples=n_samples)
    if lag is not None:
        return its, Choice(int(lag), "given")
    best = lagmod.converged_lag(its, rtol=rtol)
    if best is None:
        resolved = its.lags[np.isfinite(its.slowest) & (its.slowest > its.lag_times)]
        take = int(resolved.max()) if resolved.size else int(its.lags[0])
        print(f"warning: the slowest implied timescale does not level off (within {rtol:.0%} or its intervals) "
              f"up to {its.lags[-1]} frames; using {take} frames, the longest lag that still resolves it. "
              "Longer trajectories, other features or a finer partition would help.")
        return its, Choice(take, f"longest lag that resolves the slowest timescale: it did not converge "
                                 f"within {rtol:.0%} or its intervals")
    return its, Choice(int(best), f"slowest implied timescale agrees (within {rtol:.0%} or its 95 % intervals) "
                                  "with its values at every longer lag up to 10 times it")


def _index_of(its, lag: int) -> int:
    return int(np.flatnonzero(np.asarray(its.lags) == lag)[0])


def _timescales_at(its, lag: int) -> np.ndarray:
    """The implied timescales (time units) of ``its`` at the scanned lag ``lag`` (frames)."""
    return np.asarray(its.timescales[_index_of(its, lag)], dtype=float)


def _msm_slowest(its, lag: int) -> tuple[float, float, float]:
    """The microstate MSM's slowest implied timescale at ``lag`` with its interval (``nan`` bounds without one)."""
    i = _index_of(its, lag)
    lo, hi = its.slowest_interval(i) or (np.nan, np.nan)
    return float(its.slowest[i]), float(lo), float(hi)


#: :func:`choose_n_macro`: a gap between implied timescales must be at least this ratio ...
MIN_GAP = 2.0
#: ... and this many times larger than every other resolved gap, to set the number of states.
GAP_STANDS_OUT = 1.5


def choose_n_macro(its, lag: int, *, n_macro: int | None = None, max_macro: int = 6) -> Choice:
    """The number of metastable states: one more than the number of timescales before a clear gap.

    The gaps are the ratios ``t_j / t_(j+1)`` of consecutive implied timescales at the chosen lag; only gaps
    whose slow side ``t_j`` is longer than the lag (resolved) count, while the fast side may be unresolved (then
    the gap is at least that large). The largest gap sets the number of states when it is a gap: at least
    :data:`MIN_GAP` and :data:`GAP_STANDS_OUT` times every other one. Otherwise (ratios such as 1.8, 1.9, 1.9
    all alike) no number of states is marked, and the rule takes 2: the slowest process, which any
    partition must get right, split by PCCA+ into its two sides.
    """
    if n_macro is not None:
        if int(n_macro) < 2:
            raise ValueError(f"n_macro={n_macro}: need at least 2 metastable states")
        return Choice(int(n_macro), "given")
    t = _timescales_at(its, lag) / its.dt
    t = t[np.isfinite(t)]
    gaps = (t[:-1] / t[1:])[: max_macro - 1]
    ok = t[: len(gaps)] > lag
    if not ok.any():
        return Choice(2, "no timescale longer than the lag: 2 states")
    listed = ", ".join(f"t{j + 1}/t{j + 2} = {g:.2f}" for j, g in enumerate(gaps) if ok[j])
    j = int(np.argmax(np.where(ok, gaps, -np.inf)))
    others = gaps[ok & (np.arange(len(gaps)) != j)]
    if gaps[j] < MIN_GAP:
        return Choice(2, f"no gap between the timescales ({listed}; a gap needs >= {MIN_GAP:g}): 2 states, "
                         "the slowest process")
    if others.size and gaps[j] < GAP_STANDS_OUT * others.max():
        return Choice(2, f"no gap stands out ({listed}; the largest must be {GAP_STANDS_OUT:g} times the others): "
                         "2 states, the slowest process")
    return Choice(j + 2, f"the gap t{j + 1}/t{j + 2} = {gaps[j]:.1f} ({listed}), 2-{max_macro} states")


def choose_min_dwell(cores: StateSpace, *, min_dwell: int | None = None, max_dwell: int | None = None,
                     rtol: float = 0.1):
    """Dynamical coring: ``(scan, Choice)`` with ``scan = (dwells, transitions)``.

    Rule (a plateau): the shortest minimum dwell ``d`` (1, 2, 4, ...) at which
    doubling it removes fewer than ``rtol`` of the remaining transitions: the
    short recrossing visits are gone, the rest are real transitions.
    """
    top = int(max_dwell or 32)
    top = max(1, min(top, int(cores.lengths.min()) // 20))
    dwells = [1]
    while dwells[-1] * 2 <= top:
        dwells.append(dwells[-1] * 2)
    counts = []
    for d in dwells:
        lab = min_dwell_filter(list(cores.trajs), d, n_states=cores.n_states)
        counts.append(int(sum(np.count_nonzero(t[1:] != t[:-1]) for t in lab)))
    counts = np.array(counts)
    if min_dwell is not None:
        return (np.array(dwells), counts), Choice(int(min_dwell), "given")
    for i in range(len(dwells) - 1):
        if counts[i + 1] >= (1 - rtol) * counts[i]:
            return (np.array(dwells), counts), Choice(dwells[i], f"transitions fall < {rtol:.0%} when the dwell doubles")
    if len(dwells) == 1:
        return (np.array(dwells), counts), Choice(1, "trajectories too short to scan: no coring")
    return (np.array(dwells), counts), Choice(dwells[-1], "no plateau: the longest dwell scanned")


# ---------------------------------------------------------------------------------------------
# Self-checks: what the data alone say about the state space the model will learn
# ---------------------------------------------------------------------------------------------
@dataclass
class Check:
    """One self-check: its verdict, its numbers, and in plain words what it found, what a failure means for the
    kinetics reported and what to try."""

    name: str  # key in metrics.json
    title: str  # what is checked, in plain words
    passed: bool
    numbers: dict  # JSON-ready numbers behind the verdict
    finding: str  # what was measured
    meaning: str = ""  # what a failure means for the kinetics reported
    advice: str = ""  # what to try

    def to_dict(self) -> dict:
        return {"title": self.title, "passed": self.passed, "finding": self.finding, "meaning": self.meaning,
                "advice": self.advice, **jsonable(self.numbers)}


@dataclass
class SelfChecks:
    """The self-checks of an analysis, in order."""

    checks: list

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list:
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"passed": self.passed, **{c.name: c.to_dict() for c in self.checks}}


#: :func:`check_cores`: a core's most populated microstate may lie at most this many kT above its state's
#: (so that the core sits in the free-energy minimum) ...
MAX_CORE_OFFSET_KT = 1.0
#: ... and the core holds at least this share of its state's frames.
MIN_CORE_SHARE = 0.25
#: :func:`check_populations`: set populations and PCCA+ populations agree within this relative difference
#: (or within the population's 95 % interval).
POPULATION_RTOL = 0.2


def check_its(its, lag: int, *, given: bool = False) -> Check:
    """Self-check 1: the slowest implied timescale has converged in the lag at ``lag``
    (:func:`~mdlstm_utils.states.lag.lag_convergence`)."""
    lc = lagmod.lag_convergence(its, lag, rtol=RTOL)
    dt = its.dt
    changes = ", ".join(f"{t:.3g} at {l * dt:g}" for l, t in zip(lc.compared_lags, lc.compared_timescales))
    if not changes:
        finding = (f"slowest implied timescale {lc.timescale:.3g} [{_g(lc.low)}, {_g(lc.high)}] at lag {lag * dt:g}; "
                   "no longer lag that still resolves it to compare with")
    else:
        finding = (f"slowest implied timescale {lc.timescale:.3g} [{_g(lc.low)}, {_g(lc.high)}] at lag {lag * dt:g}; "
                   f"at longer lags {changes} (largest change {lc.max_change:+.0%})")
    meaning = advice = ""
    if not lc.converged:
        meaning = ("the microstate MSM is not Markovian at this lag: its slowest timescale is still growing, so it "
                   "underestimates the slowest process, and the metastable states built on it may split the wrong "
                   "process. The kinetics reported may be off by more than the intervals say.")
        advice = ("give a longer lag (--lag) if the trajectories allow it; more microstates (--n-micro) or features "
                  "that include the slow coordinate; longer trajectories")
        if given:
            advice = "the lag was given: let analyze choose it (drop --lag), or " + advice
    return Check("its_converged", "implied timescales converged in the lag", lc.converged,
                 {"lag": lag * dt, **{k: v for k, v in lc.to_dict().items() if k != "lag"},
                  "compared_lags": (lc.compared_lags * dt).tolist()}, finding, meaning, advice)


def check_relaxation(relax: tuple, msm: tuple, n_states: int) -> Check:
    """Self-check 2: the slowest relaxation time of the chosen state space (from the rates between its states)
    agrees with the microstate MSM's slowest implied timescale (:func:`agree`)."""
    (v, lo, hi), (t, tlo, thi) = relax, msm
    ok = agree(v, lo, hi, t, tlo, thi)
    ratio = v / t if t > 0 else np.nan
    finding = (f"slowest relaxation of the {n_states} metastable states {v:.3g} [{_g(lo)}, {_g(hi)}], microstate "
               f"MSM {t:.3g} [{_g(tlo)}, {_g(thi)}]: ratio {ratio:.2f}")
    meaning = advice = ""
    if not ok:
        if ratio > 1:
            meaning = ("the states relax more slowly than the MSM's slowest process: the cores miss transitions "
                       "(they sit away from the wells, or lump wells across a faster process). The reference "
                       "kinetics, and every comparison with them, are then too slow.")
        else:
            meaning = ("the states relax faster than the MSM's slowest process: the partition counts recrossings "
                       "of a barrier as transitions, or splits a well. The reference kinetics, and every "
                       "comparison with them, are then too fast.")
        advice = ("let analyze choose the core threshold and the number of states (drop --core-threshold, "
                  "--n-macro), or give fewer states (--n-macro 2: the slowest process alone)")
    return Check("relaxation_agrees", "the states' slowest relaxation matches the microstate MSM's", ok,
                 {"relaxation": v, "relaxation_low": lo, "relaxation_high": hi, "msm_timescale": t,
                  "msm_timescale_low": tlo, "msm_timescale_high": thi, "ratio": ratio, "rtol": RTOL},
                 finding, meaning, advice)


def _micro_counts(micro: StateSpace) -> np.ndarray:
    return np.bincount(np.concatenate(list(micro.trajs)), minlength=micro.n_states).astype(float)


def check_cores(micro: StateSpace, ms) -> Check:
    """Self-check 3: every core sits in its state's free-energy minimum and holds a sensible share of its frames.

    Per metastable state: the free energy ``-ln p`` (kT) of the core's most populated microstate above that of
    the state's most populated microstate (crisp PCCA+ assignment), at most :data:`MAX_CORE_OFFSET_KT`; and the
    frames in the core over the frames in the state, at least :data:`MIN_CORE_SHARE`. Cores on the rim of a well
    (where PCCA+ memberships are most extreme) fail both.
    """
    counts = _micro_counts(micro)
    offset, share = [], []
    for k in range(ms.n_macro):
        state, core = counts[ms.assignments == k], counts[ms.cores == k]
        top_state = state.max() if state.size else 0.0
        top_core = core.max() if core.size else 0.0
        offset.append(float(np.log(top_state / top_core)) if top_core > 0 else np.inf)
        share.append(float(core.sum() / state.sum()) if state.sum() > 0 else 0.0)
    offset, share = np.array(offset), np.array(share)
    ok = bool(np.all(offset <= MAX_CORE_OFFSET_KT) and np.all(share >= MIN_CORE_SHARE))
    finding = (f"cores' lowest free energy above their state's minimum: {', '.join(f'{o:.1f}' for o in offset)} kT "
               f"(at most {MAX_CORE_OFFSET_KT:g}); share of the state's frames in the core: "
               f"{', '.join(f'{s:.0%}' for s in share)} (at least {MIN_CORE_SHARE:.0%})")
    meaning = advice = ""
    if not ok:
        meaning = ("a core that misses its well's minimum, or holds few of its frames, counts the transitions of "
                   "a small rim region: its populations, first-passage times and relaxation time are not those of "
                   "the well.")
        advice = ("a lower core threshold (--core-threshold, above 0.5) gives larger cores; with memberships that "
                  "never come near 1, fewer states (--n-macro)")
    return Check("cores_in_minima", "cores sit in free-energy minima and hold a sensible share of frames", ok,
                 {"free_energy_offset_kT": offset, "core_share": share, "core_threshold": ms.core_threshold,
                  "max_offset_kT": MAX_CORE_OFFSET_KT, "min_share": MIN_CORE_SHARE}, finding, meaning, advice)


def check_populations(space: StateSpace, ms) -> Check:
    """Self-check 4: the populations of the learned states (fraction of frames) agree with the PCCA+ ones
    (stationary populations coarse-grained with the memberships): within :data:`POPULATION_RTOL` or within the
    populations' 95 % bootstrap interval."""
    sl = set_labels(list(space.trajs), list(space.sets), space.n_states)
    pop = np.bincount(np.concatenate(sl), minlength=space.n_states)[: space.n_states] / sum(len(s) for s in sl)
    lo, hi = population_interval(sl, space.n_states, n_boot=200)
    pcca = np.asarray(ms.pcca.macro_populations, dtype=float)[ms.order]
    ok_each = (np.abs(pop / pcca - 1) <= POPULATION_RTOL) | ((pcca >= lo) & (pcca <= hi))
    ok = bool(np.all(ok_each))
    finding = "populations " + ", ".join(f"{n} {p:.3f} (PCCA+ {q:.3f})" for n, p, q in zip(space.set_names, pop, pcca))
    meaning = advice = ""
    if not ok:
        meaning = ("the states hold a different share of the frames than the metastable sets PCCA+ found: the "
                   "cores split the transition region unevenly (or sit off the wells), so the reported populations "
                   "and the MFPTs into the states are biased.")
        advice = "let analyze choose the core threshold (drop --core-threshold), or fewer states (--n-macro)"
    return Check("populations_agree", "state populations agree with the PCCA+ memberships", ok,
                 {"populations": pop, "populations_low": lo, "populations_high": hi, "pcca_populations": pcca,
                  "rtol": POPULATION_RTOL}, finding, meaning, advice)


# ---------------------------------------------------------------------------------------------
# Metastable states: PCCA+, cores and coring, with the alternatives the rules allow
# ---------------------------------------------------------------------------------------------
#: Core thresholds :func:`find_metastable` tries, in order: the PCCA+ membership a microstate needs to be in a
#: core, in (0.5, 1) so that a microstate is in at most one core.
CORE_THRESHOLDS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass
class CoreTrial:
    """One core threshold tried: the cores (or why none formed), the learned labels and their checks."""

    threshold: float
    error: str = ""  # why the cores could not be formed ("" when they were)
    metastable: object = None  # MetastableStates
    dwell_scan: tuple | None = None
    min_dwell: Choice | None = None
    space: StateSpace | None = None  # core-set labels after dynamical coring
    relaxation: tuple = (np.nan, np.nan, np.nan)  # slowest relaxation of `space` with its interval
    cores: Check | None = None
    agrees: bool = False

    @property
    def good(self) -> bool:
        return not self.error and self.agrees and self.cores.passed

    def line(self) -> str:
        if self.error:
            return f"{self.threshold:g}: {self.error}"
        v, lo, hi = self.relaxation
        where = "cores in the wells" if self.cores.passed else "cores off the wells' minima or small"
        return f"{self.threshold:g}: relaxation {v:.3g} [{_g(lo)}, {_g(hi)}], {where}"


def _no_core_error(memberships: np.ndarray, threshold: float) -> str:
    """Why some set has no core at ``threshold`` (and what would help), or ``""``."""
    top = memberships.max(axis=0)
    empty = np.flatnonzero(top < threshold)
    if not empty.size:
        return ""
    lowest = float(top[empty].min())
    hint = f"a threshold <= {lowest:.2f} would form it" if lowest > 0.5 else "no threshold in (0.5, 1) can"
    return f"no core for state(s) {empty.tolist()} (largest membership {lowest:.3f}: {hint})"


def try_threshold(micro: StateSpace, n_macro: int, lag: int, threshold: float, msm: tuple, *, pcca=None,
                  min_dwell: int | None = None, n_boot: int = 200) -> CoreTrial:
    """Cores at ``threshold``, coring, and the checks that choose the threshold (:func:`find_metastable`)."""
    pc = pcca or pcca_lump(list(micro.trajs), micro.n_states, n_macro, lag)
    err = _no_core_error(pc.memberships, threshold)
    if err:
        return CoreTrial(threshold, err)
    try:
        ms = metastable_states(list(micro.trajs), micro.n_states, n_macro, lag, core_threshold=threshold, pcca=pc)
    except ValueError as exc:
        return CoreTrial(threshold, str(exc))
    cores = metastable_space(micro, "cores", metastable=ms, lag=lag)
    scan, dwell = choose_min_dwell(cores, min_dwell=min_dwell, max_dwell=max(32, lag))
    space = metastable_space(micro, "coring", metastable=ms, lag=lag, min_dwell=dwell.value,
                             set_names=[f"S{k}" for k in range(n_macro)])
    v = float(relaxation_timescales(list(space.trajs), n_macro, dt=space.dt, n_boot=0)[0][0])
    relax = (v, np.nan, np.nan)
    if not agree(v, np.nan, np.nan, *msm[:1], np.nan, np.nan) and np.isfinite(v):
        relax = _slowest(space.trajs, n_macro, space.dt, n_boot=n_boot)  # the interval decides
    return CoreTrial(threshold, "", ms, scan, dwell, space, relax, check_cores(micro, ms), agree(*relax, *msm))


@dataclass
class StateChoice:
    """What :func:`find_metastable` settled on, and what it tried on the way."""

    metastable: object  # MetastableStates
    space: StateSpace
    dwell_scan: tuple
    choices: dict  # "lag", "n_macro", "core_threshold", "min_dwell" -> Choice
    trials: list  # (lag, n_macro, [CoreTrial, ...]) in the order tried
    notes: list  # the alternatives taken, and why, in plain words


class AnalysisFailed(ValueError):
    """No state space could be formed; ``partial`` holds the steps so far (:class:`Partial`) for the report."""

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = partial


def find_metastable(micro: StateSpace, its, lag: Choice, n_macro: Choice, *, core_threshold: float | None = None,
                    min_dwell: int | None = None, max_macro: int = 6) -> StateChoice:
    """PCCA+ into ``n_macro`` states, their cores and coring, falling back to what the rules allow.

    Rule for the core threshold: the lowest of :data:`CORE_THRESHOLDS` whose cores sit in the wells
    (:func:`check_cores`) and whose slowest relaxation (after coring) agrees with the microstate MSM's slowest
    implied timescale at the lag (:func:`agree`: within 10 % or the intervals, on both sides: cores reaching into
    the barrier relax too fast, cores on a well's rim too slowly), preferring one that relaxes no faster than
    the MSM (whose timescale underestimates the true one: variational principle) to one that agrees from
    below. When no threshold does at ``n_macro`` states,
    fewer states are tried (down to 2); when no cores form at all, the next longer scanned lags (up to three).
    When cores form but none passes, the threshold whose relaxation comes closest is taken (its self-checks
    then fail). Values given by the user (``core_threshold``, a given ``n_macro`` or ``lag``) are kept fixed.
    Raises :class:`AnalysisFailed` when no cores form anywhere.
    """
    notes, trials = [], []
    lags = [lag.value]
    if lag.rule != "given":
        after = [int(l) for l in its.lags if l > lag.value and _msm_slowest(its, int(l))[0] > l * its.dt]
        lags += after[:3]
    thresholds = [core_threshold] if core_threshold is not None else list(CORE_THRESHOLDS)
    best_usable = None  # (score, lag, n, trial): cores formed but the checks failed
    for tau in lags:
        msm = _msm_slowest(its, tau)
        nm = n_macro if tau == lag.value or n_macro.rule == "given" else choose_n_macro(its, tau, max_macro=max_macro)
        counts = [nm.value] if nm.rule == "given" else list(range(nm.value, 1, -1))
        for n in counts:
            try:
                pc = pcca_lump(list(micro.trajs), micro.n_states, n, tau)
            except ValueError as exc:
                trials.append((tau, n, [CoreTrial(float("nan"), str(exc))]))
                continue
            tried = []
            for th in thresholds:
                tr = try_threshold(micro, n, tau, th, msm, pcca=pc, min_dwell=min_dwell)
                tried.append(tr)
                if tr.good and tr.relaxation[0] >= msm[0]:
                    break
            trials.append((tau, n, tried))
            # the MSM's timescale is a lower bound (variational principle): cores that agree from above first
            good = sorted((tr for tr in tried if tr.good), key=lambda tr: tr.relaxation[0] < msm[0])
            formed = [tr for tr in tried if not tr.error]
            for tr in formed:
                score = (not tr.cores.passed, abs(np.log(tr.relaxation[0] / msm[0])) if tr.relaxation[0] > 0 else np.inf)
                if best_usable is None or score < best_usable[0]:
                    best_usable = (score, tau, n, tr)
            if good:
                return _settle(good[0], tau, n, lag, nm, core_threshold, its, trials, notes)
            what = "; ".join(tr.line() for tr in tried)
            if n > 2 and nm.rule != "given":
                notes.append(f"{n} states at lag {tau * its.dt:g}: no core threshold passes ({what}); trying {n - 1}")
            else:
                notes.append(f"{n} states at lag {tau * its.dt:g}: no core threshold passes ({what})")
        if best_usable is not None:
            break  # cores formed at this lag: keep it, take the closest below
        if tau != lags[-1]:
            notes.append(f"no cores form at lag {tau * its.dt:g}; trying a longer lag")
    if best_usable is None:
        raise AnalysisFailed("no metastable states could be formed: " + "; ".join(notes) + ". "
                             + _failure_hint(trials, core_threshold, n_macro))
    _, tau, n, tr = best_usable
    notes.append(f"taking {n} states at membership >= {tr.threshold:g}, the closest to passing: the self-checks "
                 "below say what is wrong")
    return _settle(tr, tau, n, lag, n_macro if tau == lag.value else choose_n_macro(its, tau), core_threshold, its,
                   trials, notes, passed=False)


def _failure_hint(trials, core_threshold, n_macro: Choice) -> str:
    """What to try when no cores formed: hints that can help (never a threshold <= 0.5)."""
    hints = []
    if core_threshold is not None:
        hints.append("drop --core-threshold and let analyze try the thresholds in (0.5, 1)")
    if n_macro.rule == "given":
        hints.append(f"fewer states than --n-macro {n_macro.value}, or drop it")
    hints.append("more data, a finer partition (--n-micro) or features that separate the wells")
    return "Try: " + "; ".join(hints) + "."


def _settle(tr: CoreTrial, tau: int, n: int, lag: Choice, nm: Choice, core_threshold, its, trials, notes,
            passed: bool = True) -> StateChoice:
    choices = {}
    choices["lag"] = lag if tau == lag.value else Choice(tau, f"{lag.rule}; longer, as no cores formed at "
                                                              f"{lag.value} frames")
    if n == nm.value:
        choices["n_macro"] = nm
    else:
        choices["n_macro"] = Choice(n, f"{nm.rule}; fewer, as no core threshold passed at {nm.value}")
    if core_threshold is not None:
        choices["core_threshold"] = Choice(core_threshold, "given")
    else:
        tried = "; ".join(t.line() for t in next(t for l, k, t in trials if l == tau and k == n))
        rule = ("lowest membership whose cores sit in the wells and relax as the microstate MSM's slowest "
                "timescale (within 10 % or the intervals; no faster than it where one does)" if passed
                else "closest to passing")
        choices["core_threshold"] = Choice(tr.threshold, f"{rule} ({tried})")
    choices["min_dwell"] = tr.min_dwell
    return StateChoice(tr.metastable, tr.space, tr.dwell_scan, choices, trials, notes)


@dataclass
class Learned:
    """The language model's and the MSM baseline's trajectories and their comparison with the reference."""

    result: object  # experiment.LearnResult
    slowest: dict  # "reference" / "lm" / "msm" -> (value, low, high): slowest relaxation time, in time units


def _slowest(trajs, n_states: int, dt: float, n_boot: int = 200) -> tuple[float, float, float]:
    v, lo, hi = relaxation_timescales(list(trajs), n_states, dt=dt, n_boot=n_boot)
    return float(v[0]), float(lo[0]), float(hi[0])


def learn(space: StateSpace, lag: int, *, model: str = "lstm", profile: str = "quick", seed: int = 0, device="auto",
          progress: bool = True) -> Learned:
    """Train ``model`` on the metastable labels, generate like the reference, sample the MSM at ``lag``; compare."""
    cfg = PROFILES[profile]
    prompt = int(min(100, max(1, space.lengths.min() // 10)))
    res = learn_and_compare(space, model=model, prompt_len=prompt, train=cfg["train"], hidden=cfg["hidden"],
                            baseline_lag=lag, seed=seed, device=device, progress=progress)
    slowest = {
        "reference": _slowest(space.trajs, space.n_states, space.dt),
        "lm": _slowest(res.generated, space.n_states, space.dt),
        "msm": _slowest(res.baseline, space.n_states, space.dt * lag),
    }
    return Learned(res, slowest)


def slow_groups(space: StateSpace, lag: int) -> np.ndarray:
    """The two sides of the slowest process among the metastable states: PCCA+ into 2 sets of the reference's
    MSM on the learned labels at ``lag`` (with 2 states, each state is one side). Transitions between the sides
    make the slowest process (:func:`~mdlstm_utils.lm.diagnostics.transition_errors`)."""
    n = space.n_states
    if n == 2:
        return np.arange(2)
    msm = estimate_msm(list(space.trajs), n, lag)
    groups = np.zeros(n, dtype=int)
    active = np.asarray(msm.count_model.state_symbols, dtype=int)
    groups[active] = np.argmax(np.asarray(msm.pcca(2).memberships), axis=1)
    return groups


def transitions(space: StateSpace, learned: Learned, lag: int):
    """Which transitions the language model gets wrong: :func:`~mdlstm_utils.lm.diagnostics.transition_errors` of
    the generated against the reference labels at ``lag``, the sides of the slowest process as the groups
    (:func:`slow_groups`); ``None`` when the reference has too few transitions at that lag."""
    try:
        return transition_errors(list(space.trajs), list(learned.result.generated), space.n_states,
                                 slow_groups(space, lag), lag=lag, dt=space.dt)
    except ValueError as exc:
        print(f"warning: no transition comparison ({exc})")
        return None


def _transitions_text(te, n_states: int) -> str:
    if te is None:
        return "The reference has too few transitions at the lag to compare transition probabilities."
    head = (f"At the MSM lag the generated trajectories' slowest implied timescale is {te.timescale_gen:.3g} "
            f"against the reference's {te.timescale_ref:.3g}. Transitions across the slowest process are off by "
            f"{_pct(te.crossing_rel_err)} (median), those within its sides by {_pct(te.within_rel_err)}. ")
    if not np.isfinite(te.explained):
        return head + "The two timescales agree within 1 %: there is no error to explain."
    if n_states == 2:
        return head + ("With two states every transition crosses the slowest process, so these transitions "
                       "explain all of the error.")
    return head + (f"Taking only the transitions across the slowest process from the generated trajectories, and "
                   f"everything else from the reference, reproduces {te.explained:.0%} of the timescale error: "
                   + ("the error sits in the rare crossings." if te.explained >= 0.5 else
                      "most of the error comes from the transitions within the sides."))


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.0%}"


# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------
@dataclass
class Partial:
    """The steps of an analysis up to a failure, for the report that explains it (:func:`write_partial_report`)."""

    inputs: Inputs
    profile: str
    choices: dict
    its: object | None
    notes: list
    reason: str
    seconds: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        return jsonable({
            "failed": self.reason, "dt": float(self.inputs.dt), "dt_unit": self.inputs.dt_unit,
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "fallbacks": list(self.notes), "implied_timescales": _its_dict(self.its),
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "profile": self.profile, "seconds": self.seconds,
            "self_checks": {"passed": False},
        })


def _its_dict(its) -> dict | None:
    if its is None:
        return None
    d = {"lags": (its.lags * its.dt).tolist(), "timescales": its.timescales.tolist()}
    if its.timescales_low is not None:
        d |= {"low": its.timescales_low.tolist(), "high": its.timescales_high.tolist()}
    return d


@dataclass
class States:
    """The state-space steps of :func:`run` (everything before the language model), with their self-checks."""

    choices: dict  # step name -> Choice
    reduction: Reduction | None
    micro: StateSpace
    kmeans: object | None
    its: object
    metastable: object
    dwell_scan: tuple
    space: StateSpace  # the metastable labels the model learns
    ck: object
    self_checks: SelfChecks
    notes: list  # alternatives taken by the rules, and why
    trials: list
    seconds: dict


@dataclass
class Analysis(States):
    """Everything :func:`run` computed: the state-space steps (:class:`States`, with ``seconds`` including the
    learning) and the language model on them; :meth:`metrics` is the JSON of ``metrics.json``."""

    inputs: Inputs
    profile: str
    model: str
    seed: int
    learned: Learned
    transitions: object = None  # diagnostics.TransitionErrors of the generated labels, or None
    memory: object = None  # memory.MemoryTest of the metastable labels, or the reason it could not run (str)

    def verdict(self) -> dict:
        """The verdict on the language model: its errors beside the MSM baseline's, the targets of the profile, and
        whether the state space's self-checks allow trusting them (``metrics.json``'s ``verdict``)."""
        lm, msm = self.learned.result.comparison, self.learned.result.baseline_comparison
        sl = self.learned.slowest
        tol = mfpt_tolerance(self.profile)
        rel_pop = {k: float(np.max(np.abs(c.set_pop_gen / c.set_pop_ref - 1))) for k, c in (("lm", lm), ("msm", msm))}
        rel_its = {k: abs(sl[k][0] / sl["reference"][0] - 1) for k in ("lm", "msm")}
        ref_half = np.nanmax((lm.mfpt_ref_high - lm.mfpt_ref_low) / (2 * lm.mfpt_ref))
        checks = self.self_checks
        verdict = {
            "tolerance": tol,
            "populations_target": 0.10,
            "lm_population_rel_err": rel_pop["lm"],
            "msm_population_rel_err": rel_pop["msm"],
            "lm_mfpt_rel_err": _finite_or_none(lm.mfpt_max_rel_err),
            "msm_mfpt_rel_err": _finite_or_none(msm.mfpt_max_rel_err),
            "lm_slowest_timescale_rel_err": rel_its["lm"],
            "msm_slowest_timescale_rel_err": rel_its["msm"],
            "reference_mfpt_rel_halfwidth": float(ref_half),
            "lm_mfpt_intervals_overlap": bool(lm.mfpt_overlap[~np.eye(len(lm.mfpt_ref), dtype=bool)].all()),
        }
        verdict["checks"] = {
            "populations within 10 %": bool(rel_pop["lm"] <= 0.10),
            f"MFPTs within {tol:.0%}": bool(np.isfinite(lm.mfpt_max_rel_err) and lm.mfpt_max_rel_err <= tol),
            f"slowest relaxation within {tol:.0%}": bool(np.isfinite(rel_its["lm"]) and rel_its["lm"] <= tol),
            "self-checks of the state space pass": bool(checks is not None and checks.passed),
        }
        verdict["lm_met"] = all(verdict["checks"].values())
        verdict["trust"] = bool(checks is not None and checks.passed)
        verdict["failed_checks"] = [] if checks is None else [c.name for c in checks.failed]
        verdict["summary"] = _summary(verdict, self.model, checks)
        return verdict

    def metrics(self) -> dict:
        dt = self.inputs.dt
        res = self.learned.result
        lm, msm = res.comparison, res.baseline_comparison
        ld, bd = lm.to_dict(), msm.to_dict()  # JSON form: nested lists, None on the diagonal and for no event

        def three(ref_key, gen_key):
            return {"reference": ld[ref_key], "lm": ld[gen_key], "msm": bd[gen_key]}

        sl = self.learned.slowest
        checks = self.self_checks
        verdict = self.verdict()
        rec = res.learning
        return jsonable({
            "dt": float(dt), "dt_unit": self.inputs.dt_unit,
            "lag": float(self.choices["lag"].value * dt),
            "n_micro": int(self.micro.n_states), "n_macro": int(self.space.n_states),
            "min_dwell": float(self.choices["min_dwell"].value * dt),
            "set_names": list(self.space.set_names),
            "populations": three("set_pop_ref", "set_pop_gen"),
            "populations_low": three("set_pop_ref_low", "set_pop_gen_low"),
            "populations_high": three("set_pop_ref_high", "set_pop_gen_high"),
            "mfpt": three("mfpt_ref", "mfpt_gen"),
            "mfpt_low": three("mfpt_ref_low", "mfpt_gen_low"),
            "mfpt_high": three("mfpt_ref_high", "mfpt_gen_high"),
            "mfpt_events": three("mfpt_n_ref", "mfpt_n_gen"),
            "slowest_timescale": {k: v[0] for k, v in sl.items()},
            "slowest_timescale_low": {k: _finite_or_none(v[1]) for k, v in sl.items()},
            "slowest_timescale_high": {k: _finite_or_none(v[2]) for k, v in sl.items()},
            "verdict": verdict,
            "self_checks": checks.to_dict() if checks is not None else {"passed": False},
            "fallbacks": list(self.notes),
            "implied_timescales": _its_dict(self.its),
            "learning": None if rec is None else rec.to_dict(),
            "transitions": None if self.transitions is None else
            self.transitions.to_dict() | {"summary": _transitions_text(self.transitions, self.space.n_states)},
            "memory": _memory_dict(self.memory),
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "model": self.model, "profile": self.profile, "seed": self.seed,
            "train_steps": res.metrics["train_steps"], "val_loss": res.metrics["val_loss"],
            "seconds": self.seconds,
        })


def history_test(space: StateSpace):
    """:func:`~mdlstm_utils.kinetics.memory.memory_test` of the metastable labels the model learns (orders 1-3): does their
    next state depend on more than the current one? Returns the reason as a string when the data cannot answer."""
    try:
        return memory_test(list(space.trajs), space.n_states, orders=(1, 2, 3))
    except ValueError as exc:
        return f"the memory test could not run on these labels: {exc}"


def _memory_dict(mt) -> dict:
    if mt is None or isinstance(mt, str):
        return {"history_matters": None, "sentence": mt or "not run"}
    return mt.to_dict()


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _summary(v: dict, model: str, checks: SelfChecks | None = None) -> str:
    name = model.upper() if model == "lstm" else model.capitalize()

    def pct(x):
        return "never made" if x is None or not np.isfinite(x) else f"{x:.0%}"

    better = (v["lm_mfpt_rel_err"] is not None and v["msm_mfpt_rel_err"] is not None
              and v["lm_mfpt_rel_err"] < v["msm_mfpt_rel_err"])
    text = (f"{name}: MFPTs within {pct(v['lm_mfpt_rel_err'])} of the reference (MSM baseline {pct(v['msm_mfpt_rel_err'])}, "
            f"reference's own 95 % half-width {pct(v['reference_mfpt_rel_halfwidth'])}); slowest relaxation "
            f"{pct(v['lm_slowest_timescale_rel_err'])} off (MSM {pct(v['msm_slowest_timescale_rel_err'])}); populations "
            f"{pct(v['lm_population_rel_err'])} (MSM {pct(v['msm_population_rel_err'])}). ")
    if checks is None or not checks.passed:
        failed = [c.title for c in checks.failed] if checks is not None else ["none were run"]
        return text + (f"Do not trust this: the self-checks of the state space failed ({'; '.join(failed)}), so the "
                       "reference kinetics the model is compared with may themselves be wrong. Targets not judged; "
                       "see the self-checks for what it means and what to try.")
    return text + (f"{'Targets met' if v['lm_met'] else 'Targets not met'} (populations <= 10 %, kinetics <= "
                   f"{v['tolerance']:.0%}; the state space passed its self-checks); the language model is "
                   f"{'closer than' if better else 'no closer than'} the MSM baseline on MFPTs.")


def _check_overrides(inputs: Inputs, **given) -> None:
    """Refuse impossible overrides before any long step (a lag longer than every trajectory, ...)."""
    longest = int(inputs.lengths.max())
    for name in ("tica_lag", "lag", "min_dwell", "n_micro", "n_macro", "tica_dim"):
        v = given.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
        if name in ("tica_lag", "lag") and v >= longest:
            raise ValueError(f"{name}={v} frames: every trajectory is shorter (the longest has {longest} frames)")
    if inputs.kind == "labels" and given.get("tica_lag") is not None:
        raise ValueError("tica_lag applies to features; the inputs are labels")
    th = given.get("core_threshold")
    if th is not None and not 0.5 < th < 1:
        raise ValueError(f"core_threshold={th} must be in (0.5, 1): above 0.5 so that a microstate is in at most "
                         "one core, below 1 so that a core can hold any microstate")


def _print_choice(name: str, c: Choice) -> None:
    print(f"  {name:<16} {c.value!s:>8}   ({c.rule})")


def build_states(inputs: Inputs, *, profile: str = "quick", seed: int = 0, device="auto", tica_lag=None,
                 tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None) -> States:
    """The steps of :func:`run` up to the metastable labels, each choice printed, and the self-checks.

    Raises :class:`AnalysisFailed` (with the steps so far in ``partial``) when no state space can be formed.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; choose one of {tuple(PROFILES)}")
    cfg = PROFILES[profile]
    _check_overrides(inputs, tica_lag=tica_lag, lag=lag, min_dwell=min_dwell, n_micro=n_micro, n_macro=n_macro,
                     tica_dim=tica_dim, core_threshold=core_threshold)
    seed_everything(seed)
    choices: dict = {}
    seconds: dict = {}
    t = time.perf_counter()
    print(inputs.describe())
    red = km = None
    if inputs.kind == "labels":
        micro = from_labels(inputs.data, dt=inputs.dt, dt_unit=inputs.dt_unit, kind="micro")
        choices["n_micro"] = Choice(micro.n_states, "the given labels")
    else:
        red = reduce_features(inputs.data, lag=tica_lag, dim=tica_dim)
        choices["tica_lag"], choices["tica_dim"] = red.lag, red.dim
        micro, km, choices["n_micro"] = cluster(red.tics, inputs.dt, inputs.dt_unit, n_micro=n_micro,
                                                max_micro=cfg["max_micro"], seed=seed, device=device)
    seconds["states"] = time.perf_counter() - t
    its, lag_c = choose_lag(micro, lag=lag, n_lags=cfg["n_lags"], n_samples=cfg["its_samples"])
    nm = choose_n_macro(its, lag_c.value, n_macro=n_macro)
    try:
        sc = find_metastable(micro, its, lag_c, nm, core_threshold=core_threshold, min_dwell=min_dwell)
    except AnalysisFailed as exc:
        choices |= {"lag": lag_c, "n_macro": nm}
        seconds["msm"] = time.perf_counter() - t - seconds["states"]
        exc.partial = Partial(inputs, profile, choices, its, [], str(exc), seconds)
        raise
    for note in sc.notes:
        print(f"note: {note}")
    choices |= sc.choices
    tau, ms, space = choices["lag"].value, sc.metastable, sc.space
    checks = SelfChecks([
        check_its(its, tau, given=choices["lag"].rule == "given"),
        check_relaxation(_slowest(space.trajs, space.n_states, space.dt), _msm_slowest(its, tau), space.n_states),
        check_cores(micro, ms),
        check_populations(space, ms),
    ])
    # the CK test's lag: 5 multiples of it reach the slowest timescale (the chosen lag if that is longer)
    slowest = _timescales_at(its, tau)[0] / micro.dt
    ck_lag = int(max(tau, min(round(slowest / 4), int(micro.lengths.max()) // 10))) if np.isfinite(slowest) else tau
    ck = lagmod.ck_test(list(micro.trajs), ck_lag, ms.n_macro, n_states=micro.n_states, dt=micro.dt)
    seconds["msm"] = time.perf_counter() - t - seconds["states"]
    print("choices (override any of them; see --help):")
    for k, c in choices.items():
        _print_choice(k, c)
    print("self-checks of the state space:")
    for c in checks.checks:
        print(f"  {'pass' if c.passed else 'FAIL'}  {c.title}: {c.finding}")
    return States(choices, red, micro, km, its, ms, sc.dwell_scan, space, ck, checks, sc.notes, sc.trials, seconds)


def run(inputs: Inputs, *, profile: str = "quick", model: str = "lstm", seed: int = 0, device="auto",
        tica_lag=None, tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
        progress: bool = True) -> Analysis:
    """The whole method on read inputs (:func:`read_inputs`); each step's choice is printed.

    :func:`build_states` (raises :class:`AnalysisFailed` with the steps so far when no state space forms), then
    the language model on the metastable labels (:func:`learn`) and the transitions it gets wrong.
    """
    st = build_states(inputs, profile=profile, seed=seed, device=device, tica_lag=tica_lag, tica_dim=tica_dim,
                      n_micro=n_micro, lag=lag, n_macro=n_macro, core_threshold=core_threshold, min_dwell=min_dwell)
    tau = st.choices["lag"].value
    seconds = dict(st.seconds)
    t_learn = time.perf_counter()
    learned = learn(st.space, tau, model=model, profile=profile, seed=seed, device=device, progress=progress)
    seconds["learn"] = time.perf_counter() - t_learn
    te = transitions(st.space, learned, tau)
    mt = history_test(st.space)
    print("memory:", mt if isinstance(mt, str) else mt.sentence)
    steps = {f.name: getattr(st, f.name) for f in fields(States)} | {"seconds": seconds}
    a = Analysis(**steps, inputs=inputs, profile=profile, model=model, seed=seed, learned=learned, transitions=te,
                 memory=mt)
    print(a.metrics()["verdict"]["summary"])
    return a


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
FIGURE_NAMES = ("implied timescales", "free energy", "CK test", "populations and kinetics", "learning and transitions",
                "state trajectories")


def _its_figure(its, lag: int, unit: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    plots.plot_implied_timescales(its, lag=lag, dt_unit=unit, ax=ax)  # with the Bayesian intervals as bands
    ax.set_xscale("log")
    ax.set_title("microstate MSM: implied timescales")
    return fig


def figure(a: Analysis, name: str):
    """One of the report's figures (:data:`FIGURE_NAMES`) as a matplotlib Figure; ``None`` where it does not apply
    (no free-energy map for label inputs). :data:`HOW_TO_READ` says how to read it."""
    import matplotlib.pyplot as plt

    unit = a.space.dt_unit or "time units"
    res = a.learned.result
    if name == "implied timescales":
        return _its_figure(a.its, a.choices["lag"].value, unit)
    if name == "learning and transitions":
        if res.learning is None and a.transitions is None:
            return None
        fig, axs = plt.subplots(1, 2, figsize=(10, 3.8))
        if res.learning is not None:
            plots.plot_learning(res.learning, ax=axs[0])
            err = abs(a.learned.slowest["lm"][0] / a.learned.slowest["reference"][0] - 1)
            axs[0].set_title(f"learning; slow-process error {_pct(err)} (slowest relaxation)", fontsize=9, loc="left")
        else:
            axs[0].set_axis_off()
        if a.transitions is not None:
            plots.plot_transition_errors(a.transitions, ax=axs[1])
        else:
            axs[1].set_axis_off()
        fig.tight_layout()
        return fig
    if name == "free energy":
        if a.reduction is None or a.reduction.tics[0].shape[1] < 2:
            return None
        fig, ax = plt.subplots(figsize=(5.2, 4.0))
        plots.plot_fes_2d(np.concatenate([x[:, :2] for x in a.reduction.tics]), ax=ax,
                          title="free energy on the first two TICs, metastable cores")
        centers = np.asarray(a.kmeans.centers)[:, :2]
        for k in range(a.metastable.n_macro):
            sel = a.metastable.cores == k
            ax.scatter(centers[sel, 0], centers[sel, 1], s=14, color=f"C{k + 1}", edgecolor="white", lw=0.4,
                       label=a.space.set_names[k])
        ax.set_xlabel("TIC 1")
        ax.set_ylabel("TIC 2")
        ax.legend(frameon=True, fontsize=8, loc="best", title="cores")
        return fig
    if name == "CK test":
        axes = plots.plot_ck_test(a.ck, dt_unit=unit)
        lag_t = a.ck.lags[1] * a.ck.dt
        axes[0, 0].figure.suptitle(f"Chapman–Kolmogorov test of the microstate MSM at {lag_t:g} {unit} on the "
                                   "metastable sets", fontsize=9)
        return axes[0, 0].figure
    if name == "populations and kinetics":
        fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
        sl = a.learned.slowest
        plots.plot_kinetics_comparison({a.model.upper(): res.comparison, "MSM": res.baseline_comparison},
                                       {"reference": sl["reference"], a.model.upper(): sl["lm"], "MSM": sl["msm"]},
                                       axes=axs, dt_unit=unit)
        fig.tight_layout()
        return fig
    if name == "state trajectories":
        gen = res.generated[0]
        series = {"reference (trajectory 1)": a.space.trajs[0][: len(gen)], f"generated ({a.model.upper()})": gen}
        axes = plots.plot_trajectories(series, dt=a.space.dt, dt_unit=unit, ylabel="state")
        for ax in axes:
            ax.set_yticks(range(a.space.n_states), a.space.set_names)
        return axes[0].figure
    raise ValueError(f"unknown figure {name!r}; choose one of {FIGURE_NAMES}")


def figures(a: Analysis) -> dict:
    """The report's figures that apply to this analysis, ``{name: Figure}``."""
    return {n: f for n in FIGURE_NAMES if (f := figure(a, n)) is not None}


HOW_TO_READ = {
    "implied timescales": "Each curve is one relaxation process of the microstate MSM, the bands its 95 % intervals "
                          "(Bayesian MSM). Where the slowest curves are flat, the MSM is Markovian at that lag; the "
                          "dashed line is the lag chosen. Timescales in the grey area are faster than the lag and not "
                          "resolved.",
    "free energy": "Free energy of the frames on the first two TICA components (the slowest directions). The dots are "
                   "microstates in a metastable core; each colour is one metastable state.",
    "CK test": "Each panel: the probability to be in set j after a time t when starting in set i. Black: estimated "
               "at each multiple of the lag; red: predicted by the MSM at the lag. They agree within noise when the "
               "partition is Markovian.",
    "populations and kinetics": "Left: population of each metastable state; middle: mean first-passage times between "
                                "them (log scale); right: the slowest relaxation time (from the rates between the states). Grey is the reference, the "
                                "bars beside it the language model and the MSM baseline, all with 95 % intervals. A "
                                "good model's bars overlap the reference's intervals.",
    "learning and transitions": "Left: the language model's training and validation loss against optimizer steps, "
                                "the dashed line a lag-1 MSM's validation loss on the same held-out frames; the "
                                "title gives the slow-process error. A model can beat the MSM on the loss and still "
                                "miss the slow process: rare transitions weigh little in the loss. Right: each "
                                "transition's probability at the MSM lag, generated against reference (log-log); "
                                "red: transitions across the slowest process. Points off the diagonal are the "
                                "transitions the model gets wrong.",
    "state trajectories": "The first reference trajectory and one generated trajectory of the same length, as "
                          "metastable states: the model should switch as rarely as the reference does.",
}


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mfpt_table(m: dict, unit: str) -> str:
    names = m["set_names"]
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            cells = []
            for k in ("reference", "lm", "msm"):
                v, lo, hi = m["mfpt"][k][i][j], m["mfpt_low"][k][i][j], m["mfpt_high"][k][i][j]
                cells.append("never" if v is None else f"{v:.4g} [{_g(lo)}, {_g(hi)}]")
            rows.append(f"<tr><td>{html.escape(a)} → {html.escape(b)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<table><tr><th>MFPT ({html.escape(unit)})</th><th>reference</th><th>{m['model'].upper()}</th><th>MSM</th></tr>"
            + "".join(rows) + "</table>")


def _g(x) -> str:
    return "–" if x is None else f"{x:.4g}"


_STYLE = """<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
img{max-width:100%}.verdict{background:#f3f6fa;border-left:4px solid #3b6ea5;padding:.5rem 1rem}.read{color:#555}
.fail{background:#fbeeee;border-left:4px solid #b03030;padding:.5rem 1rem}td.FAIL{color:#b03030;font-weight:bold}</style>"""


def _choices_html(choices: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(c.value))}</td><td>{html.escape(c.rule)}</td></tr>"
                   for k, c in choices.items())
    return (f"<h2>Choices</h2><p>Each step's setting and the rule that chose it; override any with the options of "
            f"<code>mdlstm analyze</code>.</p><table><tr><th>step</th><th>value</th><th>rule</th></tr>{rows}</table>")


def _notes_html(notes: list) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"<h3>Alternatives the rules took</h3><ul>{items}</ul>"


def _checks_html(checks: SelfChecks | None) -> str:
    if checks is None:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(c.title)}</td><td class='{'pass' if c.passed else 'FAIL'}'>"
        f"{'pass' if c.passed else 'FAIL'}</td><td>{html.escape(c.finding)}"
        + (f"<br><b>What it means:</b> {html.escape(c.meaning)}<br><b>Try:</b> {html.escape(c.advice)}"
           if not c.passed else "") + "</td></tr>" for c in checks.checks)
    return ("<h2>Self-checks of the state space</h2><p>What the data alone say about the metastable states the model "
            "learned, before any model: the verdict on the model counts only when all pass.</p>"
            f"<table><tr><th>check</th><th></th><th>finding</th></tr>{rows}</table>")


def _learning_html(m: dict) -> str:
    rec, te = m.get("learning"), m.get("transitions")
    parts = []
    if rec is not None:
        gap = rec["loss_gap"]
        err = m["verdict"]["lm_slowest_timescale_rel_err"]
        parts.append(
            f"Validation loss {rec['val_loss']:.4g} nats per frame, a lag-1 MSM's on the same held-out frames "
            f"{rec['msm_val_loss']:.4g} (gap {gap:+.3g}: the model predicts the next state "
            f"{'better' if gap < 0 else 'no better'} than the MSM), beside a slow-process error of {_pct(err)}. "
            "The loss weighs every frame alike, and the rare transitions that make the slow process are few: a "
            "small loss gap says little about the slow kinetics.")
    if te is not None:
        parts.append(te["summary"])
    mem = m.get("memory") or {}
    if mem.get("sentence"):
        nums = (f" (order {mem['order']} chain against the first-order one on held-out frames: gain "
                f"{mem['gain']:.3g} nats per frame, 95 % interval {mem['gain_low']:.3g} to {mem['gain_high']:.3g})"
                if mem.get("history_matters") is not None else "")
        parts.append(f"Memory: {mem['sentence']}{nums}")
    if not parts:
        return ""
    return "<h2>Learning and the transitions it gets wrong</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in parts)


def report_html(a: Analysis, m: dict | None = None) -> str:
    """The report as one self-contained HTML page (figures embedded as PNG); ``m``: ``a.metrics()`` if computed."""
    m = a.metrics() if m is None else m
    unit = a.space.dt_unit or "time units"
    pops = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{m['populations'][k][i]:.3f} [{m['populations_low'][k][i]:.3f}, {m['populations_high'][k][i]:.3f}]</td>"
            for k in ("reference", "lm", "msm")) + "</tr>" for i, n in enumerate(m["set_names"]))
    slow = "".join(f"<td>{_g(m['slowest_timescale'][k])} [{_g(m['slowest_timescale_low'][k])}, "
                   f"{_g(m['slowest_timescale_high'][k])}]</td>" for k in ("reference", "lm", "msm"))
    figs = "".join(f"<h3>{html.escape(t)}</h3><img src='data:image/png;base64,{_png(f)}' alt='{html.escape(t)}'>"
                   f"<p class='read'>{html.escape(HOW_TO_READ.get(t, ''))}</p>" for t, f in figures(a).items())
    model = m["model"].upper()
    box = "verdict" if m["verdict"]["trust"] else "fail"
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mdlstm analyze report</title>
{_STYLE}
</head><body><h1>Kinetics report</h1>
<p>{html.escape(a.inputs.describe())}. Profile <code>{a.profile}</code>, model {model}, seed {a.seed}.</p>
<div class="{box}"><p>{html.escape(m['verdict']['summary'])}</p></div>
{_checks_html(a.self_checks)}
{_choices_html(a.choices)}{_notes_html(a.notes)}
<p>Times in {html.escape(unit)} (dt = {a.inputs.dt:g}); the MSM lag is {m['lag']:g} {html.escape(unit)}, the minimum dwell {m['min_dwell']:g} {html.escape(unit)}.</p>
<h2>Populations (95 % intervals)</h2><table><tr><th>state</th><th>reference</th><th>{model}</th><th>MSM</th></tr>{pops}</table>
<h2>Mean first-passage times (95 % intervals)</h2>{_mfpt_table(m, unit)}
<h2>Slowest relaxation time ({html.escape(unit)}, 95 % intervals, from the rates between the states)</h2>
<table><tr><th>reference</th><th>{model}</th><th>MSM</th></tr><tr>{slow}</tr></table>
{_learning_html(m)}
<h2>Figures</h2>{figs}
<p class="read">Written by mdlstm_utils.cli.analyze. The reference is your data; the language model and the MSM baseline
(sampled at the same lag) generated as many trajectories of the same lengths.</p></body></html>"""


def partial_report_html(p: Partial) -> str:
    """The report of an analysis that stopped (:class:`Partial`): why, the choices so far, the implied timescales."""
    fig = "" if p.its is None else (
        f"<h3>implied timescales</h3><img src='data:image/png;base64,"
        f"{_png(_its_figure(p.its, p.choices['lag'].value, p.inputs.dt_unit))}' alt='implied timescales'>"
        f"<p class='read'>{html.escape(HOW_TO_READ['implied timescales'])}</p>")
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mdlstm analyze report (stopped)</title>
{_STYLE}
</head><body><h1>Kinetics report: the analysis stopped</h1>
<p>{html.escape(p.inputs.describe())}. Profile <code>{p.profile}</code>.</p>
<div class="fail"><p>{html.escape(p.reason)}</p></div>
{_choices_html(p.choices)}{_notes_html(p.notes)}
<h2>Figures</h2>{fig}
<p class="read">Written by mdlstm_utils.cli.analyze: the steps before the failure, so that you can see why.</p></body></html>"""


def write_report(a: Analysis | Partial, out) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out``; both appear only when both are complete.

    ``a``: a finished :class:`Analysis`, or the :class:`Partial` steps of one that stopped
    (:attr:`AnalysisFailed.partial`), whose report says why, with the choices and the implied timescales.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = a.metrics()
    page = partial_report_html(a) if isinstance(a, Partial) else report_html(a, m)
    metrics = json.dumps(m, indent=1, allow_nan=False, default=float)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        (Path(tmp) / "report.html").write_text(page, encoding="utf-8")
        (Path(tmp) / "metrics.json").write_text(metrics, encoding="utf-8")
        for name in ("metrics.json", "report.html"):
            os.replace(Path(tmp) / name, out / name)
    return out / "report.html"


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mdlstm analyze",
        description="Learn the kinetics of your own trajectories with a language model, beside an MSM baseline; "
                    "writes OUT/report.html and OUT/metrics.json.",
        epilog="Example: mdlstm analyze run1.xtc run2.xtc --top system.pdb --dt 1ps --out report/")
    p.add_argument("inputs", nargs="+", help="trajectory files (xtc, dcd, h5, nc, trr, pdb), .npy/.npz feature arrays, "
                                             "or label arrays with --labels")
    p.add_argument("--top", help="topology for trajectory files (default: topology.pdb beside each file)")
    p.add_argument("--features", default="torsions", choices=("torsions", "distances", "contacts"),
                   help="features of trajectory files: sin/cos of backbone and chi1 torsions, heavy-atom distances, "
                        "or C-alpha contacts (default: torsions)")
    p.add_argument("--labels", action="store_true", help="the inputs are already discretized state labels")
    p.add_argument("--dt", default="1", help="time between frames with an optional unit: 1ps, 0.05, 2ns (default: 1)")
    p.add_argument("--out", required=True, help="folder for report.html and metrics.json")
    p.add_argument("--model", default="lstm", choices=("lstm", "transformer"))
    p.add_argument("--profile", default="quick", choices=tuple(PROFILES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    g = p.add_argument_group("override a rule")
    g.add_argument("--tica-lag", type=int, help="TICA lag in frames")
    g.add_argument("--tica-dim", type=int, help="TICA dimensions kept")
    g.add_argument("--n-micro", type=int, help="k-means microstates")
    g.add_argument("--lag", type=int, help="MSM lag in frames")
    g.add_argument("--n-macro", type=int, help="metastable states")
    g.add_argument("--core-threshold", type=float, help="PCCA+ membership of a core microstate, in (0.5, 1)")
    g.add_argument("--min-dwell", type=int, help="dynamical coring: minimum dwell in frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _dt_value_joined(argv: list[str]) -> list[str]:
    """``--dt -1ps`` as ``--dt=-1ps``, so that a negative interval reaches the check of ``--dt``.

    argparse takes a value that starts with ``-`` and is not a plain number (``-1ps``, ``-0.5 ns``) for an
    option and answers "expected one argument"; joined to ``--dt`` it is read as its value, and
    :func:`read_inputs` then says that the time between frames must be > 0.
    """
    out, rest = [], list(argv)
    while rest:
        a = rest.pop(0)
        if a == "--":  # what follows is positional: left as it is
            return out + [a] + rest
        if a == "--dt" and rest and len(rest[0]) > 1 and rest[0][0] == "-" and rest[0][1] in "0123456789.":
            a = f"--dt={rest.pop(0)}"
        out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(_dt_value_joined(argv))
    try:
        inputs = read_inputs(args.inputs, top=args.top, features=args.features, labels=args.labels, dt=args.dt,
                             max_frames=PROFILES[args.profile]["max_frames"])
        a = run(inputs, profile=args.profile, model=args.model, seed=args.seed, device=args.device,
                tica_lag=args.tica_lag, tica_dim=args.tica_dim, n_micro=args.n_micro, lag=args.lag,
                n_macro=args.n_macro, core_threshold=args.core_threshold, min_dwell=args.min_dwell,
                progress=not args.no_progress)
    except AnalysisFailed as exc:
        print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
        if exc.partial is not None:
            path = write_report(exc.partial, args.out)
            print(f"wrote the steps so far to {path} and {path.parent / 'metrics.json'}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, TypeError) as exc:
        print(f"mdlstm analyze: error: {exc}", file=sys.stderr)
        return 2
    path = write_report(a, args.out)
    print(f"wrote {path} and {path.parent / 'metrics.json'}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """The ``mdlstm`` console script: ``mdlstm analyze ...``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mdlstm analyze INPUT... --out OUT [options]\n\n"
              "commands:\n  analyze   the suite's method on your own trajectories (mdlstm analyze --help)")
        return 0 if argv else 2
    if argv[0] != "analyze":
        print(f"mdlstm: unknown command {argv[0]!r}; the command is 'analyze'", file=sys.stderr)
        return 2
    return main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
