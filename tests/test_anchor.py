"""The MSM-anchored mixture and the temperature chosen on validation frames (mdlstm_utils.lm.anchor)."""

import numpy as np
import pytest
import torch

from mdlstm_utils.kinetics.markov import fit_markov
from mdlstm_utils.lm.anchor import MIX_GRID, MSMMixture, choose_on_validation, generate_anchored
from mdlstm_utils.lm.models import LSTMConfig
from mdlstm_utils.lm.train import _batch_loss, make_windows

T = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])


def _chain(n_frames, n_traj, seed):
    rng = np.random.default_rng(seed)
    out = np.zeros((n_traj, n_frames), dtype=np.int64)
    for t in range(1, n_frames):
        u = rng.random(n_traj)[:, None]
        out[:, t] = (np.cumsum(T[out[:, t - 1]], axis=1) < u).sum(1)
    return list(out)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    trajs = _chain(300, 8, 0)
    model = LSTMConfig(hidden_dim=8, embed_dim=4).build(3)
    msm = fit_markov(trajs[:6], 3, 1).transition_matrix()
    return trajs, model, msm


def test_mixture_is_the_weighted_sum_of_the_two_distributions(setup):
    _, _, msm = setup
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    cur = torch.tensor([0, 2])
    p_model = torch.softmax(logits, -1).numpy()
    for w in (0.0, 0.3, 1.0):
        p = torch.softmax(MSMMixture(msm, w)(logits, cur), -1).numpy()
        np.testing.assert_allclose(p, (1 - w) * p_model + w * msm[[0, 2]], atol=1e-6)


def test_validation_losses_match_the_msm_and_the_model_losses(setup):
    trajs, model, msm = setup
    val = trajs[6:]
    mix, tmp = choose_on_validation(model, val, msm, seq_len=20)
    windows = make_windows(val, 20)
    # w = 1 is the MSM's own held-out loss, T = 1 the model's teacher-forced cross-entropy
    assert mix.loss_at(1.0) == pytest.approx(fit_markov(trajs[:6], 3, 1).log_loss(windows), rel=1e-6)
    with torch.no_grad():
        ce = float(_batch_loss(model, torch.as_tensor(windows), None))
    assert tmp.loss_at(1.0) == pytest.approx(ce, rel=1e-5)
    assert mix.n_frames == windows.shape[0] * 20
    # an untrained model predicts almost nothing: the validation frames choose (nearly) the MSM
    assert mix.value >= 0.9 and mix.loss <= mix.loss_at(1.0)
    assert list(mix.grid) == list(MIX_GRID)


def test_anchored_generation_at_weight_one_never_makes_a_jump_the_msm_forbids(setup):
    _, model, _ = setup
    hard = np.array([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01], [0.01, 0.01, 0.98]])
    g = generate_anchored(model, 400, transition_matrix=hard, weight=1.0, start=np.zeros(200, dtype=np.int64),
                          seed=1, progress=False)
    stay = (np.diff(g, axis=1) == 0).mean()
    assert stay == pytest.approx(0.98, abs=0.005)  # 80 000 steps: the MSM's rate, not the untrained model's ~1/3


def test_bad_settings_are_refused(setup):
    trajs, model, msm = setup
    with pytest.raises(ValueError, match="weight must be in"):
        MSMMixture(msm, 1.5)
    with pytest.raises(ValueError, match="positive entries"):
        MSMMixture(T, 0.5)  # zero entries: log T undefined
    with pytest.raises(ValueError, match="weights must be"):
        choose_on_validation(model, trajs, msm, weights=[0.5, 2.0])
    with pytest.raises(ValueError, match="temperatures must be"):
        choose_on_validation(model, trajs, msm, temperatures=[0.0, 1.0])
    with pytest.raises(ValueError, match="step_transform"):
        generate_anchored(model, 5, transition_matrix=msm, weight=0.5, start=[0], step_transform=None)


def test_learn_and_compare_generates_with_the_remedy_chosen_on_validation_frames():
    """remedy='mixture': the weight is chosen on the validation frames and recorded; an unknown remedy is refused
    before anything is trained."""
    from mdlstm_utils.lm.experiment import GenerateConfig, learn_and_compare

    trajs = _chain(400, 8, 3)
    res = learn_and_compare(trajs, 3, sets=[[0], [2]], remedy="mixture", steps=30, epochs=1, seq_len=20,
                            prompt_len=5, hidden=8, seed=0, progress=False, validated_msm=False, noise_pairs=0)
    rec = res.metrics["remedy"]
    assert rec["kind"] == "mixture" and rec["grid"] == list(MIX_GRID) and rec["value"] in MIX_GRID
    assert rec["value"] >= 0.5  # 30 steps of training: the validation frames choose mostly the MSM
    with pytest.raises(ValueError, match="remedy='mix'; choose one of"):
        GenerateConfig(remedy="mix")
