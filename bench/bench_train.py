"""Training throughput of LSTMLM: tokens/s in float32 and in bfloat16 autocast, batch x 200 frames.

    python bench/bench_train.py [--batch 1024] [--steps 20] [--device auto] [--quick]

Prints a table (each speed also as a ratio to float32 in the same run) and
writes bench/results/train.json.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from _common import print_table, write_json
from mdlstm_utils.lm.models import LSTMLM
from mdlstm_utils.runtime import resolve_device


def tokens_per_second(model, batch: int, seq: int, steps: int, amp: bool, dev) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator(device=dev).manual_seed(0)
    data = torch.randint(0, model.n_states, (batch, seq + 1), device=dev, generator=g)

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(data[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), data[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch * seq * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=200)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="small batch and few steps")
    a = ap.parse_args()
    dev = resolve_device(a.device)
    batch = a.batch or (1024 if dev.type == "cuda" and not a.quick else 64)
    steps = a.steps or (3 if a.quick else (50 if dev.type == "cuda" else 10))
    torch.manual_seed(0)
    model = LSTMLM(100, embed_dim=64, hidden_dim=256).to(dev)
    rows = []
    base = None
    for amp in (False, True):
        tps = tokens_per_second(model, batch, a.seq, steps, amp, dev)
        base = base or tps
        rows.append({"precision": "bf16 autocast" if amp else "fp32", "batch": batch, "seq": a.seq, "tokens_per_s": tps,
                     "ratio_vs_fp32": tps / base})
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print_table(f"LSTMLM training (V=100, embed 64, hidden 256) on {name}",
                ["precision", "batch", "seq", "tokens/s", "vs fp32"],
                [[r["precision"], r["batch"], r["seq"], r["tokens_per_s"], r["ratio_vs_fp32"]] for r in rows])
    print(f"written {write_json('train', dev, rows)}")


if __name__ == "__main__":
    main()
