"""A notebook's opening and closing (runtime.start, Lesson.finish) and the device resolved once."""

import json
import time

import numpy as np
import pytest
import torch

from mdlstm_utils import runtime

PROFILES = dict(smoke=dict(n=1, train=dict(steps=None)), quick=dict(n=2, train=dict(steps=10)), full=dict(n=3))


def _start(profile="smoke", out_dir=None, **kw):
    return runtime.start("99_test", profile=profile, device="cpu", seed=kw.pop("seed", 3), out_dir=out_dir, **PROFILES, **kw)


def test_start_picks_the_profile_resolves_the_device_and_seeds():
    t0 = time.perf_counter()
    lesson = _start("quick", params=dict(n_bins=(40, int), kT=(1, float)))
    assert (lesson.notebook, lesson.profile, lesson.seed, lesson.out_dir) == ("99_test", "quick", 3, None)
    assert lesson.cfg == PROFILES["quick"] and lesson.cfg is not PROFILES["quick"]
    assert isinstance(lesson.device, torch.device) and lesson.device == torch.device("cpu")
    assert t0 <= lesson.started <= time.perf_counter()
    # the generator and the global ones are those of seed_everything(seed)
    first = lesson.rng.random(3), np.random.random(), torch.rand(1).item()
    runtime.seed_everything(3)
    np.testing.assert_array_equal(first[0], np.random.default_rng(3).random(3))
    assert first[1] == np.random.random() and first[2] == torch.rand(1).item()


@pytest.mark.parametrize("bad, name", [
    (dict(profile=1), "profile"), (dict(device=None), "device"), (dict(seed=1.5), "seed"), (dict(seed=True), "seed"),
    (dict(out_dir=3), "out_dir"), (dict(params=dict(n_bins=("40", int))), "n_bins"),
])
def test_a_parameter_of_the_wrong_type_is_named(bad, name):
    args = {**dict(profile="smoke", device="cpu", seed=0, out_dir=None), **bad}
    with pytest.raises(TypeError, match=rf"notebook parameter {name}=.* has type"):
        runtime.start("99_test", **args, **PROFILES)


def test_unknown_profile_lists_the_choices_and_bad_params_are_refused():
    with pytest.raises(ValueError, match=r"profile='fast' is not one of \['full', 'quick', 'smoke'\]"):
        _start("fast")
    with pytest.raises(ValueError, match="params names seed"):
        _start(params=dict(seed=(0, int)))
    with pytest.raises(ValueError, match="seed must be >= 0"):
        _start(seed=-1)
    with pytest.raises(TypeError, match="notebook must be"):
        runtime.start("", profile="smoke", device="cpu", seed=0, out_dir=None, **PROFILES)


def _finish(lesson, checks, **kw):
    metrics = {"err": np.float64(0.125), "curve": np.array([1.0, np.nan]), "missing": np.inf}
    out = lesson.finish(metrics, question="Does it learn?", numbers={"error": runtime.fmt(0.125, ".0%")},
                        checks=checks, figure="fig.png", n_bins=40, **kw)
    assert metrics == {"err": 0.125, "curve": metrics["curve"], "missing": np.inf}, "the input is not changed"
    return out


def test_finish_writes_metrics_json_and_returns_the_same_dict(tmp_path, capsys):
    lesson = _start("quick", out_dir=str(tmp_path / "run"))
    out = _finish(lesson, {"a": True, "b": False, "c": None})
    assert capsys.readouterr().out == "verdict: met: a; not met: b\n"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == out
    assert list(out)[:3] == ["notebook", "profile", "seed"] and list(out)[-2:] == ["environment", "headline"]
    assert (out["notebook"], out["profile"], out["seed"], out["n_bins"]) == ("99_test", "quick", 3, 40)
    assert out["err"] == 0.125 and out["curve"] == [1.0, None] and out["missing"] is None  # JSON-ready
    assert out["headline"] == {"question": "Does it learn?", "numbers": [{"label": "error", "value": "12%"}],
                               "verdict": "met: a; not met: b", "figure": "fig.png"}
    assert out["environment"]["device"] == "cpu" and out["environment"]["packages"]["numpy"] == np.__version__
    assert lesson.verdict({"a": True, "b": False}) == out["headline"]["verdict"]
    # a re-run closing cell passes the finished dict back: the same entries, the lesson's values
    again = lesson.finish(out, question="Does it learn?", numbers={"error": "12%"}, checks={"a": True, "b": False},
                          figure="fig.png")
    assert {k: v for k, v in again.items() if k != "environment"} == {k: v for k, v in out.items() if k != "environment"}


def test_smoke_is_not_judged_and_no_out_dir_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = _finish(_start("smoke"), {"a": False})
    assert out["headline"]["verdict"] == "not judged: the smoke profile only checks that the notebook runs"
    assert capsys.readouterr().out.startswith("verdict: not judged")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="finish\\(\\) writes seed itself"):
        _finish(_start("smoke"), {}, seed=1)


def test_finish_records_how_many_seeds_a_profile_trains(tmp_path):
    # the record's conditions must say how many seeds its numbers rest on (03 trained 3 in full and its record
    # said only "seed 0"); seeds the notebook records itself win
    many = dict(smoke=dict(n_seeds=1), quick=dict(n_seeds=1), full=dict(n_seeds=3))
    lesson = runtime.start("99_test", profile="full", device="cpu", seed=0, out_dir=None, **many)
    assert _finish(lesson, {"a": True})["n_seeds"] == 3
    assert "n_seeds" not in _finish(lesson, {"a": True}, seeds=[0, 1, 2])
    assert "n_seeds" not in _finish(_start("full"), {"a": True})  # a profile without seeds records none


def test_save_figure_writes_into_out_dir(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    _start().save_figure(fig, "nothing")  # out_dir None
    _start(out_dir=str(tmp_path)).save_figure(fig, "fig")
    plt.close(fig)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_a_torch_device_is_returned_as_it_is_without_probing(monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("the machine was probed")

    dev = torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", probe)
    monkeypatch.setattr(torch.cuda, "device_count", probe)
    monkeypatch.setattr(torch.backends.mps, "is_available", probe)
    assert runtime.resolve_device(dev) is dev
    assert runtime.environment_info(dev)["device"] == "cpu"
    with pytest.raises(AssertionError, match="probed"):  # "auto" does look
        runtime.resolve_device("auto")
