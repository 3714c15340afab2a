"""``mdlstm analyze``: the suite's whole method on your own trajectories, features or labels.

One command (or :func:`run` from Python, or notebook 08 step by step) takes
what a researcher has: trajectory files that mdtraj reads with their topology,
feature arrays (``.npy`` / ``.npz``), or label trajectories that were
discretized elsewhere. It then does what the tutorial notebooks teach, each
step chosen by a rule that is printed and can be overridden:

1. TICA of the features (lag: 1 % of the shortest trajectory; dimension:
   95 % of the kinetic variance, between 2 and 10);
2. k-means microstates (``sqrt(frames)``, capped by the profile);
3. the MSM lag where the slowest implied timescale levels off;
4. the number of metastable states at the largest gap between timescales;
5. PCCA+ and core sets (a frame between cores keeps the last core);
6. dynamical coring with the shortest minimum dwell at which the number of
   transitions stops falling;
7. a language model trained on the cored metastable labels, trajectories
   generated like the reference (same number, same lengths), an MSM at the same
   lag sampled the same way, and the comparison of populations, mean
   first-passage times and the slowest relaxation time (from the rates
   between the metastable states, :func:`~mdlstm_utils.kinetics.relaxation_timescales`)
   with 95 % intervals.

It writes ``OUT/report.html`` (figures embedded, readable offline) and
``OUT/metrics.json``; times are in the unit of ``--dt``. Bad input is refused
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .states import lag as lagmod
from .kinetics import relaxation_timescales
from .runtime import _jsonable, mfpt_tolerance, resolve_device, seed_everything
from .train import TrainConfig
from .states import StateSpace, from_labels, metastable_space, metastable_states, min_dwell_filter, parse_dt

__all__ = ["PROFILES", "Inputs", "Choice", "Analysis", "read_inputs", "reduce_features", "cluster", "choose_lag",
           "choose_n_macro", "find_metastable", "choose_min_dwell", "learn", "run", "figure", "figures", "FIGURE_NAMES", "HOW_TO_READ",
           "write_report", "main"]

#: Sizes per profile: ``smoke`` checks that everything runs (seconds), ``quick`` gives numbers worth reading
#: in minutes on two CPU cores, ``full`` uses finer microstates and four times the training tokens (longer windows).
PROFILES = {
    "smoke": dict(max_frames=3000, max_micro=20, n_lags=6, hidden=32,
                  train=TrainConfig(seq_len=32, batch_size=16, epochs=4, steps=30)),
    "quick": dict(max_frames=None, max_micro=100, n_lags=12, hidden=64,
                  train=TrainConfig(seq_len=50, batch_size=32, epochs=4, steps=1000)),
    "full": dict(max_frames=None, max_micro=200, n_lags=16, hidden=64,
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
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no input files given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    suffixes = {p.suffix.lower() for p in paths}
    items: list[tuple[str, np.ndarray]] = []
    if labels:
        kind = "labels"
        for p in paths:
            if p.suffix.lower() not in ARRAY_SUFFIXES:
                raise ValueError(f"{p}: labels must be given as .npy or .npz files")
            for name, a in _arrays_of(p):
                items += _split_labels(name, a)
    elif suffixes <= set(ARRAY_SUFFIXES):
        kind = "features"
        for p in paths:
            for name, a in _arrays_of(p):
                items += _split_features(name, a)
    elif suffixes <= set(TRAJECTORY_SUFFIXES):
        from . import md

        kind = "trajectories"
        if features not in md.FEATURES:
            raise ValueError(f"features={features!r}; choose one of {md.FEATURES}")
        for p in paths:
            traj = md.load_trajectory(p, top=top)
            items.append((str(p), np.asarray(md.featurize(traj, features), dtype=np.float64)))
    else:
        raise ValueError(f"cannot mix or read these inputs ({', '.join(sorted(map(str, paths)))}): give trajectory files "
                         f"({', '.join(TRAJECTORY_SUFFIXES)}) or feature arrays (.npy, .npz), or labels with --labels")
    if max_frames is not None:
        items = [(n, a[:max_frames]) for n, a in items]
    for name, a in items:
        if len(a) < 2:
            raise ValueError(f"{name}: has {len(a)} frame{'s' if len(a) != 1 else ''}; a trajectory needs at least 2")
    if kind == "labels":
        for name, a in items:
            if not (np.issubdtype(a.dtype, np.integer) or (np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a))
                                                             and np.all(a == np.round(a)))):
                raise ValueError(f"{name}: labels must be whole numbers, got dtype {a.dtype}")
            if a.min() < 0:
                raise ValueError(f"{name}: holds a negative label ({a.min()})")
        data = [a.astype(np.int64) for _, a in items]
    else:
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
        data = [a.astype(np.float64) for _, a in items]
    return Inputs(kind, [n for n, _ in items], data, value, unit, features if kind == "trajectories" else None)


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
    from .states import kmeans_space

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


def choose_lag(micro: StateSpace, *, lag: int | None = None, n_lags: int = 12, rtol: float = 0.1, k: int = 5):
    """Implied timescales of the microstate MSM over lags, and the lag: ``(its, Choice)``.

    Rule: the smallest scanned lag from which the slowest implied timescale
    changes by at most ``rtol`` over the next two scanned lags (a 3-4 times
    longer lag on the geometric grid; one step is too short to see a timescale
    that still creeps up by a few per cent per step),
    :func:`~mdlstm_utils.states.lag.suggest_lag`; when it never levels off, the
    longest scanned lag, with a warning.
    """
    lags = _lag_grid(int(micro.lengths.min()), n_lags)
    if lag is not None:
        if not 1 <= int(lag) < micro.lengths.max():
            raise ValueError(f"lag {lag} frames must be >= 1 and shorter than the longest trajectory "
                             f"({micro.lengths.max()} frames)")
        lags = np.unique(np.r_[lags, int(lag)])
    its = lagmod.implied_timescales(list(micro.trajs), lags, micro.n_states, k=min(k, micro.n_states - 1), dt=micro.dt)
    if lag is not None:
        return its, Choice(int(lag), "given")
    best = lagmod.suggest_lag(its, rtol=rtol, n_steps=2)
    if best is None:
        print(f"warning: the slowest implied timescale does not level off within {rtol:.0%} up to "
              f"{lags[-1]} frames; using that lag. Longer trajectories or a finer partition would help.")
        return its, Choice(int(lags[-1]), f"longest scanned lag (timescales did not converge within {rtol:.0%})")
    return its, Choice(int(best), f"slowest implied timescale changes < {rtol:.0%} over the next two lags")


def _timescales_at(its, lag: int) -> np.ndarray:
    """The implied timescales (time units) of ``its`` at the scanned lag ``lag`` (frames)."""
    return np.asarray(its.timescales[int(np.flatnonzero(np.asarray(its.lags) == lag)[0])], dtype=float)


def choose_n_macro(its, lag: int, *, n_macro: int | None = None, max_macro: int = 6) -> Choice:
    """The number of metastable states: one more than the number of timescales before the largest gap.

    The gap is the ratio ``t_j / t_(j+1)`` of consecutive implied timescales
    at the chosen lag; only gaps whose slow side ``t_j`` is longer than the lag
    (resolved) count, while the fast side may be unresolved (then the gap is
    at least that large).
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
    j = int(np.argmax(np.where(ok, gaps, -np.inf)))
    return Choice(j + 2, f"largest timescale gap (t{j + 1}/t{j + 2} = {gaps[j]:.1f}), 2-{max_macro} states")


