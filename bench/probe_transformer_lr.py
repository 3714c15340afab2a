"""A probe, not a benchmark of record: does notebook 06's Transformer verdict depend on its learning rate?

    python bench/probe_transformer_lr.py

The recipe (``TrainConfig``'s defaults, ``train.QUICK_STEPS``) was chosen by ``bench_convergence.py`` for the
LSTM. Notebook 06 trains its Transformer with the same recipe, so its verdict ("no better than the LSTM") is
only as good as that choice is for a Transformer. This trains 06's quick low-dimensional Transformer (the
four-well bins, 64 walkers x 3000 frames, 24 for training, ``d_model`` 64, windows of 50, ``QUICK_BATCH`` x
``QUICK_STEPS``) at three learning rates, one seed, and prints the slow-process error beside the MSM baseline
and the noise floor, and the validation loss beside a lag-1 MSM's. One seed: a pointer for a Transformer row in
``bench_convergence.py``, not a recipe. Writes ``bench/results/probe_transformer_lr.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table  # noqa: E402

from mdlstm_utils.data import toydata  # noqa: E402
from mdlstm_utils.lm import experiment  # noqa: E402
from mdlstm_utils.lm.train import QUICK_BATCH, QUICK_STEPS  # noqa: E402
from mdlstm_utils.runtime import environment_info  # noqa: E402
from mdlstm_utils.states import StateSpace  # noqa: E402

LRS = (6e-4, 2e-3, 6e-3)


def main() -> None:
    low = toydata.four_well(seed=0, device="cpu", n_walkers=64, n_frames=3000, progress=False)
    space = StateSpace(low.labels, low.grid.n_states, dt=low.saving_interval,
                       sets=[np.flatnonzero(low.wells == k) for k in range(low.wells.max() + 1)])
    rows = []
    for lr in LRS:
        t = time.perf_counter()
        m = experiment.learn_and_compare(space, model="transformer", n_train=24, epochs=4, d_model=64, seed=0,
                                         device="cpu", seq_len=50, batch_size=QUICK_BATCH, steps=QUICK_STEPS,
                                         lr=lr).metrics
        rows.append({"lr": lr, "slow-process error": m["mfpt_max_rel_err"], "MSM baseline": m["msm_mfpt_max_rel_err"],
                     "noise floor": m["noise_floor_mfpt_err"], "val loss": m["val_loss"],
                     "lag-1 MSM val loss": m["msm_val_loss"], "seconds": time.perf_counter() - t})
    header = list(rows[0])
    print_table("06's low-dimensional Transformer (quick data, seed 0) against the learning rate", header,
                [[r[h] for h in header] for r in rows])
    out = Path(__file__).resolve().parent / "results" / "probe_transformer_lr.json"
    out.write_text(json.dumps({"rows": rows, "environment": environment_info("cpu")}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
