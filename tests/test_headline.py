"""The summary every notebook writes for the landing page: verdict per profile, headline, number format."""

import numpy as np
import pytest

from mdlstm_utils import runtime


def test_verdict_per_profile():
    checks = {"populations within 0.02": True, "MFPTs within 25 %": False, "not answerable": None}
    assert runtime.verdict("quick", checks) == "met: populations within 0.02; not met: MFPTs within 25 %"
    assert runtime.verdict("full", {"a": True}) == "met: a"
    assert runtime.verdict("full", {"a": None}) == "no target answered"
    # numpy booleans (a comparison of numpy numbers) are judged like Python ones
    assert runtime.verdict("quick", {"a": np.float64(0.01) <= 0.02, "b": np.mean([0.7]) <= 0.5}) == "met: a; not met: b"
    assert runtime.verdict("smoke", checks).startswith("not judged")


def test_headline_and_format():
    h = runtime.headline("Does it learn?", {"error": runtime.fmt(0.1234, ".0%"), "inf error": runtime.fmt(None)},
                         "met: a", "fig.png")
    assert h == {"question": "Does it learn?", "numbers": [{"label": "error", "value": "12%"},
                                                           {"label": "inf error", "value": "inf"}],
                 "verdict": "met: a", "figure": "fig.png"}
    with pytest.raises(ValueError, match="one non-empty line"):
        runtime.headline("two\nlines", {}, "")


def test_mfpt_tolerance_per_profile():
    assert runtime.mfpt_tolerance("full") == 0.25
    assert runtime.mfpt_tolerance("quick") == 0.50
    with pytest.raises(ValueError, match="unknown profile"):
        runtime.mfpt_tolerance("fast")
