"""Unseen-mass calibration at generation time (issue 44, items 3-4), measured under the evaluation protocol.

    nohup .venv/bin/python bench/bench_unseen.py > /tmp/bench_unseen.log 2>&1 &
    python bench/bench_unseen.py --table-only      # the table and verdicts from the cached runs

The question: a language model's softmax keeps far more probability on transitions it never saw in training
than the data have, and the excess crosses the barrier of the slow process. Does setting each state's unseen
mass to the Good-Turing estimate of the training counts at every generation step
(:func:`mdlstm_utils.lm.calibrate.generate_calibrated`, the model's own shape kept within the seen and within
the unseen next states) bring the model's slow process to the MSM's, with the same trained weights?

Grid (fixed before the runs; the data and recipes are the notebooks' quick ones, data seed 0):

* ``01-bins``: notebook 01's four-well bins: 768 walkers x 2500 frames, save_every 50, 40 bins, the four
  wells as sets; ``LSTMConfig(embed_dim=64, hidden_dim=64)``, ``n_train=128``, ``prompt_len=100``,
  ``epochs=4``, ``seq_len=50``, ``batch_size=QUICK_BATCH``, ``steps=QUICK_STEPS``. Markovian partition.
* ``04-micro``: notebook 04's 30-D hidden-slow toy, 64 walkers x 7500 frames, save_every 10, 100 k-means
  microstates (kmeans_frames 100000), the two PCCA+ core sets (lag 20 frames, membership 0.9, ordered by the
  mean hidden coordinate) as sets; ``LSTMConfig(hidden_dim=64)``, ``n_train=24``, ``epochs=4``, the same
  train settings. Not Markovian at lag 1.
* ``04-core``: the same toy's core-set labels (2 states, sets [[0], [1]]), the same recipe. Markovian
  partition. Run last (if time allows); on two states every jump is seen, so the calibration leaves the model
  as it is and the row measures the plain model.
* training seeds 0, 1, 2 for each (the seed decides the split, the weights and, +1, the generation seed).

Each run is :func:`~mdlstm_utils.lm.experiment.learn_and_compare` (the split by the seed, the LSTM, the lag-1
MSM and the validated MSM fitted on the training part; the reference is the test part). From the result's
model, the same prompts (the test part's first 100 frames, one per test trajectory) and the same generation
seed (``seed + 1``), trajectories are generated again with the Good-Turing calibration from the training
part (:class:`~mdlstm_utils.lm.calibrate.Calibration` default). Measured for plain (the result's own
generated trajectories) and calibrated generation, beside the lag-1 MSM and the validated MSM of the result:

* the slow-process error: ``max_j |t_j / t_j(test reference) - 1|`` over the slowest implied timescales at
  the validated MSM's lag (:func:`~mdlstm_utils.kinetics.slow_process`, ``k`` from the result);
* the largest MFPT error between the sets against the test reference (``mfpt_max_rel_err``, a separately
  named number);
* per frame: the unseen-jump rate and the one-frame crossing rate of the slowest process in generated, MSM and
  test trajectories, the model's teacher-forced unseen mass and the Good-Turing estimate;
* the sampling spread of the slow-process error: the test reference's 95 % interval of its slowest implied
  timescales, relative half-width, largest over the processes; of the MFPT error: the noise floor (median).

The rule (fixed before the runs):

1. Per data set, means over the seeds of each model's slow-process error; paired tests
   (:func:`~mdlstm_utils.kinetics.paired_test`, 95 % interval of the error ratio over seeds) of calibrated vs
   plain and calibrated vs the validated MSM, on the slow-process error and on the MFPT error. A run whose
   error is infinite (a process never resolved) counts as failed, is named, and makes its mean infinite.
2. Target on the Markovian partitions (``01-bins``, ``04-core``): the language model's mean slow-process
   error <= the validated MSM's mean + the mean sampling spread. Target on ``04-micro``: the model's mean
   slow-process error <= 2 x the validated MSM's mean. Each target is judged for plain and for calibrated
   generation, and said met or missed with the numbers and by how much.
3. The calibration is worth keeping as the default where it lowers the slow-process error (paired ratio below
   1) on 04-micro without raising it beyond the sampling spread on the Markovian partitions.

Runs are cached one per line in ``bench/results/unseen-runs.jsonl`` (an interrupted benchmark resumes); the
record, with the grid, the rule, the commit it ran from (and the package files that differed from it) and
every run, goes to ``bench/results/unseen.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, cache_run, cached_runs, print_table  # noqa: E402

from mdlstm_utils.data import toydata  # noqa: E402
from mdlstm_utils.kinetics import comparison, paired_test, slow_process  # noqa: E402
from mdlstm_utils.lm import experiment  # noqa: E402
from mdlstm_utils.lm.calibrate import Calibration, generate_calibrated, unseen_calibrator  # noqa: E402
from mdlstm_utils.lm.models import LSTMConfig  # noqa: E402
from mdlstm_utils.lm.train import QUICK_BATCH, QUICK_STEPS  # noqa: E402
from mdlstm_utils.lm.unseen import seen_transitions, transition_rates  # noqa: E402
from mdlstm_utils.runtime import environment_info, jsonable  # noqa: E402
from mdlstm_utils.states import StateSpace, metastable_states  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("01-bins", "04-micro", "04-core")
MARKOVIAN = ("01-bins", "04-core")
SEEDS = (0, 1, 2)
PROMPT_LEN = 100
CACHE = RESULTS / "unseen-runs.jsonl"
OUT = RESULTS / "unseen.json"
TRAIN = dict(seq_len=50, batch_size=QUICK_BATCH, steps=QUICK_STEPS)
GRID = {"datasets": list(DATASETS), "markovian": list(MARKOVIAN), "seeds": list(SEEDS), "prompt_len": PROMPT_LEN,
        "train": TRAIN, "epochs": 4, "calibration": Calibration().to_dict(),
        "01-bins": "four_well(768, 2500, save_every=50, n_bins=40, seed=0); LSTMConfig(embed_dim=64, hidden_dim=64); "
                   "n_train=128",
        "04-micro": "hidden_slow(64, 7500, dim=30, save_every=10, n_micro=100, kmeans_frames=100000, seed=0); "
                    "core sets of metastable_states(lag 20, core_threshold 0.9); LSTMConfig(hidden_dim=64); n_train=24",
        "04-core": "the same toy's core-set labels, sets [[0], [1]]; LSTMConfig(hidden_dim=64); n_train=24"}
RULE = ("per data set, means over seeds of the slow-process error (max |t_j / t_j(test) - 1| over the slowest "
        "implied timescales at the validated MSM's lag); paired tests calibrated vs plain and calibrated vs validated "
        "MSM (slow-process and MFPT errors); a run with an infinite error is failed, named, and makes its mean "
        "infinite. Markovian partitions (01-bins, 04-core): met if the LM's mean slow-process error <= validated "
        "MSM's mean + mean sampling spread (test reference's 95 % interval of its slowest implied timescales, relative "
        "half-width, largest over processes). 04-micro: met if the LM's mean <= 2 x validated MSM's mean. Judged for "
        "plain and for calibrated generation. Calibration kept as default if it lowers the error on 04-micro (paired "
        "ratio < 1) without raising it beyond the sampling spread on the Markovian partitions.")


def _space(labels, n_states, dt_, sets, names) -> StateSpace:
    return StateSpace(list(labels), n_states, dt=dt_, sets=[np.asarray(s) for s in sets], set_names=names)


@lru_cache(maxsize=None)
def _toy04():
    data = toydata.hidden_slow(64, 7500, dim=30, save_every=10, n_micro=100, kmeans_frames=100000, seed=0,
                               device="cpu", progress=False)
    ms = metastable_states(data.micro, data.n_micro, 2, 20, core_threshold=0.9, order_by=data.micro_mean_s())
    return data, ms


@lru_cache(maxsize=None)
def dataset(name: str) -> tuple[StateSpace, LSTMConfig, int]:
    """``(state space, model config, n_train)`` of data set ``name`` (see the grid)."""
    if name == "01-bins":
        d = toydata.four_well(768, 2500, save_every=50, n_bins=40, seed=0, device="cpu", progress=False)
        sets = [np.flatnonzero(d.wells == k) for k in range(4)]
        return (_space(d.labels, d.grid.n_states, toydata.DT * 50, sets, ["A", "B", "C", "D"]),
                LSTMConfig(embed_dim=64, hidden_dim=64), 128)
    data, ms = _toy04()
    tau = toydata.DT * 10
    if name == "04-micro":
        return _space(data.micro, data.n_micro, tau, ms.core_sets(), ["A", "B"]), LSTMConfig(hidden_dim=64), 24
    if name == "04-core":
        return _space(ms.core_labels, 2, tau, [[0], [1]], ["A", "B"]), LSTMConfig(hidden_dim=64), 24
    raise ValueError(f"unknown data set {name!r}; known: {DATASETS}")


def _spread(slow) -> float:
    """The test reference's 95 % interval of its slowest implied timescales, relative half-width, largest over the
    processes: how far an estimate from test data of this size scatters."""
    t, lo, hi = (np.asarray(d["reference"], dtype=float) for d in (slow.timescales, slow.low, slow.high))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = (hi - lo) / (2.0 * t)
    half = half[np.isfinite(half)]
    return float(half.max()) if half.size else float("nan")


def _rates(r) -> dict:
    return {"unseen_rate": r.unseen_rate, "n_unseen": r.n_unseen, "crossing_rate": r.crossing_rate,
            "n_crossings": r.n_crossings, "n_pairs": r.n_pairs, "unseen_crossing_share": r.unseen_crossing_share}


def run(name: str, seed: int) -> dict:
    """One training seed of one data set: the protocol's experiment, then calibrated generation from its model."""
    space, model_cfg, n_train = dataset(name)
    t0 = time.perf_counter()
    res = experiment.learn_and_compare(space, model=model_cfg, n_train=n_train, prompt_len=PROMPT_LEN, epochs=4,
                                       seed=seed, device="cpu", progress=False, **TRAIN)
    t1 = time.perf_counter()
    test, train = res.split.test, res.split.train
    prompt = np.stack([t[:PROMPT_LEN] for t in test])  # what learn_and_compare prompted with (one per test traj)
    frames = max(len(t) for t in test)
    cal = unseen_calibrator(train, space.n_states)
    gen = generate_calibrated(res.model, frames, train=train, prompt=prompt, seed=seed + 1, device="cpu",
                              progress=False)
    t2 = time.perf_counter()
    cmp = comparison(test, gen, n_states=space.n_states, sets=space.sets, set_names=space.set_names, dt=space.dt)
    slow = res.slow
    cal_slow = slow_process(test, n_states=space.n_states, lag=slow.lag, dt=slow.dt, k=slow.k,
                            others={"calibrated": gen}, n_samples=100, seed=seed + 5)
    seen = seen_transitions(train, space.n_states)
    u = res.unseen
    errors = {"plain": slow.error("generated"), "calibrated": cal_slow.error("calibrated"),
              "msm1": slow.error("MSM (lag 1)"), "vmsm": slow.error("MSM (validated)")}
    mfpt = {"plain": res.comparison.mfpt_max_rel_err, "calibrated": cmp.mfpt_max_rel_err,
            "msm1": res.baseline_comparison.mfpt_max_rel_err, "vmsm": res.metrics.get("vmsm_mfpt_max_rel_err")}
    return jsonable({
        "key": f"{name}/seed{seed}", "dataset": name, "seed": seed, "n_states": space.n_states,
        "evaluation": res.split.to_dict(), "val_loss": res.metrics["val_loss"],
        "msm_val_loss": res.metrics["msm_val_loss"], "validated_lag": slow.lag, "k": slow.k,
        "vmsm_validated": res.validated.validated, "vmsm_reason": res.validated.reason,
        "slow_error": errors, "mfpt_error": mfpt,
        "spread": _spread(slow), "noise_floor_mfpt": res.noise_floor.mfpt_err,
        # the reference measured again beside the calibrated trajectories: the same numbers (same seed), a check
        "reference_check": {"timescales": cal_slow.timescales["reference"], "spread": _spread(cal_slow)},
        "timescales": {"reference": slow.timescales["reference"], "plain": slow.timescales["generated"],
                       "calibrated": cal_slow.timescales["calibrated"], "msm1": slow.timescales["MSM (lag 1)"],
                       "vmsm": slow.timescales["MSM (validated)"]},
        "mfpt_ref": res.comparison.mfpt_ref, "mfpt_plain": res.comparison.mfpt_gen, "mfpt_calibrated": cmp.mfpt_gen,
        "good_turing": u.good_turing, "calibration_target_per_frame": cal.target_per_frame if cal else None,
        "model_unseen_mass": u.model.unseen_mass, "model_unseen_crossing_mass": u.model.unseen_crossing_mass,
        "held_out": _rates(u.held_out), "generated_plain": _rates(u.generated),
        "generated_calibrated": _rates(transition_rates(gen, seen, u.sides, name="calibrated")),
        "msm1_rates": _rates(u.msm) if u.msm is not None else None,
        "train_seconds": res.metrics["train_seconds"], "learn_seconds": t1 - t0, "calibrated_seconds": t2 - t1,
    })


