"""The training recipe, chosen by measurement: slow-process error and validation loss against budget and learning rate.

    python bench/bench_convergence.py [--phase grid|recipe|remedies|all] [--seeds 3] [--table-only]

Data: the quick-profile data of the notebooks (seed 0), learned as the notebooks learn them with
:func:`~mdlstm_utils.lm.experiment.learn_and_compare`:

* ``four-well``: 01's 40 bins of the 1-D four-well potential (768 walkers x 2500 frames, 128 for training);
* ``toy micro`` / ``toy cores``: 04's 30-D hidden-slow toy, 100 k-means microstates and its two core sets;
* ``alanine meta``: 03's two metastable (core-set) states of alanine dipeptide on the (phi, psi) grid.

Every run records the slow-process error (largest relative MFPT error between the sets, generated vs
reference), the validation loss and a lag-1 MSM's on the same held-out frames; each data set also records the
MSM baseline's slow-process error and the noise floor (seed 0 of each).

The rule that picks the recipe, fixed before the runs (``choose``):

1. *Learning rate*: the one with the lowest mean, over data sets and over budgets >= 1000 steps, of
   ``log(error / MSM baseline's error)`` (errors are means over seeds).
2. *Budget* for the quick profiles: the smallest budget at that learning rate whose errors are, in the mean
   over data sets, no more than 1.25 times each data set's best budget's (if none is, the budget with the
   lowest mean ratio).
3. *Schedule, warm-up, batch* (phase ``recipe``, at that rate and budget): a variant of the current recipe
   (half-cosine decay, no warm-up, 32 windows of 50 frames a batch) replaces it only if its mean
   ``log(error / MSM)`` is lower by more than 0.1 (about 10 %).
4. *Remedies* (phase ``remedies``, at the chosen recipe): logits that start from a lag-1 MSM
   (``LSTMConfig(msm_prior=True)``), a loss that weighs state changes 5 times (``change_weight=5``), and both;
   judged against the plain LSTM, the MSM baseline and the noise floor.

Runs are cached in ``bench/results/convergence-runs.jsonl`` (one line per run), so an interrupted run resumes;
the summary goes to ``bench/results/convergence.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from functools import lru_cache

import numpy as np

from _common import RESULTS, cache_run, cached_runs, print_table, write_json
from mdlstm_utils.data import datasets, md, toydata
from mdlstm_utils.lm import experiment
from mdlstm_utils.lm.models import LSTMConfig
from mdlstm_utils.states import StateSpace, discretize_grid, make_grid, metastable_space, metastable_states, state_means
from mdlstm_utils.lm.train import make_windows

LRS = (2e-3, 6e-3, 2e-2)
BUDGETS = (125, 250, 500, 1000, 4000)
DATASETS = ("four-well", "toy micro", "toy cores", "alanine meta")
CACHE = RESULTS / "convergence-runs.jsonl"
BASE = dict(lr_schedule="cosine", warmup=0.0)
VARIANTS = {  # phase "recipe": changes to the current recipe (the current one is the grid run at that rate and budget)
    "cosine (current)": None,
    "cosine, 5 % warm-up": dict(warmup=0.05),
    "constant, 5 % warm-up": dict(lr_schedule="constant", warmup=0.05, patience=None),
    "cosine, batch x2": dict(batch_x=2),
}
REMEDIES = {  # the plain LSTM is the grid run at the chosen rate and budget
    "plain": None,
    "MSM prior": (dict(msm_prior=True), {}),
    "change weight 5": ({}, dict(change_weight=5.0)),
    "MSM prior + change weight 5": (dict(msm_prior=True), dict(change_weight=5.0)),
}


@lru_cache(maxsize=None)
def data(name: str) -> dict:
    """The reference state space and the notebook's learning settings of one data set."""
    if name == "four-well":
        d = toydata.four_well(768, 2500, save_every=50, n_bins=40, seed=0, progress=False)
        space = StateSpace(d.labels, d.grid.n_states, dt=d.saving_interval,
                           sets=[np.flatnonzero(d.wells == k) for k in range(4)], set_names=list("ABCD"))
        return dict(space=space, model=LSTMConfig(embed_dim=64, hidden_dim=64), kw=dict(n_train=128, prompt_len=100),
                    batch=32)
    if name.startswith("toy"):
        d = toydata.hidden_slow(64, 7500, dim=30, save_every=10, n_micro=100, kmeans_frames=100000, seed=0, progress=False)
        ms = metastable_states(d.micro, d.n_micro, 2, 20, core_threshold=0.9, order_by=d.micro_mean_s())
        if name == "toy micro":
            space = StateSpace(list(d.micro), d.n_micro, dt=d.saving_interval, sets=ms.core_sets(), set_names=["A", "B"])
        else:
            space = StateSpace(list(ms.core_labels), 2, dt=d.saving_interval, sets=[[0], [1]], set_names=["A", "B"])
        return dict(space=space, model=LSTMConfig(hidden_dim=64), kw=dict(n_train=24), batch=32)
    if name == "alanine meta":
        ds = datasets.load("alanine-dipeptide")
        pp = [md.phi_psi(t) for t in ds.trajectories]
        g = make_grid((-180.0, -180.0), (180.0, 180.0), (24, 24))
        core = md.phi_core(g.centers()[:, 0])
        grid = StateSpace([discretize_grid(p, g) for p in pp], g.n_states, dt=1.0, dt_unit="ps",
                          sets=[np.flatnonzero(core == k) for k in range(2)], set_names=["b/aR", "aL"])
        space = metastable_space(grid, "coring", n_macro=2, lag=10, core_threshold=0.9, set_names=["b/aR", "aL"],
                                 order_by=state_means(list(grid.trajs), [p[:, 0] for p in pp], grid.n_states))
        windows = make_windows(list(space.trajs), 99)
        prompt = windows[np.random.default_rng(0).choice(len(windows), size=16, replace=False)]
        return dict(space=space, model=LSTMConfig(embed_dim=64, hidden_dim=64),
                    kw=dict(prompt=prompt, gen_frames=20000), batch=32)
    raise ValueError(f"unknown data set {name!r}; known: {DATASETS}")


