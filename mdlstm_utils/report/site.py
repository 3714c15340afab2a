"""The documentation site: a Sphinx extension, the cards of a run, and the command that builds the site.

The site is the Sphinx project in ``docs/site/`` (myst-nb, the Furo theme).
:func:`build_site` builds it from a run folder: ``make docs`` into
``docs/_build/html``, ``make run`` into the run folder itself, so that
``runs/index.html`` is its landing page. Each output folder gets its own copy
of the project (``<out>/.sphinx/source``), so two builds never share a file.
This module is also the project's Sphinx extension (``conf.py`` lists it).
At every build it

* copies the executed notebooks of the run folder (``<runs>/<stem>/<stem>.ipynb``)
  into ``notebooks/`` of the project, where myst-nb shows them as they were run
  (nothing is executed), and writes the learning-path page that lists them
  (:func:`stage_notebooks`). On the way the saved widget state is dropped (its
  JavaScript would come from a CDN; a widget shows its text form), a notebook
  in parts keeps one level-1 heading (its title; the parts go one level down)
  and each exercise's solution (the cells tagged ``solution``: code, its
  outputs and the explanation after it) goes behind one "Show solution"
  toggle, myst-nb's ``hide-cell`` (:func:`_solution_toggles`);
* provides the ``mdlstm-cards`` directive of the landing page: one card per
  notebook with its title, question, headline figure, key numbers, verdict,
  status and run time, read from ``<runs>/<stem>/metrics.json`` (its
  ``headline`` entry) and ``<runs>/summary.json`` (:func:`read_cards`);
* copies the part of MathJax 3 that the pages use (TeX input, CHTML output,
  their fonts and extensions) from the ``sphinx-mathjax-offline`` package into
  ``_static/mathjax/``, so that formulas typeset without network;
* copies the Markdown pages of the repository's ``docs/`` (glossary, results,
  quick profile, usage) into ``docs/`` of the project, where the notebooks'
  links find them, and lets them keep GitHub's anchors (``<a id="...">``
  becomes a MyST target while the site reads the page).

:func:`remote_assets` lists what a page would load from the network, and
:func:`screenshot` renders a page with headless Chromium into a PNG.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from PIL import Image
from sphinx.util.docutils import SphinxDirective

__all__ = [
    "Card",
    "read_cards",
    "run_facts",
    "notebook_title",
    "read_json_object",
    "stage_notebooks",
    "build_site",
    "api_left_out",
    "main",
    "remote_assets",
    "screenshot",
    "setup",
]

#: the Sphinx project of the site
DOCS_SOURCE = Path(__file__).resolve().parents[2] / "docs" / "site"
#: where the executed notebooks are copied, inside the Sphinx project (generated, not tracked)
STAGE_DIR = "notebooks"
#: where the pages of the repository's ``docs/`` are copied, inside the Sphinx project
DOCS_DIR = "docs"
#: the cards' thumbnails, inside ``STAGE_DIR``
THUMBS_DIR = "_thumbs"
#: the largest width of a card's thumbnail (px)
THUMB_WIDTH = 480
_STEM = re.compile(r"^\d\d_\w+$")

# A script or stylesheet loaded from the network: what an offline page must not have.
REMOTE_ASSET = re.compile(r"""<(script|link)[^>]+(src|href)=["']https?://""", re.IGNORECASE)


def remote_assets(page_html: str) -> list[str]:
    """The tags of ``page_html`` that load a script or stylesheet from the network (empty when it works offline)."""
    return [m.group(0) for m in REMOTE_ASSET.finditer(page_html)]


# ---------------------------------------------------------------------------------------------- cards


