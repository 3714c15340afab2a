"""The Python part of ``bench/gpu_check.sh`` (issue 48, item 6): one subcommand per step of the GPU check.

Run the shell script, not this file: it calls the steps in order with their time budgets::

    bash bench/gpu_check.sh            # on a lent H100/H200 (< 8 min), then commit bench/results/gpu-*.json
    bash bench/gpu_check.sh --dry-run  # every step at toy size on the CPU (< 2 min), JSON into a temp dir

Subcommands (each prints the device, a table, and writes ``<out-dir>/gpu-<step>.json``; without ``--dry-run``
and with no CUDA device each exits 2 before it measures anything):

``lstm-generate``
    LSTM generation throughput (V=100, embed 64, hidden 256, as in ``bench_generate.py``) at 16 384
    trajectories: the fast path (``generate(fast=True)``: CUDA graphs of 64-step blocks) in fp32 and in TF32
    (``precision="tf32"``: ``torch.set_float32_matmul_precision("high")`` while generating), and the plain
    per-step loop in fp32 as the reference.
``transformer``
    Transformer (d_model 128, 4 heads, 2 layers, context 128, as in ``bench_generate.py``) with its KV cache
    (``generate(use_cache=True)``) and without it (``use_cache=False``: re-encode the window every step) at
    batch 1, 64 and 1024.
``train``
    LSTM training tokens/s: ``bench_train.py``'s loop (batch 1024 x 200 frames) in fp32, TF32 and bfloat16
    autocast, and the package's own ``mdlstm_utils.lm.train.fit`` with the quick recipe's batch (64 windows
    of 50 frames, validation included).
``suite``
    The notebooks' quick profile on the GPU (``python -m mdlstm_utils.report.sweep suite --profile quick
    --device cuda``) within the time left, into ``runs/gpu-check-quick/`` (``--resume`` continues a cut-off
    run there). With ``--dry-run`` the tutorial notebooks are not run (their smoke profile takes more than
    60 s per notebook on 2 loaded cores: 01, the quickest, took 98 s): the same runner executes a stand-in
    notebook written to a temporary folder (parameters cell, a matrix product on the device, ``metrics.json``),
    which checks the runner, the kernel and the ``--device`` plumbing. ``GPU_CHECK_DRY_NOTEBOOK=01`` runs that
    tutorial notebook's smoke profile instead.

Timing: one warm-up run first; ``torch.cuda.synchronize()`` before and after every timed region on CUDA
(``bench_generate.tokens_per_second`` and ``bench_train.tokens_per_second``, reused here). Generation
tokens/s subtract a short run, so prefill and set-up are not counted (see ``bench_generate.py``). Each step
has a budget (``--budget`` seconds): it stops repeating, then skips its remaining rows (listed in the
JSON's ``skipped``) once the budget is used up.

Each JSON holds ``device`` (``torch.cuda.get_device_name`` or ``"cpu"``), ``torch``, ``commit`` (``git
rev-parse HEAD``), ``commit_dirty``, ``dry_run``, ``settings``, ``rows`` (the measurements) and
``elapsed_s``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import print_table  # noqa: E402

V = 100  # states; bench_generate's prompts draw from range(V)

# sizes: the GPU check, and the dry run's toy sizes on the CPU
SIZES = {
    "gpu": {
        "lstm": {"embed_dim": 64, "hidden_dim": 256}, "lstm_batch": 16384, "lstm_steps": 2048, "lstm_repeats": 3,
        "tf": {"d_model": 128, "n_heads": 4, "n_layers": 2, "context": 128}, "tf_batches": [1, 64, 1024],
        "cache_steps": 1000, "reencode_steps": 50, "tf_repeats": 3,
        "train_batch": 1024, "train_seq": 200, "train_steps": 50,
        "fit_steps": 300, "fit_traj": (8, 20000),
    },
    "dry": {  # toy sizes: the whole dry run in well under 2 min on 2 loaded cores
        "lstm": {"embed_dim": 16, "hidden_dim": 32}, "lstm_batch": 64, "lstm_steps": 64, "lstm_repeats": 1,
        "tf": {"d_model": 32, "n_heads": 2, "n_layers": 1, "context": 16}, "tf_batches": [1, 4, 16],
        "cache_steps": 16, "reencode_steps": 4, "tf_repeats": 1,
        "train_batch": 8, "train_seq": 50, "train_steps": 3,
        "fit_steps": 8, "fit_traj": (2, 2000),
    },
}


# ----------------------------------------------------------------------------------------------- common


def git_commit() -> tuple[str | None, bool | None]:
    """``git rev-parse HEAD`` of the checkout and whether tracked code (package, bench, notebooks) differs from it."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "mdlstm_utils", "bench",
                             "notebooks", "data", "pyproject.toml", "requirements.txt"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if sha.returncode != 0:
        return None, None
    return sha.stdout.strip() or None, (bool(st.stdout.strip()) if st.returncode == 0 else None)