def _key(d, phase, variant, lr, budget, seed) -> str:
    return f"{d}|{phase}|{variant}|{lr:g}|{budget}|{seed}"


def _cache() -> dict:
    return cached_runs(CACHE)


def run_one(d: str, phase: str, variant: str, lr: float, budget: int, seed: int, *, model_changes=None,
            train_changes=None) -> dict:
    """One learn_and_compare run (cached); a variant of ``None`` settings is the grid run at ``lr`` and ``budget``."""
    key = _key(d, phase, variant, lr, budget, seed)
    if model_changes is None and train_changes is None and phase != "grid":
        grid = _cache().get(_key(d, "grid", "grid", lr, budget, seed)) or run_one(d, "grid", "grid", lr, budget, seed)
        return dict(grid, key=key, phase=phase, variant=variant)
    cached = _cache().get(key)
    if cached is not None:
        return cached
    D = data(d)
    tc = dict(BASE, **(train_changes or {}))
    batch = D["batch"] * tc.pop("batch_x", 1)
    with_baseline = phase == "grid" and budget == BUDGETS[0] and lr == LRS[0]  # MSM baseline and noise floor: once per data set and seed
    t0 = time.perf_counter()
    r = experiment.learn_and_compare(D["space"], model=D["model"].replace(**(model_changes or {})), seq_len=50,
                                     batch_size=batch, steps=budget, epochs=4, lr=lr, seed=seed, device="cpu",
                                     baseline=with_baseline, noise_pairs=20 if with_baseline else 0, **D["kw"], **tc)
    m = r.metrics
    row = {"key": key, "data": d, "phase": phase, "variant": variant, "lr": lr, "budget": budget, "seed": seed,
           "error": m["mfpt_max_rel_err"], "pop_error": m["set_pop_max_abs_err"], "val_loss": m["val_loss"],
           "msm_val_loss": m["msm_val_loss"], "loss_gap": m["loss_gap"], "train_seconds": m["train_seconds"],
           "wall_seconds": time.perf_counter() - t0,
           "msm_error": m.get("msm_mfpt_max_rel_err"), "noise_floor": m.get("noise_floor_mfpt_err")}
    _append(row)
    print(f"{key}: error {row['error']}, val loss {row['val_loss']:.5f} (MSM {row['msm_val_loss']:.5f}), "
          f"{row['train_seconds']:.0f} s", flush=True)
    return row


