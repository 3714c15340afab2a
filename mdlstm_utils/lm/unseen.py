"""Transitions never seen in training: how much probability a language model keeps on them, against the data.

A softmax gives every next state a positive probability. Where the training data never show the jump
``i -> j`` (``i != j``), a model that has learned the kinetics should give it about as much probability as
such jumps really have, and that is small: the rate at which held-out trajectories make transitions unseen
in training, or, from the training counts alone, the Good-Turing estimate of the unseen mass. A model
that keeps more makes generated trajectories "teleport": they jump between states the data never connect
in one frame, often across the barrier of the slow process, and the slow rates come out too fast.

The pieces, all on label trajectories (lists of 1-D int arrays, states ``0 .. n_states - 1``) at a lag of
one frame:

* :func:`seen_transitions`  the ``(n_states, n_states)`` mask of the transitions the training data make;
* :func:`good_turing`       the Good-Turing estimate of the unseen mass, per state and per frame, from counts;
* :func:`slowest_sides`     the side (0 or 1) of every state with respect to the slowest process;
* :func:`transition_rates`  in trajectories (held-out, generated, an MSM baseline's): the rate per frame of
  unseen transitions and of one-frame crossings of the slowest process (:class:`TransitionRates`);
* :func:`model_unseen_mass` the probability a model puts on unseen next states, teacher-forced on held-out
  windows (:class:`ModelMass`);
* :func:`unseen_diagnostic` all of it in one call (:class:`UnseenTransitions`, with a one-line ``summary``).

Self-transitions ``i -> i`` always count as seen: a state that occurs can stay, and the question is
about jumps. Only ``i != j`` can be unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from mdlstm_utils._checks import check_int
from mdlstm_utils.kinetics import transition_counts
from mdlstm_utils.lm.windows import make_windows
from mdlstm_utils.runtime import jsonable, resolve_device
from mdlstm_utils.states import check_labels, estimate_msm

__all__ = ["seen_transitions", "good_turing", "slowest_sides", "TransitionRates", "transition_rates", "ModelMass",
           "model_unseen_mass", "UnseenTransitions", "unseen_diagnostic"]


def _counts(trajs: list[np.ndarray], n_states: int) -> np.ndarray:
    """Lag-1 transition counts ``C[i, j]`` of checked trajectories; zeros when no trajectory has two frames
    (:func:`~mdlstm_utils.kinetics.transition_counts` would refuse a lag as long as the longest trajectory)."""
    if max(len(t) for t in trajs) < 2:
        return np.zeros((n_states, n_states))
    return transition_counts(trajs, n_states, 1)


def _check_seen(seen) -> np.ndarray:
    seen = np.asarray(seen)
    if seen.dtype != bool or seen.ndim != 2 or seen.shape[0] != seen.shape[1] or seen.shape[0] < 2:
        raise ValueError(f"seen must be a square boolean (n_states, n_states) matrix (from seen_transitions), "
                         f"got dtype {seen.dtype}, shape {seen.shape}")
    return seen


def _check_sides(sides, n_states: int) -> np.ndarray:
    """``sides`` as an int array of length ``n_states`` with values in {-1, 0, 1}; ``None`` -> all -1 (no side)."""
    if sides is None:
        return np.full(n_states, -1, dtype=np.int64)
    s = np.asarray(sides)
    if s.shape != (n_states,) or not np.issubdtype(s.dtype, np.integer) or not np.isin(s, (-1, 0, 1)).all():
        raise ValueError(f"sides must be an int array of length n_states={n_states} with values 0, 1 or -1 "
                         f"(no side), got {s.dtype} array of shape {s.shape}")
    return s.astype(np.int64)


def _crossing(sides: np.ndarray) -> np.ndarray:
    """``X[i, j]``: ``i`` and ``j`` both have a side and the sides differ (the jump crosses the slowest process)."""
    has = sides >= 0
    return has[:, None] & has[None, :] & (sides[:, None] != sides[None, :])


def _ratio(num, den):
    """``num / den`` elementwise, NaN where ``den`` is 0."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out if out.ndim else float(out)


