"""k-fold over trajectories or blocks, for data too few for one training / test split (mdlstm_utils.states.split,
mdlstm_utils.lm.experiment.learn_folds)."""

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel

from mdlstm_utils.lm.experiment import FoldResult, learn_and_compare, learn_folds
from mdlstm_utils.states import from_labels, kfold_splits, train_test_split

P = np.array([[0.9, 0.09, 0.01, 0.0], [0.09, 0.9, 0.0, 0.01], [0.01, 0.0, 0.9, 0.09], [0.0, 0.01, 0.09, 0.9]])
CHAIN = MarkovStateModel(P)


def _frames(split, part):
    pieces, src, start = ((split.train, split.train_source, split.train_start) if part == "train"
                          else (split.test, split.test_source, split.test_start))
    return {(int(i), f) for t, i, a in zip(pieces, src, start) for f in range(a, a + len(t))}


def test_every_trajectory_is_in_the_test_part_of_exactly_one_fold():
    trajs = [np.full(30, i) for i in range(10)]
    splits = kfold_splits(trajs, 4, seed=2, n_states=10)
    assert [s.fold for s in splits] == [0, 1, 2, 3] and all(s.n_folds == 4 for s in splits)
    assert all(s.protocol == "trajectories k-fold" for s in splits)
    tested = np.concatenate([s.test_source for s in splits])
    assert sorted(tested.tolist()) == list(range(10))  # each once
    assert sorted(len(s.test) for s in splits) == [2, 2, 3, 3]
    for s in splits:  # no training trajectory in its fold's test part; together they hold all
        assert set(s.train_source.tolist()).isdisjoint(s.test_source.tolist())
        assert len(s.train) + len(s.test) == 10
    assert splits[1].to_dict()["fold"] == 1 and "fold 2 of 4" in splits[1].describe()
    again = kfold_splits(trajs, 4, seed=2, n_states=10)
    assert all(np.array_equal(a.test_source, b.test_source) for a, b in zip(splits, again))  # the seed decides


def test_one_long_trajectory_is_cut_into_blocks_each_tested_once():
    long = [np.arange(1000) % 5]
    splits = kfold_splits(long, 5, seed=0)
    assert all(s.protocol == "blocks k-fold" for s in splits)
    tested = [_frames(s, "test") for s in splits]
    assert set().union(*tested) == {(0, f) for f in range(1000)} and sum(len(t) for t in tested) == 1000
    for s, t in zip(splits, tested):
        assert _frames(s, "train").isdisjoint(t)
    with pytest.raises(ValueError, match="3 folds need at least 3"):
        kfold_splits([np.zeros(4, dtype=int)], 3)


def test_learn_and_compare_takes_a_fold_and_refuses_a_split_of_other_data():
    trajs = np.array([CHAIN.simulate(400, seed=i) for i in range(6)])
    sp = kfold_splits(trajs, 3, seed=1)[2]
    res = learn_and_compare(trajs, 4, [[0, 1], [2, 3]], split=sp, hidden=8, train_steps=3, seq_len=20, prompt_len=10,
                            device="cpu", validated_msm=False, noise_pairs=0)
    ev = res.metrics["evaluation"]
    assert ev["protocol"] == "trajectories k-fold" and ev["fold"] == 2 and ev["test_source"] == sp.test_source.tolist()
    other = train_test_split(trajs[::-1].copy(), seed=0)
    with pytest.raises(ValueError, match="not a split of these labels"):
        learn_and_compare(trajs, 4, split=other, hidden=8, train_steps=2, seq_len=20, device="cpu")
    with pytest.raises(ValueError, match="not both"):
        learn_and_compare(trajs, 4, split=sp, n_train=2, hidden=8, device="cpu")


def test_learn_folds_judges_every_fold_and_drops_none():
    space = from_labels(np.array([CHAIN.simulate(500, seed=10 + i) for i in range(4)]), dt="1ps",
                        sets=[[0, 1], [2, 3]], set_names=["A", "B"])
    out = learn_folds(space, 2, hidden=8, train_steps=3, seq_len=20, prompt_len=10, device="cpu", its_samples=10,
                      noise_pairs=0)
    assert out.n_folds == 2 and [r.split.fold for r in out.results] == [0, 1]
    assert set(out.results[0].split.test_source.tolist()) == set(out.results[1].split.train_source.tolist())
    for name, e in out.errors.items():
        assert e.shape == (2,)
        assert out.mean(name) == pytest.approx(np.mean([r.slow.error(name) for r in out.results]))
    d = out.to_dict()
    assert d["n_folds"] == 2 and len(d["folds"]) == 2
    # a fold whose model missed a process counts as an infinite error, it is not left out of the mean
    assert FoldResult(out.results, {"generated": np.array([0.1, np.inf])}).mean() == np.inf