@dataclass
class Card:
    """What the landing page shows of one notebook's run.

    Attributes
    ----------
    stem
        The notebook's name without ``.ipynb``, e.g. ``"00_quickstart"``.
    title
        The text of the notebook's first level-1 heading (``stem`` when it has none).
    status
        ``"ok"`` or ``"failed"`` (from ``summary.json``, else from the files), or ``"not run"``.
    executed
        Whether the run folder holds the executed notebook, so that the site has a page for it.
    question, verdict
        From the ``headline`` entry of the notebook's ``metrics.json`` (empty when absent).
    numbers
        The ``(label, value)`` pairs of that entry.
    figure
        The headline figure, or else the first PNG of the run folder; None when there is none.
    seconds
        The notebook's run time from ``summary.json`` (or its ``metrics.json``); None when unknown.
    error
        Why a failed run failed.
    """

    stem: str
    title: str
    status: str
    executed: bool
    question: str = ""
    verdict: str = ""
    numbers: list[tuple[str, str]] = field(default_factory=list)
    figure: Path | None = None
    seconds: float | None = None
    error: str = ""


def read_json_object(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` when the file is missing or unreadable (e.g. a failed run)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def notebook_title(nb: dict) -> str | None:
    """The notebook's first level-1 heading (``# Title``) as plain text (None when it has none).

    ``nb`` is the notebook's JSON (a dict, e.g. from ``json.load`` or nbformat).
    Markdown cells before it are skipped: papermill puts its error banner
    above the title of a notebook that failed.
    """
    for cell in nb.get("cells", []):
        source = cell.get("source", "") if cell.get("cell_type") == "markdown" else ""
        for line in ("".join(source) if isinstance(source, list) else source).splitlines():
            if line.startswith("# "):
                return re.sub(r"(\*\*|\*|`)(.+?)\1", r"\2", line[2:]).strip()
    return None


def _card(runs: Path, stem: str, entry: dict) -> Card:
    """The card of one notebook from its run folder and its ``summary.json`` entry (``{}`` when it has none)."""
    run_dir = runs / stem
    nb_path = run_dir / f"{stem}.ipynb"
    metrics = read_json_object(run_dir / "metrics.json")
    headline = metrics.get("headline") if isinstance(metrics.get("headline"), dict) else {}
    executed = nb_path.is_file()
    seconds = entry.get("seconds")
    if seconds is None:
        seconds = (metrics.get("environment") or {}).get("wall_seconds")
    figure = run_dir / str(headline["figure"]) if headline.get("figure") else None
    if figure is None or not figure.is_file():
        figure = next(iter(sorted(run_dir.glob("*.png"))), None) if run_dir.is_dir() else None
    return Card(
        stem=stem,
        title=(notebook_title(read_json_object(nb_path)) if executed else None) or stem,
        status=str(entry.get("status") or ("ok" if metrics else "failed" if executed else "not run")),
        executed=executed,
        question=str(headline.get("question") or ""),
        verdict=str(headline.get("verdict") or ""),
        numbers=[(str(n.get("label", "")), str(n.get("value", "")))
                 for n in headline.get("numbers") or [] if isinstance(n, dict)],
        figure=figure,
        seconds=seconds if isinstance(seconds, (int, float)) else None,
        error="; ".join(str(entry[k]) for k in ("error", "render_error") if entry.get(k)),
    )


def read_cards(runs: str | Path) -> list[Card]:
    """One :class:`Card` per notebook of the run folder ``runs``, in the notebooks' order.

    A notebook counts when ``runs/summary.json`` names it or a folder
    ``runs/<stem>/`` (``stem`` like ``00_quickstart``) exists. A missing or
    broken file raises nothing: a run that failed still gets its card, with
    its error.
    """
    runs = Path(runs)
    summary = read_json_object(runs / "summary.json")
    found = {p.name for p in runs.glob("[0-9][0-9]_*") if p.is_dir() and _STEM.match(p.name)}
    stems = sorted(found | {s for s in summary if _STEM.match(s)})
    return [_card(runs, s, summary[s] if isinstance(summary.get(s), dict) else {}) for s in stems]