def seen_transitions(train, n_states: int) -> np.ndarray:
    """The ``(n_states, n_states)`` boolean mask of the transitions the training trajectories make at lag 1.

    ``seen[i, j]`` is True where ``i -> j`` occurs at least once in ``train`` between consecutive frames of
    one trajectory, and always on the diagonal: self-transitions count as seen (only jumps ``i != j`` can be
    unseen). ``~seen`` is the set of next states a model should give almost no probability.
    """
    n_states = check_int("n_states", n_states, 2)
    seen = _counts(check_labels(train, n_states, name="train"), n_states) > 0
    np.fill_diagonal(seen, True)
    return seen


def good_turing(counts) -> tuple[float, np.ndarray]:
    """The Good-Turing estimate of the probability of a next state never seen in training: ``(per frame, per state)``.

    Good-Turing: after ``n`` draws, the chance that the next draw is a kind never drawn before is about the
    fraction of draws whose kind occurred exactly once. Here the draws of state ``i`` are its ``n_i =
    sum_j C[i, j]`` transitions in training and the kinds are the next states ``j != i`` (self-transitions
    always count as seen, as in :func:`seen_transitions`), so the unseen mass of state ``i`` is
    ``#{j != i : C[i, j] == 1} / n_i`` (NaN for a state with no transitions out). The per-frame estimate is
    the mean over states weighted by their share of the training transitions, ``n_i / N``, which equals
    ``(all singleton jumps) / N``: the rate at which held-out frames should make unseen transitions.

    ``counts``: a square matrix of lag-1 transition counts of the training trajectories
    (:func:`~mdlstm_utils.kinetics.transition_counts`).
    """
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 2 or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(f"counts must be a square matrix of counts >= 0 with at least 2 states, got shape {c.shape}")
    off = ~np.eye(len(c), dtype=bool)
    singletons = ((c == 1) & off).sum(1)
    n_out = c.sum(1)
    if n_out.sum() == 0:
        raise ValueError("counts holds no transitions; the Good-Turing estimate needs training transitions")
    return float(singletons.sum() / n_out.sum()), _ratio(singletons, n_out)


def _sets_sides(sets, n_states: int) -> np.ndarray:
    if len(sets) != 2:
        raise ValueError(f"sets must hold exactly 2 sets of states (the two sides of the slowest process), "
                         f"got {len(sets)}")
    out = np.full(n_states, -1, dtype=np.int64)
    for k, members in enumerate(sets):
        members = np.asarray(members, dtype=np.int64).ravel()
        if members.size and (members.min() < 0 or members.max() >= n_states):
            raise ValueError(f"sets[{k}] holds states outside 0..{n_states - 1}")
        if np.any(out[members] >= 0):
            raise ValueError("the two sets overlap; a state can be on one side only")
        out[members] = k
    return out


def slowest_sides(train, n_states: int, *, sets=None) -> np.ndarray:
    """The side (0 or 1) of every state with respect to the slowest process; -1 for a state with no side.

    With ``sets`` (exactly two arrays of states, e.g. the two metastable sets of a two-state partition),
    states of ``sets[0]`` are side 0, of ``sets[1]`` side 1, all others -1.

    Otherwise the sides come from the training labels: a reversible maximum-likelihood MSM at lag 1
    (:func:`~mdlstm_utils.states.estimate_msm`, on the largest connected set) and its second right
    eigenvector (the slowest process; deeptime orders the eigenvalues by modulus): side 1 where it is
    positive, 0 elsewhere, oriented so that the lowest-numbered state of the connected set is on side 0.
    States outside the connected set (never visited, or only on a path in or out of it) get -1 and are left
    out of every crossing count. States near the eigenvector's zero are transition states, and their side is
    the least certain; give ``sets`` when the metastable sets are known.
    """
    n_states = check_int("n_states", n_states, 2)
    if sets is not None:
        return _sets_sides(sets, n_states)
    msm = estimate_msm(check_labels(train, n_states, name="train"), n_states, 1, reversible=True)
    psi = np.real(msm.eigenvectors_right(2)[:, 1])
    states = np.asarray(msm.count_model.state_symbols, dtype=np.int64)
    side = (psi > 0).astype(np.int64)
    if side[np.argmin(states)] == 1:
        side = 1 - side
    out = np.full(n_states, -1, dtype=np.int64)
    out[states] = side
    return out


