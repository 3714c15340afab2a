"""``make results``: collect full-profile runs into ``docs/results/`` and assemble ``docs/RESULTS.md`` and the
README's headline table from their claim records.

The executed full-profile notebooks are the results record. Each run's ``metrics.json`` holds its claim
(:class:`mdlstm_utils.report.claims.Claim`: question, numbers as the run formatted them, verdict, figure, conditions
and source, read from its ``headline`` and ``environment``); one generic function renders a run's section of
``docs/RESULTS.md`` from its claim (:func:`claim_section`), one the README's table from all claims
(:func:`render_readme_block`). No number is typed by hand: a claim's numbers are its run's own text, and every
other number (conditions, provenance) is formatted from a value of the file by :func:`fmt`.

Steps (``python -m mdlstm_utils.report.results [--runs runs] [--docs docs] [--readme README.md] [--allow-mixed]``):

1. **collect** (:func:`collect`): for every ``runs/<stem>/metrics.json`` whose ``"profile"`` is ``"full"``, copy
   it to ``docs/results/<stem>_full.json`` and the executed notebook ``runs/<stem>/<stem>.ipynb`` to
   ``docs/results/<stem>_full.ipynb``; copy the run's figures ``runs/<stem>/<figure>.png`` to
   ``docs/results/<NN>_<figure>.png`` and its summary tables ``runs/<stem>/<name>_summary.csv`` to
   ``docs/results/<NN>_<name>_summary.csv``, where ``NN`` is the notebook number (the first two characters of the
   stem). Runs of another profile are skipped with a note.
2. **render** (:func:`render_results`): ``docs/RESULTS.md``, one section per notebook number, one part per run
   (:func:`claim_section`): question, numbers, verdict, conditions, provenance, software, the record's files (with a
   link to the executed notebook where it was collected) and the headline figure, then the other figures
   ``docs/results/<NN>_*.png``. A run whose metrics hold no claim (runs made before the record existed) gets a
   section that says so, with its conditions and provenance and no numbers.
3. **README** (:func:`render_readme_block`): the lines between ``<!-- results:begin -->`` and
   ``<!-- results:end -->`` of ``README.md``: one row per run with its notebook's title, its leading numbers
   (:func:`readme_numbers`) and its verdict.

Provenance. Each run's part of ``RESULTS.md`` has a **Conditions** line (profile, seeds, sizes) and a
**Provenance** line: commit, date, machine (device, CPU cores, torch threads) and wall time, as its
``metrics.json`` records them (:func:`mdlstm_utils.runtime.environment_info`: ``environment.commit``,
``commit_dirty``, ``date``, ``wall_seconds``, ...); what a file does not record is said to be unknown or not
recorded, never filled in. The README block compares rows, so its rows must come from one commit with clean code
(:func:`vintage`). When they do not, the block is refused (exit status 1, README left alone) unless
``--allow-mixed`` is given; then each odd row (another commit than most rows, no commit recorded, or uncommitted
changes to the code) is marked ``⚠`` with its commit in its last cell, and the line above the table says so.
:func:`check_readme_vintages` checks the marks.

Formatting rule (:func:`mdlstm_utils.runtime.fmt`, the one format of the suite), applied to every number the
renderer writes (the claims' numbers are written by the notebooks with the same function):

* a JSON integer is written as it is (``72``, ``120000``);
* a float with ``|x| >= 100`` is rounded to an integer (``{:.0f}``: ``1503.72`` -> ``1504``);
* any other float gets three significant digits (``{:.3g}``: ``0.054871`` -> ``0.0549``,
  ``25.447`` -> ``25.4``, ``1.0`` -> ``1``, ``1.988e-05`` -> ``1.99e-05``);
* ``null`` is written ``–``, ``true`` / ``false`` as ``yes`` / ``no``, infinity as ``inf``.

What :func:`check_numbers` checks (``tests/test_results.py`` runs it on the
committed files): in each notebook section of ``RESULTS.md`` (from its
``## NN`` heading to the next one) and in each row of the README block (after
its first cell, the notebook link), a
*number* is a match of :data:`NUMBER_RE` (digits, an optional fraction and an
optional exponent, optionally signed, not touching a letter, digit or
underscore, and not part of a dotted version such as ``2.13.0``) in the text
left after removing HTML tags and comments, image links, link targets,
inline code spans and the notebook number of a heading. Each number must
equal ``fmt(v)`` for some value ``v`` of that notebook's files (JSON numbers
and CSV cells), or appear as a number inside one of their strings or keys (a headline's text).

:func:`check_prose` checks prose that is written by hand (the README outside its block, the notebooks'
markdown): there only *result-shaped* numbers count (:func:`result_numbers`: percentages, each end of a range
such as ``71–76 %``, decimals, both sides of ``±``), and each must be quoted from the files as they write it;
counts, years, dates, sizes, versions and notebook numbers are left alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mdlstm_utils.lm.train import QUICK_BATCH, QUICK_STEPS
from mdlstm_utils.report.claims import Claim, ClaimNumber, MissingClaimError, Source, conditions_of
from mdlstm_utils.report.sweep import default_jobs
from mdlstm_utils.runtime import MFPT_TOLERANCE, fmt

__all__ = [
    "fmt",
    "collect",
    "load_results",
    "records",
    "Record",
    "claim_section",
    "render_results",
    "readme_rows",
    "render_readme_block",
    "readme_numbers",
    "update_readme",
    "number_tokens",
    "check_numbers",
    "result_numbers",
    "check_prose",
    "check_readme_block",
    "check_readme_vintages",
    "vintage",
    "MixedVintagesError",
    "main",
]

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
RESULTS_NAME = "RESULTS.md"
#: how many of a claim's numbers lead its README row (RESULTS.md shows them all; :func:`readme_numbers`)
README_NUMBERS = 2
#: words of a number's label that make it a yardstick of the leading numbers (:func:`readme_numbers`)
YARDSTICKS = ("MSM", "noise floor")

# The notebooks, by number: short title and the claim each demonstrates (docs/DESIGN: notebooks table).
TITLES = {
    "00": ("00_quickstart", "Quick start", "the whole pipeline on a toy potential in minutes"),
    "01": ("01_toy_potentials", "Toy potentials",
           "an LSTM learns Boltzmann statistics and kinetics of a one-dimensional four-well potential "
           "from a low-dimensional coordinate"),
    "02": ("02_temporal_resolution", "Temporal resolution",
           "the saving interval decides whether slow kinetics are learned"),
    "03": ("03_alanine_dipeptide", "Alanine dipeptide, low-dimensional coordinates",
           "on φ and (φ, ψ) states the LSTM reproduces populations and the slow φ transition"),
    "04": ("04_high_dimensional", "High-dimensional coordinates",
           "on many k-means microstates of high-dimensional features the rare event is obscured by fast dynamics"),
    "05": ("05_metastable_states", "Metastable states and recrossing",
           "PCCA+ macrostates plus recrossing removal restore the slow kinetics"),
    "06": ("06_transformer_vs_lstm", "Transformer vs LSTM",
           "the Transformer does not overcome these issues better"),
    "07": ("07_batch_sweeps", "Batch sweeps: the three factors",
           "a sweep over saving interval × partition × model × seed; the summary table of the three factors"),
    "08": ("08_your_own_system", "Your own system", "the whole method on your own trajectories"),
    "09": ("09_memory", "Memory", "where a model with memory should beat a Markov model: a 2-D potential seen through "
           "one coordinate, against MSMs, k-th-order chains, IGME and a memory test"),
}


# ----------------------------------------------------------------------------------------------- formatting
def _code(s) -> str:
    return f"`{s}`"


def _cell(s) -> str:
    """Text safe inside a Markdown table cell: one line, ``|`` escaped."""
    return str(s).replace("\n", " ").replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _label(key: str) -> str:
    return key.replace("_", " ")


# ----------------------------------------------------------------------------------------------- collect
def _nn(stem: str) -> str:
    return stem[:2] if stem[:2].isdigit() else stem


def collect(runs: str | Path, results: str | Path, *, log=print) -> list[Path]:
    """Copy the full-profile runs under ``runs`` into ``results``; return the files written.

    ``runs/<stem>/metrics.json`` with ``"profile": "full"`` -> ``results/<stem>_full.json``; the executed notebook
    ``runs/<stem>/<stem>.ipynb`` -> ``results/<stem>_full.ipynb``; its ``*.png`` -> ``results/<NN>_<figure>.png``;
    its ``*_summary.csv`` -> ``results/<NN>_<name>.csv``. A notebook's new run replaces its whole record: the files
    of ``results`` that start with its number (``<NN>_``) are removed first, so that no figure or metrics file of
    an older run stays beside the new one. Other profiles are skipped with a note; so is a metrics file that is not
    valid JSON.
    """
    runs, results = Path(runs), Path(results)
    written: list[Path] = []
    metrics_files = sorted(runs.glob("*/metrics.json")) if runs.is_dir() else []
    for mfile in metrics_files:
        run_dir = mfile.parent
        stem = run_dir.name
        try:
            data = json.loads(mfile.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log(f"skip {run_dir}/: metrics.json is not readable JSON ({exc})")
            continue
        profile = data.get("profile") if isinstance(data, dict) else None
        if profile != "full":
            log(f"skip {run_dir}/: profile {profile!r}, only profile 'full' goes to {results}/")
            continue
        results.mkdir(parents=True, exist_ok=True)
        nn = _nn(stem)
        targets = [(mfile, results / f"{stem}_full.json")]
        targets += [(p, results / f"{stem}_full.ipynb") for p in [run_dir / f"{stem}.ipynb"] if p.is_file()]
        targets += [(p, results / f"{nn}_{p.stem}.png") for p in sorted(run_dir.glob("*.png"))]
        targets += [(p, results / f"{nn}_{p.name}") for p in sorted(run_dir.glob("*_summary.csv"))]
        stale = [p for p in results.glob(f"{nn}_*") if p.is_file()]
        for old in stale:
            old.unlink()
        for src, dst in targets:
            shutil.copyfile(src, dst)
            written.append(dst)
        log(f"collected {run_dir}/ -> {results}/{stem}_full.json and {len(targets) - 1} notebook/figure/table file(s)"
            + (f", replacing {len(stale)} file(s) of its earlier run" if stale else ""))
    if not written:
        log(f"no full-profile run under {runs}/; re-rendering from {results}/ only")
    return written


# ----------------------------------------------------------------------------------------------- loading
@dataclass
class Group:
    """Everything ``docs/results`` holds for one notebook number."""

    nn: str
    jsons: list[tuple[str, dict]] = field(default_factory=list)  # (file name, data)
    csvs: list[tuple[str, list[dict]]] = field(default_factory=list)  # (file name, rows)
    figures: list[str] = field(default_factory=list)  # file names
    notebooks: list[str] = field(default_factory=list)  # executed notebooks, file names

    @property
    def stem(self) -> str:
        for _, d in self.jsons:
            if isinstance(d.get("notebook"), str):
                return d["notebook"]
        return TITLES.get(self.nn, (self.nn,))[0]


def _csv_value(s: str):
    s = s.strip()
    if s == "":
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: _csv_value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def load_results(results: str | Path) -> dict[str, Group]:
    """The files of ``results`` grouped by notebook number (``NN_*_full.json``, ``NN_*_full.ipynb``,
    ``NN_*_summary.csv``, ``NN_*.png``)."""
    results = Path(results)
    groups: dict[str, Group] = {}

    def group(name: str) -> Group:
        nn = _nn(name)
        return groups.setdefault(nn, Group(nn))

    for p in sorted(results.glob("*_full.json"), key=lambda p: (len(p.name), p.name)):  # 02_x_full before 02_x_alanine_full
        group(p.name).jsons.append((p.name, json.loads(p.read_text())))
    for p in sorted(results.glob("*_full.ipynb")):
        group(p.name).notebooks.append(p.name)
    for p in sorted(results.glob("*_summary.csv")):
        group(p.name).csvs.append((p.name, _read_csv(p)))
    for p in sorted(results.glob("*.png")):
        if _nn(p.name) != p.name:  # only NN_*.png belong to a notebook
            group(p.name).figures.append(p.name)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class Record:
    """One run of ``docs/results``: its file, its metrics (``None``: only a summary table is kept) and its claim
    (``None``: the run records none; ``problem`` says why)."""

    nn: str
    name: str
    metrics: dict | None
    claim: Claim | None
    problem: str | None = None

    @property
    def source(self) -> Source:
        return self.claim.source if self.claim else Source.from_metrics(self.metrics)

    @property
    def conditions(self) -> dict:
        return self.claim.conditions if self.claim else conditions_of(self.metrics or {})

    @property
    def executed(self) -> str:
        """The file name the executed notebook of this run has in ``docs/results`` (when it was collected)."""
        return self.name.removesuffix(".json") + ".ipynb"


def records(g: Group) -> list[Record]:
    """The runs of one notebook number with their claims; a summary table stands for a run whose metrics are absent."""
    out = []
    for name, d in g.jsons:
        try:
            out.append(Record(g.nn, name, d, Claim.from_metrics(d, d.get("notebook") or g.stem)))
        except MissingClaimError as exc:
            out.append(Record(g.nn, name, d, None, exc.reason))
    if not out and g.csvs:
        name = g.csvs[0][0]
        out.append(Record(g.nn, name, None, None, "docs/results holds only its summary table, not its metrics file"))
    return out


# ----------------------------------------------------------------------------------------------- provenance
MARK = "⚠"
"""Marks a README row whose run is not of the commit of the other rows (or records no commit)."""


class MixedVintagesError(ValueError):
    """The README block would mix runs of different (or unknown) commits and ``allow_mixed`` was not given."""


def vintage(d: dict | None) -> str | None:
    """The commit a run's numbers come from: its recorded ``environment.commit`` when the code was clean.

    ``None`` (unknown) when the file records no commit (runs made before :func:`mdlstm_utils.runtime.code_version`
    existed, or without git) or the run had uncommitted changes to the code (``commit_dirty``): then no commit
    names the code that made the numbers. The same as :attr:`mdlstm_utils.report.claims.Source.vintage`.
    """
    return Source.from_metrics(d).vintage


def _commit_words(d: dict | None) -> str:
    src = Source.from_metrics(d)
    if src.commit is None:
        return "commit unknown"
    return f"commit {_code(src.commit[:12])}" + (" with uncommitted changes to the code" if src.dirty else "")


def _seed_words(cond: dict) -> str:
    seeds, n, seed = cond.get("seeds"), cond.get("n_seeds"), cond.get("seed")
    if isinstance(seeds, list) and seeds and all(_num(x) for x in seeds):
        return "seeds " + ", ".join(fmt(x) for x in seeds)
    if _num(n) and n > 1:
        return f"{fmt(n)} seeds" + (f" (base seed {fmt(seed)})" if _num(seed) else "")
    if _num(n):
        return f"seed {fmt(seed)}" if _num(seed) else "1 seed"
    return f"base seed {fmt(seed)}" if _num(seed) else "seed not recorded"  # how many: as its numbers say


def _value_words(v) -> str:
    if isinstance(v, str):
        return _code(v)
    return ", ".join(fmt(x) for x in v) if isinstance(v, list) else fmt(v)


def _conditions_line(cond: dict) -> str:
    """The run's settings (:func:`mdlstm_utils.report.claims.conditions_of`), each value by :func:`fmt`."""
    shown = [f"{_label(k)} {_value_words(v)}" for k, v in cond.items()]
    return f"- **Conditions:** {'; '.join(shown)}." if shown else "- **Conditions:** not recorded."


