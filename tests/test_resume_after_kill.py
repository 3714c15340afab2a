"""A training process killed with SIGKILL mid-run resumes from its checkpoint and ends at the same weights.

Within one process a resumed run is bit-identical to an uninterrupted one (tests/test_models.py). Across
processes PyTorch's CPU kernels can differ in the last bits (memory layout), and these differences grow
over epochs, so here the weights must agree closely, not bitwise, and the run must provably have
resumed (its history keeps the killed run's epochs) rather than started over.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import torch

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from deeptime.markov.msm import MarkovStateModel
    import numpy as np
    from mdlstm_utils.lm.models import LSTMLM
    from mdlstm_utils.lm.train import fit
    torch.set_num_threads(1)
    P = np.array([[0.9, 0.08, 0.02], [0.05, 0.9, 0.05], [0.01, 0.09, 0.9]])
    data = MarkovStateModel(P).simulate(60_000, seed=0).reshape(6, 10_000)
    torch.manual_seed(3)
    model = LSTMLM(3, embed_dim=8, hidden_dim=32)
    fit(model, data, seq_len=50, batch_size=16, epochs=6, patience=100, seed=7, device="cpu",
        progress=False, checkpoint=sys.argv[1], resume=True, deterministic=True)
    torch.save(model.state_dict(), sys.argv[2])
    """
)


def _run(args, **kw):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, args)], start_new_session=True, **kw)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    # uninterrupted reference
    ref_proc = _run([tmp_path / "ref.pt", tmp_path / "ref_weights.pt"], stderr=subprocess.PIPE)
    assert ref_proc.wait(timeout=300) == 0, ref_proc.stderr.read().decode()[-2000:]
    # the same run, killed once its checkpoint exists (after the first epoch), then started again
    ckpt = tmp_path / "killed.pt"
    proc = _run([ckpt, tmp_path / "weights.pt"])
    deadline = time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    state = torch.load(ckpt, weights_only=False)
    assert not state["finished"], "the kill came too late to test resuming"
    assert not (tmp_path / "weights.pt").exists()
    killed_epoch = state["epoch"]
    again = _run([ckpt, tmp_path / "weights.pt"], stderr=subprocess.PIPE)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode()[-2000:]
    final = torch.load(ckpt, weights_only=False)
    assert final["finished"] and len(final["result"]["history"]) == 6
    # the epochs done before the kill were carried over, not trained again (their timings are the same numbers)
    assert final["result"]["history"][: killed_epoch + 1] == state["result"]["history"]
    ref = torch.load(tmp_path / "ref_weights.pt")
    res = torch.load(tmp_path / "weights.pt")
    for k in ref:
        torch.testing.assert_close(res[k], ref[k], atol=5e-3, rtol=0, msg=lambda m: f"{k} (killed after epoch {killed_epoch}): {m}")
    ref_hist = torch.load(tmp_path / "ref.pt", weights_only=False)["result"]["history"]
    assert abs(ref_hist[-1]["val_loss"] - final["result"]["history"][-1]["val_loss"]) < 1e-3