CORE_THRESHOLDS = (0.9, 0.95, 0.99)


def find_metastable(micro: StateSpace, n_macro: int, lag: int, its=None, *, core_threshold: float | None = None):
    """PCCA+ into ``n_macro`` states and their cores: ``(MetastableStates, Choice)``.

    Rule: the cores hold the microstates whose PCCA+ membership reaches a
    threshold, the lowest of :data:`CORE_THRESHOLDS` at which the core-set
    labels' slowest relaxation time (:func:`~mdlstm_utils.kinetics.relaxation_timescales`)
    is at least the microstate MSM's slowest implied timescale at ``lag``
    (``its``). An MSM underestimates the slowest timescale (variational
    principle); cores that give a still shorter one reach into the barrier
    and count recrossings as transitions. Every state needs a core;
    without ``its`` the threshold is 0.9.
    """
    if core_threshold is not None:
        return metastable_states(list(micro.trajs), micro.n_states, n_macro, lag,
                                 core_threshold=core_threshold), Choice(core_threshold, "given")
    bound = None if its is None else float(_timescales_at(its, lag)[0])
    tried, fallback = [], None
    for th in CORE_THRESHOLDS if bound is not None else CORE_THRESHOLDS[:1]:
        try:
            ms = metastable_states(list(micro.trajs), micro.n_states, n_macro, lag, core_threshold=th)
        except ValueError as exc:
            if fallback is None:
                raise ValueError(f"PCCA+ into {n_macro} states: {exc}; try fewer states (--n-macro)") from None
            tried.append(f"{th}: a state without core")
            break
        if bound is None:
            return ms, Choice(th, "membership >= 0.9")
        fallback = fallback or (ms, th)
        cores = metastable_space(micro, "cores", metastable=ms)
        t = float(relaxation_timescales(list(cores.trajs), cores.n_states, dt=cores.dt, n_boot=0)[0][0])
        tried.append(f"{th}: {t:.3g}")
        if t >= bound:
            return ms, Choice(th, f"lowest membership whose cores relax no faster than the MSM's slowest "
                                  f"timescale {bound:.3g} ({'; '.join(tried)})")
    ms, th = fallback
    print(f"warning: core-set relaxation times ({'; '.join(tried)}) all fall short of the MSM's slowest timescale "
          f"{bound:.3g}; using membership >= {th}")
    return ms, Choice(th, f"membership >= {th}: no threshold reached the MSM's slowest timescale ({'; '.join(tried)})")


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