def _provenance_line(src: Source) -> str:
    """Where the numbers of one run came from: commit, date, machine (cores, device), wall time."""
    bits = [_commit_words({"environment": {"commit": src.commit, "commit_dirty": src.dirty}})
            + ("" if src.commit else " (not recorded in the file)"),
            f"date {_code(src.date)}" if src.date else "date not recorded"]
    if src.device:
        machine = [f"device {_code(src.device)} ({_code(src.device_name)})"]
        if _num(src.cpu_count):
            machine.append(f"CPU cores {fmt(src.cpu_count)}")
        if _num(src.torch_threads):
            machine.append(f"torch threads {fmt(src.torch_threads)}")
        bits.append("machine: " + ", ".join(machine))
    else:
        bits.append("machine not recorded")
    bits.append(f"wall time {fmt(src.wall_seconds)} s" if _num(src.wall_seconds) else "wall time not recorded")
    return f"- **Provenance:** {'; '.join(bits)}."


def _software_line(src: Source) -> list[str]:
    names = {"python": "Python"}
    shown = [f"{names.get(k, k)} {_code(v)}" for k, v in src.software.items()]
    return [f"- **Software:** {', '.join(shown)}."] if shown else []


# ----------------------------------------------------------------------------------------------- sections
def _interval(n) -> str:
    return f"[{fmt(n.low)}, {fmt(n.high)}]" if n.low is not None or n.high is not None else "–"


