"""Unseen-mass calibration at generation time: each state's probability of jumps never seen in training set to a
target, the model's own shape kept.

A language model's softmax keeps far more probability on transitions it never saw in training than such
transitions really have (:mod:`mdlstm_utils.lm.unseen` measures it); summed over all states, the excess makes
generated trajectories jump across the barrier of the slow process, and the slow rates come out too fast.
This module corrects the next-state distribution at every generation step, with the trained weights as they
are. With ``i`` the current state, ``p`` the model's next-state distribution (given the whole history),
``U_i`` the next states ``j != i`` never reached from ``i`` in the training trajectories and ``g_i`` the
target unseen mass of ``i``::

    p'_j = p_j * (1 - g_i) / P_seen     for j not in U_i   (P_seen   = sum of p over them)
    p'_j = p_j * g_i / P_unseen         for j in U_i       (P_unseen = sum of p over U_i)

so the total on unseen jumps is exactly ``g_i``, and within the seen and within the unseen next states the
model's own ratios (its memory, its idea of where an unseen jump goes) are kept. The default target is the
Good-Turing estimate of the training counts (:func:`~mdlstm_utils.lm.unseen.good_turing`: the share of state
``i``'s transitions whose next state occurred exactly once), which needs nothing but the training part, so the
test reference of the evaluation protocol is never looked at. Edge cases, each leaving the model's
distribution as it is for that row: a state with no training transitions out (Good-Turing has nothing to say;
``unvisited="global"`` uses the per-frame estimate instead), a state from which every jump was seen
(``U_i`` empty), and a row where the model puts zero probability on one of the two groups. ``g_i = 0``
removes the unseen jumps of ``i`` (a mask); ``g_i = 1`` keeps only them.

* :class:`Calibration`       the setting: ``kind`` ("good-turing", "given" target, or "none") and its options;
* :func:`unseen_calibrator`  the per-step transform built from the training trajectories
  (:class:`UnseenCalibrator`, an ``nn.Module`` with ``forward(logits, current) -> logits``);
* :func:`generate_calibrated` :func:`~mdlstm_utils.lm.generate.generate` with that transform applied at
  every step, on the fast LSTM path (a CUDA graph on a GPU) as on the plain one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mdlstm_utils._checks import check_int
from mdlstm_utils.kinetics import transition_counts
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.unseen import good_turing
from mdlstm_utils.runtime import jsonable
from mdlstm_utils.states import check_labels

__all__ = ["KINDS", "UNVISITED", "Calibration", "UnseenCalibrator", "unseen_calibrator", "generate_calibrated"]

#: The targets a :class:`Calibration` can set the unseen mass to.
KINDS = ("good-turing", "given", "none")
#: What a state with no training transitions out gets: the model's distribution, or the per-frame target.
UNVISITED = ("keep", "global")


@dataclass(frozen=True)
class Calibration:
    """How the probability of transitions unseen in training is set at generation time.

    ``kind``:

    * ``"good-turing"`` (default): each state's target is the Good-Turing estimate from the training counts;
    * ``"given"``: ``target``, one number for every state or one per state, each in [0, 1] (for example chosen
      on validation frames; never on the test reference);
    * ``"none"``: no calibration; generation is exactly :func:`~mdlstm_utils.lm.generate.generate`.

    ``unvisited``: a state with no training transitions out has no Good-Turing estimate; ``"keep"`` (default)
    leaves the model's distribution there as it is, ``"global"`` uses the per-frame estimate (the estimate of
    all training transitions together). Only for ``"good-turing"``.
    """

    kind: str = "good-turing"
    target: float | np.ndarray | None = None
    unvisited: str = "keep"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Calibration kind must be one of {KINDS}, got {self.kind!r}")
        if self.unvisited not in UNVISITED:
            raise ValueError(f"Calibration unvisited must be one of {UNVISITED}, got {self.unvisited!r}")
        if self.kind == "given":
            if self.target is None:
                raise ValueError("Calibration kind='given' needs target= (one unseen mass in [0, 1], or one per state)")
            t = np.asarray(self.target, dtype=float) if _numeric(self.target) else None
            if t is None or t.ndim > 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any((t < 0) | (t > 1)):
                raise ValueError(f"Calibration target must be a number in [0, 1] or a 1-D array of them, got "
                                 f"{self.target!r}")
        elif self.target is not None:
            raise ValueError(f"Calibration target= is only for kind='given' (kind is {self.kind!r})")
        if self.unvisited != "keep" and self.kind != "good-turing":
            raise ValueError(f"Calibration unvisited={self.unvisited!r} is only for kind='good-turing'")

    def to_dict(self) -> dict:
        return jsonable({"kind": self.kind, "target": self.target, "unvisited": self.unvisited})


def _numeric(x) -> bool:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        return False
    return arr.dtype != bool and (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))


class UnseenCalibrator(nn.Module):
    """The per-step transform that sets each state's unseen mass to its target (:func:`unseen_calibrator`).

    ``forward(logits, current)`` takes the model's logits ``(batch, n_states)`` and the current states
    ``(batch,)`` and returns logits (log-probabilities) of the calibrated distribution, computed in log space
    (no underflow when the model's unseen mass is tiny). Pure tensor code: usable inside a CUDA graph, as
    :func:`~mdlstm_utils.lm.generate.generate`'s ``step_transform``.

    Attributes (NumPy, for the record): ``seen`` ``(n_states, n_states)`` (jumps made in training, the
    diagonal always seen), ``target`` ``(n_states,)`` (NaN where the row is left as it is), ``target_per_frame``
    (the targets weighted by the training transitions out of each state), ``calibration`` (the setting).
    """

    def __init__(self, seen: np.ndarray, target: np.ndarray, calibration: Calibration, *,
                 target_per_frame: float = float("nan")):
        super().__init__()
        seen = np.asarray(seen, dtype=bool)
        target = np.asarray(target, dtype=float)
        n = len(seen)
        if seen.shape != (n, n) or n < 2 or target.shape != (n,):
            raise ValueError(f"seen must be (n_states, n_states) and target (n_states,), got {seen.shape} and "
                             f"{target.shape}")
        if np.any((target < 0) | (target > 1)):
            raise ValueError("targets must lie in [0, 1] (NaN: leave the row as it is)")
        seen = seen | np.eye(n, dtype=bool)
        self.n_states, self.calibration, self.target_per_frame = n, calibration, float(target_per_frame)
        self.seen, self.target = seen, target
        self._active = np.isfinite(target) & ~seen.all(1)  # a row with nothing unseen is left as it is
        self._log_g, self._log_rest = _log_tables(target, self._active)  # float64, for probabilities()
        self.register_buffer("seen_mask", torch.as_tensor(seen))
        self.register_buffer("active", torch.as_tensor(self._active))
        self.register_buffer("log_target", torch.as_tensor(self._log_g, dtype=torch.float32))
        self.register_buffer("log_rest", torch.as_tensor(self._log_rest, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return _calibrated_logits(logits.float(), current.long(), self.seen_mask, self.active, self.log_target,
                                  self.log_rest)

    def probabilities(self, p, current) -> np.ndarray:
        """The calibrated distributions of probability rows ``p`` ``(batch, n_states)`` in states ``current``
        ``(batch,)``: the transform of :meth:`forward` in probability space and float64, for inspection and tests."""
        p = np.atleast_2d(np.asarray(p, dtype=float))
        cur = torch.as_tensor(np.atleast_1d(np.asarray(current, dtype=np.int64)))
        with np.errstate(divide="ignore"):
            logits = torch.as_tensor(np.log(p), dtype=torch.float64)
        tables = (torch.as_tensor(self.seen), torch.as_tensor(self._active), torch.as_tensor(self._log_g),
                  torch.as_tensor(self._log_rest))
        return torch.softmax(_calibrated_logits(logits, cur, *tables), dim=-1).numpy()

    def to_dict(self) -> dict:
        """The JSON record: the setting, the per-frame target, the targets per state (``None`` where the row is left
        as it is) and the number of distinct seen jumps."""
        jumps = int((self.seen & ~np.eye(self.n_states, dtype=bool)).sum())
        return jsonable({"calibration": self.calibration.to_dict(), "target_per_frame": self.target_per_frame,
                         "target": self.target, "n_seen_jumps": jumps})

    def extra_repr(self) -> str:
        return f"n_states={self.n_states}, kind={self.calibration.kind!r}, target_per_frame={self.target_per_frame:.3g}"


def _log_tables(target: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log g, log(1 - g))`` per state (float64), 0 where the row is left as it is; ``-inf`` at ``g = 0`` or 1."""
    g = np.nan_to_num(target)
    with np.errstate(divide="ignore"):
        return np.where(active, np.log(g), 0.0), np.where(active, np.log1p(-g), 0.0)


def _calibrated_logits(logits, cur, seen_mask, active, log_target, log_rest):
    """The log-space transform of :class:`UnseenCalibrator`: per row, the seen next states' logits shifted so that
    their total is ``1 - g``, the unseen ones' so that it is ``g``; rows left as they are where the state has no
    target, nothing is unseen, or the model gives one group no probability at all."""
    seen = seen_mask.index_select(0, cur)  # (batch, n_states)
    # masked_fill, not a new scalar tensor: no host-to-device copy, so the step can be captured in a CUDA graph
    lse_seen = torch.logsumexp(logits.masked_fill(~seen, -math.inf), dim=-1, keepdim=True)
    lse_unseen = torch.logsumexp(logits.masked_fill(seen, -math.inf), dim=-1, keepdim=True)
    calibrated = torch.where(seen, logits - lse_seen + log_rest.index_select(0, cur)[:, None],
                             logits - lse_unseen + log_target.index_select(0, cur)[:, None])
    ok = active.index_select(0, cur)[:, None] & torch.isfinite(lse_seen) & torch.isfinite(lse_unseen)
    return torch.where(ok, calibrated, logits)


def unseen_calibrator(train, n_states: int, calibration: Calibration | None = None) -> UnseenCalibrator | None:
    """The per-step transform of ``calibration`` (default: Good-Turing) from the training trajectories ``train``.

    ``train``: the label trajectories the model was trained on (a list of 1-D int arrays or a 2-D array),
    states ``0 .. n_states - 1``; their lag-1 transitions decide which jumps are seen and, for
    ``"good-turing"``, the targets (:func:`~mdlstm_utils.lm.unseen.good_turing`). Returns ``None`` for
    ``kind="none"`` (nothing to apply).
    """
    n_states = check_int("n_states", n_states, 2)
    calibration = Calibration() if calibration is None else calibration
    if not isinstance(calibration, Calibration):
        raise TypeError(f"calibration must be a Calibration, got {type(calibration).__name__}")
    if calibration.kind == "none":
        return None
    trajs = check_labels(train, n_states, name="train")
    if max(len(t) for t in trajs) < 2:
        raise ValueError("train holds no transitions: every training trajectory has a single frame")
    counts = transition_counts(trajs, n_states, 1)
    seen = counts > 0
    np.fill_diagonal(seen, True)
    n_out = counts.sum(1)
    if calibration.kind == "good-turing":
        per_frame, target = good_turing(counts)
        if calibration.unvisited == "global":
            target = np.where(np.isfinite(target), target, per_frame)
    else:
        t = np.asarray(calibration.target, dtype=float)
        if t.ndim == 1 and t.size != n_states:
            raise ValueError(f"Calibration target has {t.size} values; expected one per state (n_states={n_states})")
        target = np.broadcast_to(t, (n_states,)).astype(float)
        per_frame = float((target * n_out).sum() / n_out.sum())
    return UnseenCalibrator(seen, target, calibration, target_per_frame=per_frame)


def generate_calibrated(model: nn.Module, n_steps: int, *, train, calibration: Calibration | None = None,
                        **options) -> np.ndarray:
    """:func:`~mdlstm_utils.lm.generate.generate` with each step's unseen mass set by ``calibration`` (default:
    Good-Turing from ``train``, the model's training trajectories).

    ``options`` are :func:`~mdlstm_utils.lm.generate.generate`'s (``prompt`` or ``start``, ``seed``,
    ``device``, ``fast``, ...); the fast LSTM path (a CUDA graph on a GPU) is used as without calibration.
    ``Calibration("none")`` returns exactly what ``generate`` returns for the same options. A temperature
    other than 1 is refused with a calibration: it would change the unseen mass again after it was set.
    """
    cal = unseen_calibrator(train, model.config["n_states"], calibration)
    if "step_transform" in options:
        raise ValueError("generate_calibrated sets step_transform itself; call generate() for another transform")
    if cal is None:
        return generate(model, n_steps, **options)
    if options.get("temperature", 1.0) != 1.0:
        raise ValueError(f"temperature={options['temperature']!r} with a calibration: the temperature would change "
                         "the unseen mass after it was set; use temperature=1 (or Calibration('none'))")
    return generate(model, n_steps, step_transform=cal, **options)
