"""Markov chains of order k estimated by counting, and their held-out log-loss.

The language models are scored by the cross-entropy of the next state on held-out frames (nats per token).
The same score for a counting model of the same labels is the yardstick that says what the next-token loss
rewards: a first-order chain is a lag-1 Markov state model, and a chain of order ``k`` predicts from the last
``k`` states, the simplest model with memory.

Estimation: the probability of the next state given the last ``k`` states is the count of that
``(context, next)`` pair smoothed towards the order ``k - 1`` estimate (a hierarchical Dirichlet prior of
weight ``prior_weight``; order 0 is add-one smoothing of the state counts):

    p_k(x | c_k) = (n(c_k, x) + w * p_{k-1}(x | c_{k-1})) / (n(c_k) + w)

so an unseen transition costs a finite loss, and a context never seen in training falls back to the shorter
one. On held-out sequences frame ``t`` is predicted from the ``min(k, t)`` frames before it in the same
sequence, as a language model does at the start of a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mdlstm_utils.states import check_labels

__all__ = ["label_sequences", "MarkovChain", "fit_markov", "OrderChoice", "choose_order"]

_MAX_KEYS = 2**62


def label_sequences(labels, n_states: int, name: str) -> list[np.ndarray]:
    """Label trajectories as a list of int64 arrays; a 2-D array is read as one sequence per row."""
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        labels = list(labels)
    return [np.asarray(t, dtype=np.int64) for t in check_labels(labels, n_states, name=name)]


def _contexts(seq: np.ndarray, order: int, n_states: int) -> np.ndarray:
    """The code of the last ``order`` states before each frame ``t >= order`` (most recent state in the lowest digit)."""
    n = len(seq) - order
    code = np.zeros(n, dtype=np.int64)
    for lag in range(order, 0, -1):  # oldest first, so the most recent state ends in the lowest digit
        code = code * n_states + seq[order - lag: order - lag + n]
    return code


@dataclass
class _Level:
    """Counts of one order: sorted keys ``context * n_states + next`` with counts, and the contexts' totals."""

    keys: np.ndarray
    counts: np.ndarray
    contexts: np.ndarray
    totals: np.ndarray

    def lookup(self, ctx: np.ndarray, nxt: np.ndarray, n_states: int) -> tuple[np.ndarray, np.ndarray]:
        """``(n(ctx, next), n(ctx))`` for each pair (0 where unseen)."""
        return _find(self.keys, self.counts, ctx * n_states + nxt), _find(self.contexts, self.totals, ctx)


def _find(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    if len(keys) == 0:
        return np.zeros(len(query))
    i = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[i] == query, values[i], 0).astype(float)