def run_facts(runs: str | Path) -> dict[str, str]:
    """The facts of a run from its notebooks' ``metrics.json``: date, profile, device, Python and package versions.

    A value that differs between notebooks is shown as all its values joined
    by " / ". The date is the newest modification time of the metrics files.
    """
    merged: dict[str, set[str]] = {}
    newest = None
    for path in sorted(Path(runs).glob("[0-9][0-9]_*/metrics.json")):
        newest = max(newest or 0.0, path.stat().st_mtime)
        metrics = read_json_object(path)
        env = metrics.get("environment") or {}
        used, name = env.get("device"), env.get("device_name")
        used = f"{used} ({name})" if used and name and name != used else used
        flat = {"profile": metrics.get("profile"), "device": used, "python": env.get("python"),
                **(env.get("packages") or {})}
        for key, value in flat.items():
            if value:
                merged.setdefault(key, set()).add(str(value))
    facts = {k: " / ".join(sorted(v)) for k, v in merged.items()}
    if newest is None:
        return facts
    return {"date": _dt.datetime.fromtimestamp(newest).strftime("%Y-%m-%d %H:%M"), **facts}


# ------------------------------------------------------------------------------------------- staging


#: the words of an exercise's toggle (myst-nb's ``code_prompt_show`` / ``code_prompt_hide`` of the cell)
SOLUTION_PROMPTS = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}


def _solution_toggles(nb: dict) -> None:
    """Put each exercise's solution behind one "Show solution" toggle (in place): myst-nb's ``hide-cell`` tag.

    A code cell tagged ``solution`` gets ``hide-cell``, which puts its code and
    its outputs under one toggle (its words in the cell's ``mystnb``
    metadata). The explanation after it, a markdown cell tagged ``solution``,
    becomes one more output of that code cell (``text/markdown``, read as
    MyST), so that it opens with the code and its numbers instead of getting a
    toggle of its own. A markdown solution with no solution code cell just
    before it becomes an output-only cell of its own, hidden the same way.
    """
    cells, host = [], None
    for cell in nb.get("cells", []):
        meta = cell.setdefault("metadata", {})
        tags = meta.get("tags") or []
        if "solution" not in tags or cell.get("cell_type") not in ("code", "markdown"):
            cells.append(cell)
            host = None
            continue
        if cell["cell_type"] == "code":
            meta["tags"] = [*tags, "hide-cell"]
            meta.setdefault("mystnb", {}).update(SOLUTION_PROMPTS, markdown_format="myst")
            cells.append(cell)
            host = cell
            continue
        if host is None:
            host = {"cell_type": "code", "execution_count": None, "id": f"{cell.get('id', 'solution')}-shown",
                    "metadata": {"tags": [*tags, "remove-input", "hide-cell"],
                                 "mystnb": {**SOLUTION_PROMPTS, "markdown_format": "myst"}},
                    "outputs": [], "source": "# solution"}  # not shown; myst-nb skips a cell without source
            cells.append(host)
        source = cell.get("source", "")
        host.setdefault("outputs", []).append({"output_type": "display_data", "metadata": {}, "data": {
            "text/markdown": "".join(source) if isinstance(source, list) else source}})
    nb["cells"] = cells


_FENCE = re.compile(r"^\s*(```|~~~)")


