"""Bad input at the public entry points gives a clear error that names the argument, the bad value and what is expected."""

import numpy as np
import pytest
import torch

from mdlstm_utils import kinetics, runtime
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.models import LSTMLM, model_from_config
from mdlstm_utils.states import check_labels, discretize_grid, lump, make_grid
from mdlstm_utils.report.sweep import execute_notebook, run_suite
from mdlstm_utils.data.systems import FourWell1D, Harmonic, langevin
from mdlstm_utils.lm.train import fit, load_model

GOOD = np.tile(np.array([0, 1, 2, 1]), (2, 100))


def _model(n=3):
    torch.manual_seed(0)
    return LSTMLM(n, embed_dim=4, hidden_dim=8)


CASES = [
    # (id, callable, exception type, regex the message must match)
    ("device-unknown", lambda: runtime.resolve_device("gpu0"), ValueError, r"device='gpu0'.*expected 'auto', 'cpu'"),
    ("device-type", lambda: runtime.resolve_device(3), TypeError, r"device must be a string.*int"),
    ("device-cuda-missing", lambda: runtime.resolve_device("cuda") if not torch.cuda.is_available() else pytest.skip("a CUDA GPU is present"), ValueError, r"device='cuda'.*no CUDA GPU"),
    ("seed-negative", lambda: runtime.seed_everything(-1), ValueError, r"seed must be >= 0, got -1"),
    ("seed-type", lambda: runtime.seed_everything("1"), TypeError, r"seed must be an int, got str"),
    ("profile-unknown", lambda: runtime.select_profile("fast", smoke={}, full={}), ValueError, r"profile='fast' is not one of \['full', 'smoke'\]"),
    ("profile-type", lambda: runtime.select_profile(1, smoke={}, full={}), TypeError, r"profile must be a string.*int"),
    ("notebook-param-type", lambda: runtime.check_parameters(n_bins=("40", int)), TypeError, r"notebook parameter n_bins='40' has type str; expected int"),
    ("notebook-param-bool", lambda: runtime.check_parameters(seed=(True, int)), TypeError, r"seed=True has type bool; expected int"),
    ("x0-nan", lambda: langevin(Harmonic(), np.array([0.0, np.nan]), 5, progress=False), ValueError, r"x0 contains NaN or inf"),
    ("x0-shape", lambda: langevin(FourWell1D(), np.zeros((4, 2)), 5, progress=False), ValueError, r"x0 must have shape \(n_walkers, 1\).*\(4, 2\)"),
    ("dt-negative", lambda: langevin(Harmonic(), np.zeros(2), 5, dt=-1e-3, progress=False), ValueError, r"dt must be a finite number > 0, got -0.001"),
    ("n-frames-type", lambda: langevin(Harmonic(), np.zeros(2), 5.5, progress=False), TypeError, r"n_frames must be an int, got float"),
    ("scheme", lambda: langevin(Harmonic(), np.zeros(2), 5, scheme="verlet", progress=False), ValueError, r"scheme='verlet'"),
    ("potential-type", lambda: langevin(lambda x: x, np.zeros(2), 5, progress=False), TypeError, r"potential must be a mdlstm_utils.data.systems.Potential"),
    ("grid-bounds", lambda: make_grid(1.0, -1.0, 10), ValueError, r"hi > lo, got lo=1.0, hi=-1.0"),
    ("grid-bins", lambda: make_grid(0.0, 1.0, 0), ValueError, r"n_bins must be positive integers, got 0"),
    ("grid-nan", lambda: discretize_grid(np.array([0.1, np.inf]), make_grid(0, 1, 4)), ValueError, r"x contains NaN or inf"),
    ("grid-dim", lambda: discretize_grid(np.zeros((5, 3)), make_grid((0, 0), (1, 1), (2, 2))), ValueError, r"3 coordinates per frame but the grid has dim=2"),
    ("labels-negative", lambda: check_labels(np.array([0, -2, 1]), 3), ValueError, r"negative label \(-2\)"),
    ("labels-out-of-range", lambda: kinetics.populations(np.array([0, 5]), 3), ValueError, r"label 5 but n_states=3"),
    ("labels-float", lambda: kinetics.populations(np.array([0.2, 1.0]), 3), TypeError, r"integer state labels, got dtype float64"),
    ("labels-3d", lambda: check_labels(np.zeros((2, 2, 2), dtype=int), 3), ValueError, r"1-D or 2-D .* got shape \(2, 2, 2\)"),
    ("labels-empty", lambda: check_labels([], 3), ValueError, r"labels is empty"),
    ("lump-range", lambda: lump(np.array([0, 4]), np.array([0, 1, 1])), ValueError, r"\[0, 4\] does not fit a mapping of 3 states"),
    ("lag-too-long", lambda: kinetics.transition_counts(np.array([0, 1, 2]), 3, 5), ValueError, r"lag=5 frames is not shorter than the longest trajectory \(3 frames\)"),
    ("lag-zero", lambda: kinetics.transition_counts(np.array([0, 1, 2]), 3, 0), ValueError, r"lag must be an int >= 1 frame, got 0"),
    ("set-empty", lambda: kinetics.mfpt_matrix(GOOD, [[0], []], n_states=3), ValueError, r"set 1 is empty"),
    ("set-overlap", lambda: kinetics.mfpt_matrix(GOOD, [[0, 1], [1, 2]], n_states=3), ValueError, r"set 1 overlaps an earlier set"),
    ("set-range", lambda: kinetics.mfpt_matrix(GOOD, [[0], [7]], n_states=3), ValueError, r"set 1 holds states outside \[0, 2\]"),
    ("free-energy-negative", lambda: kinetics.free_energy(np.array([0.5, -0.1])), ValueError, r"populations must be >= 0"),
    ("model-n-states", lambda: LSTMLM(1), ValueError, r"n_states must be >= 2, got 1"),
    ("model-hidden-type", lambda: LSTMLM(3, hidden_dim=12.0), TypeError, r"hidden_dim must be an int, got float"),
    ("model-kind", lambda: model_from_config({"kind": "GRU"}), ValueError, r"unknown model kind 'GRU'"),
    ("fit-seq-len", lambda: fit(_model(), np.array([0, 1, 2, 0, 1]), seq_len=10, progress=False), ValueError, r"seq_len=10 needs trajectories of at least 11 frames, but the longest training trajectory has"),
    ("fit-labels-range", lambda: fit(_model(3), np.array([0, 1, 3] * 50), seq_len=5, progress=False), ValueError, r"train\[0\] holds label 3 but n_states=3"),
    ("fit-batch-type", lambda: fit(_model(), GOOD, batch_size="64", progress=False), TypeError, r"batch_size must be an int, got str"),
    ("fit-val-fraction", lambda: fit(_model(), GOOD, seq_len=5, val_fraction=1.5, progress=False), ValueError, r"val_fraction must be in \(0, 1\), got 1.5"),
    ("fit-lr-schedule", lambda: fit(_model(), GOOD, seq_len=5, lr_schedule="linear", progress=False), ValueError, r"lr_schedule must be 'constant' or 'cosine', got 'linear'"),
    ("generate-temperature", lambda: generate(_model(), 5, start=np.array([0]), temperature=0.0, progress=False), ValueError, r"temperature must be a finite number > 0, got 0.0"),
    ("generate-steps", lambda: generate(_model(), 0, start=np.array([0]), progress=False), ValueError, r"n_steps must be an int >= 1, got 0"),
    ("generate-prompt-range", lambda: generate(_model(3), 5, prompt=np.array([[0, 9]]), progress=False), ValueError, r"prompt\[0\] holds label 9 but n_states=3"),
    ("fit-amp", lambda: fit(_model(), [GOOD[0]], seq_len=8, epochs=1, amp="bf16", progress=False), ValueError, r"amp must be 'auto', True or False, got 'bf16'"),
    ("generate-precision", lambda: generate(_model(), 5, start=np.array([0]), precision="bf16", progress=False), ValueError, r"precision must be one of \('auto', 'fp32', 'tf32'\), got 'bf16'"),
    ("generate-tf32-cpu", lambda: generate(_model(), 5, start=np.array([0]), precision="tf32", device="cpu", progress=False), ValueError, r"precision='tf32' needs a CUDA device"),
    ("generate-both", lambda: generate(_model(), 5, start=np.array([0]), prompt=np.array([[0]]), progress=False), ValueError, r"exactly one of prompt="),
    ("checkpoint-missing", lambda: load_model("/nonexistent/model.pt"), FileNotFoundError, r"no checkpoint at /nonexistent/model.pt"),
    ("suite-profile", lambda: run_suite(profile="huge"), ValueError, r"profile='huge'; expected one of \('smoke', 'quick', 'full'\)"),
    ("notebook-missing", lambda: execute_notebook("nope.ipynb", "/tmp/x"), FileNotFoundError, r"no notebook at .*nope.ipynb"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_clearly(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_case_count():
    assert len(CASES) >= 20


def test_checkpoint_of_the_wrong_kind(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("this is not a checkpoint")
    with pytest.raises(ValueError, match=r"notes.pt is not a mdlstm checkpoint"):
        load_model(bad)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt is not a mdlstm checkpoint \(no 'model_config' entry\)"):
        load_model(tmp_path / "other.pt")


def test_resume_with_another_model_is_refused(tmp_path):
    fit(_model(3), GOOD, seq_len=5, epochs=1, progress=False, checkpoint=tmp_path / "c.pt", device="cpu")
    other = LSTMLM(3, embed_dim=4, hidden_dim=16)
    ck = torch.load(tmp_path / "c.pt", weights_only=False)
    ck["finished"] = False
    torch.save(ck, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"checkpoint .*c.pt was written for model"):
        fit(other, GOOD, seq_len=5, epochs=2, progress=False, checkpoint=tmp_path / "c.pt", resume=True, device="cpu")