@dataclass
class Learned:
    """The language model's and the MSM baseline's trajectories and their comparison with the reference."""

    result: object  # experiment.LearnResult
    slowest: dict  # "reference" / "lm" / "msm" -> (value, low, high): slowest relaxation time, in time units


def _slowest(trajs, n_states: int, dt: float) -> tuple[float, float, float]:
    v, lo, hi = relaxation_timescales(list(trajs), n_states, dt=dt)
    return float(v[0]), float(lo[0]), float(hi[0])


def learn(space: StateSpace, lag: int, *, model: str = "lstm", profile: str = "quick", seed: int = 0, device="auto",
          progress: bool = True) -> Learned:
    """Train ``model`` on the metastable labels, generate like the reference, sample the MSM at ``lag``; compare."""
    from .experiment import learn_and_compare

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


# ---------------------------------------------------------------------------------------------
# The whole analysis
# ---------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """Everything :func:`run` computed; :meth:`metrics` is the JSON of ``metrics.json``."""

    inputs: Inputs
    profile: str
    model: str
    seed: int
    choices: dict  # step name -> Choice
    reduction: Reduction | None
    micro: StateSpace
    kmeans: object | None
    its: object
    metastable: object
    dwell_scan: tuple
    space: StateSpace  # the metastable labels the model learned
    learned: Learned
    ck: object
    seconds: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        dt = self.inputs.dt
        res = self.learned.result
        lm, msm = res.comparison, res.baseline_comparison
        ld, bd = lm.to_dict(), msm.to_dict()  # JSON form: nested lists, None on the diagonal and for no event

        def three(ref_key, gen_key):
            return {"reference": ld[ref_key], "lm": ld[gen_key], "msm": bd[gen_key]}

        sl = self.learned.slowest
        tol = mfpt_tolerance(self.profile)
        rel_pop = {k: float(np.max(np.abs(c.pop_gen / c.pop_ref - 1))) for k, c in (("lm", lm), ("msm", msm))}
        rel_its = {k: abs(sl[k][0] / sl["reference"][0] - 1) for k in ("lm", "msm")}
        ref_half = np.nanmax((lm.mfpt_ref_high - lm.mfpt_ref_low) / (2 * lm.mfpt_ref))
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
        }
        verdict["lm_met"] = all(verdict["checks"].values())
        verdict["summary"] = _summary(verdict, self.model)
        return _jsonable({
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
            "choices": {k: {"value": c.value, "rule": c.rule} for k, c in self.choices.items()},
            "inputs": {"kind": self.inputs.kind, "files": self.inputs.sources, "features": self.inputs.feature_kind,
                       "frames": self.inputs.lengths.tolist()},
            "model": self.model, "profile": self.profile, "seed": self.seed,
            "train_steps": res.metrics["train_steps"], "val_loss": res.metrics["val_loss"],
            "seconds": self.seconds,
        })


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _summary(v: dict, model: str) -> str:
    name = model.upper() if model == "lstm" else model.capitalize()

    def pct(x):
        return "never made" if x is None or not np.isfinite(x) else f"{x:.0%}"

    better = (v["lm_mfpt_rel_err"] is not None and v["msm_mfpt_rel_err"] is not None
              and v["lm_mfpt_rel_err"] < v["msm_mfpt_rel_err"])
    return (f"{name}: MFPTs within {pct(v['lm_mfpt_rel_err'])} of the reference (MSM baseline {pct(v['msm_mfpt_rel_err'])}, "
            f"reference's own 95 % half-width {pct(v['reference_mfpt_rel_halfwidth'])}); slowest relaxation "
            f"{pct(v['lm_slowest_timescale_rel_err'])} off (MSM {pct(v['msm_slowest_timescale_rel_err'])}); populations "
            f"{pct(v['lm_population_rel_err'])} (MSM {pct(v['msm_population_rel_err'])}). "
            f"{'Targets met' if v['lm_met'] else 'Targets not met'} (populations <= 10 %, kinetics <= {v['tolerance']:.0%}); "
            f"the language model is {'closer than' if better else 'no closer than'} the MSM baseline on MFPTs.")


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
    if th is not None and not 0.5 < th <= 1:
        raise ValueError(f"core_threshold={th} must be in (0.5, 1]")