def _one_title(nb: dict, stem: str) -> None:
    """Give the notebook exactly one level-1 heading, its title (in place).

    A notebook in parts (``# A · ...``, ``# B · ...``) reads well in JupyterLab,
    but on the site each level-1 heading would become a page of its own in the
    navigation: every heading after the first goes one level down (headings
    inside fenced code are left alone). A notebook without any gets ``# <stem>``.
    """
    headings = []  # (cell, line index, level)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        lines = ("".join(source) if isinstance(source, list) else source).split("\n")
        cell["source"], fenced = lines, False
        for i, line in enumerate(lines):
            fenced ^= bool(_FENCE.match(line))
            if not fenced and (m := re.match(r"^(#{1,5}) ", line)):
                headings.append((cell, i, len(m.group(1))))
    firsts = [k for k, (_, _, level) in enumerate(headings) if level == 1]
    if len(firsts) > 1:
        for cell, i, _ in headings[firsts[0] + 1:]:
            cell["source"][i] = "#" + cell["source"][i]
    elif not firsts:
        nb.setdefault("cells", []).insert(0, {"cell_type": "markdown", "id": "mdlstm-title", "metadata": {}, "source": [f"# {stem}"]})
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown" and isinstance(cell.get("source"), list):
            cell["source"] = "\n".join(cell["source"])


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already (so that Sphinx re-reads only what changed)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _thumbnail(source: Path, dest: Path) -> None:
    """Write a copy of the PNG ``source`` at most ``THUMB_WIDTH`` px wide to ``dest`` (Pillow comes with matplotlib)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as img:
        img.thumbnail((THUMB_WIDTH, 4 * THUMB_WIDTH))
        img.save(dest, format="PNG", optimize=True)


def _learning_path(runs: Path, cards: list[Card]) -> str:
    """The learning-path page (MyST): the executed notebooks in order, or how to get some."""
    executed = [c.stem for c in cards if c.executed]
    if not executed:
        return (f"# Learning path\n\nNo executed notebooks in `{runs}`: run `make run` (or `make run PROFILE=smoke`), "
                "then build the site again.\n")
    return "\n".join([
        "# Learning path",
        "",
        "The tutorial notebooks in order, as `make run` executed them: the outputs are those of that run, nothing",
        "is run to show them. Each opens with its learning goals and ends with what we learned and what to try",
        'next; the solutions of the exercises hide behind a "Show solution" toggle. To change and re-run a',
        "notebook, open it in JupyterLab (`make lab`).",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *executed,
        "```",
        "",
    ])


def stage_notebooks(runs: str | Path, dest: str | Path) -> list[Card]:
    """Copy the executed notebooks of ``runs`` into ``dest`` for myst-nb and write ``dest/index.md``; return the cards.

    Each ``<runs>/<stem>/<stem>.ipynb`` becomes ``dest/<stem>.ipynb`` (widget
    state dropped, one level-1 heading, each solution behind one toggle) and each card's figure a
    thumbnail ``dest/_thumbs/<stem>.png``; what an earlier build left there
    and the run no longer has is removed. ``dest/index.md`` is the
    learning-path page: the notebooks in order, or a note that there are none.
    """
    runs, dest = Path(runs), Path(dest)
    cards = read_cards(runs)
    keep = {dest / "index.md"}
    for card in cards:
        if card.executed:
            nb = read_json_object(runs / card.stem / f"{card.stem}.ipynb")
            nb.get("metadata", {}).pop("widgets", None)
            _one_title(nb, card.stem)
            _solution_toggles(nb)
            keep.add(dest / f"{card.stem}.ipynb")
            _write_if_changed(dest / f"{card.stem}.ipynb", json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        if card.figure is not None:
            thumb = dest / THUMBS_DIR / f"{card.stem}.png"
            keep.add(thumb)
            if not thumb.is_file() or thumb.stat().st_mtime < card.figure.stat().st_mtime:
                _thumbnail(card.figure, thumb)
    for path in [*dest.glob("*.ipynb"), *dest.glob(f"{THUMBS_DIR}/*.png")]:
        if path not in keep:
            path.unlink()
    _write_if_changed(dest / "index.md", _learning_path(runs, cards))
    return cards


# ---------------------------------------------------------------------------------------------- build


def _generated(rel: str) -> bool:
    """Whether the path ``rel`` (relative to the Sphinx project) is one that a build writes."""
    return any(rel == g or rel.startswith(g + "/") for g in (STAGE_DIR, DOCS_DIR, "api/generated"))


def _configuration(rel: str) -> bool:
    """Whether the path ``rel`` belongs to the configuration (read from ``docs/site/`` itself: ``sphinx -c``)."""
    return rel == "conf.py" or rel.startswith(("_static/", "_templates/")) or "__pycache__" in rel


def _sync_source(dest: Path) -> None:
    """Mirror the pages of the Sphinx project ``docs/site/`` into ``dest`` (unchanged files keep their time stamps).

    The configuration stays where it is; what the build generates in ``dest``
    (the staged notebooks and pages, the API stubs) is left alone; a page that
    ``docs/site/`` no longer has goes.
    """
    wanted = {p.relative_to(DOCS_SOURCE).as_posix() for p in DOCS_SOURCE.rglob("*") if p.is_file()}
    wanted = {r for r in wanted if not _generated(r) and not _configuration(r)}
    for rel in wanted:
        src, target = DOCS_SOURCE / rel, dest / rel
        if not target.is_file() or target.stat().st_mtime_ns != src.stat().st_mtime_ns:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    for path in dest.rglob("*"):
        rel = path.relative_to(dest).as_posix()
        if path.is_file() and rel not in wanted and not _generated(rel):
            path.unlink()


#: the API page of a site built without the reference (``build_site(..., api=False)``, what ``make run`` does)
API_LEFT_OUT = """# API reference