def _record_line(r: Record, g: Group) -> str:
    what = "the sweep's summary table; its metrics file was not kept" if r.metrics is None else "the run's metrics"
    line = f"- **Record:** {_code('results/' + r.name)} ({what})"
    if r.executed in g.notebooks:
        return line + f"; the [executed notebook](results/{r.executed})."
    return line + "; the executed notebook was not collected (runs collected before `make results` copied it)."


def claim_section(r: Record, g: Group) -> list[str]:
    """One run's part of ``docs/RESULTS.md``, from its claim: the question, a table of its numbers as the run wrote
    them (with their intervals where the claim gives them), the verdict, then conditions, provenance, software, the
    record's files and the headline figure. A run without a claim gets a marked note instead of the first three."""
    c = r.claim
    if c is None:
        out = [f"> **No claim record:** {r.problem}. Its numbers stay in the file named below, unshown: no claim "
               "says what they show. A full run of the notebook records one.", ""]
    else:
        with_ci = any(n.low is not None or n.high is not None for n in c.numbers)
        rows = [[_cell(n.label), _cell(n.text), *([_interval(n)] if with_ci else [])] for n in c.numbers]
        out = [f"**Question.** {c.question}", ""]
        out += _table(["number", "value, as the run wrote it", *(["interval"] if with_ci else [])], rows)
        out += [f"**Verdict.** {c.verdict}", ""]
    out += [_conditions_line(r.conditions), _provenance_line(r.source), *_software_line(r.source), _record_line(r, g), ""]
    fig = f"{r.nn}_{Path(c.figure).stem}.png" if c and c.figure else None
    if fig in g.figures:
        out += [f"![{Path(c.figure).stem.replace('_', ' ')}](results/{fig})", ""]
    return out


