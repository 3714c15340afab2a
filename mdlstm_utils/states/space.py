"""The state-space type: label trajectories together with what they mean.

A language model learns on a *state space*: integer label trajectories of any
lengths, the number of states (the vocabulary), the time between frames with
its unit, the metastable sets its kinetics are judged on, and a record of how
the labels were made. :class:`StateSpace` carries all of it, so that the
training, the generation, the comparison and the figures read the same
object, and a table or an axis always knows its time unit.

Builders: :func:`from_labels` (labels from anywhere, gaps relabelled),
:func:`grid_space` (bins of a low-dimensional coordinate),
:func:`kmeans_space` (clusters of features) and :func:`metastable_space`
(PCCA+ macrostates, their core sets, dynamical coring on top).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from mdlstm_utils._checks import check_int
from mdlstm_utils.states._labels import check_labels
from mdlstm_utils.states.clustering import kmeans
from mdlstm_utils.states.grids import discretize_grid
from mdlstm_utils.states.metastable import metastable_states, min_dwell_filter
from mdlstm_utils.states.sets import populations, set_labels, set_lookup

__all__ = ["TIME_UNITS", "parse_dt", "StateSpace", "from_labels", "grid_space", "kmeans_space", "metastable_space",
           "METASTABLE_KINDS"]

#: Time units understood by :func:`parse_dt`, with their length in picoseconds ("" = reduced units).
TIME_UNITS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "µs": 1e6, "ms": 1e9, "s": 1e12, "": float("nan")}

#: The partitions :func:`metastable_space` builds from microstates.
METASTABLE_KINDS = ("micro", "macro", "cores", "coring")


def parse_dt(dt, unit: str | None = None) -> tuple[float, str]:
    """The time between frames as ``(value, unit)`` from ``"1ps"``, ``"0.05"``, ``"2.5 ns"`` or a number.

    A bare number is in reduced units (``unit=""``) unless ``unit`` is given.
    Raises ``ValueError`` for a value that is not a finite number > 0 and for
    a unit outside :data:`TIME_UNITS`.
    """
    if isinstance(dt, str):
        m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*([A-Za-zµ]*)\s*", dt)
        if m is None:
            raise ValueError(f"dt={dt!r}: expected a number with an optional unit, e.g. '1ps', '0.05', '2 ns'")
        try:
            value = float(m.group(1))
        except ValueError:
            raise ValueError(f"dt={dt!r}: {m.group(1)!r} is not a number") from None
        if m.group(2) and unit is not None and m.group(2) != unit:
            raise ValueError(f"dt={dt!r} carries the unit {m.group(2)!r} but unit={unit!r} was also given")
        unit = m.group(2) or unit
    else:
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)):
            raise TypeError(f"dt must be a number or a string such as '1ps', got {type(dt).__name__}")
        value = float(dt)
    unit = "" if unit is None else str(unit)
    if unit not in TIME_UNITS:
        raise ValueError(f"dt: unknown time unit {unit!r}; known units: {', '.join(u for u in TIME_UNITS if u)} "
                         "(or none, for reduced units)")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"dt, the saving interval (time between frames), must be a finite time > 0, got {dt!r}")
    return value, unit


@dataclass(frozen=True, eq=False)
class StateSpace:
    """Label trajectories and their meaning: the vocabulary a language model learns on.

    Attributes
    ----------
    trajs
        The label trajectories, a tuple of 1-D ``int64`` arrays of any lengths,
        labels in ``[0, n_states)``.
    n_states
        Number of states (tokens). States that never occur are allowed (a grid
        bin nobody visited) but :func:`from_labels` removes gaps by default.
    dt, dt_unit
        Time between two frames and its unit (``""``: reduced units); every
        time this object reports is in that unit.
    sets, set_names
        Optional metastable sets: disjoint arrays of state labels whose
        populations and mean first-passage times are compared, with a name
        each (``"0"``, ``"1"``, ... by default).
    kind
        How the labels were made: ``"labels"``, ``"grid"``, ``"kmeans"``,
        ``"micro"``, ``"macro"``, ``"cores"``, ``"coring"``, or a user's word.
    made_by
        The parameters of that construction (JSON-ready), including the
        chain of spaces it was derived from under ``"from"``.
    """

    trajs: tuple
    n_states: int
    dt: float = 1.0
    dt_unit: str = ""
    sets: tuple | None = None
    set_names: tuple | None = None
    kind: str = "labels"
    made_by: dict = field(default_factory=dict)

    def __post_init__(self):
        n = check_int("n_states", self.n_states, 1)
        trajs = tuple(check_labels(list(self.trajs) if not isinstance(self.trajs, np.ndarray) else self.trajs, n,
                                   name="trajs"))
        dt, unit = parse_dt(self.dt, self.dt_unit or None)
        object.__setattr__(self, "trajs", trajs)
        object.__setattr__(self, "n_states", n)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "dt_unit", unit)
        if self.sets is not None:
            sets = tuple(np.unique(np.asarray(s, dtype=np.int64).reshape(-1)) for s in self.sets)
            set_lookup(list(sets), n)  # empty, out-of-range and overlapping sets raise there
            names = tuple(str(i) for i in range(len(sets))) if self.set_names is None else tuple(map(str, self.set_names))
            if len(names) != len(sets):
                raise ValueError(f"{len(names)} set names for {len(sets)} sets")
            object.__setattr__(self, "sets", sets)
            object.__setattr__(self, "set_names", names)
        elif self.set_names is not None:
            raise ValueError("set_names given without sets")

    # -- shape ---------------------------------------------------------------------------------
    @property
    def n_traj(self) -> int:
        return len(self.trajs)

    @property
    def lengths(self) -> np.ndarray:
        """Frames per trajectory."""
        return np.array([len(t) for t in self.trajs], dtype=np.int64)

    @property
    def n_frames(self) -> int:
        """Frames in all trajectories together."""
        return int(self.lengths.sum())

    @property
    def n_sets(self) -> int:
        return 0 if self.sets is None else len(self.sets)

    def as_array(self) -> np.ndarray:
        """The trajectories as one ``(n_traj, n_frames)`` array; ``ValueError`` when their lengths differ."""
        if len(set(self.lengths.tolist())) != 1:
            raise ValueError(f"the trajectories differ in length ({sorted(set(self.lengths.tolist()))}); use .trajs")
        return np.stack(self.trajs)

    # -- derived spaces ------------------------------------------------------------------------
    def derive(self, trajs, n_states: int, kind: str, *, sets=None, set_names=None, **made_by) -> "StateSpace":
        """A new space made from this one (same time step); ``made_by`` records the step and this space's record."""
        record = dict(made_by)
        record["from"] = {"kind": self.kind, **self.made_by}
        return StateSpace(tuple(trajs), n_states, self.dt, self.dt_unit, sets, set_names, kind, record)

    def with_sets(self, sets, set_names=None) -> "StateSpace":
        """The same labels with other metastable sets."""
        return replace(self, sets=sets, set_names=set_names)

    def subsample(self, k: int) -> "StateSpace":
        """Every ``k``-th frame of each trajectory (a saving interval ``k`` times longer, ``dt`` scaled)."""
        k = check_int("k", k, 1)
        if k > self.lengths.min():
            raise ValueError(f"k={k} is longer than the shortest trajectory ({self.lengths.min()} frames)")
        return replace(self, trajs=tuple(t[::k] for t in self.trajs), dt=self.dt * k,
                       made_by={**self.made_by, "subsample": self.made_by.get("subsample", 1) * k})

    def set_trajs(self) -> list[np.ndarray]:
        """Each frame's metastable set (``-1`` outside every set), one array per trajectory."""
        if self.sets is None:
            raise ValueError("this state space has no metastable sets")
        return set_labels(list(self.trajs), list(self.sets), self.n_states)

    def populations(self) -> np.ndarray:
        """Fraction of frames in each state, shape ``(n_states,)``."""
        return populations(list(self.trajs), self.n_states)

    def __repr__(self) -> str:
        sets = f", sets={list(self.set_names)}" if self.sets is not None else ""
        return (f"StateSpace(kind={self.kind!r}, n_states={self.n_states}, n_traj={self.n_traj}, "
                f"frames={self.n_frames}, dt={self.dt:g} {self.dt_unit or 'time units'}{sets})")


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------
def from_labels(labels, *, dt=1.0, dt_unit: str | None = None, sets=None, set_names=None, relabel: bool = True,
                kind: str = "labels", verbose: bool = True) -> StateSpace:
    """A state space from label trajectories made elsewhere (any lengths).

    Labels that never occur between 0 and the largest label (states
    ``{0, 5, 9}``) would become tokens a model learns to emit with a small
    probability although they are never observed; with ``relabel=True`` they
    are renumbered to ``0 .. k-1`` in their order, a note is printed, and the
    original label of each new state is recorded in ``made_by["original_labels"]``.
    ``sets`` are given in the original labels. ``dt`` may carry its unit
    (``"1ps"``, see :func:`parse_dt`).
    """
    trajs = check_labels(labels)
    value, unit = parse_dt(dt, dt_unit)
    used = np.unique(np.concatenate(trajs))
    n = int(used.max()) + 1
    made_by: dict = {}
    if relabel and len(used) < n:
        lookup = np.full(n, -1, dtype=np.int64)
        lookup[used] = np.arange(len(used))
        if verbose:
            missing = np.setdiff1d(np.arange(n), used)
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            print(f"note: labels 0..{n - 1} leave {len(missing)} unused ({shown}); "
                  f"relabelled to 0..{len(used) - 1} in their order")
        trajs = [lookup[t] for t in trajs]
        if sets is not None:
            mapped = []
            for k, s in enumerate(sets):
                s = np.asarray(s, dtype=np.int64).reshape(-1)
                s = s[(s >= 0) & (s < n)]
                m = lookup[s]
                if not np.any(m >= 0):
                    raise ValueError(f"set {k} holds no label that occurs in the trajectories")
                mapped.append(m[m >= 0])
            sets = mapped
        made_by["original_labels"] = used.tolist()
        n = len(used)
    return StateSpace(tuple(trajs), n, value, unit, sets, set_names, kind, made_by)


