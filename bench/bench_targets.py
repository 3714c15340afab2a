"""Training-time remedies (issue 44, items 3-4): soft training targets, measured under the evaluation protocol.

    nohup .venv/bin/python bench/bench_targets.py > /tmp/bench_targets.log 2>&1 &
    python bench/bench_targets.py --datasets 04-micro      # one data set (two processes can share the cache)
    python bench/bench_targets.py --table-only             # the tables and verdicts from the cached runs

The question: trained to predict a soft target instead of the one-hot next state alone
(:mod:`mdlstm_utils.lm.targets`), does the language model's slow process come closer to the validated MSM's?
Three models per data set and training seed, the same split, initialisation seed, budget and generation seed:

* ``plain``: the recipe (one-hot cross-entropy);
* ``good-turing``: each state's share of jumps never seen in training trained to its Good-Turing estimate
  (``target="good-turing"``; no parameter);
* ``msm-pull``: each frame's target mixed with the lag-1 MSM row of its state (``target="msm"``), the strength
  the one of :data:`~mdlstm_utils.lm.targets.PULL_GRID` whose model has the smallest validation loss (the
  held-out tail of the training trajectories, never the test part): three trainings, one kept.

Grid (fixed before the runs): the data sets and recipes of ``bench_unseen.py`` and ``bench_remedies.py`` (notebook
01's four-well bins, notebook 04's 30-D microstates and its two core sets, data seed 0), training seeds 0, 1, 2,
run in the order 04-micro, 04-core, 01-bins; plain retrained here so that every comparison is within one commit.

The rule (fixed before the runs): ``bench_remedies.py``'s rules 1-3 with these three models in place of its four
generations: per data set the mean slow-process error over the seeds and paired tests against plain and the
validated MSM; the targets of issue 44 (Markovian partitions: mean <= validated MSM's mean + mean sampling
spread; 04-micro: <= 2 x the validated MSM's mean); a target worth keeping as the default if its 04-micro mean
is below plain's and on neither Markovian partition above plain's by more than the mean spread, among those the
one meeting most targets (ties: the lower 04-micro mean).

Runs are cached one per line in ``bench/results/targets-runs.jsonl``; the record, with the grid, the rule, the
commit the runs started from and every run, goes to ``bench/results/targets.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, print_table  # noqa: E402
from bench_remedies import drive, judge  # noqa: E402
from bench_unseen import PROMPT_LEN, TRAIN, _f, _rates, _spread, dataset, write_record  # noqa: E402

from mdlstm_utils.lm import experiment  # noqa: E402
from mdlstm_utils.lm.targets import PULL_GRID  # noqa: E402
from mdlstm_utils.runtime import jsonable  # noqa: E402

DATASETS = ("04-micro", "04-core", "01-bins")
SEEDS = (0, 1, 2)
MODELS = {"plain": {}, "good-turing": {"target": "good-turing"}, "msm-pull": {"target": "msm"}}
GENS = tuple(MODELS)
CACHE = RESULTS / "targets-runs.jsonl"
OUT = RESULTS / "targets.json"
GRID = {"datasets": list(DATASETS), "markovian": ["01-bins", "04-core"], "seeds": list(SEEDS),
        "models": dict(MODELS), "pull_grid": list(PULL_GRID), "prompt_len": PROMPT_LEN,
        "train": TRAIN, "epochs": 4, "data": "as bench_unseen.py's grid",
        "validation": "the last val_fraction (0.1) of each training trajectory (what fit validates on)"}
RULE = ("bench_remedies.py's rules 1-3 with the models plain, good-turing and msm-pull in place of its generations: "
        "per data set means over seeds of the slow-process error; paired tests vs plain and vs the validated MSM; an "
        "infinite error is a failed run that makes its mean infinite. Targets: Markovian partitions (01-bins, "
        "04-core) mean <= vMSM mean + mean sampling spread; 04-micro mean <= 2 x vMSM mean. Default: a target whose "
        "04-micro mean is below plain's and whose Markovian means are not above plain's by more than the spread; "
        "among those the one meeting most targets (ties: lower 04-micro mean).")


def _one(data: tuple, seed: int, extra: dict):
    space, model_cfg, n_train = data
    return experiment.learn_and_compare(space, model=model_cfg, n_train=n_train, prompt_len=PROMPT_LEN, epochs=4,
                                        seed=seed, device="cpu", progress=False, **TRAIN, **extra)


def run(name: str, seed: int) -> dict:
    """One training seed of one data set: the three models, each under the protocol's experiment."""
    data = dataset(name)
    res, secs = {}, {}
    for g, extra in MODELS.items():
        t0 = time.perf_counter()
        res[g] = _one(data, seed, extra)
        secs[g] = time.perf_counter() - t0
    plain = res["plain"]
    slow = plain.slow
    assert all(r.split.test_frames == plain.split.test_frames for r in res.values())  # one split by the seed
    return jsonable({
        "key": f"{name}/seed{seed}", "dataset": name, "seed": seed, "n_states": data[0].n_states,
        "evaluation": plain.split.to_dict(), "validated_lag": slow.lag, "k": slow.k,
        "vmsm_validated": plain.validated.validated, "vmsm_reason": plain.validated.reason,
        "pull_choice": res["msm-pull"].metrics["target"],
        "val_loss": {g: r.metrics["val_loss"] for g, r in res.items()}, "msm_val_loss": plain.metrics["msm_val_loss"],
        "slow_error": {**{g: r.slow.error("generated") for g, r in res.items()},
                       "msm1": slow.error("MSM (lag 1)"), "vmsm": slow.error("MSM (validated)")},
        "mfpt_error": {**{g: r.comparison.mfpt_max_rel_err for g, r in res.items()},
                       "msm1": plain.baseline_comparison.mfpt_max_rel_err,
                       "vmsm": plain.metrics.get("vmsm_mfpt_max_rel_err")},
        "spread": _spread(slow),
        "timescales": {"reference": slow.timescales["reference"],
                       **{g: r.slow.timescales["generated"] for g, r in res.items()},
                       "msm1": slow.timescales["MSM (lag 1)"], "vmsm": slow.timescales["MSM (validated)"]},
        "good_turing": plain.unseen.good_turing,
        "model_unseen_mass": {g: r.unseen.model.unseen_mass for g, r in res.items()},
        "held_out": _rates(plain.unseen.held_out), "generated": {g: _rates(r.unseen.generated) for g, r in res.items()},
        "seconds": secs,
    })


