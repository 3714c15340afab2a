"""Soft training targets (mdlstm_utils.lm.targets): the MSM pull and the Good-Turing unseen-mass target."""

import numpy as np
import pytest
import torch

from mdlstm_utils.kinetics import transition_counts
from mdlstm_utils.kinetics.markov import fit_markov
from mdlstm_utils.lm.models import LSTMConfig
from mdlstm_utils.lm.targets import PULL_GRID, soft_targets
from mdlstm_utils.lm.train import TrainConfig, fit
from mdlstm_utils.lm.unseen import good_turing, seen_transitions

# a 12-state ring: each state jumps to its neighbours often and anywhere else rarely (1e-3 each), so that in a
# few thousand frames many rare jumps are seen once or never (what Good-Turing estimates)
N = 12
T = np.full((N, N), 1e-3)
for i in range(N):
    T[i, (i + 1) % N] = 0.12
    T[i, (i - 1) % N] = 0.08
    T[i, i] = 0.0
    T[i, i] = 1 - T[i].sum()


def _chain(n_frames, n_traj, seed):
    rng = np.random.default_rng(seed)
    out = np.zeros((n_traj, n_frames), dtype=np.int64)
    out[:, 0] = rng.integers(N, size=n_traj)
    for t in range(1, n_frames):
        u = rng.random(n_traj)[:, None]
        out[:, t] = (np.cumsum(T[out[:, t - 1]], axis=1) < u).sum(1)
    return list(out)


def _numpy_loss(logits, x, y, w, q, kind):
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    hard = -lp[np.arange(len(y)), y]
    if kind == "msm":
        soft = -(lp * q[x]).sum(1)
    else:
        soft = np.array([-np.log(np.exp(lp[k])[q[x[k]] > 0].sum()) if w[x[k]] > 0 else 0.0 for k in range(len(x))])
    return float(((1 - w[x]) * hard + w[x] * soft).mean())


@pytest.mark.parametrize("kind,strength", [("msm", 0.3), ("good-turing", None)])
def test_the_loss_is_the_mixed_cross_entropy(kind, strength):
    trajs = _chain(400, 4, 0)
    st = soft_targets(trajs, N, kind, strength)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, N))
    x, y = rng.integers(N, size=50), rng.integers(N, size=50)
    got = float(st.to("cpu").loss(torch.tensor(logits), torch.tensor(x), torch.tensor(y)))
    assert got == pytest.approx(_numpy_loss(logits, x, y, st.weight, st.prior, kind), rel=1e-5)


def test_the_tables_come_from_the_training_counts():
    trajs = _chain(400, 4, 0)
    msm = soft_targets(trajs, N, "msm", 0.3)
    np.testing.assert_allclose(msm.prior, fit_markov(trajs, N, 1).transition_matrix())
    assert np.all(msm.weight == 0.3)
    gt = soft_targets(trajs, N, "good-turing")
    np.testing.assert_allclose(gt.weight, good_turing(transition_counts(trajs, N))[1])
    np.testing.assert_array_equal(gt.prior > 0, ~seen_transitions(trajs, N))
    assert soft_targets(trajs, N, "none") is None


@pytest.mark.parametrize("bad", [dict(target="kl"), dict(target="msm", target_strength=0.0),
                                 dict(target="msm", target_strength=1.5), dict(target="good-turing", target_strength=0.3),
                                 dict(target="msm", target_strength=0.3, change_weight=5.0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_the_msm_pull_needs_a_strength_to_train():
    with pytest.raises(ValueError, match="strength"):
        soft_targets(_chain(100, 2, 0), N, "msm")


def _optimum(st, trajs):
    """The per-state next-state distributions that minimise the soft-target loss over the training transitions: a
    free logit table (a bigram model, which the loss's optimum does not depend on), fitted to convergence."""
    x = torch.as_tensor(np.concatenate([t[:-1] for t in trajs]))
    y = torch.as_tensor(np.concatenate([t[1:] for t in trajs]))
    table = torch.zeros(N, N, requires_grad=True)
    opt = torch.optim.LBFGS([table], lr=1.0, max_iter=300, tolerance_grad=1e-10, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")
    tables = st.to("cpu")

    def closure():
        opt.zero_grad()
        loss = tables.loss(table[x], x, y)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.softmax(table, -1).detach().numpy()


def test_the_good_turing_target_sets_each_states_unseen_mass():
    trajs = _chain(3000, 3, 2)
    st = soft_targets(trajs, N, "good-turing")
    unseen = ~seen_transitions(trajs, N)
    p = _optimum(st, trajs)
    mass = (p * unseen).sum(1)
    have = st.weight > 0
    assert have.sum() >= N // 2  # the premise: most states have a Good-Turing share to set
    np.testing.assert_allclose(mass[have], st.weight[have], rtol=0.05)
    # within the seen jumps the model keeps the counts' shape
    c = transition_counts(trajs, N).astype(float)
    i = int(np.argmax(have))
    np.testing.assert_allclose(p[i][c[i] > 0] / p[i][c[i] > 0].sum(), c[i][c[i] > 0] / c[i].sum(), rtol=0.05)


def test_a_full_pull_learns_the_msm_and_a_partial_one_mixes():
    trajs = _chain(3000, 3, 2)
    msm = fit_markov(trajs, N, 1).transition_matrix()
    c = transition_counts(trajs, N).astype(float)
    empirical = c / c.sum(1, keepdims=True)
    np.testing.assert_allclose(_optimum(soft_targets(trajs, N, "msm", 1.0), trajs), msm, atol=0.01)
    np.testing.assert_allclose(_optimum(soft_targets(trajs, N, "msm", 0.3), trajs), 0.7 * empirical + 0.3 * msm,
                               atol=0.01)


def test_fit_trains_on_the_soft_target_and_validates_on_the_plain_loss():
    trajs = _chain(600, 3, 4)
    results = {}
    for extra in ({}, dict(target="msm", target_strength=1.0)):
        torch.manual_seed(0)
        model = LSTMConfig(hidden_dim=8, embed_dim=4).build(N)
        tr = fit(model, trajs, config=TrainConfig(seq_len=20, batch_size=16, steps=30, **extra), device="cpu",
                 progress=False)
        results[extra.get("target", "none")] = tr
    # the same weights at the start, different losses: the training loss differs, the validation loss is the
    # plain cross-entropy of each model
    assert results["msm"].history[0].train_loss != pytest.approx(results["none"].history[0].train_loss, rel=1e-3)
    assert all(np.isfinite(h.val_loss) for r in results.values() for h in r.history)


def test_learn_and_compare_chooses_the_pull_on_validation_loss():
    from mdlstm_utils.lm.experiment import learn_and_compare
    from mdlstm_utils.states import from_labels

    space = from_labels(np.stack(_chain(600, 4, 3)), dt="1ps", sets=[[0, 1, 2], [3, 4, 5]], set_names=["A", "B"])
    res = learn_and_compare(space, hidden=8, train_steps=20, seq_len=20, target="msm", device="cpu",
                            baselines=None, noise_pairs=0, validated_msm=False)
    rec = res.metrics["target"]
    assert rec["grid"] == list(PULL_GRID) and len(rec["losses"]) == len(PULL_GRID)
    assert rec["value"] == PULL_GRID[int(np.argmin(rec["losses"]))]
    assert res.train.best_val_loss == pytest.approx(min(rec["losses"]))
