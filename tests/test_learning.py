"""What the next-token loss sees: Markov chains of order k, the loss sensitivity, transition errors, the learning
record and the remedies (MSM-prior logits, weighted state changes, warm-up), against exact values."""

import math

import numpy as np
import pytest
import torch
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.lm.diagnostics import loss_sensitivity, set_assignment, slowest_timescale, transition_errors
from mdlstm_utils.lm.experiment import learn_and_compare
from mdlstm_utils.kinetics.markov import choose_order, fit_markov
from mdlstm_utils.lm.models import LSTMConfig, LSTMLM
from mdlstm_utils.lm.train import TrainConfig, _batch_loss, make_windows, split_trajectories

T3 = np.array([[0.90, 0.10, 0.00], [0.05, 0.90, 0.05], [0.00, 0.20, 0.80]])


def _simulate(P, n, seed):
    return MarkovStateModel(P).simulate(n, seed=seed)


def _entropy_rate(P):
    pi = MarkovStateModel(P).stationary_distribution
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.nansum(pi[:, None] * P * np.where(P > 0, np.log(P), 0.0)))


def _second_order(n, seed):
    """Two states whose next state copies the state two frames back with probability 0.9: memory of 2."""
    rng = np.random.default_rng(seed)
    x = [0, 1]
    for _ in range(n - 2):
        x.append(x[-2] if rng.random() < 0.9 else 1 - x[-2])
    return np.array(x)


def test_first_order_chain_recovers_the_matrix_and_the_entropy_rate():
    chain = fit_markov([_simulate(T3, 100_000, 1)], 3, 1)
    T = chain.transition_matrix()
    assert np.allclose(T.sum(1), 1.0)
    nz = T3 > 0
    assert np.all(np.abs(T[nz] / T3[nz] - 1) < 0.05)  # every transition within 5 %
    held = _simulate(T3, 50_000, 2)
    loss = chain.log_loss([held])
    assert abs(loss / _entropy_rate(T3) - 1) < 0.02
    # order 1: the loss is exactly the mean -log T of the held-out transitions
    assert loss == pytest.approx(-np.mean(np.log(T[held[:-1], held[1:]])), rel=1e-12)


def test_choose_order_finds_memory_only_where_there_is_some():
    first = choose_order([_simulate(T3, 40_000, 3)], [_simulate(T3, 10_000, 4)], 3, (1, 2, 3))
    assert first.order == 1
    second = choose_order([_second_order(40_000, 5)], [_second_order(50_000, 6)], 2, (1, 2, 3))
    assert second.order >= 2
    # order 2 predicts with probability 0.9: entropy 0.325 nats, against about ln 2 for order 1
    assert second.val_loss[1] == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), rel=0.03)
    assert second.gain_over_first_order() > 0.3


def test_markov_refuses_bad_orders_and_short_data():
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        fit_markov([np.array([0, 1, 0])], 2, -1)
    with pytest.raises(ValueError, match="needs trajectories longer than 5 frames"):
        fit_markov([np.array([0, 1, 0])], 2, 5)
    with pytest.raises(ValueError, match="orders must be >= 1 and include 1"):
        choose_order([np.zeros(10, int)], [np.zeros(10, int)], 2, (2, 3))


def _two_state(p):
    return np.array([[1 - p, p], [p, 1 - p]])


def test_loss_sensitivity_matches_the_exact_loss_change_of_a_two_state_chain():
    p = 0.01
    train = [_simulate(_two_state(p), 200_000, 7)]
    val = [_simulate(_two_state(p), 200_000, 8)]
    ls = loss_sensitivity(train, val, 2, [[0], [1]], factors=(2.0, 0.5))
    for k, f in enumerate((2.0, 0.5)):
        q = f * p / (1 - p + f * p)  # the crossing probability after scaling the odds by f
        exact = -(p * math.log(q / p) + (1 - p) * math.log((1 - q) / (1 - p)))  # KL(p || q) per frame
        assert ls.slow_delta[k] == pytest.approx(exact, rel=0.1)
        assert ls.slow_timescale[k] / ls.base_timescale == pytest.approx(math.log(1 - 2 * p) / math.log(1 - 2 * q), rel=0.1)
    assert ls.crossing_fraction == pytest.approx(p, rel=0.1)
    with pytest.raises(ValueError, match="belong to no set"):
        loss_sensitivity(train, val, 3, [[0], [1]])
    with pytest.raises(ValueError, match="factors must be positive"):
        loss_sensitivity(train, val, 2, [[0], [1]], factors=(1.0,))


