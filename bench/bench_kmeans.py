"""Benchmark: k-means microstates on high-dimensional features, deeptime (CPU) vs torch (CPU, and CUDA if present).

Prints a table of wall time, Lloyd iterations and inertia (the k-means objective
at the returned centres) per backend, with the inertia ratio to deeptime's, and
writes the same as JSON to ``bench/results/kmeans.json`` (``kmeans-cuda.json`` when a GPU is present).

    python bench/bench_kmeans.py                 # 1e6 x 45 points, 100 centres
    python bench/bench_kmeans.py --n 200000      # smaller

The data are a Gaussian mixture (``--n-blobs`` random centres in ``--d``
dimensions plus unit noise, fixed seed), float32, the way features of an MD
trajectory would be stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdlstm_utils.runtime import environment_info  # noqa: E402
from mdlstm_utils.states import kmeans  # noqa: E402
from _common import result_path  # noqa: E402


def make_data(n: int, d: int, n_blobs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_blobs, d)).astype(np.float32) * 3.0
    x = rng.standard_normal(size=(n, d), dtype=np.float32)
    x += centers[rng.integers(n_blobs, size=n)]
    return x


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of points (default 1e6)")
    ap.add_argument("--d", type=int, default=45, help="dimension (default 45)")
    ap.add_argument("--k", type=int, default=100, help="number of centres (default 100)")
    ap.add_argument("--n-blobs", type=int, default=200, help="Gaussian blobs in the data (default 200)")
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=None, help="deeptime threads (default: torch.get_num_threads())")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/kmeans.json, kmeans-cuda.json with a GPU)")
    args = ap.parse_args(argv)

    x = make_data(args.n, args.d, args.n_blobs, args.seed)
    runs = [("deeptime", "cpu"), ("torch", "cpu")]
    if torch.cuda.is_available():
        runs.append(("torch", "cuda"))
    rows = []
    for backend, device in runs:
        if device == "cuda":  # warm up the CUDA context outside the timing
            kmeans(x[:10_000], 10, backend="torch", device="cuda")
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = kmeans(x, args.k, backend=backend, device=device, seed=args.seed, max_iter=args.max_iter,
                     tol=args.tol, n_jobs=args.n_jobs)
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        rows.append({"backend": backend, "device": res.device, "seconds": wall, "n_iter": res.n_iter,
                     "converged": res.converged, "inertia": res.inertia})
    ref = rows[0]["inertia"]
    for r in rows:
        r["inertia_ratio"] = r["inertia"] / ref
        r["speedup_vs_deeptime"] = rows[0]["seconds"] / r["seconds"]

    print(f"k-means: n={args.n}, d={args.d}, k={args.k}, max_iter={args.max_iter}, tol={args.tol}, "
          f"torch threads={torch.get_num_threads()}, cpu_count={os.cpu_count()}")
    header = f"{'backend':<10}{'device':<8}{'time (s)':>10}{'iters':>7}{'s/iter':>9}{'inertia':>16}{'ratio':>9}{'speedup':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        per = r["seconds"] / max(r["n_iter"], 1)
        print(f"{r['backend']:<10}{r['device']:<8}{r['seconds']:>10.2f}{r['n_iter']:>7d}{per:>9.3f}"
              f"{r['inertia']:>16.6g}{r['inertia_ratio']:>9.4f}{r['speedup_vs_deeptime']:>9.2f}")

    result = {"params": vars(args) | {"out": None}, "results": rows, "environment": environment_info("cpu")}
    out = Path(args.out) if args.out else result_path("kmeans", "cuda" if torch.cuda.is_available() else "cpu")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
