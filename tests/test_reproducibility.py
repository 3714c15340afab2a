"""One seed controls everything: the whole pipeline is bit-identical on the CPU when run twice with the same seed."""

import numpy as np
import torch

from mdlstm_utils import runtime
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.models import LSTMLM
from mdlstm_utils.states import discretize_grid, make_grid
from mdlstm_utils.data.systems import FourWell1D, langevin
from mdlstm_utils.lm.train import fit


def _pipeline(seed: int):
    runtime.seed_everything(seed)
    pot = FourWell1D()
    x = langevin(pot, np.repeat(pot.minima, 2), 400, save_every=20, seed=seed, device="cpu", progress=False)
    labels = discretize_grid(x[..., 0], make_grid(-2, 2, 12))
    model = LSTMLM(12, embed_dim=8, hidden_dim=16, dropout=0.1)
    fit(model, labels, seq_len=20, batch_size=8, epochs=2, seed=seed, device="cpu", progress=False)
    gen = generate(model, 200, prompt=labels[:, :10], seed=seed, device="cpu", progress=False)
    return labels, [p.detach().clone() for p in model.parameters()], gen


def test_same_seed_bit_identical_and_other_seed_differs():
    a, b, c = _pipeline(3), _pipeline(3), _pipeline(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    assert all(torch.equal(p, q) for p, q in zip(a[1], b[1]))
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[2], c[2])


def test_environment_record():
    info = runtime.environment_info("cpu")
    assert info["device"] == "cpu"
    assert info["packages"]["torch"].startswith("2.13")
    assert info["packages"]["deeptime"] == "0.4.5"
