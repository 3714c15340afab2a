"""Generation speed: LSTM by batch size, Transformer with its KV cache vs re-encoding the window.

Prints a table and writes bench/results/generate.json (generate-cuda.json on a GPU: device name, date, every row).

Rows (tokens/s = trajectories x generated frames per second of wall time):

* LSTM (V=100 states, embed 64, hidden 256): the plain per-step loop
  (``fast=False``, fp32 products) at batch 1, 64, 1024, and the fast path
  (``fast=True``: ``LSTMLM.step_function`` in blocks of 64 steps on static
  buffers, replayed as CUDA graphs on a GPU) at batch 64, 1024, 16384 (16384
  only without ``--quick``), on a GPU with fp32 and with TF32 products
  (``precision=``); the ratio is against the plain loop at batch 1 of the same run.
* Transformer (V=100, d_model 128, 4 heads, 2 layers) with context 128 and 256:
  ``generate(use_cache=True)`` (ring-buffer KV cache, one token's work per step)
  and ``generate(use_cache=False)`` (re-encode the last ``receptive_field``
  frames each step, the exact reference); the ratio is cache vs re-encode at the
  same context and batch.

Every measurement starts from a prompt that fills the model's window, so the
cache is in its sliding (steady) state, and subtracts a 1-step run, so the
prompt's prefill and the set-up are not counted:
``tokens/s = batch * n / (t(n + 1 steps) - t(1 step))``.

Usage::

    python bench/bench_generate.py            # full sizes on a GPU, --quick sizes on a CPU
    python bench/bench_generate.py --quick    # small: batches 1 and 64 for the Transformer, few steps (CPU, < 3 min)
    python bench/bench_generate.py --full     # full sizes even on a CPU
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mdlstm_utils.lm.generate import generate  # noqa: E402
from mdlstm_utils.lm.models import LSTMLM, TransformerLM  # noqa: E402
from mdlstm_utils.runtime import resolve_device  # noqa: E402
from _common import result_path  # noqa: E402

V = 100


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _run(model, prompt: np.ndarray, n_steps: int, dev, use_cache: bool, fast: bool = False, precision: str = "auto") -> float:
    _sync(dev)
    t0 = time.perf_counter()
    generate(model, n_steps, prompt=prompt, seed=0, device=dev, progress=False, use_cache=use_cache,
             chunk_size=max(n_steps, 1), fast=fast, precision=precision)
    _sync(dev)
    return time.perf_counter() - t0


def tokens_per_second(model, batch: int, n_steps: int, dev, *, use_cache: bool = True, fast: bool = False,
                      repeats: int = 1, precision: str = "auto") -> float:
    """Steady-state generated tokens per second (prefill and set-up subtracted), best of ``repeats``.

    The fast path's set-up (CUDA-graph capture of one block) is in both timed
    runs, so it is subtracted too; ``n_steps`` should be a multiple of the block.
    """
    window = getattr(model, "receptive_field", 16)
    prompt = np.random.default_rng(0).integers(0, V, size=(batch, window))
    _run(model, prompt, 2, dev, use_cache, fast, precision)  # warm-up (allocator, kernels)
    best = float("inf")
    short = 64 if fast else 1  # the fast path: one full block, so both runs capture the same graph
    for _ in range(repeats):
        t_n = _run(model, prompt, n_steps + short, dev, use_cache, fast, precision)
        t_1 = _run(model, prompt, short, dev, use_cache, fast, precision)
        best = min(best, max(t_n - t_1, 1e-9))
    return batch * n_steps / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a CPU smoke run (< 3 min); the default on a CPU")
    ap.add_argument("--full", action="store_true", help="full sizes (batch 16384 ...) even on a CPU (long)")
    ap.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per row, best kept")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/generate.json, generate-cuda.json on a GPU)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    torch.manual_seed(0)

    if args.quick and args.full:
        ap.error("--quick and --full exclude each other")
    args.quick = args.quick or (dev.type != "cuda" and not args.full)
    if args.quick:
        lstm_batches, fast_batches, tf_batches, contexts = [1, 64, 1024], [64, 1024], [1, 64], [128, 256]
        lstm_steps, cache_steps, reencode_steps = 256, 100, 8
        repeats = args.repeats or 1
    else:
        lstm_batches, fast_batches, tf_batches, contexts = [1, 64, 1024], [64, 1024, 16384], [1, 64, 1024], [128, 256]
        lstm_steps, cache_steps, reencode_steps = 2048, 1000, 50
        repeats = args.repeats or 3

    rows = []

    def add(model_name, config, batch, mode, tps, n_steps, baseline_tps, baseline_name):
        rows.append({
            "model": model_name, "config": config, "batch": batch, "mode": mode, "tokens_per_s": tps,
            "n_steps": n_steps, "ratio": tps / baseline_tps, "baseline": baseline_name,
        })
        r = rows[-1]
        print(f"{model_name:<12} {config:<22} {batch:>6} {mode:<10} {tps:>14,.0f} {r['ratio']:>8.2f}x"
              f"  vs {baseline_name}", flush=True)

    print(f"device: {dev} ({_device_name(dev)}), torch {torch.__version__}, threads {torch.get_num_threads()}"
          f"{', quick' if args.quick else ''}")
    print(f"{'model':<12} {'config':<22} {'batch':>6} {'mode':<10} {'tokens/s':>14} {'ratio':>9}")

    lstm = LSTMLM(V, embed_dim=64, hidden_dim=256)
    base = None
    # the plain loop is the exact reference (fp32 products); the fast path on a GPU in both precisions
    for b in lstm_batches:
        tps = tokens_per_second(lstm, b, lstm_steps, dev, repeats=repeats, precision="fp32")
        base = base or tps
        add("LSTM", "E64 H256", b, "state", tps, lstm_steps, base, "LSTM batch 1")
    for b in fast_batches:
        for prec in (("fp32", "tf32") if dev.type == "cuda" else ("fp32",)):
            tps = tokens_per_second(lstm, b, lstm_steps, dev, fast=True, repeats=repeats, precision=prec)
            add("LSTM", "E64 H256", b, f"fast {prec}", tps, lstm_steps, base, "LSTM batch 1")

    for ctx in contexts:
        tf = TransformerLM(V, d_model=128, n_heads=4, n_layers=2, context=ctx)
        cfg = f"d128 L2 ctx{ctx} rf{tf.receptive_field}"
        for b in tf_batches:
            slow = tokens_per_second(tf, b, reencode_steps, dev, use_cache=False, repeats=repeats)
            add("Transformer", cfg, b, "re-encode", slow, reencode_steps, slow, "re-encode")
            fast = tokens_per_second(tf, b, cache_steps, dev, use_cache=True, repeats=repeats)
            add("Transformer", cfg, b, "kv-cache", fast, cache_steps, slow, "re-encode")

    out = Path(args.out) if args.out else result_path("generate", dev)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": "generate",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(dev),
        "device_name": _device_name(dev),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "quick": bool(args.quick),
        "repeats": repeats,
        "n_states": V,
        "rows": rows,
    }
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