def test_set_assignment_and_slowest_timescale():
    assert set_assignment([[0, 2], [1]], 3).tolist() == [0, 1, 0]
    assert slowest_timescale(_two_state(0.01), dt=2.0) == pytest.approx(-2.0 / math.log(0.98), rel=1e-9)


def _four_state(p_cross):
    """Two sets {0, 1} and {2, 3}; fast hops inside a set, a rare 1 <-> 2 crossing."""
    P = np.array([[0.7, 0.3, 0, 0], [0.3, 0.7 - p_cross, p_cross, 0], [0, p_cross, 0.7 - p_cross, 0.3], [0, 0, 0.3, 0.7]])
    return P


def test_transition_errors_attribute_the_timescale_error_to_the_crossing_transitions():
    ref = [_simulate(_four_state(0.01), 300_000, 9)]
    same = transition_errors(ref, ref, 4, [[0, 1], [2, 3]])
    assert np.allclose(same.p_gen, same.p_ref) and math.isnan(same.explained)
    assert same.crossing.sum() == 2  # 1 -> 2 and 2 -> 1
    slow_wrong = [_simulate(_four_state(0.005), 300_000, 10)]  # only the crossing is off (by half)
    te = transition_errors(ref, slow_wrong, 4, [[0, 1], [2, 3]])
    assert te.timescale_gen / te.timescale_ref == pytest.approx(2.0, rel=0.1)
    assert te.explained == pytest.approx(1.0, rel=0.1)
    assert te.crossing_rel_err == pytest.approx(0.5, rel=0.1) and te.within_rel_err < 0.05


def test_msm_prior_model_starts_as_the_msm_and_every_path_agrees():
    torch.manual_seed(0)
    net = LSTMLM(3, embed_dim=4, hidden_dim=8, msm_prior=True)
    net.set_prior(T3 * 0.97 + 0.01)  # positive entries
    tokens = torch.tensor([[0, 1, 2, 2, 1]])
    logits, _ = net(tokens)
    assert torch.allclose(torch.softmax(logits, -1)[0], torch.tensor(T3 * 0.97 + 0.01, dtype=torch.float32)[tokens[0]],
                          atol=1e-6)
    torch.nn.init.normal_(net.head.weight)  # a trained correction: forward, step and step_function still agree
    logits, _ = net(tokens)
    state, fast_state = net.init_state(1), net.init_state(1)
    fast = net.step_function()
    for t in range(tokens.shape[1]):
        a, state = net.step(tokens[:, t], state)
        b, fast_state = fast(tokens[:, t], fast_state)
        assert torch.allclose(a, logits[:, t], atol=1e-5) and torch.allclose(b, logits[:, t], atol=1e-5)
    with pytest.raises(ValueError, match="msm_prior=True"):
        LSTMLM(3).set_prior(T3)
    with pytest.raises(ValueError, match="positive entries"):
        net.set_prior(T3)


def test_change_weight_weighs_the_state_changes():
    torch.manual_seed(0)
    net = LSTMLM(3, embed_dim=4, hidden_dim=8)
    batch = torch.tensor([[0, 0, 1, 1, 2], [2, 2, 2, 0, 0]])
    logits, _ = net(batch[:, :-1])
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), batch[:, 1:].reshape(-1), reduction="none").detach()
    w = 1 + 4.0 * (batch[:, 1:] != batch[:, :-1]).reshape(-1).float()
    with torch.no_grad():
        assert float(_batch_loss(net, batch, None, 5.0)) == pytest.approx(float((ce * w).sum() / w.sum()), rel=1e-6)
        assert float(_batch_loss(net, batch, None, 1.0)) == pytest.approx(float(ce.mean()), rel=1e-6)
    for bad in (0, -1.0, True, 1e4):
        with pytest.raises(ValueError, match="change_weight"):
            TrainConfig(change_weight=bad)


