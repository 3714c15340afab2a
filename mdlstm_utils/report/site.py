"""A browsable, fully offline HTML site of the executed notebooks of the suite.

After ``python -m mdlstm_utils.report.sweep suite --out runs`` has executed every
notebook into ``runs/<stem>/<stem>.ipynb`` (with its ``metrics.json`` and PNG
figures beside it), :func:`build_site` renders each executed notebook to
``runs/<stem>/<stem>.html`` and writes ``runs/index.html``, a landing page with
one card per notebook: title, question, headline figure, key numbers, verdict,
status and run time. The site can be zipped, mailed or opened from a laptop
with no network and no kernel:

* pages are rendered with nbconvert's ``lab`` template, figures embedded as
  ``data:`` URIs, nothing is executed;
* no page loads anything from the internet: MathJax 2.7 is copied once from the
  ``jupyter-server-mathjax`` package into ``runs/_static/mathjax/`` (only what
  TeX input and HTML-CSS output need), require.js and mermaid are left out, and
  ipywidgets (nglview 3-D views) show their text form (e.g. ``NGLWidget()``),
  since their JavaScript cannot be shipped;
* cells tagged ``solution`` show their input behind a "Show solution" toggle
  (a plain ``<details>`` element), ``remove-cell`` drops a cell, ``hide-input``
  (or ``remove-input``) drops a cell's input, ``remove-output`` its outputs;
* ``docs/GLOSSARY.md`` becomes ``runs/glossary.html``, linked from the index;
  the notebooks' links to ``../docs/GLOSSARY.md`` (right in JupyterLab and on
  GitHub) are pointed at that page.

:func:`screenshot` renders a page with headless Chromium into a PNG (for tests
and for the pictures in ``docs/``).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

__all__ = ["build_site", "render_page", "copy_mathjax", "screenshot", "remote_assets"]

# A script or stylesheet loaded from the network: what an offline page must not have.
REMOTE_ASSET = re.compile(r"""<(script|link)[^>]+(src|href)=["']https?://""", re.IGNORECASE)


def remote_assets(page_html: str) -> list[str]:
    """The tags of ``page_html`` that load a script or stylesheet from the network (empty when it works offline)."""
    return [m.group(0) for m in REMOTE_ASSET.finditer(page_html)]


STATIC_DIR = "_static"
THUMBS_DIR = "_thumbs"
THUMB_WIDTH = 420
GLOSSARY_MD = Path(__file__).resolve().parents[2] / "docs" / "GLOSSARY.md"
# The notebooks' links to the glossary (relative to notebooks/), with an optional anchor.
_GLOSSARY_LINK = re.compile(r"""href=(["'])\.\./docs/GLOSSARY\.md(#[^"']*)?\1""")

# The parts of jupyter-server-mathjax's MathJax 2.7 that TeX input with HTML-CSS
# output needs at run time (about 2.5 MB of its 12 MB): the combined config,
# the TeX extensions loaded on demand (\cancel, \color, ...), the operator
# tables, and the STIX-Web font data and woff files. Left out: SVG output,
# the a11y explorer and the translations of the menus.
_MATHJAX_PARTS = (
    "MathJax.js",
    "LICENSE",
    "config/TeX-AMS-MML_HTMLorMML-full.js",
    "config/Safe.js",
    "extensions/*.js",
    "extensions/TeX",
    "extensions/HTML-CSS",
    "jax/element",
    "jax/input/TeX",
    "jax/output/HTML-CSS",
    "fonts/HTML-CSS",
)
# The package ships the STIX-Web fonts only, not MathJax's default TeX fonts:
# this local config (written beside the copy) makes HTML-CSS use them, as the
# classic Jupyter Notebook did.
_MATHJAX_LOCAL_CONFIG = """\
MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/offline.js");
"""
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe,local/offline"