def _chosen(rs: list[dict]) -> dict:
    return {"msm_pull_strength": [r["pull_choice"]["value"] for r in rs]}


def summarize(runs: list[dict]) -> tuple[list[dict], list[str]]:
    summary, verdicts = judge(runs, GENS, _chosen)
    return summary, [v.replace("generation stays", "training stays") for v in verdicts]


def tables(runs: list[dict]) -> None:
    rows = [[r["key"], r["validated_lag"], r["k"], *(_f(r["slow_error"][g]) for g in (*GENS, "msm1", "vmsm")),
             _f(r["spread"]), _f(r["pull_choice"]["value"], "g")] for r in runs]
    print_table("Slow-process error (slowest implied timescales at the validated lag, vs the test reference)",
                ["run", "lag", "k", *GENS, "MSM1", "vMSM", "spread", "pull"], rows)
    pct = lambda x: _f(None if x is None else 100 * x, ".3g")  # noqa: E731
    rows = [[r["key"], pct(r["good_turing"]), *(pct(r["model_unseen_mass"][g]) for g in GENS),
             pct(r["held_out"]["crossing_rate"]), *(pct(r["generated"][g]["crossing_rate"]) for g in GENS)]
            for r in runs]
    print_table("Per frame, %: unseen mass (Good-Turing, then each model's on the test frames) and one-frame "
                "crossings of the slowest process (test, then each model's generated trajectories)",
                ["run", "GT", *GENS, "cross test", *GENS], rows)


def write(runs: list[dict], origin: dict | None) -> Path:
    return write_record(OUT, "bench/bench_targets.py", GRID, RULE, runs, summarize, origin, len(DATASETS) * len(SEEDS))


def _line(row: dict) -> str:
    e = row["slow_error"]
    return (f"slow-process error plain {_f(e['plain'])}, good-turing {_f(e['good-turing'])}, msm-pull (strength "
            f"{row['pull_choice']['value']:g}) {_f(e['msm-pull'])}, vMSM {_f(e['vmsm'])}")


def main() -> None:
    drive(__doc__, DATASETS, SEEDS, CACHE, run, _line, tables, summarize, write, GENS)


if __name__ == "__main__":
    main()