def _render_group(g: Group) -> list[str]:
    _, title, claim = TITLES.get(g.nn, (g.stem, g.stem, ""))
    out = [f'<a id="{g.stem}"></a>', "", f"## {g.nn} · {title}", ""]
    out += [f"Notebook {_code('notebooks/' + g.stem + '.ipynb')}." + (f" Claim: {claim}." if claim else ""), ""]
    recs = records(g)
    for r in recs:
        if len(recs) > 1:
            out += [f"### {_code(r.name)}", ""]
        out += claim_section(r, g)
    shown = {f"{r.nn}_{Path(r.claim.figure).stem}.png" for r in recs if r.claim and r.claim.figure}
    for fig in (f for f in g.figures if f not in shown):
        out += [f"![{Path(fig).stem[len(g.nn) + 1:].replace('_', ' ')}](results/{fig})", ""]
    return out


def render_results(results: str | Path) -> str:
    """The text of ``docs/RESULTS.md`` from the claims of the runs in ``results`` (``docs/results``)."""
    groups = load_results(results)
    out = [
        "# Results of the full profile",
        "",
        "<!-- Written by `make results` (python -m mdlstm_utils.report.results) from docs/results/; do not edit by hand. -->",
        "",
        "The executed full-profile notebooks are the results record: their tables and figures are in the notebooks "
        "(`results/<notebook>_full.ipynb`, where collected). This page holds each run's **claim**, read from its "
        "`metrics.json` (saved as `results/<notebook>_full.json`): the question it answers, its key numbers as the "
        "notebook wrote them, its verdict, the conditions it holds under and where it came from. `make results` "
        "copies new full runs from `runs/` and rewrites this page and the headline table of the README; "
        "`tests/test_results.py` checks that both match the files.",
        "",
        "**How numbers are written.** A claim's numbers are its notebook's own text, formatted by the run. The "
        "conditions and provenance are formatted from the file's values: integers as recorded, floats of magnitude "
        "below one hundred with three significant digits (Python `{:.3g}`), larger floats rounded to an integer "
        "(`{:.0f}`); `–` marks a value not given. Times (s) are wall-clock seconds of that run on its machine.",
        "",
        "**Where each number came from.** Each run's *Provenance* line gives the commit, date, machine and wall time "
        "its file records, its *Conditions* line the profile, seeds and sizes; what a file does not record (runs made "
        "before the record existed) is written as unknown or not recorded.",
        "",
        "Notebooks: " + ", ".join(f"[{g.nn} {TITLES.get(g.nn, (g.stem, g.stem))[1]}](#{g.stem})" for g in groups.values())
        + ".",
        "",
    ]
    for g in groups.values():
        out += _render_group(g)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------- README block
def _reference_vintage(sources: list[dict | None]) -> str | None:
    """The commit most rows come from (the first such in notebook order on a tie); ``None`` when none records one."""
    known = [v for v in map(vintage, sources) if v]
    return max(dict.fromkeys(known), key=known.count) if known else None


