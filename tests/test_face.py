"""The package's face: ``import mdlstm_utils as mu`` gives the subpackages and the names a notebook calls most,
and stays light."""

import subprocess
import sys

import pytest

import mdlstm_utils as mu


@pytest.mark.parametrize("name", sorted(mu.FACE))
def test_every_name_of_the_face_is_the_module_function(name):
    import importlib

    assert getattr(mu, name) is getattr(importlib.import_module(mu.FACE[name]), name)


def test_subpackages_are_attributes_and_a_wrong_name_says_what_exists():
    assert mu.lm.experiment.learn_and_compare is mu.learn_and_compare
    assert mu.states.StateSpace is mu.StateSpace
    with pytest.raises(AttributeError, match="learn_and_compare"):
        mu.learn_and_comapre  # noqa: B018


def test_importing_the_package_loads_no_torch():
    code = "import sys, mdlstm_utils; print('torch' in sys.modules, 'deeptime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
