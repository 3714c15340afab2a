"""The saving-interval scan (notebook 02): how well a language model learns the slow process of one system
saved at coarser and coarser intervals, beside an MSM at the same lag and the noise floor.

A trajectory saved every ``k`` base frames is emulated by keeping every ``k``-th frame
(:meth:`~mdlstm_utils.states.StateSpace.subsample`). At each interval and training seed, one call of
:func:`~mdlstm_utils.lm.experiment.learn_and_compare` trains an LSTM on the subsampled training labels,
generates trajectories as long in time as a reference trajectory, and compares their kinetics with the reference
*at the same interval*: the reference's own MFPTs change with the interval (a coarse interval misses short
excursions), so a model is only ever judged against the reference it could have learned from.

* :func:`interval_scan`       the whole scan: one model per interval and seed, in one :class:`IntervalScan`
* :func:`learn_at_interval`   one interval and seed: the subsampled data, the window, the prompts, one experiment
* :func:`scan_prompts`        the reference windows that the generated trajectories continue
* :func:`window_length`       the training window at one interval
* :func:`scan_rows`           the rows of one interval and seed: the LSTM, its MSM baseline, the noise floor
* :func:`over_seeds`          one row per interval and model: the mean over seeds, and the sd of what varies
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mdlstm_utils._checks import check_int
from mdlstm_utils.kinetics import subsample
from mdlstm_utils.lm.experiment import LearnResult, learn_and_compare
from mdlstm_utils.runtime import fmt, seed_values
from mdlstm_utils.states import StateSpace

__all__ = [
    "IntervalScan",
    "interval_scan",
    "learn_at_interval",
    "scan_prompts",
    "window_length",
    "scan_rows",
    "over_seeds",
    "SCAN_MODELS",
]

#: the longest prompt, in frames of the subsampled data (at most half of the shortest trajectory is used)
PROMPT_FRAMES = 20
#: the shortest training window, in frames of the subsampled data
MIN_WINDOW = 8
#: the rows of one interval and seed: (model, key of its generated MFPTs, of its slow-process error, of its
#: set-population error) in :attr:`LearnResult.metrics`; the noise floor (a perfect model) generates no MFPTs
SCAN_MODELS = (("LSTM", "mfpt_gen", "mfpt_max_rel_err", "set_pop_max_abs_err"),
               ("MSM", "msm_mfpt_gen", "msm_mfpt_max_rel_err", "msm_set_pop_max_abs_err"),
               ("noise floor", None, "noise_floor_mfpt_err", "noise_floor_pop_err"))
#: columns that only the LSTM's row fills (NaN in the others): (column, key of :attr:`LearnResult.metrics`)
LSTM_COLUMNS = (("train s", "train_seconds"), ("epochs run", "epochs_run"), ("val loss − lag-1 MSM", "loss_gap"))
#: the error the scan is about, a column of :attr:`IntervalScan.runs` and :attr:`IntervalScan.summary`
ERROR = "slow-process error"


@dataclass
class IntervalScan:
    """What :func:`interval_scan` returns: every model of the scan, per seed and summarized over seeds.

    ``runs``: one row per seed, interval and model (``LSTM``, ``MSM``, ``noise floor``), in the order they ran
    (seeds outer, intervals inner), with the columns ``interval`` (in the space's time unit), ``k``, ``seed``,
    ``model``, the reference and generated MFPTs between the two sets (``MFPT a→b ref`` / ``gen``; NaN for the
    noise floor, which generates nothing), ``slow-process error`` (``max |MFPT gen / ref − 1|``; ``inf`` where a
    passage was never generated), ``population error``, ``frames/traj``, ``seq_len`` and, for the LSTM only,
    ``train s``, ``epochs run`` and ``val loss − lag-1 MSM``. ``summary``: :func:`over_seeds` of ``runs``.
    ``results``: the :class:`~mdlstm_utils.lm.experiment.LearnResult` of each ``(k, seed)``. ``set_names`` and
    ``dt_unit``: the space's two sets and time unit (the figure's labels).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    results: dict[tuple[int, int], LearnResult]
    set_names: tuple
    dt_unit: str = ""

    def errors(self) -> pd.Series:
        """The slow-process error of each model and interval, the mean over seeds, indexed by ``(model,
        interval)``; ``inf`` where a passage was never generated (so it never looks best)."""
        return self.summary.set_index(["model", "interval"])[ERROR].astype(float).fillna(np.inf)

    def to_dict(self) -> dict:
        """The scan for a notebook's ``metrics.json``: both tables as records, the LSTM's best interval, and per
        model the slow-process error (mean and sd over seeds) by interval (keys: the interval rounded to 6
        digits, as text)."""
        t = self.summary
        lstm, msm, noise = (t[t.model == x] for x in ("LSTM", "MSM", "noise floor"))
        by_interval = {f"{name}_slow_error{sd}_by_interval": dict(zip(d.interval.round(6).astype(str),
                                                                      d[ERROR + sd.replace("_", " ")]))
                       for name, d in (("lstm", lstm), ("msm", msm), ("noise_floor", noise)) for sd in ("", "_sd")}
        return {"table": t.to_dict(orient="records"), "runs": self.runs.to_dict(orient="records"),
                "best_interval_lstm": float(lstm.interval[lstm[ERROR].idxmin()]),
                **by_interval, "lstm_max_population_error": float(lstm["population error"].max())}