# Extends nbconvert's lab template: a header bar, no remote scripts, and
# solution toggles. (A widget whose saved state is dropped falls back to its
# text/plain form in nbconvert itself.)
_PAGE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
.mdlstm-bar { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; align-items: baseline;
  padding: 0.6em 1.2em; background: #1f3b57; color: #fff; font: 15px system-ui, sans-serif; }
.mdlstm-bar a { color: #fff; font-weight: 600; text-decoration: none; }
.mdlstm-bar a:hover { text-decoration: underline; }
details.mdlstm-solution > summary { cursor: pointer; color: #1f5c99; font: 600 14px system-ui, sans-serif; padding: 0.3em 0; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
<nav class="mdlstm-bar"><a href="{{ resources.site.index_href | escape }}">&larr; all notebooks</a>
<span>{{ resources.site.title | escape }}</span></nav>
{%- endblock body_header -%}
{% macro solution_toggle(cell, content) -%}
{%- if 'solution' in cell.metadata.get('tags', []) -%}
<details class="mdlstm-solution"><summary>Show solution</summary>
{{ content }}
</details>
{%- else -%}
{{ content }}
{%- endif -%}
{%- endmacro %}
{% block input_group -%}{{ solution_toggle(cell, super()) }}{%- endblock input_group %}
{% block markdowncell scoped %}{{ solution_toggle(cell, super()) }}{%- endblock markdowncell %}
"""


def copy_mathjax(static_dir: Path) -> Path:
    """Copy the run-time part of MathJax 2.7 into ``static_dir/mathjax``; return the path of its ``MathJax.js``.

    The source is the ``jupyter-server-mathjax`` package, so the pages typeset
    their formulas without network. Only the parts listed in ``_MATHJAX_PARTS``
    are copied, plus a small local config that selects the shipped fonts.
    """
    try:
        import jupyter_server_mathjax
    except ImportError as exc:
        raise ImportError(
            "build_site needs the jupyter-server-mathjax package for offline formulas: "
            "pip install -r requirements.txt"
        ) from exc
    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = Path(static_dir) / "mathjax"
    for part in _MATHJAX_PARTS:
        matches = sorted(src.glob(part))
        if not matches:
            raise FileNotFoundError(f"{part} is missing from {src}: has jupyter-server-mathjax changed its layout?")
        for path in matches:
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            else:
                shutil.copy2(path, target)
    local = dest / "config" / "local" / "offline.js"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(_MATHJAX_LOCAL_CONFIG)
    return dest / "MathJax.js"


def _exporter(mathjax_url: str) -> HTMLExporter:
    """An nbconvert HTMLExporter that renders offline pages with the site's template and tag handling."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"remove-cell"}
    c.TagRemovePreprocessor.remove_input_tags = {"hide-input", "remove-input"}
    c.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = HTMLExporter(config=c, mathjax_url=mathjax_url)
    exporter.raw_template = _PAGE_TEMPLATE
    return exporter


def render_page(
    nb_path: Path, *, mathjax_url: str, index_href: str = "../index.html", glossary_href: str | None = "../glossary.html"
) -> Path:
    """Render an executed notebook to HTML beside it (same name, ``.html``); return the page's path.

    Nothing is executed. ``mathjax_url`` is where the page loads MathJax from
    (relative to the page, for an offline site); ``index_href`` is the target
    of the header bar's link; links to ``../docs/GLOSSARY.md`` go to
    ``glossary_href`` instead (anchor kept; None leaves them as they are).
    Saved widget state is dropped: without the widgets' JavaScript it is dead
    weight, and nbconvert would otherwise add a loader that fetches that
    JavaScript from a CDN.
    """
    import nbformat

    nb_path = Path(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata.pop("widgets", None)
    resources = {
        "metadata": {"name": nb_path.stem, "path": str(nb_path.parent)},
        "site": {"index_href": index_href, "title": _notebook_title(nb) or nb_path.stem},
    }
    body, _ = _exporter(mathjax_url).from_notebook_node(nb, resources=resources)
    if glossary_href:
        body = _GLOSSARY_LINK.sub(lambda m: f'href="{html.escape(glossary_href)}{m.group(2) or ""}"', body)
    out = nb_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def _notebook_title(nb) -> str | None:
    """The text of the first ``# `` heading of the notebook's first markdown cell, as plain text (None when there is none)."""
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is None:
        return None
    for line in first_md.source.splitlines():
        if line.startswith("# "):
            return re.sub(r"(\*\*|\*|`)(.+?)\1", r"\2", line[2:]).strip()  # drop inline emphasis and code marks
    return None


def _read_json(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` when the file is missing or unreadable (e.g. a failed run)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _thumbnail(run_dir: Path, figure: str | None, dest: Path) -> Path | None:
    """Write a thumbnail (at most ``THUMB_WIDTH`` px wide) of a notebook's headline figure to ``dest``.

    The figure is ``run_dir/figure``, or else the first PNG in ``run_dir``;
    returns None when there is none. Pillow comes with matplotlib.
    """
    from PIL import Image

    source = run_dir / figure if figure else None
    if source is None or not source.is_file():
        source = next(iter(sorted(run_dir.glob("*.png"))), None) if run_dir.is_dir() else None
    if source is None:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as img:
        img.thumbnail((THUMB_WIDTH, 4 * THUMB_WIDTH))
        img.save(dest, format="PNG", optimize=True)
    return dest


def _card(stem: str, entry: dict, out_dir: Path) -> str:
    """The landing page's card for one notebook, as HTML."""
    import nbformat

    esc = html.escape
    run_dir = out_dir / stem
    nb_path = run_dir / f"{stem}.ipynb"
    title = _notebook_title(nbformat.read(nb_path, as_version=4)) if nb_path.is_file() else None
    headline = _read_json(run_dir / "metrics.json").get("headline") or {}
    page = entry.get("html")
    thumb = _thumbnail(run_dir, headline.get("figure"), out_dir / THUMBS_DIR / f"{stem}.png")

    def link(inner: str) -> str:
        return f'<a href="{esc(page)}">{inner}</a>' if page else inner

    parts = [f'<h2>{link(esc(title or stem))}</h2>', f'<p class="stem">{esc(stem)}</p>']
    if headline.get("question"):
        parts.append(f'<p class="question">{esc(str(headline["question"]))}</p>')
    if thumb is not None:
        src = thumb.relative_to(out_dir).as_posix()
        parts.append(link(f'<img class="thumb" src="{esc(src)}" alt="headline figure of {esc(stem)}">'))
    numbers = [n for n in headline.get("numbers") or [] if isinstance(n, dict)]
    if numbers:
        rows = "".join(
            f"<tr><th>{esc(str(n.get('label', '')))}</th><td>{esc(str(n.get('value', '')))}</td></tr>" for n in numbers
        )
        parts.append(f'<table class="numbers">{rows}</table>')
    if headline.get("verdict"):
        parts.append(f'<p class="verdict">{esc(str(headline["verdict"]))}</p>')
    status = str(entry.get("status", "unknown"))
    seconds = entry.get("seconds")
    foot = f'<span class="status {esc(status)}">{esc(status)}</span>'
    if seconds is not None:
        foot += f' <span class="seconds">{esc(str(seconds))} s</span>'
    parts.append(f'<p class="foot">{foot}</p>')
    for key in ("error", "render_error"):
        if entry.get(key):
            parts.append(f'<p class="error">{esc(str(entry[key]))}</p>')
    return f'<article class="card">{"".join(parts)}</article>'


def _environment(out_dir: Path, stems: list[str]) -> tuple[dict[str, str], str]:
    """The run's facts from the notebooks' ``environment`` records, and the date of the run.

    Returns the device actually used (with its name), the Python version and
    the package versions; a value that differs between notebooks is shown as
    all its values joined by " / ". The date is the newest modification time
    of the metrics files (now, when there is none).
    """
    merged: dict[str, set[str]] = {}
    newest = None
    for stem in stems:
        path = out_dir / stem / "metrics.json"
        if path.is_file():
            newest = max(newest or 0.0, path.stat().st_mtime)
        env = _read_json(path).get("environment") or {}
        used, name = env.get("device"), env.get("device_name")
        used = f"{used} ({name})" if used and name and name != used else used
        flat = {"device used": used, "python": env.get("python"), **(env.get("packages") or {})}
        for key, value in flat.items():
            if value:
                merged.setdefault(key, set()).add(str(value))
    when = _dt.datetime.fromtimestamp(newest) if newest is not None else _dt.datetime.now()
    return {k: " / ".join(sorted(v)) for k, v in merged.items()}, when.strftime("%Y-%m-%d %H:%M")


_INDEX_CSS = """\
:root { --ink: #1d2731; --muted: #5b6770; --line: #dde3e8; --accent: #1f3b57; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink); background: #f4f6f8; }
header { background: var(--accent); color: #fff; padding: 1.2em 2em; }
header h1 { margin: 0 0 0.4em; font-size: 1.6em; }
header dl { display: flex; flex-wrap: wrap; gap: 0.2em 1.6em; margin: 0; font-size: 0.9em; }
header dt { opacity: 0.75; } header dd { margin: 0 0 0 0.3em; font-weight: 600; }
header dl > div { display: flex; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1.2em; padding: 1.5em 2em; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1em 1.2em;
  display: flex; flex-direction: column; gap: 0.5em; }
.card h2 { margin: 0; font-size: 1.15em; } .card h2 a { color: var(--accent); text-decoration: none; }
.card h2 a:hover { text-decoration: underline; }
.stem { margin: 0; color: var(--muted); font: 0.8em ui-monospace, monospace; }
.question { margin: 0; font-style: italic; }
.thumb { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
.numbers { border-collapse: collapse; font-size: 0.9em; width: 100%; }
.numbers th { text-align: left; font-weight: normal; color: var(--muted); padding: 0.15em 0.6em 0.15em 0; }
.numbers td { font-weight: 600; padding: 0.15em 0; }
.numbers tr + tr { border-top: 1px solid var(--line); }
.verdict { margin: 0; padding: 0.5em 0.7em; background: #eef3f7; border-left: 3px solid var(--accent); font-size: 0.9em; }
.foot { margin: auto 0 0; display: flex; justify-content: space-between; font-size: 0.85em; }
.status { padding: 0.1em 0.6em; border-radius: 999px; font-weight: 600; background: #e3e7ea; }
.status.ok { background: #d9f2e1; color: #1d6b36; } .status.failed { background: #fbe0df; color: #a12622; }
.seconds { color: var(--muted); }
.error { margin: 0; color: #a12622; font: 0.8em ui-monospace, monospace; overflow-wrap: anywhere; }
header nav { margin: 0 0 0.4em; } header nav a { color: #fff; font-weight: 600; text-decoration: none; }
header nav a:hover { text-decoration: underline; }
.doc { max-width: 60em; margin: 1.5em auto; background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 0.5em 2em 1em; }
.doc li { margin: 0.3em 0; } .doc li p { margin: 0; }
.doc code { font: 0.9em ui-monospace, monospace; background: #eef3f7; padding: 0 0.2em; border-radius: 3px; }
"""


def _standalone(title: str, header: str, body: str, head: str = "") -> str:
    """A page of the site outside the notebooks, in the landing page's style."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_INDEX_CSS}</style>{head}</head><body>"
        f"<header>{header}</header>{body}</body></html>\n"
    )


def _index_html(cards: list[str], info: dict[str, str], glossary: str | None = None) -> str:
    """The landing page: a header with the run's facts (and a link to the ``glossary`` page) and a grid of cards."""
    facts = "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in info.items()
    )
    nav = f'<nav><a href="{html.escape(glossary)}">Glossary</a></nav>' if glossary else ""
    title = "mdlstm: executed notebooks"
    return _standalone(title, f"<h1>{title}</h1>{nav}<dl>{facts}</dl>", f"<main>{''.join(cards)}</main>")


def _glossary_page(out_dir: Path, mathjax: Path) -> Path | None:
    """Render ``docs/GLOSSARY.md`` to ``out_dir/glossary.html`` (formulas by the local MathJax); None without the file."""
    import mistune

    if not GLOSSARY_MD.is_file():
        return None
    # The math plugin keeps $...$ away from the markdown rules and hands it to MathJax as \(...\).
    body = mistune.create_markdown(plugins=["math"])(GLOSSARY_MD.read_text(encoding="utf-8"))
    url = f"{os.path.relpath(mathjax, out_dir)}?config={MATHJAX_CONFIG}".replace(os.sep, "/")
    head = (  # the tex2jax delimiters of the notebook pages (nbconvert's mathjax macro)
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {'
        'inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]], '
        'processEscapes: true}, messageStyle: "none"});</script>'
        f'<script src="{html.escape(url)}"></script>'
    )
    page = out_dir / "glossary.html"
    nav = '<nav><a href="index.html">&larr; all notebooks</a></nav>'
    page.write_text(_standalone("mdlstm: glossary", nav, f'<article class="doc">{body}</article>', head), "utf-8")
    return page


def build_site(out_dir: Path, summary: dict[str, dict], *, profile: str, device: str) -> Path:
    """Render every executed notebook listed in ``summary`` to HTML beside it and write ``out_dir/index.html``.

    The glossary (``docs/GLOSSARY.md``, when the repository has one) becomes
    ``out_dir/glossary.html``, and the pages' links to it point there.

    Parameters
    ----------
    out_dir
        The suite's output folder, holding ``<stem>/<stem>.ipynb``,
        ``<stem>/metrics.json`` and the figures of each notebook.
    summary
        ``{stem: {"status": "ok"|"failed", "seconds": ..., "error": ...}}`` in
        the order of the cards. Each entry whose notebook was rendered gets
        ``"html"`` (the page's path relative to ``out_dir``); a page that
        nbconvert could not render gets ``"render_error"`` instead, so one bad
        notebook does not cost the whole site.
    profile, device
        The run's profile and requested device, shown at the top of the index.

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out_dir = Path(out_dir)
    mathjax = copy_mathjax(out_dir / STATIC_DIR)
    glossary = _glossary_page(out_dir, mathjax)
    for stem, entry in summary.items():
        nb_path = out_dir / stem / f"{stem}.ipynb"
        if not nb_path.is_file():
            continue
        url = f"{os.path.relpath(mathjax, nb_path.parent)}?config={MATHJAX_CONFIG}".replace(os.sep, "/")
        to_glossary = os.path.relpath(glossary, nb_path.parent).replace(os.sep, "/") if glossary else None
        try:
            page = render_page(nb_path, mathjax_url=url, glossary_href=to_glossary)
            entry["html"] = page.relative_to(out_dir).as_posix()
        except Exception as exc:  # keep going: the other pages and the index are still worth having
            entry["render_error"] = f"page not rendered: {type(exc).__name__}: {exc}"
    env, date = _environment(out_dir, list(summary))
    info = {"profile": profile, "device": device, "date": date, **env}
    cards = [_card(stem, entry, out_dir) for stem, entry in summary.items()]
    index = out_dir / "index.html"
    index.write_text(_index_html(cards, info, glossary.name if glossary else None), encoding="utf-8")
    return index


def _chromium() -> str:
    """The path of a Chromium (or Chrome) executable; a clear error when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise FileNotFoundError(
        "screenshot needs Chromium on the PATH (Debian/Ubuntu: apt-get install chromium)"
    )


def screenshot(html_path: Path, png_path: Path, width: int = 1400, height: int = 1800) -> Path:
    """Render ``html_path`` with headless Chromium into the PNG ``png_path``; return ``png_path``.

    Chromium gets a throw-away profile, no network chatter, and a few seconds
    of virtual time so that MathJax finishes typesetting before the picture is
    taken. Raises FileNotFoundError when Chromium is not installed and
    RuntimeError when it writes no picture.
    """
    exe = _chromium()
    html_path, png_path = Path(html_path).resolve(), Path(png_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no page to screenshot at {html_path}")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="mdlstm-chromium-") as profile_dir:
        cmd = [
            exe, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--virtual-time-budget=5000", f"--user-data-dir={profile_dir}",
            f"--window-size={width},{height}", f"--screenshot={png_path}", html_path.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not png_path.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return png_path