def _mean(values) -> float:
    v = np.array([np.inf if x is None else x for x in values], dtype=float)
    return float(np.mean(v)) if v.size else float("nan")


def summarize(runs: list[dict]) -> tuple[list[dict], list[str]]:
    """Per data set: means, paired tests and the target verdicts of the rule."""
    summary, verdicts = [], []
    for name in DATASETS:
        rs = sorted((r for r in runs if r["dataset"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        e = {m: [r["slow_error"][m] for r in rs] for m in ("plain", "calibrated", "msm1", "vmsm")}
        f = {m: [r["mfpt_error"][m] for r in rs] for m in ("plain", "calibrated", "msm1", "vmsm")}
        mean = {m: _mean(v) for m, v in e.items()}
        spread = _mean([r["spread"] for r in rs])
        tests = {f"{a} vs {b} ({metric})": paired_test(src[a], src[b], names=(a, b)).to_dict()
                 for metric, src in (("slow", e), ("mfpt", f)) for a, b in (("calibrated", "plain"),
                                                                              ("calibrated", "vmsm"))}
        row = {"dataset": name, "seeds": [r["seed"] for r in rs], "mean_slow_error": mean,
               "mean_mfpt_error": {m: _mean(v) for m, v in f.items()}, "mean_spread": spread,
               "mean_noise_floor_mfpt": _mean([r["noise_floor_mfpt"] for r in rs]), "paired": tests}
        for model in ("plain", "calibrated"):
            if name in MARKOVIAN:
                bound, how = mean["vmsm"] + spread, "validated MSM + spread"
            else:
                bound, how = 2 * mean["vmsm"], "2 x validated MSM"
            met = bool(mean[model] <= bound)
            row[f"target_{model}"] = {"bound": bound, "rule": how, "error": mean[model], "met": met,
                                      "by": mean[model] - bound}
            verdicts.append(f"{name}, {model}: mean slow-process error {mean[model]:.3f} vs bound {bound:.3f} ({how}: "
                            f"vMSM {mean['vmsm']:.3f}" + (f", spread {spread:.3f}" if name in MARKOVIAN else "")
                            + f") -> {'met' if met else 'MISSED by ' + format(mean[model] - bound, '.3f')}"
                            + f" [{len(rs)} seeds]")
        for key in ("calibrated vs plain (slow)", "calibrated vs vmsm (slow)"):
            verdicts.append(f"{name}: {tests[key]['verdict']}")
        summary.append(row)
    return summary, verdicts


def _f(x, fmt=".3f"):
    return "inf" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def tables(runs: list[dict]) -> None:
    rows = [[r["key"], r["validated_lag"], r["k"], _f(r["slow_error"]["plain"]), _f(r["slow_error"]["calibrated"]),
             _f(r["slow_error"]["msm1"]), _f(r["slow_error"]["vmsm"]), _f(r["spread"]),
             _f(r["mfpt_error"]["plain"]), _f(r["mfpt_error"]["calibrated"]), _f(r["mfpt_error"]["msm1"]),
             _f(r["mfpt_error"]["vmsm"]), _f(r["noise_floor_mfpt"])] for r in runs]
    print_table("Slow-process error (slowest implied timescales at the validated lag, vs the test reference) and "
                "largest MFPT error", ["run", "lag", "k", "ITS plain", "ITS calib", "ITS MSM1", "ITS vMSM", "spread",
                                       "MFPT plain", "MFPT calib", "MFPT MSM1", "MFPT vMSM", "floor"], rows)
    pct = lambda x: _f(None if x is None else 100 * x, ".3g")  # noqa: E731
    rows = [[r["key"], pct(r["held_out"]["unseen_rate"]), pct(r["good_turing"]), pct(r["model_unseen_mass"]),
             pct(r["generated_plain"]["unseen_rate"]), pct(r["generated_calibrated"]["unseen_rate"]),
             pct(r["msm1_rates"]["unseen_rate"] if r["msm1_rates"] else None),
             pct(r["held_out"]["crossing_rate"]), pct(r["generated_plain"]["crossing_rate"]),
             pct(r["generated_calibrated"]["crossing_rate"]),
             pct(r["msm1_rates"]["crossing_rate"] if r["msm1_rates"] else None)] for r in runs]
    print_table("Per frame, %: unseen jumps (held-out, Good-Turing, model teacher-forced, generated plain / "
                "calibrated, lag-1 MSM) and one-frame crossings of the slowest process",
                ["run", "unseen test", "GT", "model", "gen plain", "gen calib", "MSM1", "cross test", "cross plain",
                 "cross calib", "cross MSM1"], rows)


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip("\n")


def _origin() -> dict:
    """The code the runs import: HEAD and the package and bench files that differ from it, read when the runs start
    (the modules are imported then; commits made by others while they run do not change them)."""
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", "mdlstm_utils", "bench").splitlines()
             if not line[3:].startswith("bench/results")]
    return {"started": dt.datetime.now().isoformat(timespec="seconds"), "commit": _git("rev-parse", "HEAD"),
            "files_differing_from_commit": dirty, "environment": environment_info("cpu")}


def write_record(out: Path, benchmark: str, grid: dict, rule: str, runs: list[dict], summarize_runs, origin: dict | None,
                 n_expected: int) -> Path:
    """Write a benchmark's record to ``out``: its grid, rule, origin, summary and verdicts (``summarize_runs(runs)``)
    and runs; ``origin=None`` (``--table-only``) keeps the origin of the file's runs."""
    summary, verdicts = summarize_runs(runs)
    if origin is None:
        old = json.loads(out.read_text()) if out.is_file() else {}
        origin = {k: old[k] for k in ("started", "commit", "files_differing_from_commit", "commit_note",
                                      "environment") if k in old} or _origin()
    record = {"benchmark": benchmark, "grid": grid, "rule": rule, **origin,
              "written": dt.datetime.now().isoformat(timespec="seconds"),
              "complete": len(runs) == n_expected, "summary": summary, "verdicts": verdicts, "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(jsonable(record), indent=2))
    return out


def write(runs: list[dict], origin: dict | None) -> Path:
    """Write the record; ``origin=None`` (``--table-only``) keeps the origin of the file's runs."""
    return write_record(OUT, "bench/bench_unseen.py", GRID, RULE, runs, summarize, origin, len(DATASETS) * len(SEEDS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-only", action="store_true", help="print the table and verdicts from the cached runs")
    args = ap.parse_args()
    origin = None if args.table_only else _origin()
    grid = [(name, seed) for name in DATASETS for seed in SEEDS]
    if not args.table_only:
        for name, seed in grid:
            key = f"{name}/seed{seed}"
            if key in cached_runs(CACHE):
                continue
            t0 = time.perf_counter()
            row = run(name, seed)
            cache_run(CACHE, row)
            print(f"[{dt.datetime.now():%H:%M:%S}] {key}: slow-process error plain {_f(row['slow_error']['plain'])}, "
                  f"calibrated {_f(row['slow_error']['calibrated'])}, vMSM {_f(row['slow_error']['vmsm'])} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            done = [r for k, r in cached_runs(CACHE).items() if k in {f"{n}/seed{s}" for n, s in grid}]
            write(sorted(done, key=lambda r: (DATASETS.index(r["dataset"]), r["seed"])), origin)
    cache = cached_runs(CACHE)
    runs = [cache[f"{n}/seed{s}"] for n, s in grid if f"{n}/seed{s}" in cache]
    tables(runs)
    summary, verdicts = summarize(runs)
    print_table("Means over seeds", ["data set", "ITS plain", "ITS calib", "ITS MSM1", "ITS vMSM", "spread",
                                     "MFPT plain", "MFPT calib", "MFPT vMSM"],
                [[s["dataset"], _f(s["mean_slow_error"]["plain"]), _f(s["mean_slow_error"]["calibrated"]),
                  _f(s["mean_slow_error"]["msm1"]), _f(s["mean_slow_error"]["vmsm"]), _f(s["mean_spread"]),
                  _f(s["mean_mfpt_error"]["plain"]), _f(s["mean_mfpt_error"]["calibrated"]),
                  _f(s["mean_mfpt_error"]["vmsm"])] for s in summary])
    print("\nVerdicts:")
    for v in verdicts:
        print(" ", v)
    if runs:
        print(f"\nwritten {write(runs, origin)}")


if __name__ == "__main__":
    main()