This site was built by `make run`, which leaves the API reference out: generating a page for every public
function and type takes about a minute, longer than a smoke run of a notebook. `make docs` builds the site with
it (`docs/_build/html/api/`), from the docstrings of every subpackage; `help()` shows the same text in Python.
"""


#: where ``make docs`` writes the API reference's landing page
BUILT_REFERENCE = DOCS_SOURCE.parent / "_build" / "html" / "api" / "index.html"


def api_left_out(out: Path, reference: Path = BUILT_REFERENCE) -> str:
    """The API page of a site built into ``out`` without the reference: :data:`API_LEFT_OUT`, and a link to the
    reference ``make docs`` built, when it exists (relative, so that the two folders can move together)."""
    if not Path(reference).is_file():
        return API_LEFT_OUT
    href = Path(os.path.relpath(Path(reference).resolve(), (Path(out) / "api").resolve())).as_posix()
    return API_LEFT_OUT + f'\n<a href="{href}">Open the API reference that make docs built</a>.\n'


def build_site(runs: str | Path, out: str | Path, *, options: list[str] | tuple[str, ...] = (), api: bool = True) -> Path:
    """Build the documentation site from the run folder ``runs`` into ``out``; return the path of ``out/index.html``.

    What ``make docs`` runs (``out`` = ``docs/_build/html``) and ``make run``
    (``out`` = the run folder). The pages of the Sphinx project ``docs/site/``
    are mirrored into ``out/.sphinx/source`` and the run's notebooks and the
    pages of ``docs/`` staged beside them (its configuration is read in place,
    ``sphinx -c docs/site``), so that builds into different folders never
    share a file; ``out/.sphinx/doctrees`` is Sphinx's cache (a second build
    reads only what changed). ``python -m sphinx -b html`` runs in a
    subprocess, with ``options`` added (``["-W", "--keep-going"]``: every
    warning an error). Sphinx's warnings go to this process's standard error.
    ``api=False`` leaves the API reference out (its page says how to build it):
    autosummary's pages take most of a build's time. Raises ``RuntimeError``
    with Sphinx's last lines when the build fails.
    """
    out = Path(out).resolve()
    source = out / ".sphinx" / "source"
    _sync_source(source)
    if not api:  # the next build with the reference copies the real page back (its time stamp differs)
        (source / "api" / "index.md").write_text(api_left_out(out))
        shutil.rmtree(source / "api" / "generated", ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(DOCS_SOURCE), "-d", str(out / ".sphinx" / "doctrees"),
           "-D", f"mdlstm_runs={Path(runs).resolve()}", *options, str(source), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.stderr.strip():
        print(proc.stderr.rstrip(), file=sys.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"the documentation site was not built (sphinx exit {proc.returncode}):\n{tail}")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    """``python -m mdlstm_utils.report.site --runs RUNS --out OUT [sphinx-build options]``: :func:`build_site`."""
    parser = argparse.ArgumentParser(prog="python -m mdlstm_utils.report.site", description=main.__doc__)
    parser.add_argument("--runs", default="runs", help="the run folder whose executed notebooks the site shows")
    parser.add_argument("--out", default="docs/_build/html", help="the site's folder")
    args, sphinx_options = parser.parse_known_args(argv)
    try:
        index = build_site(args.runs, args.out, options=sphinx_options)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"documentation site: {index}")
    return 0


# ---------------------------------------------------------------------------------- Sphinx extension

# What tex-chtml.js loads at run time (about 2.7 MB of the package's 24 MB): the TeX extensions that
# autoload pulls in on demand (\cancel, \color, ...), the CHTML fonts, the assistive MathML and the menu.
_MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml", "a11y/assistive-mml.js", "ui")


def _mathjax_source() -> Path:
    """The folder of MathJax 3 files that the ``sphinx-mathjax-offline`` package ships."""
    try:
        dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError("the site needs the sphinx-mathjax-offline package for offline formulas: "
                          "pip install -r requirements.txt") from exc
    return Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))


def _copy_mathjax(app, exc) -> None:
    """After a successful HTML build, copy MathJax's run-time parts to ``_static/mathjax/`` (``mathjax_path``)."""
    if exc is not None or app.builder.format != "html":
        return
    src, dest = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        path, target = src / part, dest / part
        if not path.exists():
            raise FileNotFoundError(f"{part} is missing from {src}: has sphinx-mathjax-offline changed its layout?")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        elif not target.is_file() or target.stat().st_size != path.stat().st_size:
            shutil.copy2(path, target)


