"""The evaluation protocol's split: which trajectories a model is fitted on and which it is judged on.

Every comparison in the suite follows one protocol. Before anything is fitted, the label trajectories are
split by a seed into a **training part** (the language model and every MSM baseline are fitted on it) and a
**test part** (the reference kinetics are measured on it alone). A model judged on the trajectories it was
fitted on is judged in-sample: an MSM counted on the same frames as the reference reproduces the reference's
own sampling noise and lands *below* the spread that any model fitted on other data must show.

Whole trajectories are the units (independent walkers). When there are fewer than ``min_units`` trajectories
(a few long MD runs), each is cut into contiguous blocks first, as many as needed for ``min_units`` in all;
blocks are independent only if they are much longer than the slowest relaxation time, which the split cannot
check, so :attr:`Split.protocol` says ``"blocks"`` and the record says how many.

When the data are too few for one split to leave a useful test part (a handful of transitions of the slow
process on each side), :func:`kfold_splits` gives ``k`` splits instead: the units, shuffled by the seed, are cut
into ``k`` folds and each fold is the test part once, the other folds the training part. Every unit is judged
once, by a model that never saw it; the price is ``k`` fits. Each :class:`Split` says so (``protocol`` ends in
``"k-fold"``, ``fold`` and ``n_folds``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdlstm_utils._checks import check_int
from mdlstm_utils.states._labels import check_labels

__all__ = ["Split", "train_test_split", "kfold_splits", "MIN_UNITS", "TEST_FRACTION"]

#: Fewer trajectories than this are cut into contiguous blocks before the split.
MIN_UNITS = 4
#: The default share of the units that go to the test part.
TEST_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class Split:
    """A training / test split of label trajectories (:func:`train_test_split`).

    ``train`` and ``test`` are lists of 1-D label arrays (whole trajectories, or contiguous blocks of them);
    ``train_source`` / ``test_source`` give, for each, the index of the input trajectory it comes from and
    ``train_start`` / ``test_start`` its first frame there, so that features or prompts can be cut alike.
    """

    train: list
    test: list
    train_source: np.ndarray
    test_source: np.ndarray
    train_start: np.ndarray
    test_start: np.ndarray
    protocol: str  # "trajectories" (whole trajectories), "blocks" (contiguous blocks of few long ones) or "given"
    seed: int | None
    fold: int | None = None  # k-fold (kfold_splits): which fold is the test part, 0-based, of n_folds
    n_folds: int | None = None

    @property
    def train_frames(self) -> int:
        return int(sum(len(t) for t in self.train))

    @property
    def test_frames(self) -> int:
        return int(sum(len(t) for t in self.test))

    def to_dict(self) -> dict:
        """The ``evaluation`` record of a ``metrics.json``: protocol, seed, and the trajectories and frames of each
        part."""
        return {"protocol": self.protocol, "seed": self.seed,
                "train_trajectories": len(self.train), "test_trajectories": len(self.test),
                "train_frames": self.train_frames, "test_frames": self.test_frames,
                "train_source": self.train_source.tolist(), "test_source": self.test_source.tolist(),
                **({"fold": self.fold, "n_folds": self.n_folds} if self.n_folds else {})}

    def describe(self) -> str:
        """One line for a notebook or report: what was fitted on what, and what the reference is."""
        unit = "blocks" if self.protocol.startswith("blocks") else "trajectories"
        fold = f", fold {self.fold + 1} of {self.n_folds}" if self.n_folds else ""
        return (f"fitted on {len(self.train)} {unit} ({self.train_frames} frames), judged against the other "
                f"{len(self.test)} ({self.test_frames} frames), split by seed {self.seed}{fold}")


def _units(trajs: list[np.ndarray], min_units: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, str]:
    """The units of the split: the trajectories, or equal contiguous blocks of each when there are too few."""
    n = len(trajs)
    if n >= min_units:
        return list(trajs), np.arange(n), np.zeros(n, dtype=np.int64), "trajectories"
    per = -(-min_units // n)
    units, source, start = [], [], []
    for i, t in enumerate(trajs):
        edges = np.linspace(0, len(t), per + 1).astype(np.int64)
        for a, b in zip(edges[:-1], edges[1:]):
            if b - a >= 2:
                units.append(t[a:b]), source.append(i), start.append(int(a))
    return units, np.array(source, dtype=np.int64), np.array(start, dtype=np.int64), "blocks"


def train_test_split(labels, *, n_train: int | None = None, test_fraction: float = TEST_FRACTION, seed: int = 0,
                     min_units: int = MIN_UNITS, n_states: int | None = None) -> Split:
    """Split label trajectories into a training and a test part, by ``seed``, before anything is fitted.

    Parameters
    ----------
    labels
        Label trajectories (a 2-D array, a list of 1-D arrays, or anything
        :func:`~mdlstm_utils.states.check_labels` accepts).
    n_train
        Units (trajectories or blocks) in the training part; the rest are the test part. Default:
        ``round((1 - test_fraction) * units)``, at least one unit on each side.
    test_fraction
        Share of the units in the test part when ``n_train`` is not given, in (0, 1).
    seed
        Which units go where (a permutation drawn from ``numpy.random.default_rng(seed)``); the same seed gives the
        same split.
    min_units
        With fewer trajectories than this, each is cut into contiguous blocks (``ceil(min_units / n)`` per
        trajectory) and the blocks are split (``protocol == "blocks"``).

    Returns
    -------
    Split
        The two parts (in the order of the input), with where each piece came from. No unit is in both.
    """
    trajs = check_labels(labels, n_states, name="labels")
    min_units = check_int("min_units", min_units, 2)
    seed = check_int("seed", seed, 0)
    units, source, start, protocol = _units(trajs, min_units)
    n = len(units)
    if n < 2:
        raise ValueError(f"a training / test split needs at least 2 trajectories or blocks of >= 2 frames, got {n}")
    if n_train is None:
        if not (isinstance(test_fraction, (int, float, np.floating)) and 0.0 < float(test_fraction) < 1.0):
            raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
        n_train = int(np.clip(round((1.0 - float(test_fraction)) * n), 1, n - 1))
    else:
        n_train = check_int("n_train", n_train, 1)
        if n_train >= n:
            raise ValueError(f"n_train={n_train} leaves no test part: there are {n} {protocol}; "
                             f"give n_train <= {n - 1}")
    order = np.random.default_rng(seed).permutation(n)
    tr, te = np.sort(order[:n_train]), np.sort(order[n_train:])
    return Split([units[i] for i in tr], [units[i] for i in te], source[tr], source[te], start[tr], start[te],
                 protocol, seed)


def kfold_splits(labels, k: int = 4, *, seed: int = 0, min_units: int = MIN_UNITS,
                 n_states: int | None = None) -> list[Split]:
    """``k`` training / test splits in which every unit is in the test part exactly once: k-fold over trajectories
    (or contiguous blocks of fewer than ``min_units`` long ones, as :func:`train_test_split` cuts them).

    For data too few for one split: each fold's model is judged on the units it never saw, and together the folds
    judge every unit. The units are shuffled by ``seed`` and cut into ``k`` folds of sizes differing by at most
    one. When there are fewer units than ``k`` (blocks included), each trajectory is cut into more blocks, so that
    every fold holds at least one. Each split's ``protocol`` is ``"trajectories k-fold"`` or ``"blocks k-fold"``.
    """
    trajs = check_labels(labels, n_states, name="labels")
    k = check_int("k", k, 2)
    seed = check_int("seed", seed, 0)
    units, source, start, protocol = _units(trajs, max(check_int("min_units", min_units, 2), k))
    if len(units) < k:
        raise ValueError(f"{k} folds need at least {k} trajectories or blocks of >= 2 frames, got {len(units)}")
    order = np.random.default_rng(seed).permutation(len(units))
    folds = [np.sort(f) for f in np.array_split(order, k)]
    out = []
    for i, te in enumerate(folds):
        tr = np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i]))
        out.append(Split([units[j] for j in tr], [units[j] for j in te], source[tr], source[te], start[tr],
                         start[te], f"{protocol} k-fold", seed, fold=i, n_folds=k))
    return out