#: the line below the README table that names the runs without a claim record
NO_CLAIM = "No claim record (the full run predates it, or only a summary table is kept):"


def readme_numbers(claim: Claim) -> list[ClaimNumber]:
    """The numbers of a claim that its README row shows: the first :data:`README_NUMBERS`, then the later ones
    that are their yardsticks (a label naming the MSM baseline or the noise floor, :data:`YARDSTICKS`) for the
    same part of the claim: the words before its label's first colon begin with those of a leading number's
    label (05's "toy (30-D), + dynamical coring: MSM baseline" belongs to "toy (30-D): microstates → …"; a label
    without a colon is about the whole claim).

    A row must be readable against its baselines: a claim that gives the MSM and the noise floor in numbers of
    their own (02: "four-well: MSM at the same lag", "four-well: noise floor") keeps them beside the model's.
    """
    def part(n: ClaimNumber) -> str:
        return n.label.split(":", 1)[0] if ":" in n.label else ""

    lead = list(claim.numbers[:README_NUMBERS])
    parts = {part(n) for n in lead}
    return lead + [n for n in claim.numbers[README_NUMBERS:]
                   if any(w in n.label for w in YARDSTICKS) and any(part(n).startswith(p) for p in parts)]


def _readme_row(r: Record, stem: str) -> dict:
    c = r.claim
    title = TITLES.get(r.nn, (stem, stem))[1]
    why = f"only {_code(r.name)} is kept" if r.metrics is None else f"{_code(r.name)} predates the record"
    return dict(nn=r.nn, stem=stem, title=_cell(title),
                question=_cell(c.question) if c else f"{title}: no claim recorded",
                numbers="; ".join(f"{_cell(n.label)}: {_cell(n.text)}" for n in readme_numbers(c)) if c
                else f"– ({why})",
                verdict=_cell(c.verdict) if c else "–", run=_seed_words(r.conditions), source=r.metrics,
                claimed=c is not None)


def readme_rows(results: str | Path) -> list[dict]:
    """The README rows, one per run of ``results``, from their claims: ``nn``, ``stem``, ``title``
    (:data:`TITLES`), ``question``, ``numbers`` (:func:`readme_numbers`), ``verdict``, ``run`` (its seeds),
    ``source`` (the metrics dict; ``None``: only a summary table), ``vintage`` (:func:`vintage`) and ``odd``: true when the row's vintage is unknown or
    differs from the commit of most rows (:func:`_reference_vintage`)."""
    rows = [_readme_row(r, g.stem) for g in load_results(results).values() for r in records(g)]
    ref = _reference_vintage([r["source"] for r in rows])
    for r in rows:
        r.update(vintage=vintage(r["source"]), odd=vintage(r["source"]) is None or vintage(r["source"]) != ref)
    return rows


def render_readme_block(results: str | Path, *, allow_mixed: bool = False) -> str:
    """The README lines between the markers (markers included): one row per run, assembled from the claims.

    All rows must come from runs of one commit with clean code (:func:`vintage`): a reader compares rows, and rows
    of different code cannot be compared. Otherwise :class:`MixedVintagesError`, unless ``allow_mixed``; then the
    odd rows (another commit than most rows, or none recorded) get :data:`MARK` and their commit in the last cell,
    and the line above the table says so.
    """
    rows = readme_rows(results)
    ref = _reference_vintage([r["source"] for r in rows])
    odd = [r for r in rows if r["odd"]]
    if odd and not allow_mixed:
        names = "; ".join(f"{r['nn']} ({_commit_words(r['source'])})" for r in odd)
        raise MixedVintagesError(
            f"the README block would mix runs of different or unknown commits: {names} "
            + (f"(most rows: commit {ref[:12]})" if ref else "(no run records a clean commit)")
            + "; re-run them from one commit, or pass --allow-mixed to write the block with these rows marked "
            + MARK)
    if not odd:
        vint = f"all rows from commit {_code(ref[:12])}"
    elif ref:
        vint = (f"**mixed vintages**: rows marked {MARK} are not from commit {_code(ref[:12])}, that of most rows "
                "(their last cell says which, or that it is unknown)")
    else:
        vint = f"**mixed vintages**: no run records its commit ({MARK}), so rows may come from different code"
    out = [BEGIN,
           "<!-- Written by `make results` from docs/results/; do not edit by hand. -->",
           f"Profile `full`; {vint}. Each row is a run's claim: its leading numbers as the run wrote them, with the "
           "MSM baseline and the noise floor where the run gives them, and its verdict. Its question, all its numbers, "
           "conditions, provenance and figures: [docs/RESULTS.md](docs/RESULTS.md).",
           "",
           "| # | notebook | numbers | verdict | run |",
           "|---|---|---|---|---|"]
    for r in (r for r in rows if r["claimed"]):
        run = f"{MARK} {_commit_words(r['source'])}; {r['run']}" if r["odd"] else r["run"]
        out.append(f"| [{r['nn']}](docs/RESULTS.md#{r['stem']}) | {r['title']} | {r['numbers']} | {r['verdict']} "
                   f"| {run} |")
    missing = sorted({r["nn"] for r in rows if not r["claimed"]})
    if missing:
        out += ["", f"{NO_CLAIM} {', '.join(missing)}."]
    out.append(END)
    return "\n".join(out)