def _stage_docs(dest: Path) -> None:
    """Copy the Markdown pages of the repository's ``docs/`` and the pictures beside them into ``dest``.

    They keep their places relative to each other and to the notebooks, so
    their links (``RESULTS.md``, ``results/x.png``) and the notebooks' links
    (``../docs/GLOSSARY.md``) work as they do on GitHub. The site's own
    folders (``docs/site/``, ``docs/_build/``) are not pages.
    """
    docs = DOCS_SOURCE.parent
    pictures = [p for ext in ("png", "svg", "jpg") for p in docs.glob(f"*/**/*.{ext}")
                if p.relative_to(docs).parts[0] not in (DOCS_SOURCE.name, "_build")]
    for src in [*docs.glob("*.md"), *pictures]:
        target = dest / src.relative_to(docs)
        if not target.is_file() or target.stat().st_mtime_ns != src.stat().st_mtime_ns:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def _stage(app, config) -> None:
    """``config-inited``: resolve the run folder (``mdlstm_runs``, else ``$MDLSTM_RUNS``, else ``runs/``), stage the pages."""
    runs = Path(config.mdlstm_runs or os.environ.get("MDLSTM_RUNS") or DOCS_SOURCE.parents[1] / "runs").resolve()
    config.mdlstm_runs = str(runs)
    stage_notebooks(runs, Path(app.srcdir) / STAGE_DIR)
    _stage_docs(Path(app.srcdir) / DOCS_DIR)


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    """``env-get-outdated``: the pages made from the run folder (landing page, learning path) are read at every build."""
    return [d for d in (app.config.root_doc, f"{STAGE_DIR}/index") if d in env.found_docs]


# docs/RESULTS.md marks its sections with HTML anchors (GitHub's way) and links its folder results/ and the
# executed full-profile notebooks in it (which GitHub lists and renders). MyST knows none of them (the site's
# notebook pages are those of the run folder): as the site reads a page of docs/, an anchor becomes a MyST
# target, a folder link its text, and a notebook link its text with the file's path.
_HTML_ANCHOR = re.compile(r'^<a id="([^"]+)"></a>[ \t]*$', re.MULTILINE)
_FOLDER_LINK = re.compile(r"\[([^\]]+)\]\(([^)#\s]+/)\)")
_NOTEBOOK_LINK = re.compile(r"\[([^\]]+)\]\(([^)#\s]+\.ipynb)\)")


def _source_read(app, docname, content) -> None:
    """``source-read``: adapt a page of ``docs/`` as the site reads it (the file in the repository is unchanged)."""
    if docname.startswith(f"{DOCS_DIR}/"):
        text = _FOLDER_LINK.sub(r"\1", _HTML_ANCHOR.sub(r"(\1)=", content[0]))
        content[0] = _NOTEBOOK_LINK.sub(r"\1 (`docs/\2`)", text)


def _numbers_table(numbers: list[tuple[str, str]]) -> nodes.table:
    """A card's key numbers: a two-column table, label and value."""
    body = nodes.tbody()
    for label, value in numbers:
        body += nodes.row("", nodes.entry("", nodes.paragraph(text=label)),
                          nodes.entry("", nodes.paragraph("", "", nodes.strong(text=value))))
    group = nodes.tgroup("", nodes.colspec(colwidth=3), nodes.colspec(colwidth=2), body, cols=2)
    return nodes.table("", group, classes=["mdlstm-numbers"])


