"""Soft training targets: what a language model is trained to predict beside the next state it saw.

The plain loss is the cross-entropy of the next state, a one-hot target. It barely sees a rare transition, and it
says nothing about the transitions a state never made in training: the softmax keeps on them whatever its
smooth parametrisation gives, several times the rate they really have (:mod:`~mdlstm_utils.lm.unseen`). A soft
target mixes the one-hot target of each training frame, whose current state is ``i``, with a per-state
distribution ``q_i``, at a per-state weight ``w_i``; the loss of that frame is

    ``-(1 - w_i) log p(y) - w_i sum_j q_i[j] log p(j)``                        (``"msm"``)
    ``-(1 - w_i) log p(y) - w_i log sum_{j unseen from i} p(j)``                 (``"good-turing"``)

* ``"msm"``, a pull toward the MSM: ``q_i`` is row ``i`` of the lag-1 MSM of the training frames and ``w_i`` one
  strength for every state. The model departs from the MSM only where the data pay for it, and it is trained
  to put no mass on jumps the MSM never saw. The strength is a setting; :func:`choose_pull` trains one model per
  strength of :data:`PULL_GRID` and keeps the one with the smallest validation loss (plain cross-entropy on the
  validation frames, never the test part).
* ``"good-turing"``, an unseen-mass target: the second term is the cross-entropy of the two groups "seen" and
  "unseen from ``i``", with ``w_i`` the Good-Turing estimate of state ``i``'s unseen mass from the training counts
  (:func:`~mdlstm_utils.lm.unseen.good_turing`), so the model is trained to keep exactly that much on unseen jumps
  while their shape among themselves, and the shape among the seen ones, stay its own. No setting.

What the validation loss reports stays the plain cross-entropy, comparable between runs and targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mdlstm_utils.kinetics import transition_counts
from mdlstm_utils.kinetics.markov import fit_markov
from mdlstm_utils.lm.unseen import good_turing, seen_transitions

__all__ = ["TARGETS", "PULL_GRID", "SoftTargets", "soft_targets"]

#: The kinds of training target (``"none"``: the plain one-hot cross-entropy).
TARGETS = ("none", "msm", "good-turing")
#: The MSM-pull strengths :func:`~mdlstm_utils.lm.experiment.learn_and_compare` chooses among on validation loss.
PULL_GRID = (0.1, 0.3, 0.7)


@dataclass(frozen=True, eq=False)
class SoftTargets:
    """The per-state mixing of a soft target (:func:`soft_targets`): ``weight[i]`` (``w_i``) and ``prior[i]``
    (``q_i``: MSM rows for ``"msm"``, the 0/1 mask of the jumps unseen from ``i`` for ``"good-turing"``)."""

    kind: str
    weight: np.ndarray
    prior: np.ndarray

    def to(self, device) -> "_Tables":
        return _Tables(self.kind, torch.as_tensor(self.weight, dtype=torch.float32, device=device),
                       torch.as_tensor(self.prior, dtype=torch.float32, device=device))


@dataclass(frozen=True, eq=False)
class _Tables:
    kind: str
    weight: torch.Tensor
    prior: torch.Tensor

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean soft-target loss of frames with current states ``x`` and next states ``y`` (flat tensors)."""
        lp = F.log_softmax(logits.float(), dim=-1)
        hard = -lp.gather(1, y[:, None])[:, 0]
        w, q = self.weight[x], self.prior[x]
        if self.kind == "msm":
            soft = -(lp * q).sum(-1)
        else:  # the log of the model's total on the unseen jumps; rows with none have w = 0
            soft = -torch.logsumexp(lp.masked_fill(q == 0, float("-inf")), dim=-1)
            soft = torch.where(w > 0, soft, torch.zeros_like(soft))
        return ((1 - w) * hard + w * soft).mean()


def soft_targets(train, n_states: int, kind: str, strength: float | None = None) -> SoftTargets | None:
    """The soft target ``kind`` (:data:`TARGETS`) of the training trajectories ``train``; ``None`` for ``"none"``.

    ``strength``: the MSM pull's weight in ``(0, 1]`` (``"msm"`` only; ``"good-turing"`` takes its weights from
    the counts). A state never left in training gets weight 0 (nothing to pull toward).
    """
    if kind not in TARGETS:
        raise ValueError(f"target={kind!r}; choose one of {TARGETS}")
    if kind == "none":
        return None
    counts = transition_counts(train, n_states)
    visited = counts.sum(1) > 0
    if kind == "msm":
        if strength is None or isinstance(strength, bool) or not 0 < float(strength) <= 1:
            raise ValueError(f"the MSM pull needs a strength in (0, 1], got {strength!r} (learn_and_compare chooses "
                             f"one of PULL_GRID on validation loss when none is given)")
        prior = fit_markov(train, n_states, 1).transition_matrix()
        return SoftTargets(kind, np.where(visited, float(strength), 0.0), prior)
    if strength is not None:
        raise ValueError("the Good-Turing target takes its weights from the training counts; give no strength")
    unseen = ~seen_transitions(train, n_states)
    weight = np.nan_to_num(good_turing(counts)[1], nan=0.0)
    weight = np.where(unseen.any(1), weight, 0.0)
    return SoftTargets(kind, weight, unseen.astype(float))