@dataclass(frozen=True)
class TransitionRates:
    """Unseen transitions and crossings of the slowest process in label trajectories (held-out, generated, MSM).

    Rates are per frame pair ``(t, t + 1)`` (all pairs, staying ones included), so trajectories of any number
    and length compare.
    """

    n_pairs: int  # frame pairs (t, t + 1) counted
    n_unseen: int  # pairs whose jump i -> j (i != j) never occurs in training
    unseen_rate: float  # n_unseen / n_pairs
    unseen_per_state: np.ndarray  # per current state i: its unseen pairs / its pairs (NaN where i never occurs)
    unseen_crossing_share: float  # share of the unseen pairs that cross the slowest process (NaN if none)
    n_crossings: int  # pairs whose two states lie on different sides of the slowest process
    crossing_rate: float  # n_crossings / n_pairs

    def to_dict(self) -> dict:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


def transition_rates(trajs, seen, sides=None, *, name: str = "trajs") -> TransitionRates:
    """Count the unseen transitions (``~seen``) and the one-frame crossings of the slowest process in ``trajs``.

    A crossing is a pair ``(x_t, x_{t+1})`` with ``sides[x_t] != sides[x_{t+1}]``, both sides 0 or 1 (a state
    with side -1 crosses nothing). ``sides=None``: no crossings are counted (their numbers are 0 and NaN).
    ``seen`` from :func:`seen_transitions`, ``sides`` from :func:`slowest_sides`.
    """
    seen = _check_seen(seen)
    n = len(seen)
    c = _counts(check_labels(trajs, n, name=name), n)
    s = _check_sides(sides, n)
    cross = _crossing(s)
    n_pairs, unseen = float(c.sum()), c * ~seen
    n_unseen = float(unseen.sum())
    n_cross = float(c[cross].sum())
    return TransitionRates(
        n_pairs=int(n_pairs), n_unseen=int(n_unseen), unseen_rate=_ratio(n_unseen, n_pairs),
        unseen_per_state=_ratio(unseen.sum(1), c.sum(1)),
        unseen_crossing_share=_ratio(unseen[cross].sum(), n_unseen) if sides is not None else float("nan"),
        n_crossings=int(n_cross), crossing_rate=_ratio(n_cross, n_pairs) if sides is not None else float("nan"))


@dataclass(frozen=True)
class ModelMass:
    """The probability a model's next-state distribution puts on transitions unseen in training, teacher-forced
    on held-out windows: means over the predicted frames."""

    n_frames: int  # predicted positions (windows x seq_len)
    unseen_mass: float  # mean over frames of sum_{j unseen from the current state} p(j)
    unseen_mass_per_state: np.ndarray  # the same mean over the frames whose current state is i (NaN if none)
    unseen_crossing_mass: float  # mean over frames of the unseen mass on the other side of the slowest process

    def to_dict(self) -> dict:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


