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


# ---- a parameter papermill injected but the notebook does not declare, and bad values: one line, before any work

OWN = ('# Parameters (papermill overrides these)\n'
       'profile = "quick"\ndevice = "auto"\nseed = 0\nout_dir = None\nkT = 0.75\n')


def _injected(**values):
    """The cell papermill injects for ``-p name value`` (papermill's own translator, so its format is the real one)."""
    from papermill.translators import PythonTranslator

    return PythonTranslator.codify(values)


def test_an_undeclared_injected_parameter_is_refused_with_the_closest_name_and_the_list():
    history = ["", "import numpy as np", OWN, _injected(sede=1, profile="smoke"), "from mdlstm_utils import runtime"]
    with pytest.raises(runtime.ParameterError) as err:
        runtime.check_injected_parameters(history)
    msg = str(err.value)
    assert "\n" not in msg and "no parameter sede (did you mean seed?)" in msg
    assert msg.endswith("its parameters are: profile, device, seed, out_dir, kT")
    assert isinstance(err.value, ValueError)
    assert err.value._render_traceback_() == [f"ParameterError: {msg}"]  # what IPython shows: one line


def test_declared_injected_parameters_pass_and_without_papermill_nothing_is_checked():
    assert runtime.check_injected_parameters(["", OWN, _injected(seed=2, kT=1.0), "x = 1"]) == ["seed", "kT"]
    # papermill's own names (--inject-paths), a re-run injected cell, and the cell before it when no own marker
    assert runtime.check_injected_parameters(
        [OWN, _injected(seed=2, PAPERMILL_INPUT_PATH="a.ipynb"), _injected(seed=3)]) == ["seed"]
    assert runtime.check_injected_parameters(["seed = 0\nkT = 1", _injected(kT=2)]) == ["kT"]
    with pytest.raises(runtime.ParameterError, match="no parameter kt .did you mean kT.."):
        runtime.check_injected_parameters(["seed = 0\nkT = 1", _injected(kt=2)])
    assert runtime.check_injected_parameters(["", OWN, "seed = 5"]) == []  # JupyterLab: the user edits the cell
    assert runtime.check_injected_parameters([OWN, "%%bash\n# Parameters\nsede = 1 +"]) == []  # not Python
    assert runtime.check_injected_parameters() == []  # outside an IPython kernel: nothing to read
    cell = "a, (b, *c) = x\nd['k'] = 1\ne: int = 2\n%matplotlib inline\nf += 1"
    assert runtime._assigned_names(cell) == ["a", "b", "c", "e"]


@pytest.mark.parametrize("bad, cls, text", [
    (dict(profile="fast"), runtime.ParameterError, "profile='fast' is not one of ['full', 'quick', 'smoke']"),
    (dict(device="tpu"), runtime.ParameterError, "device='tpu'"),
    (dict(seed=-1), runtime.ParameterError, "seed must be >= 0, got -1"),
    (dict(seed="1"), runtime.ParameterTypeError, "notebook parameter seed='1' has type str"),
])
def test_a_bad_value_fails_at_start_with_one_line(bad, cls, text):
    args = {**dict(profile="smoke", device="cpu", seed=0, out_dir=None), **bad}
    with pytest.raises(cls) as err:
        runtime.start("99_test", **args, **PROFILES)
    assert text in str(err.value) and "\n" not in str(err.value)
    assert err.value._render_traceback_() == [f"{cls.__name__}: {err.value}"]


@pytest.mark.notebook
def test_papermill_by_hand_stops_at_a_mistyped_parameter_in_seconds(tmp_path):
    """``papermill nb.ipynb out.ipynb -p sede 1`` in a real kernel: refused by runtime.start, one line, in seconds."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    params = nbformat.v4.new_code_cell(OWN)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# a lesson"), params, nbformat.v4.new_code_cell(
        "from mdlstm_utils import runtime\n"
        "lesson = runtime.start('99_test', profile=profile, device=device, seed=seed, out_dir=out_dir,\n"
        "                       params=dict(kT=(kT, float)), smoke={}, quick={}, full={})\n"
        "print('seed', lesson.seed)")]
    src = tmp_path / "lesson.ipynb"
    nbformat.write(nb, src)
    run = dict(kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
               extra_arguments=["--IPKernelApp.log_level=ERROR"])
    t0 = time.perf_counter()
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters=dict(sede=1, profile="smoke"), **run)
    assert time.perf_counter() - t0 < 60
    e = err.value
    assert e.ename == "ParameterError" and "no parameter sede (did you mean seed?)" in e.evalue
    assert e.traceback == [f"ParameterError: {e.evalue}"]  # one line, no traceback through the package
    out = pm.execute_notebook(str(src), str(tmp_path / "ok.ipynb"), parameters=dict(seed=2, profile="smoke"), **run)
    assert out.cells[-1].outputs[0]["text"] == "seed 2\n"
