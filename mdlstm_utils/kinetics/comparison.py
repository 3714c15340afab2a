"""One comparison of generated with reference trajectories: populations and MFPTs between named sets, with
intervals, relative errors and the numbers of events behind them (:class:`Comparison`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_positive
from mdlstm_utils.states import check_labels
from mdlstm_utils.states.sets import populations, set_labels, set_lookup
from mdlstm_utils.kinetics.observables import mfpt_interval, mfpt_matrix
from mdlstm_utils.kinetics.uncertainty import population_interval, relative_error, set_populations

__all__ = ["Comparison", "comparison"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Generated trajectories measured against reference ones: the typed result of :func:`comparison`.

    Every array is indexed by metastable set (populations ``(k,)``, MFPT
    matrices ``(k, k)`` from row to column, ``nan`` on the diagonal); the
    ``*_low`` / ``*_high`` arrays are 95 % intervals (populations: bootstrap,
    :func:`population_interval`; MFPTs: Poisson, :func:`mfpt_interval`). Times
    are in ``dt_unit``. :meth:`to_dict` gives the JSON form, for metrics files and sweeps.
    """

    n_states: int
    dt: float
    dt_unit: str
    state_pop_max_abs_err: float
    state_pop_js_divergence: float
    set_names: list | None = None
    set_pop_ref: np.ndarray | None = None
    set_pop_gen: np.ndarray | None = None
    set_pop_ref_low: np.ndarray | None = None
    set_pop_ref_high: np.ndarray | None = None
    set_pop_gen_low: np.ndarray | None = None
    set_pop_gen_high: np.ndarray | None = None
    mfpt_ref: np.ndarray | None = None
    mfpt_gen: np.ndarray | None = None
    mfpt_ref_low: np.ndarray | None = None
    mfpt_ref_high: np.ndarray | None = None
    mfpt_gen_low: np.ndarray | None = None
    mfpt_gen_high: np.ndarray | None = None
    mfpt_n_ref: np.ndarray | None = None
    mfpt_n_gen: np.ndarray | None = None

    @property
    def has_sets(self) -> bool:
        return self.mfpt_ref is not None

    @property
    def set_pop_abs_err(self) -> np.ndarray:
        return np.abs(self.set_pop_gen - self.set_pop_ref)

    @property
    def set_pop_max_abs_err(self) -> float:
        return float(self.set_pop_abs_err.max())

    @property
    def mfpt_ratio(self) -> np.ndarray:
        """Generated / reference MFPT per pair."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.mfpt_gen / self.mfpt_ref

    @property
    def mfpt_max_rel_err(self) -> float:
        """``max |gen / ref - 1|`` over pairs (:func:`relative_error`; ``inf`` for a passage never generated)."""
        return relative_error(self.mfpt_gen, self.mfpt_ref)

    @property
    def mfpt_overlap(self) -> np.ndarray:
        """Whether the two 95 % intervals of each pair overlap (``False`` where either has no event)."""
        both = np.isfinite(self.mfpt_ref_low) & np.isfinite(self.mfpt_gen_low)
        return np.where(both, (self.mfpt_gen_low <= self.mfpt_ref_high) & (self.mfpt_ref_low <= self.mfpt_gen_high),
                        False)

    def to_dict(self) -> dict:
        """The JSON form, for metrics files and sweeps: nested lists, ``None`` for missing values.

        Keys (``*_ref`` / ``*_gen`` are the two measurements):

        * ``n_states``, ``dt``, ``dt_unit``; ``state_pop_max_abs_err``, ``state_pop_js_divergence``: state populations;
        * with sets: ``set_names``; ``set_pop_ref``, ``set_pop_gen``, ``set_pop_abs_err`` and its max
          ``set_pop_max_abs_err``, with the 95 % bootstrap intervals ``set_pop_ref_low``/``_high`` and
          ``set_pop_gen_low``/``_high``; ``mfpt_ref``, ``mfpt_gen``, ``mfpt_ratio`` (gen / ref, ``None`` on the
          diagonal), ``mfpt_n_ref``, ``mfpt_n_gen`` (event counts), the 95 % intervals ``mfpt_ref_low``/``_high``
          and ``mfpt_gen_low``/``_high``, ``mfpt_overlap`` (whether the two intervals overlap; ``None`` where
          either has no event) and ``mfpt_max_rel_err`` = max over pairs of ``|ratio - 1|`` (``inf`` when the
          generated trajectories never make a passage that the reference makes).
        """
        out = {"n_states": int(self.n_states), "dt": float(self.dt), "dt_unit": self.dt_unit,
               "state_pop_max_abs_err": float(self.state_pop_max_abs_err),
               "state_pop_js_divergence": float(self.state_pop_js_divergence)}
        if not self.has_sets:
            return out

        def _lists(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        both = np.isfinite(self.mfpt_ref_low) & np.isfinite(self.mfpt_gen_low)
        out.update(
            {
                "set_names": list(self.set_names),
                "set_pop_ref": self.set_pop_ref.tolist(),
                "set_pop_gen": self.set_pop_gen.tolist(),
                "set_pop_abs_err": self.set_pop_abs_err.tolist(),
                "set_pop_max_abs_err": self.set_pop_max_abs_err,
                "set_pop_ref_low": self.set_pop_ref_low.tolist(),
                "set_pop_ref_high": self.set_pop_ref_high.tolist(),
                "set_pop_gen_low": self.set_pop_gen_low.tolist(),
                "set_pop_gen_high": self.set_pop_gen_high.tolist(),
                "mfpt_ref": _lists(self.mfpt_ref),
                "mfpt_gen": _lists(self.mfpt_gen),
                "mfpt_ratio": _lists(self.mfpt_ratio),
                "mfpt_n_ref": self.mfpt_n_ref.tolist(),
                "mfpt_n_gen": self.mfpt_n_gen.tolist(),
                "mfpt_ref_low": _lists(self.mfpt_ref_low),
                "mfpt_ref_high": _lists(self.mfpt_ref_high),
                "mfpt_gen_low": _lists(self.mfpt_gen_low),
                "mfpt_gen_high": _lists(self.mfpt_gen_high),
                "mfpt_overlap": [[bool(o) if b else None for o, b in zip(ro, rb)]
                                 for ro, rb in zip(self.mfpt_overlap, both)],
                "mfpt_max_rel_err": self.mfpt_max_rel_err,
            }
        )
        return out


def comparison(
    reference,
    generated,
    *,
    n_states: int,
    sets=None,
    set_names: list[str] | None = None,
    dt: float = 1.0,
    dt_gen: float | None = None,
    dt_unit: str = "",
) -> Comparison:
    """Compare generated trajectories with reference ones: populations and MFPTs with 95 % intervals.

    ``sets`` (e.g. wells or metastable states, lists of state labels) are the
    sets whose populations and MFPTs are compared; without them only the state
    populations are. MFPTs use the length-independent ``"transitions"``
    estimator of :func:`mfpt`. ``dt`` is the time between reference frames,
    ``dt_gen`` that between generated frames when it differs (an MSM sampled at
    a lag of several frames), both in ``dt_unit``.
    """
    dt = check_positive("dt", dt)
    dt_gen = dt if dt_gen is None else check_positive("dt", dt_gen)
    for name, lab in (("reference", reference), ("generated", generated)):
        if max(len(t) for t in check_labels(lab, n_states, name=name)) < 2:
            raise ValueError(f"the {name} trajectories have one frame each; kinetics needs at least two")
    ref_pop = populations(reference, n_states)
    gen_pop = populations(generated, n_states)
    mix = 0.5 * (ref_pop + gen_pop)

    def _kl(p, q):
        m = p > 0
        return float(np.sum(p[m] * np.log(p[m] / q[m])))

    base = dict(n_states=int(n_states), dt=dt, dt_unit=str(dt_unit),
                state_pop_max_abs_err=float(np.abs(gen_pop - ref_pop).max()),
                state_pop_js_divergence=0.5 * _kl(ref_pop, mix) + 0.5 * _kl(gen_pop, mix))
    if sets is None:
        return Comparison(**base)
    sl_ref = set_labels(reference, sets, n_states)
    sl_gen = set_labels(generated, sets, n_states)
    _, k = set_lookup(sets, n_states)
    pop_ci = {kind: population_interval(sl, k) for kind, sl in (("ref", sl_ref), ("gen", sl_gen))}
    m_ref, _, n_ref = mfpt_matrix(reference, sets, n_states=n_states, dt=dt)
    m_gen, _, n_gen = mfpt_matrix(generated, sets, n_states=n_states, dt=dt_gen)
    lo_ref, hi_ref = mfpt_interval(m_ref, n_ref)
    lo_gen, hi_gen = mfpt_interval(m_gen, n_gen)
    return Comparison(
        **base,
        set_names=list(set_names) if set_names is not None else [str(i) for i in range(k)],
        set_pop_ref=set_populations(sl_ref, k), set_pop_gen=set_populations(sl_gen, k),
        set_pop_ref_low=pop_ci["ref"][0], set_pop_ref_high=pop_ci["ref"][1],
        set_pop_gen_low=pop_ci["gen"][0], set_pop_gen_high=pop_ci["gen"][1],
        mfpt_ref=m_ref, mfpt_gen=m_gen, mfpt_ref_low=lo_ref, mfpt_ref_high=hi_ref,
        mfpt_gen_low=lo_gen, mfpt_gen_high=hi_gen, mfpt_n_ref=n_ref, mfpt_n_gen=n_gen,
    )
