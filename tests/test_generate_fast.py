"""The fast generation path (blocks of steps on static buffers; a CUDA graph on a GPU) samples the same
distribution as the plain per-step loop."""

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.models import LSTMLM, TransformerLM

N_TRAJ, N_STEPS, V = 4096, 40, 5


def _model():
    torch.manual_seed(0)
    m = LSTMLM(V, embed_dim=8, hidden_dim=16)
    with torch.no_grad():  # sharper, history-dependent dynamics than a fresh initialisation
        for p in m.parameters():
            p.mul_(3.0)
    return m


def _pairs(traj, t):
    """Joint (frame t, frame t + 1) of independent trajectories, as counts over V * V cells."""
    return np.bincount(traj[:, t].astype(int) * V + traj[:, t + 1], minlength=V * V)


def _p_same(a, b, t):
    table = np.stack([_pairs(a, t), _pairs(b, t)])
    table = table[:, table.sum(0) > 0]
    return chi2_contingency(table)[1]


def _run(model, device, **kw):
    prompt = np.random.default_rng(0).integers(0, V, size=(N_TRAJ, 3))
    return generate(model, N_STEPS, prompt=prompt, device=device, progress=False, **kw)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (the CUDA-graph path)"))])
def test_fast_and_plain_paths_sample_the_same_distribution(device):
    model = _model()
    plain = _run(model, device, seed=1, fast=False)
    fast = _run(model, device, seed=2, fast=True, block=16, chunk_size=24)  # blocks cross chunk borders
    assert fast.shape == plain.shape == (N_TRAJ, N_STEPS) and fast.dtype == plain.dtype
    assert fast.min() >= 0 and fast.max() < V
    # the joint law of two consecutive frames, early, at a block border and at the end: 4096 independent samples each
    for t in (0, 15, 16, N_STEPS - 2):
        assert _p_same(plain, fast, t) > 1e-3, t
    # the same seed gives the same trajectories on the fast path too
    np.testing.assert_array_equal(fast, _run(model, device, seed=2, fast=True, block=16, chunk_size=24))
    # the check has power: a hotter sampler (temperature 1.5) is told apart
    hot = _run(model, device, seed=3, fast=True, block=16, temperature=1.5)
    assert min(_p_same(plain, hot, t) for t in (15, N_STEPS - 2)) < 1e-6


def test_fast_path_needs_a_fixed_size_state():
    tf = TransformerLM(V, d_model=16, n_heads=2, n_layers=1, context=8)
    with pytest.raises(ValueError, match="fast=True needs a model with a fixed-size state"):
        generate(tf, 5, start=np.zeros(2, dtype=int), fast=True, progress=False)
    with pytest.raises(ValueError, match="block must be an int >= 1"):
        generate(_model(), 5, start=np.zeros(2, dtype=int), fast=True, block=0, progress=False)
    # "auto" leaves the Transformer (and the CPU) on the plain path
    assert generate(tf, 5, start=np.zeros(2, dtype=int), progress=False).shape == (2, 5)


@pytest.mark.parametrize("fast", [False, True])
def test_generate_chunks_streams_exactly_what_generate_returns(fast):
    from mdlstm_utils.lm.generate import generate_chunks

    model = _model()
    prompt = np.random.default_rng(1).integers(0, V, size=(8, 4))
    whole = generate(model, 100, prompt=prompt, seed=5, chunk_size=30, fast=fast, block=16, device="cpu", progress=False)
    chunks = list(generate_chunks(model, 100, prompt=prompt, seed=5, chunk_size=30, fast=fast, block=16, device="cpu",
                                  progress=False))
    assert [c.shape for c in chunks] == [(8, 30), (8, 30), (8, 30), (8, 10)]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), whole)
    # one trajectory: each chunk is its own array, not a view of the buffer that the next chunk refills
    one = list(generate_chunks(model, 100, prompt=prompt[:1], seed=5, chunk_size=30, fast=fast, block=16, device="cpu",
                               progress=False))
    np.testing.assert_array_equal(np.concatenate(one, axis=1), generate(
        model, 100, prompt=prompt[:1], seed=5, chunk_size=30, fast=fast, block=16, device="cpu", progress=False))
    with pytest.raises(ValueError, match="n_steps must be an int >= 1"):  # checked at the call, not at the first chunk
        generate_chunks(model, 0, prompt=prompt)


def test_a_failed_graph_capture_falls_back_to_eager_blocks(monkeypatch):
    from mdlstm_utils.lm import generate as g

    def broken_capture(self):
        self._steps(self.block)  # advances the state, as the real warm-up does
        raise RuntimeError("capture not supported here")

    monkeypatch.setattr(g._BlockStepper, "_capture", broken_capture)
    model = _model()
    with torch.inference_mode():
        tok = torch.tensor([0, 1, 2, 3])
        state = model.init_state(4, "cpu")
        with pytest.warns(RuntimeWarning, match="CUDA graph capture failed .*capture not supported here"):
            stepper = g._BlockStepper(model, tok, state, 8, 1.0, graph=True, precision="fp32")
        assert stepper.graph is None
        assert torch.equal(stepper.tok, tok) and all(torch.equal(a, b) for a, b in zip(stepper.state, state))
        frames = stepper.run(8, torch.Generator().manual_seed(0))
    assert frames.shape == (8, 4) and int(frames.min()) >= 0 and int(frames.max()) < V


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (the fused LSTM-cell kernel)"))])
def test_step_function_gives_the_numbers_of_step(device, n_layers):
    torch.manual_seed(n_layers)
    m = LSTMLM(V, embed_dim=8, hidden_dim=16, n_layers=n_layers).to(device).eval()
    fast_step = m.step_function()
    tok = torch.randint(0, V, (32,), device=device)
    state = tuple(torch.randn(n_layers, 32, 16, device=device) for _ in range(2))
    from mdlstm_utils.lm.generate import matmul_precision

    with torch.inference_mode(), matmul_precision("fp32", torch.device(device)):
        ref_logits, (ref_h, ref_c) = m.step(tok, state)
        logits, (h, c) = fast_step(tok, state)
        for _ in range(20):  # and stays on it along a trajectory of states
            tok = logits.argmax(-1)
            ref_logits, (ref_h, ref_c) = m.step(tok, (ref_h, ref_c))
            logits, (h, c) = fast_step(tok, (h, c))
    assert h.shape == ref_h.shape == (n_layers, 32, 16) and logits.shape == (32, V)
    for a, b in ((logits, ref_logits), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # a snapshot: changing the weights afterwards does not change the function built before
    before = fast_step(tok, (h, c))[0]
    with torch.no_grad():
        m.head.bias.add_(1.0)
    torch.testing.assert_close(fast_step(tok, (h, c))[0], before, rtol=0, atol=0)
    torch.testing.assert_close(m.step_function()(tok, (h, c))[0], before + 1.0, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tf32_generation_samples_the_fp32_distribution_and_restores_the_setting():
    before = torch.get_float32_matmul_precision()
    model = _model()
    exact = _run(model, "cuda", seed=1, fast=True, precision="fp32")
    tf32 = _run(model, "cuda", seed=2, fast=True, precision="tf32")
    assert torch.get_float32_matmul_precision() == before
    for t in (0, 15, N_STEPS - 2):
        assert _p_same(exact, tf32, t) > 1e-3, t