def grid_space(x, grid, *, dt=1.0, dt_unit: str | None = None, sets=None, set_names=None) -> StateSpace:
    """Bins of a low-dimensional coordinate (:func:`~mdlstm_utils.states.discretize_grid`) as a state space.

    ``x`` is one trajectory ``(n_frames,)`` / ``(n_frames, dim)`` or a list of them.
    """
    xs = x if isinstance(x, (list, tuple)) else [x]
    labels = [np.asarray(discretize_grid(np.asarray(xi), grid)) for xi in xs]
    value, unit = parse_dt(dt, dt_unit)
    return StateSpace(tuple(labels), grid.n_states, value, unit, sets, set_names, "grid",
                      {"lo": [float(e[0]) for e in grid.edges], "hi": [float(e[-1]) for e in grid.edges],
                       "shape": list(grid.shape)})


def kmeans_space(X, n_clusters: int, *, dt=1.0, dt_unit: str | None = None, seed: int = 0, device="auto",
                 **kmeans_kw) -> tuple[StateSpace, object]:
    """k-means microstates of feature trajectories (:func:`~mdlstm_utils.states.kmeans`), and the clustering.

    Returns the state space and the :class:`~mdlstm_utils.states.KMeansResult`
    (its centres assign new data with :func:`~mdlstm_utils.states.assign_to_centers`).
    """
    xs = list(X) if isinstance(X, (list, tuple)) else [X]
    km = kmeans(xs, n_clusters, seed=seed, device=device, **kmeans_kw)
    labels = km.labels if isinstance(km.labels, (list, tuple)) else [km.labels]
    value, unit = parse_dt(dt, dt_unit)
    return StateSpace(tuple(labels), km.n_clusters, value, unit, kind="kmeans",
                      made_by={"n_clusters": int(km.n_clusters), "seed": int(seed)}), km


