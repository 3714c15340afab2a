"""The model configs, explicit prompts and learn_spaces: the pieces the notebooks build their experiments from."""

import numpy as np
import pytest
import torch
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.lm.experiment import build_model, learn_and_compare, learn_spaces
from mdlstm_utils.lm.models import LSTMLM, LSTMConfig, TransformerConfig, TransformerLM
from mdlstm_utils.states import StateSpace

SMALL = dict(seq_len=20, batch_size=8, epochs=1, steps=3, device="cpu", baseline=False)


def _chain(n_traj=4, n_steps=400, seed=0):
    P = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])
    return np.stack([MarkovStateModel(P).simulate(n_steps, seed=seed + k) for k in range(n_traj)])


def test_configs_build_the_models_they_describe():
    torch.manual_seed(0)
    a = LSTMConfig(embed_dim=8, hidden_dim=16).build(5)
    torch.manual_seed(0)
    b = LSTMLM(5, embed_dim=8, hidden_dim=16)
    assert isinstance(a, LSTMLM) and a.config == b.config
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # same draws: same weights
    t = TransformerConfig(d_model=16, context=32).build(5)
    assert isinstance(t, TransformerLM) and t.config["context"] == 32 and t.config["n_heads"] == 4
    assert LSTMConfig().replace(hidden_dim=64).hidden_dim == 64 and LSTMConfig().embed_dim == 32
    # the names build the configs' defaults with the size given
    assert build_model("lstm", 5, hidden=16).config == LSTMConfig(hidden_dim=16).build(5).config
    assert build_model(TransformerConfig(d_model=16), 5).config["d_model"] == 16
    with pytest.raises(ValueError, match="LSTMConfig or a TransformerConfig"):
        build_model("gru", 5)


def test_explicit_prompts_are_continued():
    labels = _chain()
    prompt = np.array([[0, 0, 1], [2, 2, 2]])
    res = learn_and_compare(labels, 3, [[0], [2]], prompt=prompt, gen_frames=50, **dict(SMALL, baseline=True))
    assert res.generated.shape == (2, 50)  # one trajectory per prompt, not per reference trajectory
    np.testing.assert_array_equal(res.baseline[:, 0], prompt[:, -1])  # the MSM baseline starts where each prompt ends
    with pytest.raises(ValueError, match="needs gen_frames"):
        learn_and_compare(labels, 3, [[0], [2]], prompt=prompt, **SMALL)
    with pytest.raises(ValueError, match="int array"):
        learn_and_compare(labels, 3, [[0], [2]], prompt=prompt.astype(float), gen_frames=50, **SMALL)


def test_learn_spaces_learns_each_space_once_and_matches_learn_and_compare():
    labels = _chain()
    a = StateSpace(list(labels), 3, sets=[[0], [2]])
    same = StateSpace(list(labels), 3, sets=[[0], [2]])
    other = StateSpace(list(labels), 3, sets=[[0], [1, 2]])
    runs = learn_spaces({"a": a, "a again": same, "other sets": other}, verbose=False, seed=3, **SMALL)
    assert list(runs) == ["a", "a again", "other sets"]
    assert runs["a again"].metrics["same_labels_as"] == "a" and runs["a again"].model is runs["a"].model
    assert "same_labels_as" not in runs["other sets"].metrics  # different sets: learned on its own
    alone = learn_and_compare(a, seed=3, **SMALL)
    np.testing.assert_array_equal(alone.generated, runs["a"].generated)  # the same experiment, the same result
    assert alone.metrics["mfpt_gen"] == runs["a"].metrics["mfpt_gen"]
    with pytest.raises(TypeError, match="must be a StateSpace"):
        learn_spaces({"raw": labels}, **SMALL)