def update_readme(readme: str | Path, block: str, *, log=print) -> bool:
    """Replace the marked block of ``readme`` with ``block``; False (and a note) when the markers are missing."""
    readme = Path(readme)
    if not readme.is_file():
        log(f"no {readme}; README block not written")
        return False
    text = readme.read_text()
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        log(f"{readme} has no {BEGIN} ... {END} block; README not changed")
        return False
    new = text[:i] + block + text[j + len(END):]
    if new != text:
        readme.write_text(new)
    return True


# ----------------------------------------------------------------------------------------------- checking
NUMBER_RE = re.compile(r"(?<![\w.\-])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?!\w|\.\d)")
_STRIP = [
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"<[^>]*>"),  # HTML tags (anchors)
    re.compile(r"!\[[^\]]*\]\([^)]*\)"),  # image links
    re.compile(r"`[^`]*`"),  # inline code: file names, versions, JSON keys
]
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_HEADING_NN = re.compile(r"^(#+\s+)\d\d\b", re.M)


def _strip(text: str) -> str:
    for rx in _STRIP:
        text = rx.sub(" ", text)
    text = _LINK_TARGET.sub("]", text)
    return _HEADING_NN.sub(r"\1", text)


def number_tokens(text: str) -> list[str]:
    """The numbers of ``text`` as :func:`check_numbers` defines them (module docstring)."""
    return NUMBER_RE.findall(_strip(text))