def _append(row: dict) -> None:
    cache_run(CACHE, row)


def _err(x) -> float:
    return math.inf if x is None else float(x)


def _mean(rows, field="error") -> tuple[float, float]:
    v = np.array([_err(r[field]) for r in rows])
    if not np.all(np.isfinite(v)):
        return math.inf, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def baselines(rows) -> dict:
    """Per data set: the MSM baseline's error and the noise floor (mean over the seeds that recorded them)."""
    out = {}
    for d in DATASETS:
        b = [r for r in rows if r["data"] == d and r.get("msm_error") is not None]
        if b:
            out[d] = {"msm_error": float(np.mean([r["msm_error"] for r in b])),
                      "noise_floor": float(np.mean([r["noise_floor"] for r in b if r["noise_floor"] is not None]))}
    return out


def choose(rows, seeds) -> dict:
    """The recipe by the rule of the module docstring, from the grid runs."""
    base = baselines(rows)
    grid = [r for r in rows if r["phase"] == "grid" and r["seed"] in seeds]
    cell = {(d, lr, b): _mean([r for r in grid if (r["data"], r["lr"], r["budget"]) == (d, lr, b)])[0]
            for d in DATASETS for lr in LRS for b in BUDGETS}
    score = {lr: float(np.mean([math.log(max(cell[d, lr, b], 1e-6) / base[d]["msm_error"])
                                for d in DATASETS for b in BUDGETS if b >= 1000])) for lr in LRS}
    lr = min(score, key=score.get)
    best = {d: min(cell[d, lr, b] for b in BUDGETS) for d in DATASETS}
    ratio = {b: float(np.mean([cell[d, lr, b] / best[d] for d in DATASETS])) for b in BUDGETS}
    within = [b for b in BUDGETS if ratio[b] <= 1.25]
    budget = min(within) if within else min(ratio, key=ratio.get)  # none within 1.25: the lowest mean ratio
    return {"lr": lr, "lr_score": score, "budget": budget, "budget_ratio_to_best": ratio}