def _predicted_rows(model: nn.Module, windows: np.ndarray, n_states: int, dev: torch.device,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(S, m)``: ``S[i]`` the sum of the model's next-state distributions over the positions whose current
    token is ``i``, ``m[i]`` their number. Batches of windows; only ``(n_states, n_states)`` is kept between
    them, so memory does not grow with the number of windows."""
    S = torch.zeros(n_states, n_states, dtype=torch.float64, device=dev)
    m = torch.zeros(n_states, dtype=torch.float64, device=dev)
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            x = torch.as_tensor(windows[start:start + batch_size, :-1], device=dev)
            logits, _ = model(x)
            if logits.shape[:2] != x.shape or logits.shape[-1] != n_states:
                raise ValueError(f"the model returned logits of shape {tuple(logits.shape)} for tokens of shape "
                                 f"{tuple(x.shape)}; expected (batch, time, n_states={n_states})")
            p = torch.softmax(logits.float(), dim=-1).reshape(-1, n_states)
            xf = x.reshape(-1)
            S += torch.zeros(n_states, n_states, device=dev).index_add_(0, xf, p).double()
            m += torch.bincount(xf, minlength=n_states).double()
    return S.cpu().numpy(), m.cpu().numpy()


def model_unseen_mass(model: nn.Module, test, seen, *, seq_len: int, sides=None, device="cpu",
                      batch_size: int = 64) -> ModelMass:
    """Teacher-forced: the probability ``model`` puts on next states unseen in training, on held-out windows.

    ``test`` is cut into non-overlapping windows of ``seq_len + 1`` frames as the validation loss is
    (:func:`~mdlstm_utils.lm.train.make_windows`); the model reads the first ``seq_len`` frames of each
    window, and at every position the softmax of its logits is summed over the next states ``j`` with
    ``seen[i, j]`` False, ``i`` the current token. The unseen mass per frame is directly comparable with the
    held-out :attr:`TransitionRates.unseen_rate` and the Good-Turing estimate (:func:`good_turing`).
    ``unseen_crossing_mass`` is the part of it on states across the slowest process (``sides``; NaN without).

    ``model``: ``forward(tokens) -> (logits, state)`` on ``(batch, time)`` int64 tokens, as
    :class:`~mdlstm_utils.lm.models.LSTMLM` and :class:`~mdlstm_utils.lm.models.TransformerLM` (whose forward
    reads windows longer than its attention window with the same sliding band it was trained with). It is
    moved to ``device`` and evaluated in eval mode (its train/eval mode is restored after). Positions near a
    window's start see a short history, as in the validation loss.
    """
    seen = _check_seen(seen)
    n = len(seen)
    seq_len, batch_size = check_int("seq_len", seq_len, 2), check_int("batch_size", batch_size, 1)
    s = _check_sides(sides, n)
    windows = make_windows(check_labels(test, n, name="test"), seq_len)
    if len(windows) == 0:
        raise ValueError(f"no test trajectory has seq_len + 1 = {seq_len + 1} frames; pass a shorter seq_len")
    dev = resolve_device(device)
    was_training = model.training
    model = model.to(dev).eval()
    try:
        S, m = _predicted_rows(model, windows, n, dev, batch_size)
    finally:
        model.train(was_training)
    unseen = ~seen
    total = m.sum()
    return ModelMass(
        n_frames=int(total), unseen_mass=float((S * unseen).sum() / total),
        unseen_mass_per_state=_ratio((S * unseen).sum(1), m),
        unseen_crossing_mass=float((S * (unseen & _crossing(s))).sum() / total) if sides is not None else float("nan"))


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.3g} %"


@dataclass(frozen=True)
class UnseenTransitions:
    """How much probability a language model keeps on transitions unseen in training, beside the data.

    Every rate is per frame (per frame pair ``(t, t + 1)`` or per predicted position), so the numbers
    compare directly: a model that has learned the kinetics has ``model.unseen_mass`` near
    ``held_out.unseen_rate`` and ``good_turing``, and its generated trajectories cross the slowest process
    (``generated.crossing_rate``) about as often as the held-out ones (``held_out.crossing_rate``).
    """

    n_states: int
    n_seen: int  # distinct jumps i -> j (i != j) in the training trajectories
    sides: np.ndarray  # side (0/1) of each state w.r.t. the slowest process; -1: none
    good_turing: float  # Good-Turing unseen mass per frame, from the training counts
    good_turing_per_state: np.ndarray  # ... per state (NaN for a state with no training transitions out)
    model: ModelMass  # teacher-forced model on held-out windows
    held_out: TransitionRates  # the test trajectories
    generated: TransitionRates  # the model's generated trajectories
    msm: TransitionRates | None = None  # the MSM baseline's trajectories, when given

    def to_dict(self) -> dict:
        """The JSON form: flat keys ``model_*``, ``held_out_*``, ``generated_*``, ``msm_*`` (absent without an
        MSM) for the parts' fields, lists for arrays, ``None`` for NaN."""
        out = {"n_states": self.n_states, "n_seen": self.n_seen, "sides": self.sides,
               "good_turing": self.good_turing, "good_turing_per_state": self.good_turing_per_state}
        for name in ("model", "held_out", "generated", "msm"):
            part = getattr(self, name)
            if part is not None:
                out.update({f"{name}_{k}": v for k, v in part.to_dict().items()})
        return jsonable(out)

    def summary(self) -> str:
        """Two lines a chemist can read: unseen mass (model, held-out, Good-Turing), then crossings per frame."""
        g, h = self.generated, self.held_out
        line1 = (f"model puts {_pct(self.model.unseen_mass)} per frame on transitions unseen in training "
                 f"({_pct(self.model.unseen_crossing_mass)} of it across the slowest process); held-out data make them "
                 f"at {_pct(h.unseen_rate)}; Good-Turing estimate {_pct(self.good_turing)}")
        msm = "" if self.msm is None else f"; MSM {_pct(self.msm.crossing_rate)} ({self.msm.n_crossings})"
        line2 = (f"generated: {_pct(g.unseen_rate)} per frame unseen, crossings of the slowest process "
                 f"{_pct(g.crossing_rate)} per frame ({g.n_crossings}) vs held-out {_pct(h.crossing_rate)} "
                 f"({h.n_crossings}){msm}")
        return line1 + "\n" + line2


def _resolve_sides(sides, train, n_states: int) -> np.ndarray:
    """``sides`` as given (one 0/1/-1 per state), from two sets of states, or from the training MSM (``None``)."""
    if sides is None:
        return slowest_sides(train, n_states)
    if isinstance(sides, (list, tuple)) and not all(np.isscalar(v) for v in sides):
        return slowest_sides(train, n_states, sets=sides)
    return _check_sides(sides, n_states)


def unseen_diagnostic(model: nn.Module, train, test, generated, *, n_states: int, seq_len: int, msm=None,
                      sides=None, device="cpu", batch_size: int = 64) -> UnseenTransitions:
    """Measure how much probability ``model`` puts on transitions it never saw in training, beside the data.

    Parameters
    ----------
    model
        The trained language model (``forward(tokens) -> (logits, state)``, see :func:`model_unseen_mass`).
    train, test
        The label trajectories the model was trained on (the seen transitions, the Good-Turing counts and,
        without ``sides``, the slowest process) and the held-out ones (the unseen rate the data really have,
        and the windows the model is scored on).
    generated
        Trajectories generated by the model; ``msm``: those of the MSM baseline (optional).
    n_states, seq_len
        Number of states; window length of the teacher-forced pass (the training ``seq_len``).
    sides
        The side of each state w.r.t. the slowest process: one 0/1/-1 per state, or two sets of states, or
        ``None`` to compute them from a lag-1 MSM of ``train`` (:func:`slowest_sides`).
    device, batch_size
        Where the model runs, and windows per batch.
    """
    n_states = check_int("n_states", n_states, 2)
    check_int("seq_len", seq_len, 2)
    check_int("batch_size", batch_size, 1)
    train_trajs = check_labels(train, n_states, name="train")
    for name, trajs in (("test", test), ("generated", generated), ("msm", msm)):
        if trajs is not None:
            check_labels(trajs, n_states, name=name)  # every input checked before the model runs
    counts = _counts(train_trajs, n_states)
    if counts.sum() == 0:
        raise ValueError("train holds no transitions: every training trajectory has a single frame")
    seen = counts > 0
    np.fill_diagonal(seen, True)
    s = _resolve_sides(sides, train_trajs, n_states)
    gt, gt_state = good_turing(counts)
    return UnseenTransitions(
        n_states=n_states, n_seen=int((~np.eye(n_states, dtype=bool) & seen).sum()), sides=s,
        good_turing=gt, good_turing_per_state=gt_state,
        model=model_unseen_mass(model, test, seen, seq_len=seq_len, sides=s, device=device, batch_size=batch_size),
        held_out=transition_rates(test, seen, s, name="test"),
        generated=transition_rates(generated, seen, s, name="generated"),
        msm=None if msm is None else transition_rates(msm, seen, s, name="msm"))