def _print_choice(name: str, c: Choice) -> None:
    print(f"  {name:<16} {c.value!s:>8}   ({c.rule})")


def run(inputs: Inputs, *, profile: str = "quick", model: str = "lstm", seed: int = 0, device="auto",
        tica_lag=None, tica_dim=None, n_micro=None, lag=None, n_macro=None, core_threshold=None, min_dwell=None,
        progress: bool = True) -> Analysis:
    """The whole method on read inputs (:func:`read_inputs`); each step's choice is printed."""
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
    its, choices["lag"] = choose_lag(micro, lag=lag, n_lags=cfg["n_lags"])
    tau = choices["lag"].value
    choices["n_macro"] = choose_n_macro(its, tau, n_macro=n_macro)
    ms, choices["core_threshold"] = find_metastable(micro, choices["n_macro"].value, tau, its,
                                                    core_threshold=core_threshold)
    cores = metastable_space(micro, "cores", metastable=ms, lag=tau)
    scan, choices["min_dwell"] = choose_min_dwell(cores, min_dwell=min_dwell, max_dwell=max(32, tau))
    space = metastable_space(micro, "coring", metastable=ms, lag=tau, min_dwell=choices["min_dwell"].value,
                             set_names=[f"S{k}" for k in range(ms.n_macro)])
    # the CK test's lag: 5 multiples of it reach the slowest timescale (the chosen lag if that is longer)
    slowest = _timescales_at(its, tau)[0] / micro.dt
    ck_lag = int(max(tau, min(round(slowest / 4), int(micro.lengths.max()) // 10))) if np.isfinite(slowest) else tau
    ck = lagmod.ck_test(list(micro.trajs), ck_lag, ms.n_macro, n_states=micro.n_states, dt=micro.dt)
    seconds["msm"] = time.perf_counter() - t - seconds["states"]
    print("choices (override any of them; see --help):")
    for k, c in choices.items():
        _print_choice(k, c)
    t_learn = time.perf_counter()
    learned = learn(space, tau, model=model, profile=profile, seed=seed, device=device, progress=progress)
    seconds["learn"] = time.perf_counter() - t_learn
    a = Analysis(inputs, profile, model, seed, choices, red, micro, km, its, ms, scan, space, learned, ck, seconds)
    print(a.metrics()["verdict"]["summary"])
    return a


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
FIGURE_NAMES = ("implied timescales", "free energy", "CK test", "populations and kinetics", "state trajectories")


def figure(a: Analysis, name: str):
    """One of the report's figures (:data:`FIGURE_NAMES`) as a matplotlib Figure; ``None`` where it does not apply
    (no free-energy map for label inputs). :data:`HOW_TO_READ` says how to read it."""
    import matplotlib.pyplot as plt

    from . import plots

    unit = a.space.time_unit
    res = a.learned.result
    if name == "implied timescales":
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        plots.plot_implied_timescales(a.its, lag=a.choices["lag"].value, time_unit=unit, ax=ax)
        ax.set_xscale("log")
        ax.set_title("microstate MSM: implied timescales")
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
        axes = plots.plot_ck_test(a.ck, time_unit=unit)
        lag_t = a.ck.lags[1] * a.ck.dt
        axes[0, 0].figure.suptitle(f"Chapman–Kolmogorov test of the microstate MSM at {lag_t:g} {unit} on the "
                                   "metastable sets", fontsize=9)
        return axes[0, 0].figure
    if name == "populations and kinetics":
        fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
        sl = a.learned.slowest
        plots.plot_kinetics_comparison({a.model.upper(): res.comparison, "MSM": res.baseline_comparison},
                                       {"reference": sl["reference"], a.model.upper(): sl["lm"], "MSM": sl["msm"]},
                                       axes=axs, time_unit=unit)
        fig.tight_layout()
        return fig
    if name == "state trajectories":
        gen = res.generated[0]
        series = {"reference (trajectory 1)": a.space.trajs[0][: len(gen)], f"generated ({a.model.upper()})": gen}
        axes = plots.plot_trajectories(series, dt=a.space.dt, time_unit=unit, ylabel="state")
        for ax in axes:
            ax.set_yticks(range(a.space.n_states), a.space.set_names)
        return axes[0].figure
    raise ValueError(f"unknown figure {name!r}; choose one of {FIGURE_NAMES}")


def figures(a: Analysis) -> dict:
    """The report's figures that apply to this analysis, ``{name: Figure}``."""
    return {n: f for n in FIGURE_NAMES if (f := figure(a, n)) is not None}


HOW_TO_READ = {
    "implied timescales": "Each curve is one relaxation process of the microstate MSM. Where the slowest curves are flat, "
                          "the MSM is Markovian at that lag; the dashed line is the lag chosen. Timescales in the grey "
                          "area are faster than the lag and not resolved.",
    "free energy": "Free energy of the frames on the first two TICA components (the slowest directions). The dots are "
                   "microstates in a metastable core; each colour is one metastable state.",
    "CK test": "Each panel: the probability to be in set j after a time t when starting in set i. Black: estimated "
               "at each multiple of the lag; red: predicted by the MSM at the lag. They agree within noise when the "
               "partition is Markovian.",
    "populations and kinetics": "Left: population of each metastable state; middle: mean first-passage times between "
                                "them (log scale); right: the slowest relaxation time (from the rates between the states). Grey is the reference, the "
                                "bars beside it the language model and the MSM baseline, all with 95 % intervals. A "
                                "good model's bars overlap the reference's intervals.",
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


def report_html(a: Analysis, m: dict | None = None) -> str:
    """The report as one self-contained HTML page (figures embedded as PNG); ``m``: ``a.metrics()`` if computed."""
    m = a.metrics() if m is None else m
    unit = a.space.time_unit
    choice_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(c.value))}</td><td>{html.escape(c.rule)}</td></tr>"
                          for k, c in a.choices.items())
    pops = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{m['populations'][k][i]:.3f} [{m['populations_low'][k][i]:.3f}, {m['populations_high'][k][i]:.3f}]</td>"
            for k in ("reference", "lm", "msm")) + "</tr>" for i, n in enumerate(m["set_names"]))
    slow = "".join(f"<td>{_g(m['slowest_timescale'][k])} [{_g(m['slowest_timescale_low'][k])}, "
                   f"{_g(m['slowest_timescale_high'][k])}]</td>" for k in ("reference", "lm", "msm"))
    figs = "".join(f"<h3>{html.escape(t)}</h3><img src='data:image/png;base64,{_png(f)}' alt='{html.escape(t)}'>"
                   f"<p class='read'>{html.escape(HOW_TO_READ.get(t, ''))}</p>" for t, f in figures(a).items())
    model = m["model"].upper()
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mdlstm analyze report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}
img{{max-width:100%}}.verdict{{background:#f3f6fa;border-left:4px solid #3b6ea5;padding:.5rem 1rem}}.read{{color:#555}}</style>
</head><body><h1>Kinetics report</h1>
<p>{html.escape(a.inputs.describe())}. Profile <code>{a.profile}</code>, model {model}, seed {a.seed}.</p>
<div class="verdict"><p>{html.escape(m['verdict']['summary'])}</p></div>
<h2>Choices</h2><p>Each step's setting and the rule that chose it; override any with the options of <code>mdlstm analyze</code>.</p>
<table><tr><th>step</th><th>value</th><th>rule</th></tr>{choice_rows}</table>
<p>Times in {html.escape(unit)} (dt = {a.inputs.dt:g}); the MSM lag is {m['lag']:g} {html.escape(unit)}, the minimum dwell {m['min_dwell']:g} {html.escape(unit)}.</p>
<h2>Populations (95 % intervals)</h2><table><tr><th>state</th><th>reference</th><th>{model}</th><th>MSM</th></tr>{pops}</table>
<h2>Mean first-passage times (95 % intervals)</h2>{_mfpt_table(m, unit)}
<h2>Slowest relaxation time ({html.escape(unit)}, 95 % intervals, from the rates between the states)</h2>
<table><tr><th>reference</th><th>{model}</th><th>MSM</th></tr><tr>{slow}</tr></table>
<h2>Figures</h2>{figs}
<p class="read">Written by mdlstm_utils.analyze. The reference is your data; the language model and the MSM baseline
(sampled at the same lag) generated as many trajectories of the same lengths.</p></body></html>"""


def write_report(a: Analysis, out) -> Path:
    """Write ``report.html`` and ``metrics.json`` into ``out``; both appear only when both are complete."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    m = a.metrics()
    page = report_html(a, m)
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
    g.add_argument("--core-threshold", type=float, help="PCCA+ membership of a core microstate")
    g.add_argument("--min-dwell", type=int, help="dynamical coring: minimum dwell in frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        inputs = read_inputs(args.inputs, top=args.top, features=args.features, labels=args.labels, dt=args.dt,
                             max_frames=PROFILES[args.profile]["max_frames"])
        a = run(inputs, profile=args.profile, model=args.model, seed=args.seed, device=args.device,
                tica_lag=args.tica_lag, tica_dim=args.tica_dim, n_micro=args.n_micro, lag=args.lag,
                n_macro=args.n_macro, core_threshold=args.core_threshold, min_dwell=args.min_dwell,
                progress=not args.no_progress)
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
