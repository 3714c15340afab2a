"""bench/gpu_check.sh (issue 48, item 6): the dry run (every step at toy size on the CPU) and the refusal without a GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
STEPS = ("lstm-generate", "transformer", "train", "suite")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bench/gpu_check.sh needs bash")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    t0 = time.perf_counter()
    # from another folder: the script finds the repository itself
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--out-dir", str(out)], cwd=out, capture_output=True,
                          text=True, timeout=300)
    return proc, out, time.perf_counter() - t0


def test_dry_run_passes_and_finishes(dry_run):
    proc, _, seconds = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all steps passed" in proc.stdout
    for step in STEPS:
        assert f"== {step}" in proc.stdout
    print(f"dry run: {seconds:.0f} s")
    assert seconds < 300


@pytest.mark.parametrize("step", STEPS)
def test_dry_run_writes_a_record_per_step(dry_run, step):
    _, out, _ = dry_run
    rec = json.loads((out / f"gpu-{step}.json").read_text())
    assert rec["step"] == step and rec["dry_run"] is True
    assert rec["device"] == "cpu" and rec["device_type"] == "cpu"
    assert rec["torch"] and rec["commit"] and len(rec["commit"]) == 40
    assert rec["settings"] and rec["rows"]
    assert rec["elapsed_s"] > 0
    if step == "suite":
        assert rec["runner_rc"] == 0 and not rec["cut_by_budget"]
        assert [r["status"] for r in rec["rows"]] == ["ok"] * len(rec["rows"])
        return
    for row in rec["rows"]:
        assert row["tokens_per_s"] > 0, row
    if step == "transformer":  # both modes at every batch
        assert {(r["mode"], r["batch"]) for r in rec["rows"]} == {(m, b) for m in ("kv-cache", "re-encode")
                                                                  for b in rec["settings"]["batches"]}
    if step == "lstm-generate":
        assert {r["mode"] for r in rec["rows"]} == {"plain loop", "fast"}
        assert any("TF32" in s for s in rec["skipped"])  # said, not silently dropped
    if step == "train":
        assert {r["loop"] for r in rec["rows"]} == {"bench_train", "lm.train.fit"}


def test_refuses_without_a_gpu(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no CUDA device, on a GPU machine too
    proc = subprocess.run(["bash", str(SCRIPT), "--only", "lstm-generate", "--out-dir", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no CUDA device" in proc.stderr and "--dry-run" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_rejects_an_unknown_step():
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--only", "nope"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "unknown step" in proc.stderr
