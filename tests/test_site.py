"""The documentation site's reading of a run (mdlstm_utils.report.site): cards, run facts, the staged notebooks.

A tiny fake run folder, no notebook executed; one Sphinx build without the API reference (the exercises' toggles),
tests/test_docs.py builds the whole site.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from mdlstm_utils.report import site

HEADLINE = {
    "question": "Does the LSTM reproduce the MFPTs?",
    "numbers": [{"label": "largest MFPT error", "value": "5.5 % (95 % CI 2–9 %)"}],
    "verdict": "met: MFPT error < 10 %",
    "figure": "mfpt.png",
}
ENV = {"python": "3.11.7", "device": "cpu", "device_name": "x86_64", "wall_seconds": 11.0,
       "packages": {"torch": "2.13.0"}}


def png(width: float = 9.0) -> bytes:
    fig, ax = plt.subplots(figsize=(width, 4))
    ax.plot([0, 1, 2], [0, 1, 4])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def executed_notebook() -> dict:
    """An executed notebook as JSON: a title with inline marks, math, solutions, a widget and its saved state."""
    def md(source, tags=()):
        return {"cell_type": "markdown", "metadata": {"tags": list(tags)}, "source": source}

    def code(source, tags=(), outputs=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source, "execution_count": 1,
                "outputs": list(outputs)}

    widget = {"output_type": "display_data", "metadata": {}, "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0},
        "text/plain": "NGLWidget()"}}
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
        "cells": [
            md("# 00 · Fake `quickstart` *run*\n\nEnergy: $E = mc^2$. Terms: [glossary](../docs/GLOSSARY.md)."),
            md("**Exercise 1.** What is the answer?"),
            code("answer = 42\nprint(f'answer {answer}')", tags=["solution"],
                 outputs=[{"output_type": "stream", "name": "stdout", "text": "answer 42\n"}]),
            md("Because forty-two, or $6 \\times 7$.", tags=["solution"]),
            md("**Exercise 2.** Why?"),
            md("No code needed: it is forty-two.", tags=["solution"]),
            code("view", outputs=[widget]),
            md("# Part B · a second level-1 heading\n\n## Details\n\n```python\n# a comment, no heading\n```"),
        ],
    }


def make_run(out: Path) -> Path:
    """A run folder: 00 with everything, 01 without title or headline (one PNG), 02 failed before writing anything."""
    good = out / "00_fake"
    good.mkdir(parents=True)
    (good / "mfpt.png").write_bytes(png())
    (good / "00_fake.ipynb").write_text(json.dumps(executed_notebook()))
    (good / "metrics.json").write_text(json.dumps({"profile": "smoke", "headline": HEADLINE, "environment": ENV}))
    plain = out / "01_plain"
    plain.mkdir()
    (plain / "other.png").write_bytes(png(3.0))
    (plain / "01_plain.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}))
    (plain / "metrics.json").write_text(json.dumps({"profile": "smoke", "environment": {**ENV, "python": "3.11.9"}}))
    (out / "summary.json").write_text(json.dumps({
        "00_fake": {"status": "ok", "seconds": 12.3},
        "02_broken": {"status": "failed", "seconds": 0.4, "error": "PapermillExecutionError: kernel died"},
    }))
    return out


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path / "runs")


def test_cards(run):
    cards = site.read_cards(run)
    assert [c.stem for c in cards] == ["00_fake", "01_plain", "02_broken"]
    good, plain, broken = cards
    assert good.title == "00 · Fake quickstart run", "inline marks dropped"
    assert (good.status, good.executed, good.seconds) == ("ok", True, 12.3)
    assert good.question == HEADLINE["question"] and good.verdict == HEADLINE["verdict"]
    assert good.numbers == [("largest MFPT error", "5.5 % (95 % CI 2–9 %)")]
    assert good.figure == run / "00_fake" / "mfpt.png"
    assert plain.title == "01_plain" and plain.status == "ok", "no summary entry: the files tell"
    assert plain.figure == run / "01_plain" / "other.png", "no headline figure: the folder's first PNG"
    assert plain.seconds == 11.0, "no summary entry: the run time of metrics.json"
    assert (broken.status, broken.executed, broken.figure) == ("failed", False, None)
    assert broken.error == "PapermillExecutionError: kernel died"


def test_cards_of_nothing(tmp_path):
    assert site.read_cards(tmp_path / "missing") == []


def test_title_after_papermills_error_banner():
    banner = {"cell_type": "markdown", "source": '<span style="color:red">An Exception was encountered</span>'}
    title = {"cell_type": "markdown", "source": ["Intro\n", "# 07 · **Batch** sweeps\n", "text"]}
    assert site.notebook_title({"cells": [banner, title]}) == "07 · Batch sweeps"
    assert site.notebook_title({"cells": [banner]}) is None


def test_run_facts(run):
    facts = site.run_facts(run)
    assert list(facts)[0] == "date"
    assert facts["profile"] == "smoke" and facts["device"] == "cpu (x86_64)" and facts["torch"] == "2.13.0"
    assert facts["python"] == "3.11.7 / 3.11.9", "values that differ between notebooks are all shown"


def test_staging(run, tmp_path):
    dest = tmp_path / "notebooks"
    (dest / site.THUMBS_DIR).mkdir(parents=True)
    (dest / "99_stale.ipynb").write_text("{}")
    (dest / site.THUMBS_DIR / "99_stale.png").write_bytes(png())
    site.stage_notebooks(run, dest)
    assert sorted(p.name for p in dest.glob("*.ipynb")) == ["00_fake.ipynb", "01_plain.ipynb"], "stale copies go"
    assert sorted(p.name for p in (dest / site.THUMBS_DIR).iterdir()) == ["00_fake.png", "01_plain.png"]
    with Image.open(dest / site.THUMBS_DIR / "00_fake.png") as thumb:
        assert thumb.width <= site.THUMB_WIDTH
    nb = json.loads((dest / "00_fake.ipynb").read_text())
    assert "widgets" not in nb["metadata"], "saved widget state would pull its JavaScript from a CDN"
    first, second = [c for c in nb["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert first["cell_type"] == "code" and "hide-cell" in first["metadata"]["tags"], "code and outputs under one toggle"
    assert first["metadata"]["mystnb"]["code_prompt_show"] == "Show solution"
    assert [o.get("text") or o["data"]["text/markdown"] for o in first["outputs"]] == \
        ["answer 42\n", "Because forty-two, or $6 \\times 7$."], "the explanation opens with the code's output"
    assert second["cell_type"] == "code" and {"remove-input", "hide-cell"} <= set(second["metadata"]["tags"])
    assert second["outputs"][0]["data"]["text/markdown"] == "No code needed: it is forty-two."
    assert nb["cells"][0]["source"].startswith("# 00 · Fake"), "the title stays the page's one level-1 heading"
    assert nb["cells"][-1]["source"] == "## Part B · a second level-1 heading\n\n### Details\n\n" \
        "```python\n# a comment, no heading\n```", "the parts go one level down, fenced code untouched"
    assert json.loads((dest / "01_plain.ipynb").read_text())["cells"][0]["source"] == "# 01_plain", "a page needs a title"
    index = (dest / "index.md").read_text()
    assert index.index("\n00_fake\n") < index.index("\n01_plain\n") and "02_broken" not in index
    mtime = (dest / "00_fake.ipynb").stat().st_mtime_ns
    site.stage_notebooks(run, dest)
    assert (dest / "00_fake.ipynb").stat().st_mtime_ns == mtime, "an unchanged copy is not rewritten"


def test_staging_without_runs(tmp_path):
    dest = tmp_path / "notebooks"
    assert site.stage_notebooks(tmp_path / "runs", dest) == []
    assert "No executed notebooks" in (dest / "index.md").read_text()


def test_remote_assets():
    page = ('<script src="_static/x.js"></script><link rel="stylesheet" href="https://cdn.example/x.css">'
            '<a href="https://example.org">a link is no load</a>')
    assert site.remote_assets(page) == ['<link rel="stylesheet" href="https://']


def test_screenshot_needs_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr(site.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="Chromium"):
        site.screenshot(tmp_path / "x.html", tmp_path / "x.png")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_screenshot_is_not_blank(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<html><body style="margin:0"><h1 style="font-size:80px">mdlstm</h1>'
                    '<div style="width:600px;height:300px;background:#1f3b57"></div></body></html>')
    shot = site.screenshot(page, tmp_path / "page.png", width=800, height=600)
    with Image.open(shot) as img:
        assert img.size == (800, 600)
        assert np.asarray(img.convert("L"), dtype=float).std() > 10, "the screenshot is blank"


def test_exercise_page_hides_its_solutions(run, tmp_path):
    """A built page (Sphinx, no API reference): one closed toggle per exercise, holding the code, its output and the explanation."""
    pytest.importorskip("myst_nb")
    site.build_site(run, tmp_path / "html", options=["-W", "--keep-going"], api=False)
    page = (tmp_path / "html" / "notebooks" / "00_fake.html").read_text()
    toggles = re.findall(r"<details\b[^>]*>.*?</details>", page, flags=re.DOTALL)
    assert len(toggles) == 2, "one toggle per exercise"
    assert all(re.match(r'<details class="admonition hide[^"]*">', t) for t in toggles), "myst-nb's toggle, closed"
    assert all(t.count("Show solution") == 1 for t in toggles)
    first, second = toggles
    for needle in ("answer</span> <span class=\"o\">=</span> <span class=\"mi\">42", "answer 42", "Because forty-two",
                   r"\(6 \times 7\)"):
        assert needle in first, needle
    assert "No code needed" in second
    outside = re.sub(r"<details\b.*?</details>", "", page, flags=re.DOTALL)
    for needle in ("answer 42", "forty-two", "No code needed"):
        assert needle not in outside, f"{needle!r} shows outside the toggles"
    assert outside.index("Exercise 1") < page.index(first) < page.index("Exercise 2") < page.index(second)


def test_a_site_without_the_reference_links_to_the_one_make_docs_built(tmp_path):
    from mdlstm_utils.report.site import API_LEFT_OUT, api_left_out

    out = tmp_path / "runs"
    assert api_left_out(out, tmp_path / "none" / "index.html") == API_LEFT_OUT  # none built: no link
    ref = tmp_path / "docs" / "_build" / "html" / "api" / "index.html"
    ref.parent.mkdir(parents=True)
    ref.write_text("<html></html>")
    page = api_left_out(out, ref)
    href = re.search(r'<a href="([^"]+)">', page).group(1)
    assert (out / "api" / href).resolve() == ref.resolve()  # relative to the page it is on
