"""The unseen-transition diagnostic (mdlstm_utils.lm.unseen): each piece against a number worked out by hand."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from torch import nn

from mdlstm_utils.lm.models import LSTMLM, TransformerLM
from mdlstm_utils.lm.train import make_windows
from mdlstm_utils.lm.unseen import (
    UnseenTransitions,
    good_turing,
    model_unseen_mass,
    seen_transitions,
    slowest_sides,
    transition_rates,
    unseen_diagnostic,
)

# training pairs: 0->0, 0->1, 1->1, 1->0, 0->2, 2->2, 2->0  => seen jumps 0<->1, 0<->2; unseen 1<->2, and 3 everywhere
TRAIN = [np.array([0, 0, 1, 1, 0, 2, 2, 0])]
# test pairs: 0->1 s, 1->2 U, 2->1 U, 1->0 s, 0->0 s, 0->2 s, 2->1 U, 1->3 U, 3->3 s (self) => 4 unseen of 9
TEST = [np.array([0, 1, 2, 1, 0, 0, 2, 1, 3, 3])]
SIDES = np.array([0, 0, 1, 1])  # {0, 1} | {2, 3}: unseen 1->2, 2->1, 2->1 cross, 1->3 crosses too


class FixedMarkov(nn.Module):
    """A stub with the models' forward signature whose next-state distribution depends on the current token
    only: ``softmax(logits[x_t]) = P[x_t]``, so the unseen mass is known exactly."""

    def __init__(self, P: np.ndarray):
        super().__init__()
        self.logits = nn.Parameter(torch.log(torch.as_tensor(P, dtype=torch.float32)))

    def forward(self, tokens, state=None):
        return self.logits[tokens.long()], state


def test_seen_mask_counts_jumps_of_the_training_data_and_the_diagonal():
    seen = seen_transitions(TRAIN, 4)
    expected = np.eye(4, dtype=bool)
    for i, j in [(0, 1), (1, 0), (0, 2), (2, 0)]:
        expected[i, j] = True
    np.testing.assert_array_equal(seen, expected)
    # a jump only across the end of one trajectory and the start of the next is not a transition
    np.testing.assert_array_equal(seen_transitions([np.array([0, 1]), np.array([2, 2])], 4),
                                  np.eye(4, dtype=bool) | (np.arange(4)[:, None] == 0) & (np.arange(4) == 1))


def test_good_turing_on_hand_counts():
    C = np.array([[5, 1, 1, 0],   # n=7, singleton jumps to 1 and 2     -> 2/7
                  [2, 3, 0, 1],   # n=6, singleton jump to 3            -> 1/6
                  [0, 0, 0, 0],   # no transitions out                  -> NaN
                  [1, 1, 1, 1]])  # n=4, singletons 0, 1, 2 (3->3 self) -> 3/4
    total, per_state = good_turing(C)
    np.testing.assert_allclose(per_state[[0, 1, 3]], [2 / 7, 1 / 6, 3 / 4], rtol=1e-12)
    assert np.isnan(per_state[2])
    assert total == pytest.approx(6 / 17, rel=1e-12)
    # the per-frame number is the occupancy-weighted mean of the per-state ones
    n = C.sum(1)
    assert total == pytest.approx(np.nansum(per_state * n) / n.sum(), rel=1e-12)
    with pytest.raises(ValueError, match="no transitions"):
        good_turing(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="square"):
        good_turing(np.ones((2, 3)))


def test_held_out_rate_on_a_constructed_pair():
    seen = seen_transitions(TRAIN, 4)
    r = transition_rates(TEST, seen, SIDES)
    assert (r.n_pairs, r.n_unseen) == (9, 4)
    assert r.unseen_rate == pytest.approx(4 / 9, rel=1e-12)
    # per current state: 0: 0/3; 1: (1->2, 1->3) 2/3; 2: (2->1, 2->1) 2/2; 3: (3->3) 0/1
    np.testing.assert_allclose(r.unseen_per_state, [0, 2 / 3, 1, 0], rtol=1e-12)
    assert r.unseen_crossing_share == pytest.approx(1.0)
    # crossings: 1->2, 2->1, 0->2, 2->1, 1->3 = 5 of 9
    assert (r.n_crossings, r.crossing_rate) == (5, pytest.approx(5 / 9, rel=1e-12))
    # with 3 on side 0 only the 1->2 and 2->1 jumps cross: 3 of the 4 unseen
    r2 = transition_rates(TEST, seen, np.array([0, 0, 1, 0]))
    assert r2.unseen_crossing_share == pytest.approx(3 / 4, rel=1e-12)
    assert r2.n_crossings == 4  # 1->2, 2->1, 0->2, 2->1
    assert json.dumps(r.to_dict(), allow_nan=False)


def test_crossing_rate_on_a_constructed_trajectory_and_states_with_no_side():
    seen = np.ones((3, 3), dtype=bool)
    traj = [np.array([0, 0, 1, 1, 0, 1, 1, 1]), np.array([0, 2, 1, 1])]
    # first: 0->1, 1->0, 0->1 cross (3 of 7); second: 0->2, 2->1 touch the side-less state 2 (0 of 3)
    r = transition_rates(traj, seen, np.array([0, 1, -1]))
    assert (r.n_pairs, r.n_crossings, r.n_unseen) == (10, 3, 0)
    assert r.crossing_rate == pytest.approx(0.3, rel=1e-12)
    assert np.isnan(r.unseen_crossing_share)
    none = transition_rates(traj, seen)  # no sides: no crossings
    assert none.n_crossings == 0 and np.isnan(none.crossing_rate)


def test_teacher_forced_mass_equals_the_analytic_value():
    P = np.array([[0.70, 0.15, 0.10, 0.05],
                  [0.20, 0.50, 0.25, 0.05],
                  [0.30, 0.40, 0.20, 0.10],
                  [0.25, 0.25, 0.25, 0.25]])
    seen = seen_transitions(TRAIN, 4)
    unseen_by_state = (P * ~seen).sum(1)  # [0.05, 0.30, 0.50, 0.75]
    np.testing.assert_allclose(unseen_by_state, [0.05, 0.30, 0.50, 0.75])
    cross_by_state = (P * (~seen & (SIDES[:, None] != SIDES[None, :]))).sum(1)  # [0.05, 0.30, 0.40, 0.50]
    rng = np.random.default_rng(0)
    test = [rng.integers(0, 4, size=n) for n in (57, 33, 140)]
    x = make_windows(test, 6)[:, :-1]
    res = model_unseen_mass(FixedMarkov(P), test, seen, seq_len=6, sides=SIDES, batch_size=3)
    assert res.n_frames == x.size
    np.testing.assert_allclose(res.unseen_mass_per_state, unseen_by_state, rtol=1e-5)
    assert res.unseen_mass == pytest.approx(unseen_by_state[x].mean(), rel=1e-5)
    assert res.unseen_crossing_mass == pytest.approx(cross_by_state[x].mean(), rel=1e-5)
    # batches only split the sum
    one = model_unseen_mass(FixedMarkov(P), test, seen, seq_len=6, sides=SIDES, batch_size=1000)
    assert one.unseen_mass == pytest.approx(res.unseen_mass, rel=1e-6)
    assert json.dumps(res.to_dict(), allow_nan=False)


def test_teacher_forced_mass_of_an_lstm_whose_output_is_its_bias():
    """An LSTMLM whose output layer has zero weights predicts softmax(bias) at every position."""
    p = np.array([0.4, 0.3, 0.2, 0.1])
    model = LSTMLM(4, embed_dim=4, hidden_dim=8)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.log(torch.as_tensor(p)))
    model.train()
    seen = seen_transitions(TRAIN, 4)
    res = model_unseen_mass(model, TEST * 3, seen, seq_len=4)
    x = make_windows(TEST * 3, 4)[:, :-1]
    per_state = (p[None, :] * ~seen).sum(1)  # [0.1, 0.3, 0.4, 0.9]
    occurring = np.unique(x)
    np.testing.assert_allclose(res.unseen_mass_per_state[occurring], per_state[occurring], rtol=1e-5)
    assert res.unseen_mass == pytest.approx(per_state[x].mean(), rel=1e-5)
    assert np.isnan(res.unseen_crossing_mass)  # no sides given
    assert model.training  # the mode is restored


def _two_block_chain(n_frames: int, seed: int = 0) -> np.ndarray:
    """States {0, 1} and {2, 3}: fast hops inside a block, a rare jump 1 <-> 2 between them."""
    T = np.array([[0.80, 0.20, 0.00, 0.00],
                  [0.20, 0.79, 0.01, 0.00],
                  [0.00, 0.01, 0.79, 0.20],
                  [0.00, 0.00, 0.20, 0.80]])
    rng = np.random.default_rng(seed)
    cum = T.cumsum(1)
    u = rng.random(n_frames)
    x = np.empty(n_frames, dtype=np.int64)
    x[0] = 0
    for t in range(1, n_frames):
        x[t] = min(np.searchsorted(cum[x[t - 1]], u[t], side="right"), 3)
    return x


def test_sides_of_a_two_block_chain():
    traj = _two_block_chain(20000)
    np.testing.assert_array_equal(slowest_sides([traj], 4), [0, 0, 1, 1])
    # a state never visited has no side; the orientation follows the lowest connected state
    np.testing.assert_array_equal(slowest_sides([traj + 1], 5), [-1, 0, 0, 1, 1])
    np.testing.assert_array_equal(slowest_sides([traj], 5, sets=[[2, 3], [0]]), [1, -1, 0, 0, -1])
    with pytest.raises(ValueError, match="exactly 2"):
        slowest_sides([traj], 4, sets=[[0], [1], [2, 3]])
    with pytest.raises(ValueError, match="overlap"):
        slowest_sides([traj], 4, sets=[[0, 1], [1, 2]])


def test_diagnostic_end_to_end_with_a_small_lstm():
    traj = _two_block_chain(6000, seed=1)
    train, test = [traj[:4000]], [traj[4000:]]
    gen, msm = [_two_block_chain(2000, seed=2)], [_two_block_chain(2000, seed=3)]
    torch.manual_seed(0)
    model = LSTMLM(4, embed_dim=8, hidden_dim=16)
    with torch.no_grad():  # uniform output: the unseen mass of state i is (its unseen next states) / 4
        model.head.weight.zero_()
        model.head.bias.zero_()
    t0 = time.perf_counter()
    res = unseen_diagnostic(model, train, test, gen, n_states=4, seq_len=50, msm=msm, batch_size=16)
    assert time.perf_counter() - t0 < 10
    assert isinstance(res, UnseenTransitions)
    np.testing.assert_array_equal(res.sides, [0, 0, 1, 1])
    # the chain never jumps 0<->2, 0<->3, 1<->3: 2 unseen next states for 0 and 3, 1 for 1 and 2
    assert res.n_seen == 6
    np.testing.assert_allclose(res.model.unseen_mass_per_state, [0.5, 0.25, 0.25, 0.5], rtol=1e-5)
    assert res.held_out.n_unseen == 0 and res.generated.n_unseen == 0
    assert res.good_turing < 1e-3  # every jump of the chain occurs many times in 4000 frames
    assert 0 < res.held_out.crossing_rate < 0.02
    assert res.msm is not None and res.msm.n_pairs == 1999
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["model_unseen_mass"] == pytest.approx(res.model.unseen_mass)
    assert len(d["held_out_unseen_per_state"]) == 4 and "msm_crossing_rate" in d
    text = res.summary()
    assert text.count("\n") == 1 and "Good-Turing" in text and "%" in text
    # the same with the sides given as two sets, and no MSM
    res2 = unseen_diagnostic(model, train, test, gen, n_states=4, seq_len=50, sides=[[0, 1], [2, 3]])
    assert res2.msm is None and "msm_crossing_rate" not in res2.to_dict()
    assert res2.model.unseen_mass == pytest.approx(res.model.unseen_mass)


def test_diagnostic_runs_a_transformer_over_windows_longer_than_its_context():
    traj = _two_block_chain(1500, seed=4)
    model = TransformerLM(4, d_model=8, n_heads=2, n_layers=1, context=8)
    res = unseen_diagnostic(model, [traj[:1000]], [traj[1000:]], [traj[1000:]], n_states=4, seq_len=20)
    assert 0 <= res.model.unseen_mass <= 1 and res.model.n_frames == 23 * 20


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(train=[]), ValueError, "train is empty"),
    (dict(test=[np.array([0, 4, 1])]), ValueError, "n_states=4"),
    (dict(generated=[np.array([0, -1])]), ValueError, "negative"),
    (dict(seq_len=1), ValueError, "seq_len"),
    (dict(seq_len=100), ValueError, "seq_len \\+ 1 = 101"),
    (dict(sides=np.array([0, 1, 2, 0])), ValueError, "sides"),
    (dict(train=[np.array([0]), np.array([1])]), ValueError, "no transitions"),
])
def test_diagnostic_rejects_bad_input(kwargs, err, match):
    args = dict(train=TRAIN, test=TEST * 3, generated=TEST, n_states=4, seq_len=5, sides=SIDES)
    args.update(kwargs)
    model = LSTMLM(4, embed_dim=4, hidden_dim=4)
    with pytest.raises(err, match=match):
        unseen_diagnostic(model, args.pop("train"), args.pop("test"), args.pop("generated"), **args)


def test_model_with_the_wrong_vocabulary_is_rejected():
    with pytest.raises(ValueError, match="n_states=4"):
        model_unseen_mass(LSTMLM(5, embed_dim=4, hidden_dim=4), TEST * 3, seen_transitions(TRAIN, 4), seq_len=5)