def choose_variant(rows, seeds, base) -> dict:
    scores = {}
    for v in VARIANTS:
        vals = []
        for d in DATASETS:
            e = _mean([r for r in rows if r["phase"] == "recipe" and r["variant"] == v and r["data"] == d
                       and r["seed"] in seeds])[0]
            vals.append(math.log(max(e, 1e-6) / base[d]["msm_error"]))
        scores[v] = float(np.mean(vals))
    cur = scores["cosine (current)"]
    better = {v: s for v, s in scores.items() if s < cur - 0.1}
    return {"scores": scores, "chosen": min(better, key=better.get) if better else "cosine (current)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", default="all", choices=("grid", "recipe", "remedies", "all"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--data", nargs="*", default=list(DATASETS))
    ap.add_argument("--table-only", action="store_true", help="print and write the summary of the cached runs")
    a = ap.parse_args()
    seeds = list(range(a.seeds))
    if not a.table_only and a.phase in ("grid", "all"):
        for d in a.data:
            for seed in seeds:
                for lr in LRS:
                    for b in BUDGETS:
                        run_one(d, "grid", "grid", lr, b, seed)
    rows = list(_cache().values())
    summary = {"datasets": DATASETS, "lrs": LRS, "budgets": BUDGETS, "seeds": seeds, "baselines": baselines(rows)}
    if all(any(r["data"] == d and r["phase"] == "grid" for r in rows) for d in DATASETS):
        summary["choice"] = choice = choose(rows, seeds)
        lr, budget = choice["lr"], choice["budget"]
        if not a.table_only and a.phase in ("recipe", "all"):
            for d in a.data:
                for seed in seeds:
                    for v, ch in VARIANTS.items():
                        row = run_one(d, "recipe", v, lr, budget, seed, train_changes=ch)
                        if ch is None:
                            _append(row)
        if not a.table_only and a.phase in ("remedies", "all"):
            for d in a.data:
                for seed in seeds:
                    for v, changes in REMEDIES.items():
                        mc, tc = changes or (None, None)
                        row = run_one(d, "remedies", v, lr, budget, seed, model_changes=mc, train_changes=tc)
                        if changes is None:
                            _append(row)
        rows = list(_cache().values())
        if all(any(r["phase"] == "recipe" and r["data"] == d for r in rows) for d in DATASETS):
            summary["variant"] = choose_variant(rows, seeds, summary["baselines"])
    report(rows, seeds, summary)


def report(rows, seeds, summary) -> None:
    base = summary["baselines"]
    table = []
    for d in DATASETS:
        for lr in LRS:
            for b in BUDGETS:
                sel = [r for r in rows if r["phase"] == "grid" and (r["data"], r["lr"], r["budget"]) == (d, lr, b)
                       and r["seed"] in seeds]
                if not sel:
                    continue
                e, sd = _mean(sel)
                vl, vsd = _mean(sel, "val_loss")
                table.append({"data": d, "lr": lr, "budget": b, "n_seeds": len(sel), "error": e, "error_sd": sd,
                              "val_loss": vl, "val_loss_sd": vsd, "msm_val_loss": sel[0]["msm_val_loss"],
                              "loss_gap": _mean(sel, "loss_gap")[0], "train_seconds": _mean(sel, "train_seconds")[0],
                              "msm_error": base.get(d, {}).get("msm_error"), "noise_floor": base.get(d, {}).get("noise_floor")})
    print_table("slow-process error (mean +- sd over seeds) and validation loss against learning rate and budget",
                ["data", "lr", "steps", "seeds", "error", "sd", "val loss", "MSM val loss", "gap", "train s", "MSM err", "floor"],
                [[t["data"], t["lr"], t["budget"], t["n_seeds"], t["error"], t["error_sd"], t["val_loss"], t["msm_val_loss"],
                  t["loss_gap"], t["train_seconds"], t["msm_error"], t["noise_floor"]] for t in table])
    extra = {}
    for phase, names in (("recipe", VARIANTS), ("remedies", REMEDIES)):
        ptab = []
        for d in DATASETS:
            for v in names:
                sel = [r for r in rows if r["phase"] == phase and r["variant"] == v and r["data"] == d and r["seed"] in seeds]
                if sel:
                    e, sd = _mean(sel)
                    ptab.append({"data": d, "variant": v, "n_seeds": len(sel), "error": e, "error_sd": sd,
                                 "errors": [_err(r["error"]) for r in sel], "val_loss": _mean(sel, "val_loss")[0],
                                 "loss_gap": _mean(sel, "loss_gap")[0], "train_seconds": _mean(sel, "train_seconds")[0],
                                 "msm_error": base.get(d, {}).get("msm_error"), "noise_floor": base.get(d, {}).get("noise_floor")})
        if ptab:
            print_table(f"phase {phase}", ["data", "variant", "seeds", "error", "sd", "val loss", "gap", "train s", "MSM err", "floor"],
                        [[t["data"], t["variant"], t["n_seeds"], t["error"], t["error_sd"], t["val_loss"], t["loss_gap"],
                          t["train_seconds"], t["msm_error"], t["noise_floor"]] for t in ptab])
        extra[phase] = ptab
    if "choice" in summary:
        print("\nchoice:", json.dumps(summary["choice"], indent=1))
    if "variant" in summary:
        print("variant:", json.dumps(summary["variant"], indent=1))
    out = write_json("convergence", "cpu", [dict(summary, grid=table, **extra)])
    print(f"written {out}")


if __name__ == "__main__":
    main()
