"""Metastable states: lumping microstates into macrostates (lookup table, PCCA+), core sets and dynamical coring.

Recrossings of the barriers between metastable states inflate transition
counts; core sets and a minimum dwell time remove them.
:func:`metastable_states` does it all in one call, in a reproducible order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mdlstm_utils._checks import check_int as _check_int
from mdlstm_utils.states._labels import like_input, check_labels
from mdlstm_utils.states.msm import estimate_msm
from mdlstm_utils.states.sets import set_lookup

__all__ = [
    "lump",
    "PCCAResult",
    "pcca_lump",
    "core_set_labels",
    "cores_from_memberships",
    "min_dwell_filter",
    "never_in_a_core",
    "MetastableStates",
    "metastable_states",
]


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
    return set_lookup(members, n_states if n_states is not None else top + 1, what="core")[0]


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
    return like_input(out, labels, rows="list" if before_first == "drop" else "stack")


def never_in_a_core(core_labels) -> np.ndarray:
    """Indices of the core-set trajectories (:func:`core_set_labels`) that never visit a core.

    Frames before a trajectory's first core visit are handled by ``before_first`` (``"backfill"``: the first
    core it enters; ``"drop"``: removed), but a trajectory that never enters a core has no core to give its
    frames: it stays all ``-1`` (or empty, with ``"drop"``). Such a trajectory carries no transition between
    metastable states, and ``-1`` is no label a model can learn or an estimator can count, so a caller that
    uses the core-set labels leaves it out and says how many frames that cost (``mdlstm analyze`` does).
    """
    if isinstance(core_labels, np.ndarray) and core_labels.ndim == 1:
        core_labels = [core_labels]  # one trajectory
    return np.array([i for i, t in enumerate(core_labels) if np.size(t) == 0 or np.all(np.asarray(t) < 0)],
                    dtype=np.int64)


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
        largest = [round(float(m[:, k].max()), 3) for k in empty]
        # a core needs membership > 0.5 (so that a state is in at most one core): below that no threshold helps
        hint = (f"lower the threshold to at most {min(largest):.3g}" if min(largest) > 0.5
                else "no threshold in (0.5, 1] gives such a set a core: use fewer sets")
        raise ValueError(
            f"no state has membership >= threshold={threshold} in set(s) {empty} "
            f"(largest memberships there: {largest}); {hint}"
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
    return like_input(out, labels)


# ---------------------------------------------------------------------------
# Metastable states in one call: PCCA+ macrostates in a fixed order, their cores,
# and the macro and core-set trajectories (notebooks 04 and 05)
# ---------------------------------------------------------------------------


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
    pcca: PCCAResult | None = None,
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
        first core entered, so every frame of a trajectory that visits a core
        has a label a language model can learn. ``"drop"`` returns a list
        (trajectories may then differ in length). A trajectory that never
        visits a core stays ``-1`` (empty with ``"drop"``) either way:
        :func:`never_in_a_core` finds such trajectories, to be left out.
    pcca
        A :class:`PCCAResult` of these microstates with ``n_macro`` sets at ``lag`` (from :func:`pcca_lump`)
        to reuse instead of estimating it again (several core thresholds on one PCCA+).

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
    if pcca is None:
        pc = pcca_lump(trajs, n_micro, n_macro, lag)
    elif not isinstance(pcca, PCCAResult) or pcca.n_macro != n_macro or pcca.lag != lag or \
            pcca.memberships.shape[0] != n_micro:
        raise ValueError(f"pcca must be a PCCAResult of {n_micro} microstates into n_macro={n_macro} sets at lag={lag}")
    else:
        pc = pcca
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
    # a list input, even one of scalar labels, gives lists here; a 2-D array gives 2-D arrays where the rows stay equal
    like = dtrajs if isinstance(dtrajs, np.ndarray) else trajs
    return MetastableStates(
        memberships=memberships,
        assignments=assignments,
        cores=cores,
        macro_labels=like_input(macro, like),
        core_labels=like_input(list(cored), like),
        order=order,
        pcca=pc,
        core_threshold=float(core_threshold),
    )
