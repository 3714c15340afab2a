"""docs/GALLERY.md's snippets run and draw, its pictures exist, and the API page's by-topic names import.

Every ```` ```python ```` block of the gallery is executed on its own (a fresh namespace, the Agg backend) and must
leave a matplotlib figure behind. The blocks simulate the same small toy data set each (so that each can be
copied alone); here :func:`mdlstm_utils.data.toydata.four_well` is memoized for the test, so the walkers are
simulated once for all blocks. The by-topic tables of ``docs/site/api/index.md`` (its ``autosummary`` blocks
without ``:toctree:``) must name objects that exist: module path, then attribute.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mdlstm_utils.data import toydata  # noqa: E402
from mdlstm_utils.report import results as R  # noqa: E402
from test_notebooks import PACKAGE_LITERALS, numeric_literals  # noqa: E402  (the notebooks' rule for prose numbers)

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "docs" / "GALLERY.md"
API_INDEX = ROOT / "docs" / "site" / "api" / "index.md"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def gallery_blocks() -> list[str]:
    """The source of every ```` ```python ```` block of the gallery, in page order."""
    return _FENCE.findall(GALLERY.read_text())


def test_gallery_has_five_figures_with_code():
    text = GALLERY.read_text()
    assert len(re.findall(r"^## \d\. ", text, re.M)) == 5
    assert len(gallery_blocks()) >= 5


@pytest.fixture(scope="module")
def memoized_four_well():
    """:func:`toydata.four_well` computed once per set of arguments while the blocks run (they ask for the same)."""
    original = toydata.four_well
    toydata.four_well = functools.lru_cache(maxsize=4)(original)
    try:
        yield
    finally:
        toydata.four_well = original


@pytest.mark.parametrize("index", range(len(gallery_blocks())), ids=lambda i: f"block{i + 1}")
def test_gallery_block_draws_a_figure(index, memoized_four_well):
    source = gallery_blocks()[index]
    plt.close("all")
    try:
        exec(compile(source, f"docs/GALLERY.md block {index + 1}", "exec"), {"__name__": "__gallery__"})
        figures = [plt.figure(n) for n in plt.get_fignums()]
        assert figures, f"block {index + 1} drew no figure"
        assert any(ax.has_data() for fig in figures for ax in fig.axes), f"block {index + 1}: its axes are empty"
    finally:
        plt.close("all")


def test_gallery_images_exist():
    text = GALLERY.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert len(images) >= 5
    missing = [src for src in images if not (GALLERY.parent / src).is_file()]
    assert not missing, f"the gallery links pictures that are not there: {missing}"
    assert all(src.startswith("results/") for src in images), "the pictures are the full-profile figures of results/"


def test_gallery_prose_states_no_result_typed_by_hand():
    # as for the notebooks' markdown (tests/test_notebooks.py): a number in the prose is a setting, a literal of the
    # page's code or of the package, never a number read off a run
    text = GALLERY.read_text()
    values = set(PACKAGE_LITERALS)
    for block in gallery_blocks():
        numeric_literals(block, values)
    plain = {f for v in values for f in (R.fmt(v), repr(v), f"{v:g}")}
    percents = {R.fmt(100 * v) for v in values} | set(R.SETTING_PERCENTS)
    prose = _FENCE.sub("", text)
    typed = [f"{tok} in {line.strip()[:90]!r}" for tok, line in R.result_numbers(prose)
             if tok.removesuffix(" %").replace("−", "-").lstrip("+-") not in (percents if tok.endswith("%") else plain)]
    assert not typed, "numbers quoted from a run belong in the code's output:\n" + "\n".join(typed)


def by_topic_names() -> list[str]:
    """The names of the by-topic tables of the API page: its ``autosummary`` blocks without ``:toctree:``."""
    names = []
    for block in re.findall(r"^```\{eval-rst\}\n(.*?)^```", API_INDEX.read_text(), re.S | re.M):
        if ".. autosummary::" not in block or ":toctree:" in block:
            continue
        names += [line.strip() for line in block.splitlines()[1:]
                  if line.strip() and not line.strip().startswith((":", ".."))]
    return names


def test_by_topic_tables_cover_the_pipeline():
    names = by_topic_names()
    assert len(names) == len(set(names)), "a name listed twice"
    for group in ("data", "states", "kinetics", "lm", "report", "cli"):
        n = sum(name.startswith(f"mdlstm_utils.{group}.") for name in names)
        assert 5 <= n <= 25, f"mdlstm_utils.{group}: {n} entries in the by-topic tables"


@pytest.mark.parametrize("name", by_topic_names())
def test_by_topic_name_imports(name):
    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attr, None)
    assert obj is not None, f"{name}: {module} has no {attr}"
    assert callable(obj), f"{name} is not a function or type"
    assert attr in getattr(importlib.import_module(module), "__all__", [attr]), f"{name}: not in {module}.__all__"