def test_warmup_then_cosine():
    cfg = TrainConfig(lr=1e-2, warmup=0.1)
    assert cfg.lr_at(0, 0, 100, 1) == pytest.approx(1e-3)  # the first of the warm-up's 10 batches: lr / 10
    assert cfg.lr_at(0, 10, 100, 1) == pytest.approx(1e-2)
    assert cfg.lr_at(0, 55, 100, 1) == pytest.approx(0.5e-2)  # half-way through the cosine
    assert cfg.lr_at(0, 99, 100, 1) < 1e-4
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="warmup"):
            TrainConfig(warmup=bad)
    with pytest.raises(ValueError, match="lr must be"):
        TrainConfig(lr=0.0)


def test_learn_and_compare_records_the_learning_beside_the_msm():
    labels = np.stack([_simulate(_four_state(0.02), 1500, s) for s in range(8)])
    res = learn_and_compare(labels, 4, [[0, 1], [2, 3]], model=LSTMConfig(embed_dim=8, hidden_dim=16), seq_len=50,
                            batch_size=16, steps=40, epochs=2, baseline=False, noise_pairs=0, device="cpu")
    rec = res.learning
    train, val = split_trajectories(res.split.train, 0.1)  # fit() validates on the training part's last 10 %
    assert rec.msm_val_loss == pytest.approx(fit_markov(train, 4, 1).log_loss(make_windows(val, 50)), rel=1e-12)
    assert rec.loss_gap == pytest.approx(res.metrics["val_loss"] - rec.msm_val_loss)
    assert res.metrics["loss_gap"] == pytest.approx(rec.loss_gap)
    # 4 training walkers (the protocol's half): 104 windows of 51 frames, 7 batches of 16 an epoch, 6 epochs
    assert rec.steps.tolist() == [7, 14, 21, 28, 35, 42] and len(rec.val_loss_curve) == 6
    assert rec.val_loss == pytest.approx(min(rec.val_loss_curve))
    prior = learn_and_compare(labels, 4, [[0, 1], [2, 3]], model=LSTMConfig(embed_dim=8, hidden_dim=16, msm_prior=True),
                              seq_len=50, batch_size=16, steps=1, epochs=1, lr=1e-9, baseline=False, noise_pairs=0,
                              device="cpu")
    # one step at a negligible rate: the model is still the MSM, and so is its validation loss
    assert prior.learning.loss_gap == pytest.approx(0.0, abs=1e-5)


class _NotData:
    pass


def test_checkpoints_load_without_running_code(tmp_path):
    from mdlstm_utils.lm.train import load_model, save_checkpoint
    net = LSTMLM(3, embed_dim=4, hidden_dim=8, msm_prior=True)
    net.set_prior(T3 * 0.97 + 0.01)
    save_checkpoint(tmp_path / "ok.pt", net)
    back = load_model(tmp_path / "ok.pt", device="cpu")
    assert back.msm_prior and torch.equal(back.prior_logits, net.prior_logits)
    torch.save({"model_config": net.config, "model_state": net.state_dict(), "extra": _NotData()}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_model(tmp_path / "bad.pt", device="cpu")


def test_the_recipe_rate_follows_the_model_unless_one_is_given(monkeypatch):
    """``lr=None`` (the default) trains an LSTM at LSTM_LR and a Transformer at TRANSFORMER_LR; a number wins."""
    from mdlstm_utils.lm import train as train_mod
    from mdlstm_utils.lm.models import TransformerConfig

    assert TrainConfig().lr is None
    assert (train_mod.LSTM_LR, train_mod.TRANSFORMER_LR) == (2e-3, 6e-3)
    seen = []
    real = torch.optim.AdamW

    def spy(params, lr, **kw):
        seen.append(lr)
        return real(params, lr=lr, **kw)

    monkeypatch.setattr(train_mod.torch.optim, "AdamW", spy)
    data = [np.random.default_rng(0).integers(0, 3, 400) for _ in range(2)]
    lstm = LSTMConfig(embed_dim=8, hidden_dim=8).build(3)
    tfm = TransformerConfig(d_model=8, n_heads=2, n_layers=1, context=32).build(3)
    for net, lr in ((lstm, None), (tfm, None), (tfm, 1e-3)):
        train_mod.fit(net, data, config=TrainConfig(seq_len=20, batch_size=4, epochs=1, steps=2, lr=lr), device="cpu")
    assert seen == [2e-3, 6e-3, 1e-3]
    with pytest.raises(ValueError, match="recipe_lr"):
        TrainConfig().lr_at(0, 0, 10, 1)
    with pytest.raises(ValueError, match="lr must be"):
        TrainConfig(lr=0.0)