class CardsDirective(SphinxDirective):
    """``mdlstm-cards``: a line with the run's facts, then one card per notebook of the run folder."""

    has_content = False

    def _link(self, card: Card, child: nodes.Node) -> nodes.Node:
        """``child`` as a link to the notebook's page (as it is when the run has no executed notebook)."""
        if not card.executed:
            return child
        uri = self.env.app.builder.get_relative_uri(self.env.docname, f"{STAGE_DIR}/{card.stem}")
        return nodes.reference("", "", child, refuri=uri, internal=True)

    def _card(self, card: Card) -> nodes.container:
        box = nodes.container(classes=["mdlstm-card"])
        box += nodes.paragraph("", "", self._link(card, nodes.Text(card.title)), classes=["mdlstm-card-title"])
        box += nodes.paragraph("", "", nodes.literal(text=card.stem), classes=["mdlstm-card-stem"])
        if card.question:
            box += nodes.paragraph("", "", nodes.emphasis(text=card.question), classes=["mdlstm-card-question"])
        thumb = Path(self.env.srcdir) / STAGE_DIR / THUMBS_DIR / f"{card.stem}.png"
        if card.figure is not None and thumb.is_file():
            here = Path(self.env.doc2path(self.env.docname)).parent
            image = nodes.image(uri=os.path.relpath(thumb, here).replace(os.sep, "/"),
                                alt=f"headline figure of {card.stem}", classes=["mdlstm-thumb"])
            box += nodes.paragraph("", "", self._link(card, image))
        if card.numbers:
            box += _numbers_table(card.numbers)
        if card.verdict:
            box += nodes.paragraph(text=card.verdict, classes=["mdlstm-verdict"])
        foot = nodes.paragraph("", "", nodes.inline(text=card.status, classes=["mdlstm-status", card.status.replace(" ", "-")]),
                               classes=["mdlstm-card-foot"])
        if card.seconds is not None:
            foot += nodes.inline(text=f"{card.seconds:g} s", classes=["mdlstm-seconds"])
        box += foot
        if card.error:
            box += nodes.paragraph(text=card.error, classes=["mdlstm-error"])
        return box

    def run(self) -> list[nodes.Node]:
        runs = Path(self.config.mdlstm_runs)
        cards = read_cards(runs)
        if not cards:
            text = f"No runs in {runs}: run `make run` (or `make run PROFILE=smoke`), then build the site again."
            return [nodes.note("", nodes.paragraph(text=text))]
        facts = nodes.paragraph(classes=["mdlstm-facts"])
        for i, (key, value) in enumerate(run_facts(runs).items()):
            facts += [nodes.Text(f"{' · ' if i else ''}{key} "), nodes.strong(text=value)]
        return [facts, nodes.container("", *[self._card(c) for c in cards], classes=["mdlstm-cards"])]


def setup(app) -> dict:
    """Register the extension with Sphinx: the ``mdlstm_runs`` setting, the staging, the cards, MathJax, the anchors."""
    app.add_config_value("mdlstm_runs", "", "env", types=[str])
    app.connect("config-inited", _stage)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("source-read", _source_read)
    app.connect("build-finished", _copy_mathjax)
    app.add_directive("mdlstm-cards", CardsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


# ---------------------------------------------------------------------------------------- screenshots


def _chromium() -> str:
    """The path of a Chromium (or Chrome) executable; a clear error when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise FileNotFoundError("screenshot needs Chromium on the PATH (Debian/Ubuntu: apt-get install chromium)")


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 1800) -> Path:
    """Render ``html_path`` with headless Chromium into the PNG ``png_path``; return ``png_path``.

    Chromium gets a throw-away profile, no network (every host name fails to
    resolve, so a page that needs the network shows it), and a few seconds of
    virtual time so that MathJax finishes typesetting before the picture is
    taken. Raises ``FileNotFoundError`` when Chromium is not installed and
    ``RuntimeError`` when it writes no picture.
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
            "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--virtual-time-budget=5000",
            f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", f"--screenshot={png_path}",
            html_path.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not png_path.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return png_path


if __name__ == "__main__":
    sys.exit(main())
