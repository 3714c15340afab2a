"""Accuracy benchmark: ``mdlstm analyze`` on two systems the notebooks do not use, against their exact timescales.

deeptime's ``triple_well_2d`` and ``quadruple_well`` (2-D diffusions), each embedded in 20 dimensions with 18
fast noise coordinates (``tests/_own_systems.py``). The pipeline gets only the 20-D features and chooses
every step by its rules; the table compares the slowest relaxation time of the reference labels, of the
language model's trajectories and of the MSM baseline with the exact value from the system's generator.

    python bench/bench_analyze.py                      # quick profile, seed 0
    python bench/bench_analyze.py --profile full --seeds 0 1 2

Writes ``bench/results/analyze-<profile>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mdlstm_utils import analyze  # noqa: E402
from _common import print_table, write_json  # noqa: E402
from _own_systems import quadruple_well, triple_well  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", choices=tuple(analyze.PROFILES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (the data stay the same)")
    p.add_argument("--model", default="lstm", choices=("lstm", "transformer"))
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    rows = []
    for make in (triple_well, quadruple_well):
        sysm = make()
        inp = analyze.Inputs("features", [f"{sysm.name} {i}" for i in range(len(sysm.features))], sysm.features,
                             sysm.dt, "")
        for seed in args.seeds:
            t0 = time.perf_counter()
            a = analyze.run(inp, profile=args.profile, model=args.model, seed=seed, device=args.device, progress=False)
            m = a.metrics()
            st, lo, hi = m["slowest_timescale"], m["slowest_timescale_low"], m["slowest_timescale_high"]
            rows.append({"system": sysm.name, "profile": args.profile, "model": args.model, "seed": seed,
                         "n_macro": m["n_macro"], "lag": m["lag"], "exact": sysm.slowest_timescale,
                         **{f"{k}": st[k] for k in ("reference", "lm", "msm")},
                         **{f"{k}_low": lo[k] for k in ("reference", "lm", "msm")},
                         **{f"{k}_high": hi[k] for k in ("reference", "lm", "msm")},
                         **{f"{k}_err": st[k] / sysm.slowest_timescale - 1 for k in ("reference", "lm", "msm")},
                         "lm_mfpt_rel_err": m["verdict"]["lm_mfpt_rel_err"],
                         "msm_mfpt_rel_err": m["verdict"]["msm_mfpt_rel_err"], "seconds": time.perf_counter() - t0})
    print_table(f"slowest relaxation time vs exact ({args.profile} profile, {args.model}, 95 % intervals)",
                ["system", "seed", "states", "exact", "reference", "LM", "MSM", "ref err", "LM err", "MSM err", "s"],
                [[r["system"], r["seed"], r["n_macro"], r["exact"],
                  f"{r['reference']:.3g} [{r['reference_low']:.3g}, {r['reference_high']:.3g}]",
                  f"{r['lm']:.3g} [{r['lm_low']:.3g}, {r['lm_high']:.3g}]",
                  f"{r['msm']:.3g} [{r['msm_low']:.3g}, {r['msm_high']:.3g}]",
                  f"{r['reference_err']:+.0%}", f"{r['lm_err']:+.0%}", f"{r['msm_err']:+.0%}", f"{r['seconds']:.0f}"]
                 for r in rows])
    print(f"\nwrote {write_json(f'analyze-{args.profile}', args.device, rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