def scan_prompts(trajs, n_gen: int) -> np.ndarray:
    """The prompts of ``n_gen`` generated trajectories, an int array ``(n_gen, p)``: prompt ``i`` is window
    ``i // n`` (of ``p = min(20, T // 2)`` frames, ``T`` the shortest trajectory) of reference trajectory
    ``i mod n``, for ``n`` reference trajectories; when a trajectory holds fewer windows than the prompts that
    fall to it (a few short test blocks at a coarse interval), its windows are used again in turn (those
    trajectories differ by the generation's sampling).

    Why: each generated trajectory starts from states the reference visits, one per reference trajectory
    before any repeats (the MSM baseline starts from the prompts' last states too); with more generated
    trajectories than reference ones, later windows give different starts. The prompt is short so that it
    fits at the coarsest interval and uses few of the frames the model is judged on.
    """
    n_gen = check_int("n_gen", n_gen, 1)
    n = len(trajs)
    if n == 0:
        raise ValueError("scan_prompts needs at least one reference trajectory")
    p = min(PROMPT_FRAMES, min(map(len, trajs)) // 2)
    if p < 1:
        raise ValueError(f"the shortest reference trajectory has {min(map(len, trajs))} frame(s); a prompt needs 2")
    return np.stack([trajs[i % n][((i // n) % (len(trajs[i % n]) // p)) * p:][:p] for i in range(n_gen)])


def window_length(train, val, seq_len: int) -> int:
    """The training window at one interval: ``seq_len`` frames, shortened to a quarter of the shortest training
    trajectory (but not below 8 frames) and to one frame less than the shortest validation trajectory.

    Why: at a coarse interval the subsampled trajectories are short; a window of a quarter of a trajectory
    still leaves several windows per trajectory to train on, and a validation window needs one more frame
    than its length (the next-frame targets).
    """
    return int(min(seq_len, max(MIN_WINDOW, min(map(len, train)) // 4), min(map(len, val)) - 1))


def learn_at_interval(space: StateSpace, k: int, train, val, *, n_gen: int, epochs: int, seed: int, seq_len: int,
                      **settings) -> tuple[LearnResult, dict]:
    """One model of the scan: the LSTM (trained with ``seed``) and its MSM baseline on ``space`` subsampled every
    ``k`` frames.

    The reference, ``train`` and ``val`` (label trajectories at the base interval) are subsampled alike; the
    training window is :func:`window_length` of ``seq_len``; ``n_gen`` trajectories continue
    :func:`scan_prompts` and are each as long, in time, as the shortest reference trajectory. ``settings`` go
    to :func:`~mdlstm_utils.lm.experiment.learn_and_compare`. Returns its result and where the model sits in
    the scan: ``{"interval", "k", "seed", "frames/traj", "seq_len"}``.
    """
    ref_k = space.subsample(k)
    train_k, val_k = (subsample(list(x), k) for x in (train, val))
    w = window_length(train_k, val_k, seq_len)
    res = learn_and_compare(ref_k, train_labels=train_k, val_labels=val_k, prompt=scan_prompts(ref_k.trajs, n_gen),
                            gen_frames=-(-int(space.lengths.min()) // k), seq_len=w, epochs=epochs, seed=seed,
                            **settings)
    return res, {"interval": k * space.dt, "k": k, "seed": seed, "frames/traj": int(ref_k.lengths.min()), "seq_len": w}


def scan_rows(result: LearnResult, at: dict, set_names) -> list[dict]:
    """The rows of one interval and seed (:data:`SCAN_MODELS`): the LSTM, its MSM baseline and the noise floor,
    with the MFPTs between the two sets ``set_names = (a, b)`` (NaN where a model generates none), the errors, and
    ``at`` (from :func:`learn_at_interval`). A slow-process error of ``None`` (a passage never generated)
    becomes ``inf``."""
    a, b = set_names
    m, none = result.metrics, [[np.nan] * 2] * 2
    missing = [key for _, _, err, pop in SCAN_MODELS for key in (err, pop) if key not in m]
    if missing:
        raise ValueError(f"the result has no {', '.join(missing)}: the scan compares the LSTM with the MSM baseline "
                         "and the noise floor, so keep both on (baseline=True, noise_pairs >= 1)")
    return [{"interval": at["interval"], "k": at["k"], "seed": at["seed"], "model": model,
             f"MFPT {a}→{b} ref": m["mfpt_ref"][0][1], f"MFPT {a}→{b} gen": m.get(gen, none)[0][1],
             f"MFPT {b}→{a} ref": m["mfpt_ref"][1][0], f"MFPT {b}→{a} gen": m.get(gen, none)[1][0],
             ERROR: seed_values([m[err]])[0], "population error": m[pop],
             "frames/traj": at["frames/traj"], "seq_len": at["seq_len"],
             **{c: m[key] if model == "LSTM" else np.nan for c, key in LSTM_COLUMNS}}
            for model, gen, err, pop in SCAN_MODELS]


def over_seeds(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per interval and model (sorted by interval, then model): the mean over seeds of every numeric
    column, the sd over seeds (``ddof=1``; NaN with one seed) of the slow-process error and of the generated
    MFPTs (``… sd`` columns), and ``seeds``, how many seeds each row averages."""
    g = runs.drop(columns="seed").groupby(["interval", "k", "model"], sort=True)
    spread = [c for c in runs.columns if c == ERROR or c.endswith(" gen")]
    mean = g.mean(numeric_only=True).join(g[spread].std(ddof=1).add_suffix(" sd"))
    return mean.reset_index().assign(seeds=g.size().to_numpy())


def _epochs_of(epochs, intervals) -> dict:
    """``epochs`` as ``{k: epochs}`` for every interval, checked."""
    if isinstance(epochs, Mapping):
        missing = [k for k in intervals if k not in epochs]
        if missing:
            raise ValueError(f"epochs gives no number of epochs for the intervals {missing}")
        return {k: check_int(f"epochs[{k}]", epochs[k], 1) for k in intervals}
    epochs = check_int("epochs", epochs, 1)
    return {k: epochs for k in intervals}


def _check_scan(space, intervals, seeds) -> tuple[list, list]:
    """The scan's intervals and seeds as lists of ints, checked against ``space``."""
    if not isinstance(space, StateSpace):
        raise TypeError(f"space must be a StateSpace, got {type(space).__name__}")
    if space.sets is None or len(space.sets) != 2:
        raise ValueError("the scan follows one slow process: space needs exactly two metastable sets "
                         f"(StateSpace(..., sets=[a, b])), got {0 if space.sets is None else len(space.sets)}")
    intervals, seeds = list(intervals), list(seeds)
    if not intervals or not seeds:
        raise ValueError(f"the scan needs at least one interval and one seed, got intervals={intervals} and seeds={seeds}")
    intervals = [check_int("each interval (a multiple of the base saving interval)", k, 1) for k in intervals]
    seeds = [check_int("each seed", s, 0) for s in seeds]
    if len(set(intervals)) < len(intervals) or len(set(seeds)) < len(seeds):
        raise ValueError(f"intervals and seeds must not repeat, got intervals={intervals} and seeds={seeds}")
    return intervals, seeds


def interval_scan(space: StateSpace, intervals, *, train, val, seeds, n_gen: int, epochs, seq_len: int = 100,
                  verbose: bool = True, **settings) -> IntervalScan:
    """Learn ``space`` at several saving intervals and seeds: one LSTM and its MSM baseline per interval and seed.

    Parameters
    ----------
    space
        The test reference at the base saving interval (trajectories in neither ``train`` nor ``val``: the
        evaluation protocol): a :class:`~mdlstm_utils.states.StateSpace` with exactly two metastable sets (the
        slow process is the passage between them) and its ``dt`` and ``dt_unit``.
    intervals
        Saving intervals as multiples ``k >= 1`` of the base interval (``k = 10``: every 10th frame).
    train, val
        Label trajectories at the base interval to train on (and to estimate the MSM baseline from) and to
        validate on; subsampled like the reference.
    seeds
        Training seeds (ints >= 0); each interval is learned once per seed.
    n_gen
        Generated trajectories per model, each as long in time as the shortest reference trajectory
        (:func:`scan_prompts` gives their prompts).
    epochs
        Training epochs, an int for every interval or ``{k: epochs}`` (e.g. ``epochs * k`` at interval ``k``, for
        about the same number of optimizer steps at every interval).
    seq_len
        The longest training window (frames); shorter where the subsampled trajectories are short
        (:func:`window_length`).
    verbose
        Print each model's slow-process error beside the MSM's as it finishes.
    settings
        Passed to :func:`~mdlstm_utils.lm.experiment.learn_and_compare`: fields of ``TrainConfig``,
        ``GenerateConfig`` or ``BaselineConfig`` (``batch_size=64, steps=None, lr_schedule="constant"``),
        ``hidden``, ``device``.

    Returns
    -------
    IntervalScan
        The per-seed rows, their summary over seeds and every ``LearnResult``.
    """
    intervals, seeds = _check_scan(space, intervals, seeds)
    if settings.get("baseline") is False or settings.get("msm") is False or settings.get("noise_pairs") == 0:
        raise ValueError("the scan compares the LSTM with the MSM baseline and the noise floor; keep both on")
    epochs = _epochs_of(epochs, intervals)
    results, at = {}, {}
    for s in seeds:
        for k in intervals:
            res, at[k, s] = learn_at_interval(space, k, train, val, n_gen=n_gen, epochs=epochs[k], seed=s,
                                              seq_len=seq_len, **settings)
            results[k, s] = res
            if verbose:
                m = res.metrics
                print(f"interval {at[k, s]['interval']:g}, seed {s}: LSTM error {fmt(m['mfpt_max_rel_err'])}, "
                      f"MSM error {fmt(m['msm_mfpt_max_rel_err'])}")
    runs = pd.DataFrame([r for key, res in results.items() for r in scan_rows(res, at[key], space.set_names)])
    return IntervalScan(runs=runs, summary=over_seeds(runs), results=results, set_names=tuple(space.set_names),
                        dt_unit=space.dt_unit)
