"""Unseen-mass calibration at generation time (lm.calibrate): the transform against hand-worked numbers, generated
trajectories that make unseen jumps at the target rate, and generation without a calibration left unchanged."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from torch import nn

from mdlstm_utils.lm.calibrate import Calibration, UnseenCalibrator, generate_calibrated, unseen_calibrator
from mdlstm_utils.lm.generate import generate
from mdlstm_utils.lm.models import LSTMLM, TransformerLM

CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                     reason="needs a CUDA GPU (the CUDA-graph path)"))

# pairs: 0->0, 0->1, 1->1, 1->0, 0->2, 2->2, 2->0, 0->1. State 0: 4 out (0->1 twice, 0->0 and 0->2 once),
# one singleton jump (0->2) -> Good-Turing 1/4; state 1: 2 out, 1->0 once -> 1/2; state 2: 2 out, 2->0 once
# -> 1/2; state 3: never visited -> no estimate. Per frame: 3 singleton jumps (0->2, 1->0, 2->0) in 8 pairs.
TRAIN = [np.array([0, 0, 1, 1, 0, 2, 2, 0, 1])]


def test_good_turing_targets_and_seen_jumps_from_the_training_counts():
    cal = unseen_calibrator(TRAIN, 4)
    np.testing.assert_array_equal(cal.seen, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(cal.target, [0.25, 0.5, 0.5, np.nan])
    assert cal.target_per_frame == pytest.approx(3 / 8)
    rec = cal.to_dict()
    assert rec["target"] == [0.25, 0.5, 0.5, None] and rec["n_seen_jumps"] == 4
    assert rec["calibration"] == {"kind": "good-turing", "target": None, "unvisited": "keep"}
    # unvisited="global": the state with no transitions out gets the per-frame estimate
    np.testing.assert_allclose(unseen_calibrator(TRAIN, 4, Calibration(unvisited="global")).target,
                               [0.25, 0.5, 0.5, 3 / 8])


def test_the_transform_gives_the_hand_worked_probabilities():
    cal = unseen_calibrator(TRAIN, 4)
    p = np.array([0.5, 0.2, 0.1, 0.2])
    # state 0: seen {0, 1, 2} hold 0.8 and get 1 - 1/4; unseen {3} holds 0.2 and gets 1/4
    np.testing.assert_allclose(cal.probabilities(p, 0), [[0.5 * 0.75 / 0.8, 0.2 * 0.75 / 0.8, 0.1 * 0.75 / 0.8, 0.25]],
                               rtol=1e-12)
    # state 1: seen {0, 1} hold 0.7 -> 1/2, unseen {2, 3} hold 0.3 -> 1/2, the model's 1:2 ratio among them kept
    np.testing.assert_allclose(cal.probabilities(p, 1), [[0.5 / 1.4, 0.2 / 1.4, 0.1 / 0.6, 0.2 / 0.6]], rtol=1e-12)
    # state 3 has no training transitions: left as it is (keep) ...
    np.testing.assert_allclose(cal.probabilities(p, 3), [p], rtol=1e-12)
    # ... or given the per-frame estimate 3/8 on its unseen {0, 1, 2} (which hold 0.8)
    glob = unseen_calibrator(TRAIN, 4, Calibration(unvisited="global"))
    np.testing.assert_allclose(glob.probabilities(p, 3), [[0.5 * 0.375 / 0.8, 0.2 * 0.375 / 0.8, 0.1 * 0.375 / 0.8,
                                                           0.625]], rtol=1e-12)
    # rows in one batch, each by its own state
    np.testing.assert_allclose(cal.probabilities(np.stack([p, p]), [0, 1]),
                               np.r_[cal.probabilities(p, 0), cal.probabilities(p, 1)], rtol=1e-12)


def test_edge_cases_mask_nothing_unseen_and_a_group_without_probability():
    # given targets: 0 for state 0 (a mask), 1 for state 1 (only unseen jumps), 0.1 elsewhere
    cal = unseen_calibrator(TRAIN, 4, Calibration("given", target=[0.0, 1.0, 0.1, 0.1]))
    p = np.array([0.5, 0.2, 0.1, 0.2])
    np.testing.assert_allclose(cal.probabilities(p, 0), [[0.5 / 0.8, 0.2 / 0.8, 0.1 / 0.8, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(cal.probabilities(p, 1), [[0.0, 0.0, 1 / 3, 2 / 3]], rtol=1e-12)
    # the model gives state 2's unseen next states {1, 3} no probability at all: nothing to rescale, row kept
    q = np.array([0.6, 0.0, 0.4, 0.0])
    np.testing.assert_allclose(cal.probabilities(q, 2), [q], rtol=1e-12)
    # a state from which every jump was seen: kept whatever its target
    full = unseen_calibrator([np.array([0, 1, 0, 0, 1, 1])], 2, Calibration("given", target=0.3))
    np.testing.assert_allclose(full.probabilities([0.9, 0.1], 0), [[0.9, 0.1]], rtol=1e-12)
    # a tiny unseen mass in float32 logits (e^-60, below float32's smallest normal) is rescaled, not lost
    logits = torch.tensor([[0.0, 0.0, 0.0, -60.0]])
    out = torch.softmax(unseen_calibrator(TRAIN, 4)(logits, torch.tensor([0])), -1)[0]
    assert out[3].item() == pytest.approx(0.25, rel=1e-6) and out[:3].sum().item() == pytest.approx(0.75, rel=1e-6)


def test_forward_in_float32_matches_the_float64_probabilities():
    cal = unseen_calibrator(TRAIN, 4)
    logits = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    cur = torch.arange(32) % 4
    got = torch.softmax(cal(logits, cur), -1).numpy()
    np.testing.assert_allclose(got, cal.probabilities(torch.softmax(logits.double(), -1).numpy(), cur.numpy()),
                               atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="temperature"), "kind must be one of"),
    (dict(unvisited="drop"), "unvisited must be one of"),
    (dict(kind="given"), "needs target="),
    (dict(kind="given", target=1.5), r"target must be a number in \[0, 1\]"),
    (dict(kind="given", target=[0.1, np.nan]), r"target must be a number in \[0, 1\]"),
    (dict(kind="given", target="0.1"), r"target must be a number in \[0, 1\]"),
    (dict(kind="given", target=[[0.1]]), r"target must be a number in \[0, 1\]"),
    (dict(target=0.1), "only for kind='given'"),
    (dict(kind="given", target=0.1, unvisited="global"), "only for kind='good-turing'"),
])
def test_bad_settings_are_refused_with_a_message_that_names_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Calibration(**kwargs)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="one per state"):
        unseen_calibrator(TRAIN, 4, Calibration("given", target=[0.1, 0.2]))
    with pytest.raises(TypeError, match="must be a Calibration"):
        unseen_calibrator(TRAIN, 4, "good-turing")
    with pytest.raises(ValueError, match="no transitions"):
        unseen_calibrator([np.array([1])], 4)
    with pytest.raises(ValueError):
        unseen_calibrator(TRAIN, 2)  # label 2 is not a state of a 2-state model
    assert unseen_calibrator(TRAIN, 4, Calibration("none")) is None


class _Markov(nn.Module):
    """A model whose next-state distribution is a fixed transition matrix: its unseen mass is known exactly."""

    graph_safe_step = True

    def __init__(self, T):
        super().__init__()
        self.register_buffer("logT", torch.log(torch.as_tensor(T, dtype=torch.float32)))
        self.config = {"n_states": len(T)}

    def init_state(self, batch_size, device="cpu"):
        return (torch.zeros(batch_size, 1, device=device),)

    def forward(self, tokens, state=None):
        return self.logT[tokens.long()], state

    def step(self, tokens, state):
        return self.logT.index_select(0, tokens.long()), state


def _chain(T, n, rng, start=0):
    x = np.empty(n, dtype=np.int64)
    x[0] = start
    for t in range(1, n):
        x[t] = rng.choice(len(T), p=T[x[t - 1]])
    return x


def _pair_counts(trajs, n):
    c = np.zeros((n, n))
    for t in trajs:
        np.add.at(c, (t[:-1], t[1:]), 1)
    return c


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("fast", [False, True])
def test_generated_trajectories_make_unseen_jumps_at_the_good_turing_rate(device, fast):
    n = 6
    rng = np.random.default_rng(1)
    T = 0.7 * np.eye(n) + 0.3 * rng.dirichlet(np.ones(n) * 0.5, size=n)  # every jump possible, some rare
    train = [_chain(T, 150, rng, s) for s in range(3)]
    cal = unseen_calibrator(train, n)
    assert np.all(np.isfinite(cal.target)) and (~cal.seen).sum() >= 6  # the test has unseen jumps to scale
    model = _Markov(T)
    prompt = np.arange(4000)[:, None] % n
    gen = generate_calibrated(model, 60, train=train, prompt=prompt, seed=3, device=device, progress=False,
                              fast=fast, block=16, chunk_size=25)
    c = _pair_counts([np.r_[p, g] for p, g in zip(prompt, gen)], n)  # the prompt's last frame -> the first new one
    expected = cal.probabilities(T, np.arange(n))  # the calibrated chain, exactly
    for i in range(n):
        n_i, unseen_i = c[i].sum(), c[i][~cal.seen[i]].sum()
        g = cal.target[i]
        assert abs(unseen_i / n_i - g) <= 4 * np.sqrt(g * (1 - g) / n_i) + 1e-12, (i, unseen_i / n_i, g)
        ok = expected[i] > 0  # the whole row, shape within seen and unseen kept: a goodness-of-fit test
        assert chisquare(c[i][ok], n_i * expected[i][ok]).pvalue > 1e-4, i
    # power: without the calibration the unseen rate is the model's own, far from the target
    plain = generate(model, 60, prompt=prompt, seed=3, device=device, progress=False, fast=fast, block=16)
    cp = _pair_counts([np.r_[p, g] for p, g in zip(prompt, plain)], n)
    own = (T * ~cal.seen).sum(1)
    assert np.max(np.abs(own - cal.target)) > 0.02
    worst = np.argmax(np.abs(own - cal.target))
    assert abs(cp[worst][~cal.seen[worst]].sum() / cp[worst].sum() - own[worst]) < 0.01


def _lstm(v=5):
    torch.manual_seed(0)
    m = LSTMLM(v, embed_dim=8, hidden_dim=16)
    with torch.no_grad():  # sharper, history-dependent dynamics than a fresh initialisation
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("fast", [False, True])
def test_an_lstm_with_memory_generates_unseen_jumps_at_a_given_rate(device, fast):
    # the transform fixes the unseen mass at every step whatever the history, so the rate is the target exactly
    v, target = 5, 0.05
    train = [np.array([0, 1, 2, 3, 4, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0])]  # seen: i -> i and i -> i + 1 (mod 5)
    model = _lstm(v)
    prompt = np.random.default_rng(0).integers(0, v, size=(4096, 3))
    opts = dict(prompt=prompt, seed=2, device=device, progress=False, fast=fast, block=16, chunk_size=24)
    gen = generate_calibrated(model, 40, train=train, calibration=Calibration("given", target=target), **opts)
    seen = unseen_calibrator(train, v).seen
    full = np.c_[prompt[:, -1], gen]
    unseen = ~seen[full[:, :-1], full[:, 1:]]
    sd = np.sqrt(target * (1 - target) / unseen.size)
    assert abs(unseen.mean() - target) < 4 * sd, (unseen.mean(), target, sd)
    plain = np.c_[prompt[:, -1], generate(model, 40, **opts)]
    assert abs((~seen[plain[:, :-1], plain[:, 1:]]).mean() - target) > 40 * sd  # the model's own rate is elsewhere


@pytest.mark.parametrize("fast", [False, True])
def test_no_calibration_gives_exactly_what_generate_gives(fast):
    model = _lstm()
    prompt = np.random.default_rng(0).integers(0, 5, size=(64, 4))
    opts = dict(prompt=prompt, seed=5, device="cpu", progress=False, fast=fast, block=16, chunk_size=30)
    ref = generate(model, 70, **opts)
    np.testing.assert_array_equal(generate_calibrated(model, 70, train=TRAIN, calibration=Calibration("none"), **opts),
                                  ref)
    # the hook itself changes nothing when the transform changes nothing (same random numbers, same draws)
    np.testing.assert_array_equal(generate(model, 70, step_transform=lambda logits, cur: logits, **opts), ref)
    # ... and a temperature other than 1 keeps working as before without a calibration
    hot = dict(opts, temperature=1.5)
    np.testing.assert_array_equal(generate_calibrated(model, 70, train=TRAIN, calibration=Calibration("none"), **hot),
                                  generate(model, 70, **hot))


def test_the_transformer_paths_take_the_hook_too():
    torch.manual_seed(0)
    tf = TransformerLM(5, d_model=16, n_heads=2, n_layers=1, context=8)
    prompt = np.random.default_rng(0).integers(0, 5, size=(32, 4))
    for use_cache in (True, False):
        opts = dict(prompt=prompt, seed=5, device="cpu", progress=False, use_cache=use_cache)
        np.testing.assert_array_equal(generate(tf, 30, step_transform=lambda logits, cur: logits, **opts),
                                      generate(tf, 30, **opts))
        # a mask to the seen jumps (target 0) leaves no unseen jump on either path
        gen = generate_calibrated(tf, 30, train=[np.array([0, 1, 2, 3, 4, 0, 1])],
                                  calibration=Calibration("given", target=0.0), **opts)
        full = np.c_[prompt[:, -1], gen]
        assert np.all((full[:, 1:] == full[:, :-1]) | (full[:, 1:] == (full[:, :-1] + 1) % 5))


def test_generate_calibrated_refuses_what_would_undo_it():
    model = _lstm()
    with pytest.raises(ValueError, match="temperature"):
        generate_calibrated(model, 5, train=TRAIN, start=np.zeros(2, int), temperature=1.5, progress=False)
    with pytest.raises(ValueError, match="step_transform"):
        generate_calibrated(model, 5, train=TRAIN, start=np.zeros(2, int), step_transform=lambda x, c: x)
    with pytest.raises(TypeError, match="step_transform must be None or a callable"):
        generate(model, 5, start=np.zeros(2, int), step_transform="good-turing")
    assert isinstance(unseen_calibrator(TRAIN, 5), UnseenCalibrator)