@dataclass
class MarkovChain:
    """A Markov chain of order ``order`` on ``n_states`` labels, estimated by counting (see the module).

    Build it with :func:`fit_markov`. :meth:`log_loss` scores held-out sequences in nats per predicted frame,
    the unit of a language model's validation loss; :meth:`transition_matrix` is the smoothed first-order
    matrix.
    """

    order: int
    n_states: int
    prior_weight: float
    state_counts: np.ndarray
    levels: list = field(repr=False)  # _Level for orders 1..order
    n_transitions: int = 0

    def _log_prob(self, seq: np.ndarray) -> np.ndarray:
        """log p(frame t | earlier frames of ``seq``) for t = 1 .. len(seq) - 1."""
        n, w = self.n_states, self.prior_weight
        nxt = seq[1:]
        p = (self.state_counts[nxt] + 1.0) / (self.state_counts.sum() + n)
        for j, level in enumerate(self.levels, start=1):
            if len(seq) <= j:
                break
            ctx = _contexts(seq, j, n)  # frames t >= j; earlier frames keep the lower order
            c_pair, c_ctx = level.lookup(ctx, seq[j:], n)
            p[j - 1:] = (c_pair + w * p[j - 1:]) / (c_ctx + w)
        return np.log(p)

    def frame_log_probs(self, labels) -> np.ndarray:
        """log p of every frame after the first of each held-out sequence, concatenated in order."""
        seqs = label_sequences(labels, self.n_states, "held-out labels")
        parts = [self._log_prob(s) for s in seqs if len(s) > 1]
        if not parts:
            raise ValueError("the held-out labels hold no transition (every sequence has fewer than 2 frames)")
        return np.concatenate(parts)

    def log_loss(self, labels) -> float:
        """Mean negative log-likelihood (nats per frame) of every frame after the first of each held-out sequence.

        ``labels``: trajectories (list of 1-D arrays) or windows (a 2-D array, one sequence per row), of the
        same ``n_states``.
        """
        return float(-self.frame_log_probs(labels).mean())

    def transition_matrix(self) -> np.ndarray:
        """The smoothed first-order transition matrix ``T[i, j] = p_1(j | i)`` (rows sum to 1)."""
        n, w = self.n_states, self.prior_weight
        p0 = (self.state_counts + 1.0) / (self.state_counts.sum() + n)
        if not self.levels:
            return np.tile(p0, (n, 1))
        lv = self.levels[0]
        c = np.zeros((n, n))
        c[lv.keys // n, lv.keys % n] = lv.counts
        return (c + w * p0) / (c.sum(1, keepdims=True) + w)

    def sample(self, prompt, n_frames: int, *, seed: int = 0) -> np.ndarray:
        """Continue each row of ``prompt`` (int array ``(n_traj, p)``, ``p >= 1``) by ``n_frames`` frames drawn
        from the chain: the generated trajectories of a counting model, measured like a language model's.

        Frame ``t`` is drawn from the smoothed ``p_k`` given the last ``min(order, frames so far)`` frames,
        as :meth:`log_loss` scores it. Returns the ``n_frames`` new frames, shape ``(n_traj, n_frames)``.
        """
        prompt = np.atleast_2d(np.asarray(prompt, dtype=np.int64))
        if prompt.ndim != 2 or prompt.shape[1] < 1 or prompt.min() < 0 or prompt.max() >= self.n_states:
            raise ValueError(f"prompt must be states in [0, {self.n_states - 1}] of shape (n_traj, p >= 1), "
                             f"got shape {prompt.shape}")
        n_frames = int(n_frames)
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        n, w = self.n_states, self.prior_weight
        rng = np.random.default_rng(seed)
        hist = np.concatenate([prompt, np.zeros((len(prompt), n_frames), dtype=np.int64)], axis=1)
        p0 = (self.state_counts + 1.0) / (self.state_counts.sum() + n)
        cand = np.arange(n, dtype=np.int64)[None, :]
        for t in range(prompt.shape[1], hist.shape[1]):
            p = np.tile(p0, (len(hist), 1))
            ctx = np.zeros(len(hist), dtype=np.int64)
            for j, level in enumerate(self.levels, start=1):
                if t < j:
                    break
                ctx = ctx + hist[:, t - j] * n ** (j - 1)  # the most recent state in the lowest digit
                c_pair = _find(level.keys, level.counts, (ctx[:, None] * n + cand).ravel()).reshape(p.shape)
                c_ctx = _find(level.contexts, level.totals, ctx)[:, None]
                p = (c_pair + w * p) / (c_ctx + w)
            u = rng.random((len(hist), 1)) * p.sum(1, keepdims=True)
            hist[:, t] = np.minimum((np.cumsum(p, axis=1) < u).sum(1), n - 1)
        return hist[:, prompt.shape[1]:]

    def unseen_context_fraction(self, labels) -> float:
        """Fraction of the held-out frames whose full ``order``-frame context never occurs in the training data."""
        if not self.levels:
            return 0.0
        seqs = [s for s in label_sequences(labels, self.n_states, "held-out labels") if len(s) > self.order]
        if not seqs:
            return 1.0
        ctx = np.concatenate([_contexts(s, self.order, self.n_states) for s in seqs])
        return float(np.mean(_find(self.levels[-1].contexts, self.levels[-1].totals, ctx) == 0))


def fit_markov(labels, n_states: int, order: int = 1, *, prior_weight: float = 1.0) -> MarkovChain:
    """Count a Markov chain of order ``order`` (``0``: independent frames) on label trajectories.

    Raises ``ValueError`` for an order below 0, for ``n_states ** order`` beyond the int64 codes, and when no
    trajectory is longer than ``order`` frames (there is then nothing to count).
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"order must be an int >= 0, got {order!r}")
    if not prior_weight > 0:
        raise ValueError(f"prior_weight must be > 0, got {prior_weight!r}")
    seqs = label_sequences(labels, n_states, "labels")
    if float(n_states) ** (order + 1) >= _MAX_KEYS:
        raise ValueError(f"order {order} on {n_states} states needs codes beyond int64; lower the order")
    if order and not any(len(s) > order for s in seqs):
        raise ValueError(f"order {order} needs trajectories longer than {order} frames; the longest has "
                         f"{max(len(s) for s in seqs)}: lower the order or give longer trajectories")
    state_counts = np.bincount(np.concatenate(seqs), minlength=n_states).astype(float)
    levels = []
    for j in range(1, order + 1):
        ctx = np.concatenate([_contexts(s, j, n_states) for s in seqs if len(s) > j])
        nxt = np.concatenate([s[j:] for s in seqs if len(s) > j])
        keys, counts = np.unique(ctx * n_states + nxt, return_counts=True)
        contexts, totals = np.unique(ctx, return_counts=True)
        levels.append(_Level(keys, counts.astype(float), contexts, totals.astype(float)))
    n_tr = sum(max(len(s) - 1, 0) for s in seqs)
    return MarkovChain(int(order), int(n_states), float(prior_weight), state_counts, levels, n_tr)


@dataclass
class OrderChoice:
    """Held-out losses of chains of several orders, the order chosen, and its gain over the first-order chain.

    The gain ``val_loss[order 1] - val_loss[chosen]`` comes with a 95 % interval from ``n_blocks`` contiguous
    blocks of the held-out frames (the frame-by-frame differences are correlated in time; block means much
    less so).
    """

    orders: np.ndarray
    val_loss: np.ndarray  # nats per frame, nan where the order was not supported by the data
    unseen_fraction: np.ndarray  # held-out frames whose full context never occurs in training
    order: int
    gain: float  # nats per frame, >= 0 when the chosen order predicts better than order 1
    gain_low: float
    gain_high: float

    def gain_over_first_order(self) -> float:
        """How much lower (nats per frame) the chosen order's loss is than the first-order chain's."""
        return self.gain


def _block_mean_se(d: np.ndarray, n_blocks: int) -> tuple[float, float]:
    blocks = np.array([b.mean() for b in np.array_split(d, n_blocks) if len(b)])
    return float(d.mean()), float(blocks.std(ddof=1) / np.sqrt(len(blocks))) if len(blocks) > 1 else np.inf


def choose_order(train, val, n_states: int, orders=(1, 2, 3, 4), *, max_unseen: float = 0.5,
                 prior_weight: float = 1.0, n_blocks: int = 20) -> OrderChoice:
    """The order of Markov chain that predicts held-out frames best, preferring the lower order in a tie.

    Each order in ``orders`` (which must include 1) is counted on ``train`` and scored on ``val``. An order
    whose full contexts are unseen in training for more than ``max_unseen`` of the held-out frames is not
    supported by the data: it is skipped (``nan``), since its score would only measure the smoothing. The
    chosen order is the lowest whose loss is within three standard errors (paired, over ``n_blocks`` blocks of
    held-out frames) of the lowest loss: a higher order must earn its extra parameters.
    """
    orders = np.asarray(sorted(set(int(o) for o in orders)))
    if 1 not in orders or orders.min() < 1:
        raise ValueError(f"orders must be >= 1 and include 1, got {orders.tolist()}")
    losses, unseen, lps = [], [], []
    for k in orders:
        try:
            chain = fit_markov(train, n_states, int(k), prior_weight=prior_weight)
        except ValueError:
            losses.append(np.nan); unseen.append(1.0); lps.append(None)
            continue
        u = chain.unseen_context_fraction(val)
        unseen.append(u)
        lp = chain.frame_log_probs(val) if u <= max_unseen else None
        lps.append(lp)
        losses.append(np.nan if lp is None else float(-lp.mean()))
    losses = np.asarray(losses, dtype=float)
    best = int(np.nanargmin(losses))
    chosen = best
    for i in range(best):
        if lps[i] is not None:
            diff, se = _block_mean_se(lps[best] - lps[i], n_blocks)
            if diff <= 3 * se:
                chosen = i
                break
    i1 = int(np.flatnonzero(orders == 1)[0])
    gain, se = _block_mean_se(lps[chosen] - lps[i1], n_blocks) if chosen != i1 else (0.0, 0.0)
    return OrderChoice(orders, losses, np.asarray(unseen), int(orders[chosen]), gain, gain - 1.96 * se, gain + 1.96 * se)