def _allowed(obj, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(NUMBER_RE.findall(str(k)))
            _allowed(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _allowed(v, out)
    elif isinstance(obj, str):
        out.update(NUMBER_RE.findall(obj))
    elif _num(obj):
        out.add(fmt(obj))
        if isinstance(obj, float) and obj.is_integer():
            out.add(str(int(obj)))
    return out


def _allowed_for(g: Group | None) -> set[str]:
    out: set[str] = set()
    if g is None:
        return out
    for name, d in g.jsons:
        _allowed(d, out)
        out.update(NUMBER_RE.findall(name))
    for name, rows in g.csvs:
        _allowed(rows, out)
        out.update(NUMBER_RE.findall(name))
    return out


def _sections(md: str) -> list[tuple[str, str]]:
    """(notebook number, text) of each ``## NN`` section of RESULTS.md."""
    parts = re.split(r"^(?=## \d\d\b)", md, flags=re.M)
    return [(p[3:5], p) for p in parts if re.match(r"## \d\d\b", p)]


def check_numbers(md: str, results: str | Path) -> list[str]:
    """Numbers in the notebook sections of RESULTS.md text ``md`` that are not in that notebook's files.

    Returns one message per offending number (empty: all fine); see the module
    docstring for what counts as a number and as a match.
    """
    groups = load_results(results)
    problems = []
    for nn, text in _sections(md):
        allowed = _allowed_for(groups.get(nn))
        for tok in number_tokens(text):
            if tok not in allowed:
                problems.append(f"section {nn}: {tok} is not a value of docs/results/{nn}_* (after fmt)")
    return problems


def check_readme_block(readme_text: str, results: str | Path) -> list[str]:
    """The same check for each row of the README block, against the files of the row's notebook."""
    groups = load_results(results)
    i, j = readme_text.find(BEGIN), readme_text.find(END)
    if i < 0 or j < i:
        return ["README has no results block"]
    problems = []
    for line in readme_text[i:j].splitlines():
        if line.startswith(NO_CLAIM):  # names notebooks, holds no result
            continue
        m = re.match(r"\| \[(\d\d)\]\([^)]*\) \|", line)  # a row names its notebook first; other lines hold no numbers
        allowed = _allowed_for(groups.get(m.group(1))) if m else set()
        for tok in number_tokens(line[m.end():] if m else line):
            if tok not in allowed:
                problems.append(f"README block: {tok} in {line[:60]!r} is not a value of its notebook's files")
    return problems


# ----------------------------------------------------------------------------------------------- prose
#: a number as prose writes it: optional sign (ASCII or Unicode minus), digits, optional fraction and exponent
_PROSE_NUM = r"[+\-−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
#: a percentage, or a range of them (``71–76 %``, ``−13…+11 %``, ``4-5 %``): both ends are results
_PERCENT = re.compile(rf"(?<![\w.])({_PROSE_NUM})(?:\s*(?:–|—|…|-|to)\s*({_PROSE_NUM}))?\s*%")
_PLUS_MINUS = re.compile(rf"(?<![\w.])({_PROSE_NUM})\s*±\s*({_PROSE_NUM})(?![\w]|\.\d)")
_DECIMAL = re.compile(r"(?<![\w.\-−+/:])[+\-−]?\d+\.\d+(?:e[-+]?\d+)?(?![\w.]|\.\d)")
#: what makes a decimal no result: a version after a tool's name or ``≥``, an arXiv number, a size in bytes
_VERSION_BEFORE = re.compile(r"(?:Python|PyTorch|torch|CUDA|OpenMM|NumPy|version|arXiv|≥|>=|\bv)\s*:?\s*$", re.I)
_SIZE_AFTER = re.compile(r"^\s*[kMGT]i?B\b")
#: percentages that are settings, not results: the level of every interval and the profiles' MFPT tolerances
SETTING_PERCENTS = frozenset({"95", *(fmt(100 * t) for t in MFPT_TOLERANCE.values())})


def result_numbers(text: str) -> list[tuple[str, str]]:
    """The result-shaped numbers of prose ``text``, each with its line: ``("71 %", line)``, ``("0.0549", line)``.

    A result is written as a percentage (each end of a range such as ``71–76 %``), as a decimal, or as
    ``mean ± sd`` (both sides). Counts, years, dates, sizes (``2 cores``, ``1.8 GB``), versions (``Python
    3.11``, ``2.13.0``), arXiv numbers and notebook numbers are not results; neither is anything in inline code,
    HTML or a link target (removed as for :func:`number_tokens`).
    """
    out = []
    for line in _strip(text).splitlines():
        taken = []
        for m in _PERCENT.finditer(line):
            out += [(f"{g} %", line) for g in m.groups() if g is not None]
            taken.append(m.span())
        for m in _PLUS_MINUS.finditer(line):
            out += [(g, line) for g in m.groups()]
            taken.append(m.span())
        for m in _DECIMAL.finditer(line):
            if any(a <= m.start() < b for a, b in taken) or _VERSION_BEFORE.search(line[:m.start()]) \
                    or _SIZE_AFTER.match(line[m.end():]):
                continue
            out.append((m.group(0), line))
    return out


def _percents(obj, out: set[str]) -> set[str]:
    """The numbers written as percentages (``"71%"``) in the strings and keys of a results file."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _percents(str(k), out)
            _percents(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _percents(v, out)
    elif isinstance(obj, str):
        out.update(_signless(p) for p in re.findall(rf"({_PROSE_NUM})\s*%", obj))
    return out


def _signless(number: str) -> str:
    return number.replace("−", "-").lstrip("+-")


def check_prose(text: str, results: str | Path, nn: str | None = None) -> list[str]:
    """Results typed by hand into prose ``text``: one message per result-shaped number not quoted from the files.

    Each number of :func:`result_numbers` must come from the files of notebook ``nn`` (all notebooks' files when
    ``None``) as they write it: a decimal or a side of ``±`` as ``fmt(v)`` of a value, or as a number in one of
    their strings (as :func:`check_numbers` asks); a percentage as a number the files themselves write as a
    percentage (a headline's ``"71%"``), not one converted by hand from a fraction (``0.133`` is not ``13 %``), or
    a setting (:data:`SETTING_PERCENTS`). Signs are ignored. Empty: nothing typed by hand.
    """
    groups = load_results(results)
    chosen = [groups.get(nn)] if nn is not None else list(groups.values())
    plain: set[str] = set()
    percents: set[str] = set(SETTING_PERCENTS)
    for g in filter(None, chosen):
        plain |= {_signless(t) for t in _allowed_for(g)}
        for _, d in [*g.jsons, *g.csvs]:
            _percents(d, percents)
    problems = []
    for tok, line in result_numbers(text):
        known = percents if tok.endswith("%") else plain
        if _signless(tok.removesuffix(" %")) not in known:
            where = f"notebook {nn}'s files" if nn is not None else "docs/results"
            problems.append(f"{tok} in {line.strip()[:80]!r} is not quoted from {where}: a result typed by hand")
    return problems


def check_readme_vintages(readme_text: str, results: str | Path) -> list[str]:
    """Rows of the README block that hide a difference of vintage.

    The rows must be those :func:`readme_rows` makes of ``results`` (same notebooks and titles, in order). A row
    whose run is of another commit than most rows, or records none, must carry :data:`MARK` and say its commit in
    its last cell; the other rows must not carry it. With no odd row, every row is of the one commit the block's
    first line names. Returns one message per problem (empty: fine).
    """
    i, j = readme_text.find(BEGIN), readme_text.find(END)
    if i < 0 or j < i:
        return ["README has no results block"]
    lines = [ln for ln in readme_text[i:j].splitlines() if re.match(r"\| \[\d\d\]\(", ln)]
    rows = [r for r in readme_rows(results) if r["claimed"]]  # a run without a claim is named below the table
    if len(lines) != len(rows):
        return [f"README block has {len(lines)} rows, the files make {len(rows)}"]
    problems = []
    ref = _reference_vintage([r["source"] for r in rows])
    for ln, r in zip(lines, rows):
        cells = [c.strip() for c in ln.strip().strip("|").split(" | ")]
        if not cells[0].startswith(f"[{r['nn']}]") or cells[1] != r["title"]:
            problems.append(f"README row {ln[:50]!r} is not the row of notebook {r['nn']} ({r['title']!r})")
            continue
        marked = MARK in cells[-1]
        if r["odd"] and not (marked and _commit_words(r["source"]) in cells[-1]):
            problems.append(f"README row {r['nn']} ({r['title']}) is from {_commit_words(r['source'])}, not "
                            f"{'commit ' + ref[:12] if ref else 'a recorded commit'}, and is not marked {MARK}")
        if marked and not r["odd"]:
            problems.append(f"README row {r['nn']} ({r['title']}) is marked {MARK} but is of commit {ref[:12]}")
    if not any(r["odd"] for r in rows) and ref and f"all rows from commit `{ref[:12]}`" not in readme_text[i:j]:
        problems.append(f"README block does not name the commit of its rows ({ref[:12]})")
    return problems


# ----------------------------------------------------------------------------------------------- the quick profile
QUICK_NAME = "QUICK.md"
#: the file beside the quick runs' metrics that records the whole suite's wall time (``--suite-seconds``)
SUITE_FILE = "suite.json"


def collect_quick(runs: str | Path, quick: str | Path, *, suite_seconds: float | None = None, log=print) -> int:
    """Copy the quick-profile runs' ``metrics.json`` under ``runs`` to ``quick/<stem>_quick.json`` (replacing
    what was there, so that the page holds one run); ``suite_seconds``: the measured wall time of the whole
    ``make run``, kept in ``quick/suite.json``. Returns the number of runs copied."""
    runs, quick = Path(runs), Path(quick)
    found = [(m, json.loads(m.read_text())) for m in sorted(runs.glob("*/metrics.json"))] if runs.is_dir() else []
    found = [(m, d) for m, d in found if isinstance(d, dict) and d.get("profile") == "quick"]
    if not found:
        log(f"no quick-profile run under {runs}/; re-rendering from {quick}/ only")
        return 0
    quick.mkdir(parents=True, exist_ok=True)
    for old in quick.glob("*_quick.json"):
        old.unlink()
    for m, _ in found:
        shutil.copyfile(m, quick / f"{m.parent.name}_quick.json")
    if suite_seconds is not None:
        (quick / SUITE_FILE).write_text(json.dumps({"wall_seconds": float(suite_seconds), "notebooks": len(found),
                                                    "jobs": default_jobs()}))
    log(f"collected {len(found)} quick run(s) -> {quick}/")
    return len(found)


def render_quick(quick: str | Path) -> str:
    """The text of ``docs/QUICK.md`` from the quick runs in ``quick`` (``docs/quick``): what the profile trains (the
    package's settings), the run's provenance, each notebook's wall time, and each notebook's claim."""
    quick = Path(quick)
    runs = [(p.name.removesuffix("_quick.json"), json.loads(p.read_text())) for p in sorted(quick.glob("*_quick.json"))]
    suite = json.loads((quick / SUITE_FILE).read_text()) if (quick / SUITE_FILE).is_file() else {}
    whole = (f"; the whole suite ({suite['notebooks']} notebooks, {suite.get('jobs', 1)} at a time) took "
             f"{fmt(suite['wall_seconds'], '.0f')} s" if suite else "")
    out = ["# The quick profile", "",
           "<!-- Written by `python -m mdlstm_utils.report.results --quick` from docs/quick/; do not edit by hand. -->", "",
           "`make run` (the README's first command) executes every notebook in the `quick` profile: minutes per "
           f"notebook on 2 CPU cores. In this code each model trains `train.QUICK_STEPS` = {QUICK_STEPS} optimizer steps of "
           f"`train.QUICK_BATCH` = {QUICK_BATCH} windows of 50 frames unless its notebook says otherwise, on less data "
           "than `full`: numbers that show each lesson, with wider intervals. The reference results are the `full` "
           "profile's ([RESULTS.md](RESULTS.md)).", ""]
    if runs:
        src = Source.from_metrics(runs[0][1])
        out += [f"This page shows one clean-clone run: {_commit_words(runs[0][1])}, date {_code(src.date)}, "
                f"device {_code(src.device)}, {fmt(src.cpu_count)} CPU cores{whole}.", "",
                "## Run times", ""]
        out += _table(["notebook", "wall time (s)"],
                      [[_code(stem), fmt(Source.from_metrics(d).wall_seconds, ".0f")] for stem, d in runs])
        out += ["## What each notebook claims", ""]
    for stem, d in runs:
        out += [f"### {_nn(stem)} · {TITLES.get(_nn(stem), (stem, stem))[1]}", ""]
        try:
            c = Claim.from_metrics(d, stem)
        except MissingClaimError as exc:
            out += [f"> **No claim record:** {exc}", ""]
            continue
        out += [f"**Question.** {c.question}", ""]
        out += _table(["number", "value, as the run wrote it"], [[_cell(n.label), _cell(n.text)] for n in c.numbers])
        out += [f"**Verdict.** {c.verdict}", ""]
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mdlstm_utils.report.results", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs", help="folder of executed notebooks (runs/<notebook>/metrics.json)")
    ap.add_argument("--docs", default="docs", help="folder holding results/ and RESULTS.md")
    ap.add_argument("--readme", default=None, help="README to update (default: the README.md beside --docs)")
    ap.add_argument("--allow-mixed", action="store_true",
                    help="write the README block even when its rows come from runs of different or unknown commits, "
                         f"marking those rows {MARK} (without it such a block is refused and the README left alone)")
    ap.add_argument("--quick", action="store_true",
                    help="instead: copy the quick-profile runs into docs/quick/ and write docs/QUICK.md from them")
    ap.add_argument("--suite-seconds", type=float, default=None,
                    help="with --quick: the measured wall time of the whole `make run`, shown on the page")
    args = ap.parse_args(argv)
    docs = Path(args.docs)
    if args.quick:
        collect_quick(args.runs, docs / "quick", suite_seconds=args.suite_seconds)
        (docs / QUICK_NAME).write_text(render_quick(docs / "quick"))
        print(f"wrote {docs / QUICK_NAME}")
        return 0
    results = docs / "results"
    collect(args.runs, results)
    if not results.is_dir():
        print(f"no {results}/; nothing to render", file=sys.stderr)
        return 1
    text = render_results(results)
    (docs / RESULTS_NAME).write_text(text)
    print(f"wrote {docs / RESULTS_NAME}")
    problems = check_numbers(text, results)
    readme = Path(args.readme) if args.readme else docs.resolve().parent / "README.md"
    if readme.is_file():
        try:
            block = render_readme_block(results, allow_mixed=args.allow_mixed)
        except MixedVintagesError as exc:
            print(f"README not changed: {exc}", file=sys.stderr)
            return 1
        if update_readme(readme, block):
            print(f"updated the results block of {readme}")
            problems += check_readme_block(readme.read_text(), results)
            problems += check_readme_vintages(readme.read_text(), results)
    else:
        print(f"no {readme}; README block not written")
    for p in problems:
        print("check:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
