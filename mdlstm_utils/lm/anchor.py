"""Generation settings chosen on validation frames: a pull toward the MSM, and the softmax temperature.

A language model trained on a few trajectories keeps too much probability on transitions it never saw
(:mod:`mdlstm_utils.lm.unseen`), and the excess crosses the barrier of the slow process. Two one-parameter
corrections act on the trained model's next-state distribution at generation time, with the same weights:

* **MSM-anchored mixture** (:class:`MSMMixture`): ``p(j | history) = (1 - w) p_model(j | history) + w T[s_t, j]``,
  where ``T`` is the lag-1 Markov state model of the training frames (the smoothed counting chain of
  :func:`~mdlstm_utils.kinetics.markov.fit_markov`, the same one the learning record scores). ``w = 0`` is the
  model, ``w = 1`` the MSM: the model departs from the MSM only as far as the validation frames pay for it.
* **Temperature** ``T_s``: ``p ∝ p_model^(1 / T_s)`` (``generate(..., temperature=)``).

Each parameter is the one, in a fixed grid (:data:`MIX_GRID`, :data:`TEMP_GRID`), with the smallest
teacher-forced log loss on the **validation** frames: the held-out tail of the training trajectories that
:func:`~mdlstm_utils.lm.train.fit` validates on, never the test part that the kinetics are judged on
(:func:`choose_on_validation`). Because ``w = 1`` is in the grid, the chosen mixture predicts the validation
frames at least as well as the MSM does; whether its *generated* kinetics follow is what
``bench/bench_remedies.py`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mdlstm_utils._checks import check_int
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.windows import make_windows
from mdlstm_utils.runtime import jsonable, resolve_device
from mdlstm_utils.states import check_labels

__all__ = ["MIX_GRID", "TEMP_GRID", "ValidationChoice", "MSMMixture", "choose_on_validation", "generate_anchored"]

#: The MSM weights ``w`` scanned on the validation frames (0: the model alone, 1: the lag-1 MSM alone).
MIX_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
#: The softmax temperatures scanned on the validation frames (1: the model as trained).
TEMP_GRID = (0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)


@dataclass(frozen=True)
class ValidationChoice:
    """One generation parameter chosen on validation frames.

    Attributes: ``name`` (``"msm_weight"`` or ``"temperature"``), ``grid`` (the values scanned), ``losses``
    (teacher-forced log loss on the validation frames at each value, nats per frame), ``value`` (the value with
    the smallest loss), ``n_frames`` (the predicted validation frames).
    """

    name: str
    grid: np.ndarray
    losses: np.ndarray
    value: float
    n_frames: int

    @property
    def loss(self) -> float:
        """The validation loss at the chosen value."""
        return float(self.losses[int(np.argmin(self.losses))])

    def loss_at(self, value: float) -> float:
        """The validation loss at a scanned ``value`` (``KeyError`` if it was not scanned)."""
        hit = np.flatnonzero(np.isclose(self.grid, value))
        if not hit.size:
            raise KeyError(f"{self.name}={value!r} was not scanned; grid {self.grid.tolist()}")
        return float(self.losses[hit[0]])

    def to_dict(self) -> dict:
        return jsonable({"name": self.name, "grid": self.grid, "losses": self.losses, "value": self.value,
                         "n_frames": self.n_frames})


class MSMMixture(nn.Module):
    """The step transform of the MSM-anchored mixture: ``(logits, current) -> log((1 - w) softmax(logits) +
    w T[current])``, in log space. Pure tensor code: usable inside a CUDA graph, as
    :func:`~mdlstm_utils.lm.generate.generate`'s ``step_transform``.

    ``transition_matrix``: row-stochastic ``(n_states, n_states)`` with no zero entries (the smoothed lag-1
    chain); ``weight``: ``w`` in ``[0, 1]``.
    """

    def __init__(self, transition_matrix, weight: float):
        super().__init__()
        t = np.asarray(transition_matrix, dtype=float)
        n = len(t)
        if t.ndim != 2 or t.shape != (n, n) or n < 2:
            raise ValueError(f"transition_matrix must be square (n_states, n_states), got shape {t.shape}")
        if np.any(t <= 0) or not np.allclose(t.sum(1), 1.0, atol=1e-6):
            raise ValueError("transition_matrix must have positive entries and rows that sum to 1 (smooth the "
                             "counts, as kinetics.markov.MarkovChain.transition_matrix does)")
        w = float(weight)
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight!r}")
        self.n_states, self.weight = n, w
        self.register_buffer("log_t", torch.as_tensor(np.log(t), dtype=torch.float32))
        self.log_w = float(np.log(w)) if w > 0 else float("-inf")
        self.log_1mw = float(np.log1p(-w)) if w < 1 else float("-inf")

    def forward(self, logits: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        lp = torch.log_softmax(logits.float(), dim=-1)
        return torch.logaddexp(lp + self.log_1mw, self.log_t[current.long()] + self.log_w)

    def extra_repr(self) -> str:
        return f"n_states={self.n_states}, weight={self.weight:g}"


def _mixture_loss(lp_model: torch.Tensor, lp_msm: torch.Tensor, w: float) -> torch.Tensor:
    """Summed negative log-likelihood of the mixture with MSM weight ``w`` (per-frame log-probabilities given)."""
    if w <= 0.0:
        return -lp_model.sum()
    if w >= 1.0:
        return -lp_msm.sum()
    return -torch.logaddexp(lp_model + np.log1p(-w), lp_msm + np.log(w)).sum()


def choose_on_validation(model: nn.Module, val, transition_matrix, *, seq_len: int = 50, weights=MIX_GRID,
                         temperatures=TEMP_GRID, batch_size: int = 256,
                         device: str = "cpu") -> tuple[ValidationChoice, ValidationChoice]:
    """Choose the MSM weight and the temperature on the validation trajectories ``val``, teacher-forced.

    ``val``: label trajectories (a list of 1-D int arrays or a 2-D array) held out from training but not from
    the training side of the split: :func:`~mdlstm_utils.lm.train.split_trajectories` of the training part, as
    :func:`~mdlstm_utils.lm.train.fit` validates. They are cut into windows of ``seq_len + 1`` frames (as the
    training loss scores them) and every frame after a window's first is predicted. ``transition_matrix``: the
    lag-1 MSM of the training frames (smoothed, no zero entries). Returns ``(mixture, temperature)``
    :class:`ValidationChoice` s; one forward pass over the windows serves both scans.
    """
    n = len(np.asarray(transition_matrix))
    trajs = check_labels(val, n, name="val")
    seq_len = check_int("seq_len", seq_len, 1)
    weights = np.asarray(weights, dtype=float)
    temps = np.asarray(temperatures, dtype=float)
    if weights.ndim != 1 or not weights.size or np.any((weights < 0) | (weights > 1)):
        raise ValueError(f"weights must be a 1-D grid of values in [0, 1], got {weights.tolist()}")
    if temps.ndim != 1 or not temps.size or np.any(temps <= 0):
        raise ValueError(f"temperatures must be a 1-D grid of positive values, got {temps.tolist()}")
    windows = make_windows(trajs, min(seq_len, max(len(t) for t in trajs) - 1))
    if not len(windows):
        raise ValueError("the validation trajectories are too short for a single window of two frames")
    dev = resolve_device(device)
    log_t = torch.as_tensor(np.log(np.asarray(transition_matrix, dtype=float)), dtype=torch.float64, device=dev)
    mix, tmp = np.zeros(len(weights)), np.zeros(len(temps))
    model = model.to(dev).eval()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            b = torch.as_tensor(windows[i:i + batch_size], device=dev)
            x, y = b[:, :-1], b[:, 1:]
            logits = model(x)[0].double()
            lp_model = torch.log_softmax(logits, -1).gather(-1, y[..., None])[..., 0]
            lp_msm = log_t[x, y]
            mix += np.array([float(_mixture_loss(lp_model, lp_msm, w)) for w in weights])
            tmp += np.array([float(-torch.log_softmax(logits / s, -1).gather(-1, y[..., None]).sum()) for s in temps])
    n_frames = int(windows.shape[0] * (windows.shape[1] - 1))
    mix, tmp = mix / n_frames, tmp / n_frames
    return (ValidationChoice("msm_weight", weights, mix, float(weights[int(np.argmin(mix))]), n_frames),
            ValidationChoice("temperature", temps, tmp, float(temps[int(np.argmin(tmp))]), n_frames))


def generate_anchored(model: nn.Module, n_steps: int, *, transition_matrix, weight: float, **options) -> np.ndarray:
    """:func:`~mdlstm_utils.lm.generate.generate` from the MSM-anchored mixture with MSM weight ``weight``
    (``options``: ``prompt`` or ``start``, ``seed``, ``device``, ``temperature``, ...)."""
    if "step_transform" in options:
        raise ValueError("generate_anchored sets step_transform itself; call generate() for another transform")
    return generate(model, n_steps, step_transform=MSMMixture(transition_matrix, weight), **options)
