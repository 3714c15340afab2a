"""The documentation site builds with every warning an error (``-W``), from a tiny fake run, and works offline.

This is ``make docs`` on a run folder made here (tests/test_site.py's: one notebook with everything, one
without title or headline, one that failed), so that a docstring that does not render, a broken
cross-reference or a page that loads from the network fails ``make test`` rather than CI's docs build.
The build copies the fake notebooks into docs/site/notebooks/ (generated, ignored by git), as every build
copies its run's; the next ``make docs`` replaces them. About a minute on 2 cores, most of it the API reference.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

missing = [m for m in ("sphinx", "myst_nb", "furo") if importlib.util.find_spec(m) is None]
if missing:
    pytest.skip(f"the docs toolchain is not installed ({', '.join(missing)}): pip install -r requirements.txt",
                allow_module_level=True)

from test_site import HEADLINE, make_run  # noqa: E402  (after the skip: the site module needs Sphinx)

from mdlstm_utils.report import site  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    runs = make_run(tmp / "runs")
    index = site.build_site(runs, tmp / "html", options=["-W", "--keep-going"])
    return tmp / "html", index


def test_landing_page_cards(built):
    out, index = built
    text = index.read_text()
    for needle in ("00 · Fake quickstart run", HEADLINE["question"], "largest MFPT error", "5.5 % (95 % CI 2–9 %)",
                   "met: MFPT error &lt; 10 %", "12.3 s", "smoke", "2.13.0", "PapermillExecutionError: kernel died"):
        assert needle in text, needle
    assert text.index("00_fake") < text.index("01_plain") < text.index("02_broken")
    assert 'href="notebooks/00_fake.html"' in text and 'href="notebooks/01_plain.html"' in text
    assert "notebooks/02_broken.html" not in text, "a notebook that did not run has no page"
    thumbs = re.findall(r'<img alt="headline figure of (\w+)"[^>]*src="(_images/[^"]+)"', text)
    assert [stem for stem, _ in thumbs] == ["00_fake", "01_plain"]
    assert all((out / src).is_file() for _, src in thumbs)


def test_notebook_page(built):
    out, _ = built
    text = (out / "notebooks" / "00_fake.html").read_text()
    assert re.search(r'<span class="math[^"]*">\\\(E = mc\^2\\\)</span>', text), "math is left to MathJax"
    assert text.count("Show solution") == 2, "the code and the markdown solution each behind a toggle"
    assert "NGLWidget()" in text, "a widget shows its text form"
    assert 'href="../docs/GLOSSARY.html"' in text, "the notebook's link to the glossary reaches its page"
    assert (out / "notebooks" / "index.html").is_file(), "the learning path"


def test_every_page_works_offline(built):
    out, _ = built
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 50, "the API reference is there"
    loading = {str(p.relative_to(out)): site.remote_assets(p.read_text()) for p in pages}
    assert not {k: v for k, v in loading.items() if v}
    mathjax = out / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file() and (mathjax / "output/chtml/fonts/woff-v2").is_dir()
    assert 'src="../_static/mathjax/tex-chtml.js' in (out / "notebooks" / "00_fake.html").read_text()
    size = sum(f.stat().st_size for f in mathjax.rglob("*") if f.is_file())
    assert size < 5e6, f"MathJax copy is {size / 1e6:.1f} MB"


def test_api_page_of_learn_and_compare(built):
    out, _ = built
    text = (out / "api" / "generated" / "mdlstm_utils.lm.experiment.learn_and_compare.html").read_text()
    assert "from mdlstm_utils.lm.experiment import learn_and_compare" in re.sub(r"<[^>]+>", "", text)
    assert re.search(r'<span class="sig-name descname"><span class="pre">learn_and_compare</span>', text)
    assert "LearnResult" in text


def test_glossary_and_results_pages(built):
    out, _ = built
    assert "PCCA+" in (out / "docs" / "GLOSSARY.html").read_text()
    assert (out / "docs" / "RESULTS.html").is_file() and (out / "docs" / "USAGE.html").is_file()


def test_make_run_builds_the_site_without_the_api_reference(tmp_path):
    # what make run builds into runs/: the same site, its API page saying how to get the reference; -W holds too
    runs = make_run(tmp_path / "runs")
    index = site.build_site(runs, tmp_path / "html", options=["-W", "--keep-going"], api=False)
    assert "00 · Fake quickstart run" in index.read_text()
    api_page = re.sub(r"<[^>]+>", "", (tmp_path / "html" / "api" / "index.html").read_text())
    assert "leaves the API reference out" in api_page and "make docs" in api_page
    assert not (tmp_path / "html" / "api" / "generated").exists()
    assert (tmp_path / "html" / "notebooks" / "00_fake.html").is_file()