def pick_device(dry_run: bool) -> torch.device:
    """The CPU for a dry run (one torch thread: on 2 loaded cores two threads spin and run 50x slower);
    otherwise the first CUDA device, or exit 2 when there is none. Prints the device, torch and the commit."""
    if dry_run:
        torch.set_num_threads(1)
        dev = torch.device("cpu")
    elif not torch.cuda.is_available():
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        print("gpu_check: no CUDA device: torch.cuda.is_available() is False "
              f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}"
              f"{', CUDA_VISIBLE_DEVICES=' + repr(cvd) if cvd is not None else ''}). "
              "Run this on a machine with an NVIDIA GPU, or use --dry-run for the toy-size check on the CPU.",
              file=sys.stderr)
        raise SystemExit(2)
    else:
        dev = torch.device("cuda:0")
    commit, dirty = git_commit()
    extra = ""
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        extra = f", {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}, CUDA {torch.version.cuda}"
    print(f"device {device_name(dev)}{extra}{' (dry run: toy sizes)' if dry_run else ''}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU thread(s); commit {commit}{' (dirty)' if dirty else ''}", flush=True)
    return dev


def device_name(dev: torch.device) -> str:
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Budget:
    """Seconds since the step started, against its budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def used(self, fraction: float = 1.0) -> bool:
        return self.elapsed() >= fraction * self.seconds


def write_record(step: str, args, dev: torch.device, settings: dict, rows: list[dict], budget: Budget,
                 skipped: list[str], extra: dict | None = None) -> Path:
    commit, dirty = git_commit()
    record = {
        "check": "gpu_check",
        "step": step,
        "dry_run": bool(args.dry_run),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device_name(dev),
        "device_type": dev.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "commit": commit,
        "commit_dirty": dirty,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "budget_s": budget.seconds,
        "elapsed_s": round(budget.elapsed(), 2),
        "settings": settings,
        "rows": rows,
        "skipped": skipped,
        **(extra or {}),
    }
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"gpu-{step}.json"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out} ({budget.elapsed():.1f} s of a {budget.seconds:.0f} s budget)")
    return out


def best_of(measure, repeats: int, budget: Budget) -> tuple[float, int]:
    """Best of up to ``repeats`` calls of ``measure()`` (tokens/s); stops repeating past 60 % of the budget."""
    best, done = 0.0, 0
    for _ in range(repeats):
        best = max(best, measure())
        done += 1
        if budget.used(0.6):
            break
    return best, done


class precision_flags:
    """fp32 or TF32 for every float32 product on CUDA: matmuls (``set_float32_matmul_precision``) and cuDNN
    (``torch.backends.cudnn.allow_tf32``, which cuDNN's LSTM reads; it is on by default in torch). Restored after."""

    def __init__(self, precision: str, dev: torch.device) -> None:
        self.tf32 = precision == "tf32" and dev.type == "cuda"

    def __enter__(self):
        self.before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
        torch.set_float32_matmul_precision("high" if self.tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = self.tf32
        return self

    def __exit__(self, *exc):
        torch.set_float32_matmul_precision(self.before[0])
        torch.backends.cudnn.allow_tf32 = self.before[1]


# ----------------------------------------------------------------------------------------------- steps


def step_lstm_generate(args) -> int:
    from bench_generate import tokens_per_second
    from mdlstm_utils.lm.models import LSTMConfig

    dev = pick_device(args.dry_run)
    s = SIZES["dry" if args.dry_run else "gpu"]
    budget = Budget(args.budget)
    torch.manual_seed(0)
    model = LSTMConfig(**s["lstm"]).build(V).to(dev).eval()
    batch, n = s["lstm_batch"], s["lstm_steps"]
    plan = [("plain loop", False, "fp32"), ("fast", True, "fp32"), ("fast", True, "tf32")]
    rows, skipped = [], []
    for mode, fast, prec in plan:
        label = f"{mode} {prec}"
        if prec == "tf32" and dev.type != "cuda":
            skipped.append(f"{label}: TF32 needs a CUDA device")
            continue
        if budget.used(0.8):
            skipped.append(f"{label}: step budget used up")
            continue
        tps, done = best_of(lambda: tokens_per_second(model, batch, n, dev, use_cache=True, fast=fast, repeats=1,
                                                      precision=prec), s["lstm_repeats"], budget)
        rows.append({"model": "LSTM", "mode": mode, "precision": prec, "batch": batch, "n_steps": n,
                     "repeats": done, "tokens_per_s": tps})
    base = rows[0]["tokens_per_s"] if rows else None
    for r in rows:
        r["vs_plain_fp32"] = r["tokens_per_s"] / base if base else None
    print_table(f"LSTM generation (V={V}, embed {s['lstm']['embed_dim']}, hidden {s['lstm']['hidden_dim']}) on "
                f"{device_name(dev)}: {batch} trajectories x {n} frames",
                ["mode", "precision", "batch", "repeats", "tokens/s", "vs plain fp32"],
                [[r["mode"], r["precision"], r["batch"], r["repeats"], r["tokens_per_s"], r["vs_plain_fp32"]] for r in rows])
    for line in skipped:
        print(f"  skipped: {line}")
    settings = {"n_states": V, "model": {"kind": "LSTMLM", **s["lstm"]}, "batch": batch, "n_steps": n,
                "block": 64, "repeats": s["lstm_repeats"],
                "tf32": "precision='tf32': torch.set_float32_matmul_precision('high') while generating",
                "timing": "bench_generate.tokens_per_second: warm-up, synchronize, t(n+short) - t(short), best of repeats"}
    write_record("lstm-generate", args, dev, settings, rows, budget, skipped)
    return 0


def step_transformer(args) -> int:
    from bench_generate import tokens_per_second
    from mdlstm_utils.lm.models import TransformerConfig

    dev = pick_device(args.dry_run)
    s = SIZES["dry" if args.dry_run else "gpu"]
    budget = Budget(args.budget)
    torch.manual_seed(0)
    model = TransformerConfig(**s["tf"]).build(V).to(dev).eval()
    rows, skipped = [], []
    for b in s["tf_batches"]:
        pair = {}
        for use_cache, n in ((False, s["reencode_steps"]), (True, s["cache_steps"])):
            mode = "kv-cache" if use_cache else "re-encode"
            if budget.used(0.8):
                skipped.append(f"batch {b} {mode}: step budget used up")
                continue
            tps, done = best_of(lambda: tokens_per_second(model, b, n, dev, use_cache=use_cache, repeats=1,
                                                          precision="fp32"), s["tf_repeats"], budget)
            pair[mode] = {"model": "Transformer", "mode": mode, "batch": b, "n_steps": n, "repeats": done,
                          "tokens_per_s": tps}
            rows.append(pair[mode])
        if len(pair) == 2:
            pair["kv-cache"]["cache_vs_reencode"] = pair["kv-cache"]["tokens_per_s"] / pair["re-encode"]["tokens_per_s"]
    cfg = s["tf"]
    print_table(f"Transformer generation (V={V}, d_model {cfg['d_model']}, {cfg['n_heads']} heads, {cfg['n_layers']} "
                f"layers, context {cfg['context']}, window {model.receptive_field}) on {device_name(dev)}",
                ["mode", "batch", "steps", "repeats", "tokens/s", "cache vs re-encode"],
                [[r["mode"], r["batch"], r["n_steps"], r["repeats"], r["tokens_per_s"], r.get("cache_vs_reencode", "")]
                 for r in rows])
    for line in skipped:
        print(f"  skipped: {line}")
    settings = {"n_states": V, "model": {"kind": "TransformerLM", **cfg}, "receptive_field": model.receptive_field,
                "batches": s["tf_batches"], "cache_steps": s["cache_steps"], "reencode_steps": s["reencode_steps"],
                "repeats": s["tf_repeats"], "precision": "fp32",
                "prompt": "receptive_field frames, so the cache is in its sliding state",
                "timing": "bench_generate.tokens_per_second: warm-up, synchronize, t(n+1) - t(1), best of repeats"}
    write_record("transformer", args, dev, settings, rows, budget, skipped)
    return 0


def step_train(args) -> int:
    from bench_train import tokens_per_second
    from mdlstm_utils.lm.models import LSTMConfig
    from mdlstm_utils.lm.train import QUICK_BATCH, TrainConfig, fit

    dev = pick_device(args.dry_run)
    s = SIZES["dry" if args.dry_run else "gpu"]
    budget = Budget(args.budget)
    rows, skipped = [], []
    batch, seq, steps = s["train_batch"], s["train_seq"], s["train_steps"]
    for prec, amp in (("fp32", False), ("tf32", False), ("bf16 autocast", True)):
        if prec == "tf32" and dev.type != "cuda":
            skipped.append("loop tf32: TF32 needs a CUDA device")
            continue
        if budget.used(0.7):
            skipped.append(f"loop {prec}: step budget used up")
            continue
        torch.manual_seed(0)
        model = LSTMConfig(**s["lstm"]).build(V).to(dev)
        try:
            with precision_flags(prec, dev):
                tps = tokens_per_second(model, batch, seq, steps, amp, dev)
        except RuntimeError as exc:
            if not (amp and dev.type == "cpu"):
                raise
            # oneDNN on some CPUs has no bfloat16 LSTM ("could not create a primitive descriptor")
            skipped.append(f"loop {prec}: not supported on this CPU: {str(exc).splitlines()[0][:120]}")
            continue
        rows.append({"loop": "bench_train", "precision": prec, "batch": batch, "seq": seq, "steps": steps,
                     "tokens_per_s": tps})
    # the package's own loop with the quick recipe's batch: windows, AdamW, cosine schedule, validation each epoch
    n_traj, length = s["fit_traj"]
    data = list(np.random.default_rng(0).integers(0, V, size=(n_traj, length)))
    cfg = TrainConfig(seq_len=50, batch_size=QUICK_BATCH, steps=s["fit_steps"], epochs=2)
    if budget.used(0.7):
        skipped.append("fit fp32: step budget used up")
    else:
        with precision_flags("fp32", dev):
            fit(LSTMConfig(**s["lstm"]).build(V), data, config=cfg.replace(steps=2, epochs=1), device=dev,
                progress=False)  # warm-up (CUDA context, cuDNN plans)
            sync(dev)
            torch.manual_seed(0)
            res = fit(LSTMConfig(**s["lstm"]).build(V), data, config=cfg, device=dev, progress=False)
            sync(dev)
        rows.append({"loop": "lm.train.fit", "precision": "fp32", "batch": cfg.batch_size, "seq": cfg.seq_len,
                     "steps": cfg.steps, "tokens_per_s": res.tokens_per_second, "train_seconds": res.train_seconds})
    base = rows[0]["tokens_per_s"] if rows else None
    for r in rows:
        r["vs_loop_fp32"] = r["tokens_per_s"] / base if base else None
    print_table(f"LSTM training (V={V}, embed {s['lstm']['embed_dim']}, hidden {s['lstm']['hidden_dim']}) on "
                f"{device_name(dev)}", ["loop", "precision", "batch", "seq", "steps", "tokens/s", "vs loop fp32"],
                [[r["loop"], r["precision"], r["batch"], r["seq"], r["steps"], r["tokens_per_s"], r["vs_loop_fp32"]]
                 for r in rows])
    for line in skipped:
        print(f"  skipped: {line}")
    settings = {"n_states": V, "model": {"kind": "LSTMLM", **s["lstm"]},
                "loop": "bench_train.tokens_per_second: AdamW, 2 warm-up steps, synchronize, steps timed",
                "fp32": "matmul precision 'highest' and torch.backends.cudnn.allow_tf32=False (cuDNN's LSTM uses "
                        "TF32 by default; bench/results/train-cuda.json's fp32 row ran with that default)",
                "tf32": "matmul precision 'high' and torch.backends.cudnn.allow_tf32=True",
                "fit": {"seq_len": cfg.seq_len, "batch_size": cfg.batch_size, "steps": cfg.steps, "epochs": cfg.epochs,
                        "data": f"{n_traj} random label trajectories of {length} frames", "amp": cfg.amp,
                        "tokens_per_s": "TrainResult.tokens_per_second: training tokens over the wall time of fit, "
                                        "validation included; after a 2-step warm-up fit"}}
    write_record("train", args, dev, settings, rows, budget, skipped)
    return 0


STANDIN = [
    ("parameters", 'profile = "quick"\ndevice = "auto"\nseed = 0\nout_dir = "."'),
    (None, "import json, time\nfrom pathlib import Path\nimport torch\nfrom mdlstm_utils.runtime import resolve_device\n"
           "dev = resolve_device(device)\ntorch.manual_seed(seed)\nx = torch.randn(128, 128, device=dev)\n"
           "value = float((x @ x).sum())\n"
           "Path(out_dir).mkdir(parents=True, exist_ok=True)\n"
           "(Path(out_dir) / 'metrics.json').write_text(json.dumps({'profile': profile, 'seed': seed, "
           "'device': str(dev), 'value': value}))\nprint(dev, value)"),
]


def _standin_notebook(folder: Path) -> Path:
    """Write the dry run's stand-in for a tutorial notebook (the suite runner's contract: parameters cell with
    profile, device, seed and out_dir; writes ``metrics.json``)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    for tag, src in STANDIN:
        cell = nbformat.v4.new_code_cell(src)
        if tag:
            cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "00_gpu_check_standin.ipynb"
    nbformat.write(nb, str(path))
    return path


def _kill_tree(proc: subprocess.Popen) -> None:
    """End the runner and the kernels it started (Jupyter starts kernels in their own session, so a signal to
    the runner's process group misses them): children first collected, then TERM, then KILL after 10 s."""
    procs = []
    try:
        import psutil

        parent = psutil.Process(proc.pid)
        procs = parent.children(recursive=True) + [parent]
    except Exception:  # psutil missing or the runner already gone: its process group at least
        pass
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        pass
    for p in procs:
        try:
            p.terminate()
        except Exception:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for p in procs:
        try:
            p.kill()
        except Exception:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def step_suite(args) -> int:
    dev = pick_device(args.dry_run)
    budget = Budget(args.budget)
    tmp = None
    if args.dry_run:
        tmp = Path(tempfile.mkdtemp(prefix="gpu_check_suite_"))
        real = os.environ.get("GPU_CHECK_DRY_NOTEBOOK")
        if real:
            nb_dir, only, what = ROOT / "notebooks", [real], f"tutorial notebook {real} (smoke profile)"
        else:
            nb_dir, only, what = tmp / "notebooks", None, "stand-in notebook (the tutorial notebooks are not run)"
            nb_dir.mkdir()
            _standin_notebook(nb_dir)
        out, profile, device, jobs = tmp / "runs", "smoke", "cpu", 1
        print(f"dry run: the suite runner on a {what}: smoke profile of a tutorial notebook takes > 60 s on 2 "
              "loaded cores (98 s measured for 01); GPU_CHECK_DRY_NOTEBOOK=01 runs it instead")
    else:
        nb_dir, only, out, profile, device = ROOT / "notebooks", None, ROOT / "runs" / "gpu-check-quick", "quick", "cuda"
        jobs = int(os.environ.get("GPU_CHECK_SUITE_JOBS", "4"))
    cmd = [sys.executable, "-m", "mdlstm_utils.report.sweep", "suite", "--notebooks", str(nb_dir), "--out", str(out),
           "--profile", profile, "--device", device, "--no-html", "--jobs", str(jobs)]
    if only:
        cmd += ["--only", *only]
    if args.resume:
        cmd.append("--resume")
    print("$ " + " ".join(cmd), flush=True)
    deadline = max(budget.left() - 15, 10)  # leave time to end the kernels and write the record
    t0 = time.time()
    env = dict(os.environ)
    if args.dry_run:  # one thread in the runner and its kernel too (see pick_device)
        env.update({v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, env=env)
    cut = False
    try:
        rc = proc.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        print(f"suite: time budget reached after {deadline:.0f} s: stopping it (bash bench/gpu_check.sh --only suite "
              "--resume continues)", flush=True)
        _kill_tree(proc)
        rc, cut = None, True
    seconds = time.time() - t0
    # the notebooks' statuses: summary.json when the runner finished, else each notebook's metrics.json
    selected = sorted(p.stem for p in nb_dir.glob("[0-9][0-9]_*.ipynb") if not only or p.name.startswith(tuple(only)))
    summary = {}
    if not cut and (out / "summary.json").is_file():
        summary = json.loads((out / "summary.json").read_text())
    rows = []
    for stem in selected:
        entry = summary.get(stem)
        if entry is None:
            m = out / stem / "metrics.json"
            finished = m.is_file() and json.loads(m.read_text() or "{}").get("profile") == profile
            this_run = finished and m.stat().st_mtime >= t0
            ok = this_run or (finished and args.resume)  # without --resume an older metrics.json is stale
            entry = {"status": "ok" if ok else "not finished (budget)" if cut else "failed", "seconds": None,
                     "skipped": ok and not this_run}
        rows.append({"notebook": stem, "status": entry.get("status"), "seconds": entry.get("seconds"),
                     "skipped": bool(entry.get("skipped", False)), **({"error": entry["error"]} if "error" in entry else {})})
    n_ok = sum(r["status"] == "ok" for r in rows)
    print_table(f"notebooks, profile {profile}, device {device} ({device_name(dev)})",
                ["notebook", "status", "seconds", "resumed"],
                [[r["notebook"], r["status"], r["seconds"] if r["seconds"] is not None else "-", r["skipped"]] for r in rows])
    settings = {"command": " ".join(cmd[1:]), "profile": profile, "device": device, "jobs": jobs, "resume": bool(args.resume),
                "out": str(out)}
    write_record("suite", args, dev, settings, rows, budget, [],
                 extra={"runner_rc": rc, "cut_by_budget": cut, "runner_seconds": round(seconds, 1),
                        "notebooks_ok": n_ok, "notebooks": len(rows),
                        **({"note": "dry run: the suite runner on a stand-in notebook, not the tutorials"}
                           if args.dry_run and not os.environ.get("GPU_CHECK_DRY_NOTEBOOK") else {})})
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    if cut:
        print(f"suite: {n_ok} of {len(rows)} notebooks finished within the budget")
        return 3
    return 0 if rc == 0 and n_ok == len(rows) else 1


STEPS = {"lstm-generate": step_lstm_generate, "transformer": step_transformer,
         "train": step_train, "suite": step_suite}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=list(STEPS))
    ap.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU")
    ap.add_argument("--out-dir", default=str(BENCH / "results"), help="where gpu-<step>.json goes")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds for this step")
    ap.add_argument("--resume", action="store_true", help="suite: skip notebooks already finished in runs/gpu-check-quick")
    args = ap.parse_args(argv)
    return STEPS[args.step](args)


if __name__ == "__main__":
    raise SystemExit(main())