def metastable_space(micro: StateSpace, kind: str = "coring", *, n_macro: int = 2, lag: int | None = None,
                     min_dwell: int = 1, core_threshold: float = 0.9, order_by=None, set_names=None,
                     metastable=None) -> StateSpace:
    """A partition made from microstates by PCCA+ (:func:`~mdlstm_utils.states.metastable_states`).

    * ``"micro"``: the microstates themselves, with the PCCA+ core sets as
      metastable sets (kinetics judged between cores);
    * ``"macro"``: crisp macrostates (each microstate to its most likely one);
    * ``"cores"``: core-set labels (a frame outside every core keeps the core
      visited last: recrossings of the barrier removed);
    * ``"coring"``: the core-set labels with dynamical coring on top: a visit
      shorter than ``min_dwell`` frames goes back to the state before
      (:func:`~mdlstm_utils.states.min_dwell_filter`).

    Pass ``metastable`` (a :class:`~mdlstm_utils.states.MetastableStates` of
    these microstates) to reuse one PCCA+ for several partitions; otherwise it
    is computed from an MSM at ``lag`` frames. Macrostate ``k`` is set ``k``.
    """
    if kind not in METASTABLE_KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {METASTABLE_KINDS}")
    ms = metastable
    if ms is None:
        if lag is None:
            raise ValueError("give lag (MSM lag in frames for PCCA+) or a precomputed metastable=")
        ms = metastable_states(list(micro.trajs), micro.n_states, n_macro, lag, core_threshold=core_threshold,
                               order_by=order_by)
    k = ms.n_macro
    record = {"n_macro": k, "lag": None if lag is None else int(lag), "core_threshold": float(ms.core_threshold)}
    if kind == "micro":
        return micro.derive(micro.trajs, micro.n_states, "micro", sets=ms.core_sets(), set_names=set_names, **record)
    sets = [np.array([i]) for i in range(k)]
    if kind == "macro":
        return micro.derive(list(ms.macro_labels), k, "macro", sets=sets, set_names=set_names, **record)
    cored = list(ms.core_labels)
    if kind == "coring":
        cored = list(min_dwell_filter(cored, check_int("min_dwell", min_dwell, 1), n_states=k))
        record["min_dwell"] = int(min_dwell)
    return micro.derive(cored, k, kind, sets=sets, set_names=set_names, **record)
