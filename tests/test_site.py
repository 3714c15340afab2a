"""The offline HTML site of executed notebooks (mdlstm_utils.report.site), on a tiny fake run: no notebook is executed."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mdlstm_utils.report import site

REMOTE_ASSET = re.compile(r"""<(script|link)[^>]+(src|href)=["']https?://""", re.IGNORECASE)
HEADLINE = {
    "question": "Does the LSTM reproduce the MFPTs?",
    "numbers": [{"label": "largest MFPT error", "value": "5.5 % (95 % CI 2–9 %)"}],
    "verdict": "met: MFPT error < 10 %",
    "figure": "mfpt.png",
}


def _png() -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0, 1, 2], [0, 1, 4])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _executed_notebook(png: bytes) -> nbformat.NotebookNode:
    image = {"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"}
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2, "version_minor": 0},
              "text/plain": "NGLWidget()"}
    nb = new_notebook(cells=[
        new_markdown_cell("# 00 · Fake quickstart\n\nEnergy: $E = mc^2$. Terms: [glossary](../docs/GLOSSARY.md), "
                          "[PCCA+](../docs/GLOSSARY.md#pcca)."),
        new_code_cell("plot()", execution_count=1, outputs=[new_output("display_data", data=image)]),
        new_code_cell("answer = 42", execution_count=2, metadata={"tags": ["solution"]},
                      outputs=[new_output("stream", name="stdout", text="printed by the solution\n")]),
        new_markdown_cell("Because forty-two.", metadata={"tags": ["solution"]}),
        new_code_cell("dropped_by_tag = 1", metadata={"tags": ["remove-cell"]}),
        new_code_cell("quiet_input = 2", metadata={"tags": ["hide-input"]},
                      outputs=[new_output("stream", name="stdout", text="visible output\n")]),
        new_code_cell("view", outputs=[new_output("display_data", data=widget)]),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}}
    return nb


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A run with one good notebook, one without headline figure or title, one that failed to start."""
    out = tmp_path_factory.mktemp("runs")
    png = _png()
    good = out / "00_fake"
    good.mkdir()
    (good / "mfpt.png").write_bytes(png)
    nbformat.write(_executed_notebook(png), good / "00_fake.ipynb")
    env = {"python": "3.11.7", "device": "cpu", "device_name": "x86_64", "packages": {"torch": "2.13.0"}}
    (good / "metrics.json").write_text(json.dumps({"headline": HEADLINE, "environment": env}))
    plain = out / "01_plain"
    plain.mkdir()
    (plain / "other.png").write_bytes(png)
    nbformat.write(new_notebook(cells=[new_code_cell("1", outputs=[new_output(
        "display_data", data={"image/png": base64.b64encode(png).decode()})])]), plain / "01_plain.ipynb")
    summary = {
        "00_fake": {"status": "ok", "seconds": 12.3},
        "01_plain": {"status": "ok", "seconds": 1.0},
        "02_broken": {"status": "failed", "seconds": 0.4, "error": "PapermillExecutionError: kernel died"},
    }
    index = site.build_site(out, summary, profile="smoke", device="auto")
    return out, summary, index


def _pages(out: Path) -> list[Path]:
    return sorted(out.glob("*/*.html"))


def test_summary_gets_page_paths(built):
    out, summary, index = built
    assert index == out / "index.html" and index.is_file()
    assert summary["00_fake"]["html"] == "00_fake/00_fake.html"
    assert summary["01_plain"]["html"] == "01_plain/01_plain.html"
    assert "html" not in summary["02_broken"]
    assert all((out / e["html"]).is_file() for e in summary.values() if "html" in e)


def test_pages_embed_figures_and_load_nothing_remote(built):
    out, _, index = built
    pages = _pages(out)
    assert len(pages) == 2
    for page in [*pages, index]:
        text = page.read_text()
        assert not REMOTE_ASSET.search(text), page
        assert "unpkg.com" not in text and "cdnjs" not in text, page
    for page in pages:
        text = page.read_text()
        assert "<img" in text and 'src="data:image/png;base64,' in text, page
        assert 'href="../index.html"' in text, page


def test_mathjax_is_local_and_lean(built):
    out, _, _ = built
    for page in _pages(out):
        src = re.search(r'<script src="([^"]*MathJax\.js)\?config=([^"]+)"', page.read_text())
        assert src, page
        mathjax = (page.parent / src.group(1)).resolve()
        assert mathjax.is_file() and mathjax.parent == (out / "_static" / "mathjax").resolve()
        for config in src.group(2).split(","):
            assert (mathjax.parent / "config" / f"{config}.js").is_file(), config
    assert (out / "_static/mathjax/fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff").is_file()
    size = sum(f.stat().st_size for f in (out / "_static" / "mathjax").rglob("*") if f.is_file())
    assert size < 5e6, f"MathJax copy is {size / 1e6:.1f} MB"


def test_cell_tags_and_widgets(built):
    out, _, _ = built
    text = (out / "00_fake" / "00_fake.html").read_text()
    toggles = re.findall(r"<details[^>]*><summary>Show solution</summary>(.*?)</details>", text, re.DOTALL)
    assert len(toggles) == 2
    assert "answer" in toggles[0] and "printed by the solution" not in toggles[0], "a code solution hides its input only"
    assert "printed by the solution" in text
    assert "forty-two" in toggles[1], "a markdown solution is hidden whole"
    assert "dropped_by_tag" not in text, "remove-cell drops the cell"
    assert "quiet_input" not in text and "visible output" in text, "hide-input drops the input only"
    assert "NGLWidget()" in text, "a widget falls back to its text form"
    assert "widget-state+json" not in text


def test_index_cards(built):
    out, _, index = built
    text = index.read_text()
    for needle in ("00 · Fake quickstart", "Does the LSTM reproduce the MFPTs?", "largest MFPT error",
                   "5.5 % (95 % CI 2–9 %)", "met: MFPT error &lt; 10 %", "12.3 s", "smoke", "auto", "2.13.0", "3.11.7"):
        assert needle in text, needle
    assert text.index("00_fake") < text.index("01_plain") < text.index("02_broken")
    for stem in ("00_fake", "01_plain"):
        assert f'src="_thumbs/{stem}.png"' in text
        assert f'href="{stem}/{stem}.html"' in text
    from PIL import Image

    with Image.open(out / "_thumbs" / "00_fake.png") as thumb:
        assert thumb.width <= site.THUMB_WIDTH
    assert (out / "_thumbs" / "01_plain.png").is_file(), "no headline figure: the first PNG of the folder"


def test_index_shows_failure(built):
    _, _, index = built
    text = index.read_text()
    card = text[text.index("02_broken"):]
    assert 'class="status failed"' in card
    assert "PapermillExecutionError: kernel died" in card
    assert "02_broken/02_broken.html" not in text


def test_glossary_page(built):
    out, _, _ = built
    page = out / "glossary.html"
    assert page.is_file()
    text = page.read_text()
    assert site.remote_assets(text) == []
    assert "<strong>PCCA+</strong>" in text and "<li>" in text, "the markdown is rendered"
    assert "**PCCA+**" not in text
    assert r'<span class="math">\(\tau\)</span>' in text, "inline math is left to MathJax"
    assert 'href="index.html"' in text
    src = re.search(r'<script src="([^"]*MathJax\.js)\?config=([^"]+)"', text)
    assert src and src.group(2) == site.MATHJAX_CONFIG
    assert (out / src.group(1)).resolve() == (out / "_static" / "mathjax" / "MathJax.js").resolve()


def test_notebook_links_go_to_glossary_page(built):
    out, _, index = built
    text = (out / "00_fake" / "00_fake.html").read_text()
    assert "GLOSSARY.md" not in text
    assert '<a href="../glossary.html">glossary</a>' in text
    assert '<a href="../glossary.html#pcca">PCCA+</a>' in text, "the anchor is kept"
    assert re.search(r'<header>.*<a href="glossary.html">Glossary</a>.*</header>', index.read_text(), re.DOTALL)


def test_no_glossary_no_page(tmp_path, monkeypatch):
    monkeypatch.setattr(site, "GLOSSARY_MD", tmp_path / "missing.md")
    index = site.build_site(tmp_path / "runs", {}, profile="smoke", device="cpu")
    assert not (tmp_path / "runs" / "glossary.html").exists()
    assert "glossary.html" not in index.read_text()


def test_screenshot_needs_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr(site.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="Chromium"):
        site.screenshot(tmp_path / "x.html", tmp_path / "x.png")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_index_screenshot_is_not_blank(built, tmp_path):
    _, _, index = built
    png = site.screenshot(index, tmp_path / "index.png", width=1200, height=900)
    from PIL import Image

    with Image.open(png) as img:
        assert img.size == (1200, 900)
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert pixels.std() > 10, "the screenshot is blank"
