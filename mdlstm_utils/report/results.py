"""``make results``: collect full-profile runs into ``docs/results/`` and write ``docs/RESULTS.md`` from them.

No number is copied by hand: every number in ``docs/RESULTS.md`` and in the
headline block of ``README.md`` is formatted, by :func:`fmt`, from a value in
a file under ``docs/results/``.

Steps (``python -m mdlstm_utils.report.results [--runs runs] [--docs docs] [--readme README.md] [--allow-mixed]``):

1. **collect** (:func:`collect`): for every ``runs/<stem>/metrics.json`` whose
   ``"profile"`` is ``"full"``, copy it to ``docs/results/<stem>_full.json``;
   copy the run's figures ``runs/<stem>/<figure>.png`` to
   ``docs/results/<NN>_<figure>.png`` and its summary tables
   ``runs/<stem>/<name>_summary.csv`` to ``docs/results/<NN>_<name>_summary.csv``,
   where ``NN`` is the notebook number (the first two characters of the
   stem). Runs of another profile are skipped with a note.
2. **render** (:func:`render_results`): ``docs/RESULTS.md``, one section per
   notebook number, built from ``docs/results/<NN>_*.json`` (and, for a
   notebook whose JSON holds no ``summary`` table, from its
   ``<NN>_*_summary.csv``), with the figures ``docs/results/<NN>_*.png``.
3. **README** (:func:`render_readme_block`): the lines between
   ``<!-- results:begin -->`` and ``<!-- results:end -->`` of ``README.md``.

Provenance. Each run's section of ``RESULTS.md`` opens with a **Provenance** line: commit, date, profile, seeds,
machine (device, CPU cores, torch threads) and wall time, as its ``metrics.json`` records them
(:func:`mdlstm_utils.runtime.environment_info`: ``environment.commit``, ``commit_dirty``, ``date``,
``wall_seconds``, ...); what a file does not record is said to be unknown or not recorded, never filled in. The
README block compares rows, so its rows must come from one commit with clean code (:func:`vintage`). When they do
not, the block is refused (exit status 1, README left alone) unless ``--allow-mixed`` is given; then each odd row
(another commit than most rows, no commit recorded, or uncommitted changes to the code) is marked ``⚠`` with its
commit in the conditions, and the line above the table says so. :func:`check_readme_vintages` checks the marks.

Formatting rule (:func:`mdlstm_utils.runtime.fmt`, the one format of the suite), applied to every number:

* a JSON integer is written as it is (``72``, ``120000``);
* a float with ``|x| >= 100`` is rounded to an integer (``{:.0f}``: ``1503.72`` -> ``1504``);
* any other float gets three significant digits (``{:.3g}``: ``0.054871`` -> ``0.0549``,
  ``25.447`` -> ``25.4``, ``1.0`` -> ``1``, ``1.988e-05`` -> ``1.99e-05``);
* ``null`` is written ``–``, ``true`` / ``false`` as ``yes`` / ``no``, infinity as ``inf``.

A spread is written ``mean ± std`` only where the file records both (keys
``x`` and ``x_std``, or ``x_mean`` and ``x_std``); a run without one is called
a single run. Nothing else is computed from the values: a table shows them, a
headline picks some of them (the smallest or largest of a list at most).

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
and CSV cells), or appear as a number inside one of their strings or keys.

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

from mdlstm_utils.runtime import MFPT_TOLERANCE, fmt

__all__ = [
    "fmt",
    "collect",
    "load_results",
    "render_results",
    "render_readme_block",
    "update_readme",
    "number_tokens",
    "check_numbers",
    "result_numbers",
    "check_prose",
    "check_readme_block",
    "check_readme_vintages",
    "readme_rows",
    "vintage",
    "MixedVintagesError",
    "main",
]

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
RESULTS_NAME = "RESULTS.md"

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
def pm(mean, std) -> str:
    """``mean ± std`` (each by :func:`fmt`); just the mean when ``std`` is missing."""
    return fmt(mean) if std is None else f"{fmt(mean)} ± {fmt(std)}"


def _code(s) -> str:
    return f"`{s}`"


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

    ``runs/<stem>/metrics.json`` with ``"profile": "full"`` ->
    ``results/<stem>_full.json``; its ``*.png`` -> ``results/<NN>_<figure>.png``;
    its ``*_summary.csv`` -> ``results/<NN>_<name>.csv``. Other profiles are
    skipped with a note; so is a metrics file that is not valid JSON.
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
        targets += [(p, results / f"{nn}_{p.stem}.png") for p in sorted(run_dir.glob("*.png"))]
        targets += [(p, results / f"{nn}_{p.name}") for p in sorted(run_dir.glob("*_summary.csv"))]
        for src, dst in targets:
            shutil.copyfile(src, dst)
            written.append(dst)
        log(f"collected {run_dir}/ -> {results}/{stem}_full.json and {len(targets) - 1} figure/table file(s)")
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
    """The files of ``results`` grouped by notebook number (``NN_*.json``, ``NN_*_summary.csv``, ``NN_*.png``)."""
    results = Path(results)
    groups: dict[str, Group] = {}

    def group(name: str) -> Group:
        nn = _nn(name)
        return groups.setdefault(nn, Group(nn))

    for p in sorted(results.glob("*_full.json"), key=lambda p: (len(p.name), p.name)):  # 02_x_full before 02_x_alanine_full
        group(p.name).jsons.append((p.name, json.loads(p.read_text())))
    for p in sorted(results.glob("*_summary.csv")):
        group(p.name).csvs.append((p.name, _read_csv(p)))
    for p in sorted(results.glob("*.png")):
        if _nn(p.name) != p.name:  # only NN_*.png belong to a notebook
            group(p.name).figures.append(p.name)
    return dict(sorted(groups.items()))


# ----------------------------------------------------------------------------------------------- sections
def _environment_lines(d: dict) -> list[str]:
    """The software the run used (the machine, date and commit are in :func:`_provenance_line`)."""
    env = d.get("environment")
    if not isinstance(env, dict):
        return []
    pk = env.get("packages") or {}
    vers = ", ".join(f"{name} {_code(pk[name])}" for name in ("torch", "deeptime", "openmm") if pk.get(name))
    py = f"Python {_code(env['python'])}" if env.get("python") else ""
    shown = [x for x in (py, vers) if x]
    return [f"- **Software:** {', '.join(shown)}."] if shown else []


# ----------------------------------------------------------------------------------------------- provenance
MARK = "⚠"
"""Marks a README row whose run is not of the commit of the other rows (or records no commit)."""


class MixedVintagesError(ValueError):
    """The README block would mix runs of different (or unknown) commits and ``allow_mixed`` was not given."""


def vintage(d: dict | None) -> str | None:
    """The commit a run's numbers come from: its recorded ``environment.commit`` when the code was clean.

    ``None`` (unknown) when the file records no commit (runs made before :func:`mdlstm_utils.runtime.code_version`
    existed, or without git) or the run had uncommitted changes to the code (``commit_dirty``): then no commit
    names the code that made the numbers.
    """
    env = (d or {}).get("environment")
    if not isinstance(env, dict) or not isinstance(env.get("commit"), str) or not env["commit"]:
        return None
    return None if env.get("commit_dirty") else env["commit"]


def _commit_words(d: dict | None) -> str:
    env = (d or {}).get("environment") if isinstance((d or {}).get("environment"), dict) else {}
    sha = env.get("commit") if isinstance(env.get("commit"), str) and env.get("commit") else None
    if sha is None:
        return "commit unknown"
    return f"commit {_code(sha[:12])}" + (" with uncommitted changes to the code" if env.get("commit_dirty") else "")


def _seed_words(d: dict) -> str:
    seeds, n, seed = d.get("seeds"), d.get("n_seeds"), d.get("seed")
    if isinstance(seeds, list) and seeds and all(_num(x) for x in seeds):
        return "seeds " + ", ".join(fmt(x) for x in seeds)
    if _num(n) and n > 1:
        return f"{fmt(n)} seeds" + (f" (base seed {fmt(seed)})" if _num(seed) else "")
    return f"seed {fmt(seed)}" if _num(seed) else "seed not recorded"


def _provenance_line(d: dict) -> list[str]:
    """Where the numbers of one run came from: commit, date, profile, seeds, machine (cores, device), wall time."""
    env = d.get("environment") if isinstance(d.get("environment"), dict) else {}
    date = d.get("date") or env.get("date") or env.get("timestamp")
    bits = [_commit_words(d) + ("" if env.get("commit") else " (not recorded in the file)"),
            f"date {_code(date)}" if date else "date not recorded",
            f"profile {_code(d.get('profile'))}", _seed_words(d)]
    if env.get("device"):
        machine = [f"device {_code(env.get('device'))} ({_code(env.get('device_name'))})"]
        if _num(env.get("cpu_count")):
            machine.append(f"CPU cores {fmt(env['cpu_count'])}")
        if _num(env.get("torch_threads")):
            machine.append(f"torch threads {fmt(env['torch_threads'])}")
        bits.append("machine: " + ", ".join(machine))
    else:
        bits.append("machine not recorded")
    wall = env.get("wall_seconds")
    bits.append(f"wall time {fmt(wall)} s" if _num(wall) else "wall time not recorded")
    return [f"- **Provenance:** {'; '.join(bits)}."]


def _run_line(d: dict, source: str, extra: str = "") -> list[str]:
    """The run's provenance (:func:`_provenance_line`) and the file the section is built from."""
    return _provenance_line(d) + [f"- **Run:** source {_code('results/' + source)}{extra}."]


def _sizes_line(items: list[tuple[str, object]]) -> list[str]:
    shown = [f"{label} {fmt(v) if not isinstance(v, str) else v}" for label, v in items if v is not None]
    return [f"- **Sizes:** {'; '.join(shown)}."] if shown else []


SINGLE = "- **Spread:** single run; the file holds no interval or seed spread, so none is shown."
INTERVALS_03 = ("- **Spread:** single training run (seed above); `95 %` intervals in brackets: MFPTs Poisson in the number "
                "of passages, implied timescales from Bayesian MSM samples (none for the many-state grid).")


def _ci(value, low, high) -> str:
    """``value [low, high]`` (each by :func:`fmt`); just the value where the interval is missing."""
    if low is None or high is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def _pair(m, i, j):
    try:
        return m[i][j]
    except (IndexError, TypeError, KeyError):
        return None


def _records_table(records: list[dict], *, skip=()) -> list[str]:
    """A table of dict records: one column per key; ``x`` + ``x_std`` (or ``x_mean`` + ``x_std``) become ``mean ± std``."""
    if not records:
        return []
    keys = [k for k in records[0] if k not in skip]
    cols: list[tuple[str, str | None, str | None]] = []  # (label, value key, std key)
    used = set()
    for k in keys:
        if k in used:
            continue
        if k.endswith("_mean"):
            base = k[: -len("_mean")]
            std, cnt = f"{base}_std", f"{base}_count"
            cols.append((f"{_label(base)} (mean ± std)", k, std if std in keys else None))
            used |= {k, std}
            if cnt in keys:
                cols.append((f"{_label(base)}: n", cnt, None))
                used.add(cnt)
        elif f"{k}_std" in keys:
            cols.append((f"{_label(k)} (mean ± std)", k, f"{k}_std"))
            used |= {k, f"{k}_std"}
        else:
            cols.append((_label(k), k, None))
            used.add(k)
    # a count column that repeats the previous count column in every row says nothing new
    counts = [c for c in cols if c[0].endswith(": n")]
    if len(counts) > 1 and all(len({r.get(c[1]) for c in counts}) == 1 for r in records):
        first = counts[0]
        cols = [c for c in cols if not c[0].endswith(": n") or c is first]
        cols[cols.index(first)] = ("n", first[1], None)
    rows = [[pm(r.get(v), r.get(s)) if s else fmt(r.get(v)) for _, v, s in cols] for r in records]
    return _table([c[0] for c in cols], rows)


def _mfpt_cells(p: dict) -> list[str]:
    return [fmt(_pair(p.get("mfpt_ref"), 0, 1)), fmt(_pair(p.get("mfpt_ref"), 1, 0)),
            fmt(_pair(p.get("mfpt_gen"), 0, 1)), fmt(_pair(p.get("mfpt_gen"), 1, 0)),
            f"{fmt(_pair(p.get('mfpt_n_ref'), 0, 1))} / {fmt(_pair(p.get('mfpt_n_gen'), 0, 1))}"]


def _section_01(name: str, d: dict) -> list[str]:
    tr = d.get("train") or {}
    hist = tr.get("history") or []
    out = _run_line(d, name) + _sizes_line([
        ("states", d.get("n_states")), ("bins", d.get("n_bins")), ("saving interval (reduced time)", d.get("saving_interval")),
        ("epochs run", hist[-1].get("epoch") if hist else None), ("best epoch", tr.get("best_epoch")),
        ("best validation loss", tr.get("best_val_loss")), ("training s", tr.get("train_seconds")),
        ("training tokens/s", tr.get("tokens_per_second")), ("reference simulation s", d.get("simulation_seconds")),
        ("generated frames/s", d.get("generation_frames_per_s")),
    ]) + _environment_lines(d) + [SINGLE, ""]
    names = d.get("set_names") or []
    exact = d.get("exact_populations") or [None] * len(names)
    out += ["Well populations (exact: quadrature of the Boltzmann density):", ""]
    out += _table(["well", "exact", "reference", "generated", "abs. error"],
                  [[n, fmt(exact[i]), fmt(d["set_pop_ref"][i]), fmt(d["set_pop_gen"][i]), fmt(d["set_pop_abs_err"][i])]
                   for i, n in enumerate(names)])
    out += ["MFPTs between wells (reduced time; passages: number of observed passages):", ""]
    rows = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                rows.append([f"{a}→{b}", fmt(_pair(d.get("mfpt_ref"), i, j)), fmt(_pair(d.get("mfpt_gen"), i, j)),
                             fmt(_pair(d.get("mfpt_ratio"), i, j)),
                             f"{fmt(_pair(d.get('mfpt_n_ref'), i, j))} / {fmt(_pair(d.get('mfpt_n_gen'), i, j))}"])
    out += _table(["pair", "reference", "generated", "gen / ref", "passages ref / gen"], rows)
    tm = d.get("targets_met") or {}
    out += [f"- Largest well-population error: {fmt(d.get('set_pop_max_abs_err'))} (target met: {fmt(tm.get('populations'))}).",
            f"- Largest MFPT relative error: {fmt(d.get('mfpt_max_rel_err'))} (target met: {fmt(tm.get('mfpt'))}).",
            f"- Largest state-population error over the bins: {fmt(d.get('state_pop_max_abs_err'))}; "
            f"Jensen–Shannon divergence of the state populations: {fmt(d.get('state_pop_js_divergence'))}.", ""]
    return out


def _scan(out: list[str], s: dict, unit: str) -> None:
    out += _records_table(s.get("table") or [])
    out += [f"- LSTM's best saving interval: {fmt(s.get('best_interval_lstm'))} {unit}; "
            f"largest LSTM population error over the intervals: {fmt(s.get('lstm_max_population_error'))}.", ""]


def _spread_02(d: dict) -> str:
    n = d.get("n_seeds") or 1
    if n > 1:
        return f"- **Spread:** {fmt(n)} training seeds per interval and model; the table gives their mean and sd."
    return "- **Spread:** one run per interval and model; no interval recorded."


def _section_02(name: str, d: dict) -> list[str]:
    out: list[str] = []
    if d.get("table"):
        out += [f"### Four-well potential ({_code(name)})", ""]
        out += _run_line(d, name) + _sizes_line([("base interval (reduced time)", d.get("base_interval"))])
        out += _environment_lines(d) + [_spread_02(d), ""]
        out += ["Intervals in reduced time; MFPTs between the well pairs {A,B} and {C,D}; the slow-process error is the "
                "largest relative MFPT error of the two directions; MSM: a Markov model at a lag of one frame of the "
                "same labels.", ""]
        _scan(out, d, "(reduced time)")
    if d.get("alanine"):
        out += [f"### Alanine dipeptide, φ states ({_code(name)})", ""]
        out += _run_line(d, name) + _environment_lines(d)
        out += [_spread_02(d), ""]
        out += ["Intervals in ps; MFPTs in ps between the φ core sets (β/αR and αL).", ""]
        _scan(out, d["alanine"], "ps")
    return out


# the baselines beside a language model's largest MFPT error: (metrics key, label)
BASELINES = (("msm_mfpt_max_rel_err", "MSM baseline"), ("noise_floor_mfpt_err", "noise floor"))


def _baselines(records) -> list[tuple[str, str]]:
    """The :data:`BASELINES` that any of ``records`` (dicts of metrics) holds: files from 2026-11-26 on record them."""
    records = list(records)
    return [(key, label) for key, label in BASELINES if any(key in r for r in records)]


def _section_03(name: str, d: dict) -> list[str]:
    fl = d.get("phi_flips") or {}
    out = _run_line(d, name) + _sizes_line([
        ("temperature (K)", d.get("temperature_K")), ("MD length (ns)", d.get("total_ns")),
        ("frames", fl.get("n_frames")), ("φ-flip round trips", fl.get("round_trips")),
        ("MSM lag (ps)", d.get("msm_lag_ps")), ("core membership threshold", d.get("core_threshold")),
    ]) + _environment_lines(d)
    states = d.get("states") or {}
    with_ci = any("mfpt_ref_low" in s for s in states.values())
    out += [INTERVALS_03 if with_ci else SINGLE, ""]
    out += ["Kinetics of the φ flip per state space (MFPTs and slowest implied timescale in ps; unseen jumps: fraction "
            "of generated state changes the MD never makes):", ""]
    rows = []
    for sp, s in states.items():
        if with_ci:
            mf = [_ci(_pair(s.get(f"mfpt_{w}"), i, j), _pair(s.get(f"mfpt_{w}_low"), i, j), _pair(s.get(f"mfpt_{w}_high"), i, j))
                  for w in ("ref", "gen") for i, j in ((0, 1), (1, 0))]
            its = [_ci(s.get(f"its_{w}"), *(s.get(f"its_{w}_interval") or (None, None))) for w in ("ref", "gen")]
        else:
            mf, its = _mfpt_cells(s)[:4], [fmt(s.get("its_ref")), fmt(s.get("its_gen"))]
        rows.append([sp, fmt(s.get("n_states")), *mf,
                     f"{fmt(_pair(s.get('mfpt_n_ref'), 0, 1))} / {fmt(_pair(s.get('mfpt_n_gen'), 0, 1))}",
                     *its, fmt((d.get("unseen_jump_fraction") or {}).get(sp))])
    out += _table(["state space", "states", "MFPT →αL MD", "MFPT αL→ MD", "MFPT →αL LSTM", "MFPT αL→ LSTM",
                   "flips MD / LSTM", "ITS MD", "ITS LSTM", "unseen jumps"], rows)
    extra = _baselines(states.values())  # beside the LSTM, where the file records them
    beside = f"; {' and '.join(label for _, label in extra)}: largest MFPT error" if extra else ""
    out += [f"Relative errors of the LSTM (target met in brackets{beside}):", ""]
    errs, tm = d.get("errors") or {}, d.get("targets_met") or {}
    keys = ["populations", "mfpt_to_alphaL", "mfpt_from_alphaL", "slowest_its"]
    rows = [[sp, *[f"{fmt(e.get(k))} ({fmt((tm.get(sp) or {}).get(k))})" for k in keys],
             *[fmt((states.get(sp) or {}).get(key)) for key, _ in extra]] for sp, e in errs.items()]
    out += _table(["state space", "populations", "MFPT →αL", "MFPT αL→", "slowest ITS", *[label for _, label in extra]], rows)
    pops = d.get("populations") or {}
    if pops:
        out += ["Populations (MD / LSTM):", ""]
        rows = [[sp, n, fmt(p["md"][i]), fmt(p["lstm"][i])] for sp, p in pops.items() for i, n in enumerate(p.get("names", []))]
        out += _table(["state space", "state", "MD", "LSTM"], rows)
    out += ["Training (lowest-validation-loss epoch kept):", ""]
    rows = [[sp, fmt((s.get("train") or {}).get("best_epoch")), fmt((s.get("train") or {}).get("best_val_loss")),
             fmt(s.get("train_seconds")), fmt(s.get("generation_seconds"))] for sp, s in states.items()]
    out += _table(["state space", "best epoch", "validation loss", "training s", "generation s"], rows)
    return out


def _partition_table(parts: dict, names=("A", "B"), unit: str = "") -> list[str]:
    a, b = names
    extra = _baselines(parts.values())
    rows = []
    for k, p in parts.items():
        rows.append([k, fmt(p.get("state_pop_max_abs_err")), fmt(p.get("set_pop_max_abs_err")), *_mfpt_cells(p),
                     fmt(p.get("mfpt_max_rel_err")), *[fmt(p.get(key)) for key, _ in extra], fmt(p.get("train_val_loss"))])
    return _table(["partition", "state-pop. error", "set-pop. error", f"MFPT {a}→{b} ref{unit}", f"MFPT {b}→{a} ref{unit}",
                   f"MFPT {a}→{b} gen{unit}", f"MFPT {b}→{a} gen{unit}", f"passages {a}→{b} ref / gen",
                   "slow-process error", *[label for _, label in extra], "validation loss"], rows)


def _section_04(name: str, d: dict) -> list[str]:
    tm = d.get("truth_mfpt")
    out = _run_line(d, name) + _sizes_line([
        ("toy dimensions", d.get("dim")), ("saving interval", d.get("saving_interval")), ("microstates", d.get("n_micro")),
        ("MSM lag (frames)", d.get("msm_lag")), ("core membership threshold", d.get("core_threshold")),
        ("largest correlation of a feature with the hidden coordinate", d.get("max_feature_corr_with_s")),
        ("true MFPTs A→B / B→A", f"{fmt(_pair(tm, 0, 1))} / {fmt(_pair(tm, 1, 0))}" if tm else None),
        ("toy simulation s", d.get("simulation_seconds")),
    ]) + _environment_lines(d) + [SINGLE, ""]
    out += ["Toy (slow double well hidden among fast modes): one LSTM per partition; MFPTs between the two "
            "metastable sets in reduced time.", ""]
    out += _partition_table(d.get("partitions") or {})
    al = d.get("alanine")
    if al:
        t = al.get("truth_mfpt_ps")
        fl = al.get("phi_flips") or {}
        tr = al.get("train") or {}
        out += ["Alanine dipeptide (heavy-atom distances → k-means microstates); MFPTs in ps between the sets:", ""]
        out += _sizes_line([
            ("MD length (ns)", al.get("total_ns")), ("saving interval (ps)", al.get("saving_interval_ps")),
            ("microstates", al.get("n_micro")), ("MSM lag (frames)", al.get("msm_lag")),
            ("recrossing removal in the measurement (frames)", al.get("min_dwell_measurement")),
            ("φ-flip round trips", fl.get("round_trips")),
            ("φ-flip MFPTs (the truth) →αL / αL→ (ps)", f"{fmt(_pair(t, 0, 1))} / {fmt(_pair(t, 1, 0))}" if t else None),
            ("generated trajectories", al.get("n_gen")), ("generated frames each", al.get("gen_frames")),
            ("best epoch", tr.get("best_epoch")), ("training s", al.get("train_seconds")),
        ]) + [""]
        out += _partition_table(al.get("sets") or {}, names=("β/αR", "αL"))
    return out


def _section_05(name: str, d: dict) -> list[str]:
    out = _run_line(d, name) + _sizes_line([("core membership threshold", d.get("core_threshold"))])
    n = d.get("n_seeds") or 1
    spread = (f"- **Spread:** mean ± std over {fmt(n)} training seeds per partition (sample standard deviation); "
              "the per-partition tables below are the first seed's." if n > 1 else SINGLE)
    out += _environment_lines(d) + [spread, ""]
    spe, sd = d.get("slow_process_error") or {}, d.get("slow_process_error_sd") or {}
    if spe:
        parts = list(next(iter(spe.values())))
        out += ["Slow-process error (largest relative MFPT error between the two metastable sets, generated vs "
                "the reference labels of the same partition):", ""]
        out += _table(["system", *parts], [[sysname, *[pm(v.get(p), (sd.get(sysname) or {}).get(p) if n > 1 else None)
                                                       for p in parts]] for sysname, v in spe.items()])
    for key, title, names in (("toy", "Toy (hidden slow double well)", ("A", "B")), ("alanine", "Alanine dipeptide", ("β/αR", "αL"))):
        s = d.get(key)
        if not s:
            continue
        t = s.get("truth_mfpt")
        out += [f"### {title}", ""]
        out += _sizes_line([
            ("lag (frames)", s.get("lag")), ("lag from the implied-timescale rule", s.get("lag_rule")),
            ("CK test largest error", s.get("ck_max_error")),
            ("core sizes (microstates)", " / ".join(fmt(x) for x in s.get("core_sizes") or []) or None),
            ("true MFPTs", f"{fmt(_pair(t, 0, 1))} / {fmt(_pair(t, 1, 0))}" if t else None),
            ("dynamical coring (frames)", s.get("min_dwell")),
            ("φ purity of the macrostates", " / ".join(fmt(x) for x in s.get("phi_purity_of_macrostates") or []) or None),
        ]) + [""]
        its, lags = s.get("implied_timescales"), s.get("lags")
        if its and lags:
            out += ["Implied timescales of the microstate MSM:", ""]
            out += _table(["lag (frames)", *[f"process {_code(k)}" for k in range(len(its[0]))]],
                          [[fmt(lag), *[fmt(x) for x in row]] for lag, row in zip(lags, its)])
        scan = s.get("min_dwell_scan")
        if scan:
            out += ["Reference MFPTs of the cored macrostates vs the coring length:", ""]
            out += _table(["min. dwell (frames)", f"MFPT {names[0]}→{names[1]}", f"MFPT {names[1]}→{names[0]}"],
                          [[fmt(md), fmt(m[0]), fmt(m[1])] for md, m in zip(scan["min_dwell"], scan["mfpt_ref"])])
        out += ["Per partition:", ""]
        out += _partition_table(s.get("partitions") or {}, names=names)
    return out


def _section_06(name: str, d: dict) -> list[str]:
    n = d.get("n_seeds")
    out = _run_line(d, name, f", {fmt(n)} seeds per model" if _num(n) else "") + _environment_lines(d)
    out += [f"- **Spread:** mean ± std over the {fmt(n)} seeds (sample standard deviation), as the notebook recorded them; "
            "columns without ± are means.", ""]
    out += ["Summary (slow error: largest relative MFPT error over the sets; population error: largest state-population "
            "error):", ""]
    out += _records_table(d.get("summary") or [])
    out += ["Per seed:", ""]
    out += _records_table(d.get("runs") or [])
    return out


def _section_07_json(name: str, d: dict) -> list[str]:
    out = _run_line(d, name) + _environment_lines(d)
    if _num(d.get("n_runs")):
        sc = d.get("status_counts") or {}
        out += [f"- **Sweep:** {fmt(d['n_runs'])} runs ({', '.join(f'{k} {fmt(v)}' for k, v in sc.items())}); "
                f"grid: {'; '.join(f'{k} ' + ', '.join(fmt(x) for x in v) for k, v in (d.get('grid') or {}).items())}; "
                f"seeds {', '.join(fmt(s) for s in d.get('seeds') or [])}."]
    out += ["- **Spread:** mean ± std over the seeds of each cell (sample standard deviation; n: runs in the cell).", ""]
    out += _summary_07(d.get("summary") or [])
    for key, title in (("gen_vs_truth_by_partition", "partition"), ("gen_vs_truth_by_interval", "interval")):
        v = d.get(key)
        if v:
            out += [f"Generated vs truth, mean over the rest of the grid, by {title}:", ""]
            out += _table([title, "mean error"], [[k, fmt(x)] for k, x in v.items()])
    return out


def _summary_07(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    return ["Errors are largest relative MFPT errors between the two metastable sets: generated vs the true MFPTs of "
            "the hidden coordinate, generated vs the reference labels, and the reference labels vs the truth; "
            "intervals in multiples of the base interval.", ""] + _records_table(rows)


def _section_07_csv(name: str, rows: list[dict]) -> list[str]:
    return [f"- **Provenance:** commit unknown; date, profile, seeds, machine and wall time not recorded: the "
            "sweep's own metrics file is not in `docs/results`, only its summary table.",
            f"- **Source:** {_code('results/' + name)}, the sweep's summary table.",
            "- **Spread:** mean ± std over the seeds of each cell (sample standard deviation; n: runs in the cell).",
            ""] + _summary_07(rows)


def _section_generic(name: str, d: dict) -> list[str]:
    out = _run_line(d, name) + _environment_lines(d) + [SINGLE, ""]
    scalars = [(k, v) for k, v in d.items() if _num(v) and k != "seed"]
    if scalars:
        out += _table(["quantity", "value"], [[_label(k), fmt(v)] for k, v in scalars])
    for k, v in d.items():
        if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            out += [f"{_label(k)}:", ""] + _records_table(v)
    return out


SECTIONS = {  # notebook number -> (renderer, keys its JSON must hold)
    "01": (_section_01, ("set_names", "mfpt_ref", "set_pop_ref", "set_pop_gen", "set_pop_abs_err")),
    "02": (_section_02, ()),
    "03": (_section_03, ("states",)),
    "04": (_section_04, ("partitions",)),
    "05": (_section_05, ("slow_process_error",)),
    "06": (_section_06, ("summary",)),
    "07": (_section_07_json, ("summary",)),
}


def _render_group(g: Group) -> list[str]:
    stem, title, claim = TITLES.get(g.nn, (g.stem, g.stem, ""))
    out = [f'<a id="{g.stem}"></a>', "", f"## {g.nn} · {title}", ""]
    out += [f"Notebook {_code('notebooks/' + g.stem + '.ipynb')}." + (f" Claim: {claim}." if claim else ""), ""]
    for name, d in g.jsons:
        render, needs = SECTIONS.get(g.nn, (_section_generic, ()))
        if not all(k in d for k in needs):
            render = _section_generic
        if g.nn != "02" and len(g.jsons) > 1:
            out += [f"### {_code(name)}", ""]
        out += render(name, d)
    if not any("summary" in d for _, d in g.jsons):
        for name, rows in g.csvs:
            out += _section_07_csv(name, rows)
    for fig in g.figures:
        alt = Path(fig).stem[len(g.nn) + 1:].replace("_", " ")
        out += [f"![{alt}](results/{fig})", ""]
    return out


def render_results(results: str | Path) -> str:
    """The text of ``docs/RESULTS.md`` from the files in ``results`` (``docs/results``)."""
    groups = load_results(results)
    out = [
        "# Results of the full profile",
        "",
        "<!-- Written by `make results` (python -m mdlstm_utils.report.results) from docs/results/; do not edit by hand. -->",
        "",
        "Every number below is formatted from a value in the files under [`results/`](results/): the `metrics.json` "
        "of each notebook run in the `full` profile, saved as `results/<notebook>_full.json` (and the summary table a "
        "sweep writes beside it). `make results` copies new full runs from `runs/` and rewrites this page and the "
        "headline table of the README; `tests/test_results.py` checks that both match the files.",
        "",
        "**How numbers are written.** Integers as recorded. Floats of magnitude below one hundred with three "
        "significant digits (Python `{:.3g}`), larger floats rounded to an integer (`{:.0f}`); `–` marks a value "
        "the file holds as null (a passage never made, a quantity that does not apply). Errors are relative "
        "(a fraction of the reference) unless the column says population, which is an absolute difference of "
        "probabilities. A spread (mean ± std over seeds) is shown only where the file records it; everything else "
        "is a single run, said so in each section. Times (s) are wall-clock seconds of that run on its machine.",
        "",
        "**Where each number came from.** Each run's *Provenance* line gives the commit, date, profile, seeds, "
        "machine and wall time its file records; what a file does not record (runs made before the record existed) "
        "is written as unknown or not recorded.",
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
def _env_words(d: dict) -> str:
    env = d.get("environment") or {}
    dev = env.get("device")
    if dev is None:
        return "machine not recorded"
    if dev == "cpu":
        return f"CPU, {fmt(env['torch_threads'])} threads" if _num(env.get("torch_threads")) else "CPU"
    return f"GPU ({env.get('device_name', dev)})"


def _json(g: Group | None, pred=lambda d: True) -> tuple[str, dict] | tuple[None, None]:
    for name, d in (g.jsons if g else []):
        if pred(d):
            return name, d
    return None, None


def _headlines(groups: dict[str, Group]) -> list[tuple[str, str, str, str, dict | None]]:
    """(notebook number, claim, result, conditions, source): one short row per notebook claim, from the files;
    ``source`` is the metrics dict the row is read from (``None``: a summary table without its metrics file)."""
    rows = []
    _, d = _json(groups.get("01"), lambda d: "mfpt_max_rel_err" in d and "set_pop_max_abs_err" in d)
    if d:
        rows.append(("01", "LSTM learns four-well populations and MFPTs",
                     f"largest population error {fmt(d['set_pop_max_abs_err'])}, largest MFPT error {fmt(d['mfpt_max_rel_err'])}",
                     f"single run, seed {fmt(d.get('seed'))}, {_env_words(d)}", d))
    for key, system, unit in ((None, "four-well", ""), ("alanine", "alanine φ", " ps")):
        _, d = _json(groups.get("02"), (lambda d: d.get("table")) if key is None else (lambda d: d.get("alanine")))
        if not d:
            continue
        s = d if key is None else d["alanine"]
        lstm = {float(k): v for k, v in (s.get("lstm_slow_error_by_interval") or {}).items()}
        sd = {float(k): v for k, v in (s.get("lstm_slow_error_sd_by_interval") or {}).items()}
        msm = list((s.get("msm_slow_error_by_interval") or {}).values())
        if not lstm or not msm:
            continue
        best, worst = min(lstm, key=lstm.get), max(lstm, key=lstm.get)
        n = d.get("n_seeds") or 1
        rows.append(("02", f"saving interval Δt decides ({system})",
                     f"LSTM slow-process error {pm(lstm[best], sd.get(best))} at Δt {fmt(best)}{unit} (best) to "
                     f"{pm(lstm[worst], sd.get(worst))} at Δt {fmt(worst)}{unit}; MSM ≤ {fmt(max(msm))}",
                     (f"mean ± std over {fmt(n)} seeds per Δt" if n > 1 else f"one run per Δt, seed {fmt(d.get('seed'))}")
                     + f", {_env_words(d)}", d))
    _, d = _json(groups.get("03"), lambda d: "errors" in d and "states" in d)
    if d and "metastable" in d["errors"]:
        e, grid = d["errors"]["metastable"], d["errors"].get("(φ, ψ)")
        txt = (f"metastable states: MFPT errors {fmt(e['mfpt_to_alphaL'])} / {fmt(e['mfpt_from_alphaL'])} (into / out of αL), "
               f"slowest ITS {fmt(e['slowest_its'])}, populations {fmt(e['populations'])}")
        meta = d["states"].get("metastable") or {}
        base = [f"{label} {fmt(meta[key])}" for key, label in _baselines([meta])]
        if base:  # the largest MFPT error of each, where the file records them
            txt += f" (largest MFPT error: {', '.join(base)})"
        if grid:
            n = (d["states"].get("(φ, ψ)") or {}).get("n_states")
            txt += f"; {fmt(n)}-state (φ, ψ) grid: {fmt(grid['mfpt_to_alphaL'])} / {fmt(grid['mfpt_from_alphaL'])}"
        rows.append(("03", "alanine dipeptide: the φ flip is learned on metastable states", txt,
                     f"single run, seed {fmt(d.get('seed'))}, {fmt(d.get('total_ns'))} ns at {fmt(d.get('temperature_K'))} K, "
                     f"{_env_words(d)}", d))
    _, d = _json(groups.get("04"), lambda d: "partitions" in d)
    if d and "microstates" in d["partitions"]:
        mi = d["partitions"]["microstates"]
        first = next(iter(((d.get("alanine") or {}).get("sets") or {}).values()), None)
        txt = f"slow-process error: toy {fmt(mi['mfpt_max_rel_err'])}" + (f", alanine {fmt(first['mfpt_max_rel_err'])}" if first else "")
        txt += f" (state populations within {fmt(mi['state_pop_max_abs_err'])}" + (
            f" / {fmt(first['state_pop_max_abs_err'])})" if first else ")")
        rows.append(("04", f"{fmt(d.get('n_micro'))} k-means microstates hide the rare event", txt,
                     f"single run, seed {fmt(d.get('seed'))}, {_env_words(d)}", d))
    _, d = _json(groups.get("05"), lambda d: "slow_process_error" in d)
    if d:
        cells, n = [], d.get("n_seeds") or 1
        for sysname, v in d["slow_process_error"].items():
            sd = (d.get("slow_process_error_sd") or {}).get(sysname) or {}
            vals = [pm(x, sd.get(k) if n > 1 else None) for k, x in v.items() if "core sets" not in k]
            cells.append(f"{sysname.split(' ')[0]} " + " → ".join(vals))
        steps = " → ".join(k for k in next(iter(d["slow_process_error"].values())) if "core sets" not in k)
        rows.append(("05", "metastable states and recrossing removal restore it",
                     f"slow-process error, {steps}: " + "; ".join(cells),
                     (f"mean ± std over {fmt(n)} seeds" if n > 1 else f"single run, seed {fmt(d.get('seed'))}")
                     + f", {_env_words(d)}", d))
    _, d = _json(groups.get("06"), lambda d: "summary" in d)
    if d:
        cells = []
        for data in dict.fromkeys(r["data"] for r in d["summary"]):
            parts = [f"{r['model']} {pm(r['slow_error'], r.get('slow_error_std'))}" for r in d["summary"] if r["data"] == data]
            cells.append(f"{data}: " + " vs ".join(parts))
        rows.append(("06", "a Transformer does not remove the problem", "slow-process error, " + "; ".join(cells),
                     f"mean ± std over {fmt(d.get('n_seeds'))} seeds, {_env_words(d)}", d))
    g = groups.get("07")
    _, d = _json(g, lambda d: "summary" in d)
    summary = d["summary"] if d else next((r for _, r in (g.csvs if g else [])), None)
    if summary:
        bits = []
        for part, label in (("micro", "microstates"), ("macro", "macrostates"),
                            ("macro+coring", "recrossing removed"), ("coordinate", "slow coordinate")):
            c = [r for r in summary if r.get("partition") == part and r.get("model") == "lstm"
                 and _num(r.get("gen_vs_truth_err_mean"))]
            if c:
                r = min(c, key=lambda r: r["gen_vs_truth_err_mean"])
                bits.append(f"{label} {pm(r['gen_vs_truth_err_mean'], r.get('gen_vs_truth_err_std'))} (k = {fmt(r.get('interval'))})")
        counts = {r.get("gen_vs_truth_err_count") for r in summary}
        cond = f"mean ± std over {fmt(counts.pop())} seeds" if len(counts) == 1 else "mean ± std over seeds"
        cond += f", {_env_words(d)}" if d else " (summary table only)"
        rows.append(("07", "the three factors in one sweep", "LSTM vs the true MFPTs at its best interval k (× base): " + "; ".join(bits), cond, d))
    return rows


def _reference_vintage(sources: list[dict | None]) -> str | None:
    """The commit most rows come from (the first such in notebook order on a tie); ``None`` when none records one."""
    known = [v for v in map(vintage, sources) if v]
    return max(dict.fromkeys(known), key=known.count) if known else None


def readme_rows(results: str | Path) -> list[dict]:
    """The README rows with their provenance: ``nn``, ``claim``, ``result``, ``conditions``, ``source`` (the
    metrics dict the row is read from), ``vintage`` (:func:`vintage`) and ``odd``: true when the row's vintage is
    unknown or differs from the commit of most rows (:func:`_reference_vintage`)."""
    rows = _headlines(load_results(results))
    ref = _reference_vintage([r[4] for r in rows])
    return [dict(nn=nn, claim=claim, result=result, conditions=cond, source=src, vintage=vintage(src),
                 odd=vintage(src) is None or vintage(src) != ref) for nn, claim, result, cond, src in rows]


def render_readme_block(results: str | Path, *, allow_mixed: bool = False) -> str:
    """The README lines between the markers (markers included).

    All rows must come from runs of one commit with clean code (:func:`vintage`): a reader compares rows, and rows
    of different code cannot be compared. Otherwise :class:`MixedVintagesError`, unless ``allow_mixed``; then the
    odd rows (another commit than most rows, or none recorded) get :data:`MARK` and their commit in the conditions,
    and the line above the table says so.
    """
    rows = readme_rows(results)
    stems = {nn: g.stem for nn, g in load_results(results).items()}
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
                "(their conditions say which, or that it is unknown)")
    else:
        vint = f"**mixed vintages**: no run records its commit ({MARK}), so rows may come from different code"
    out = [BEGIN,
           "<!-- Written by `make results` from docs/results/; do not edit by hand. -->",
           f"Profile `full`; {vint}. Errors are relative, population errors absolute. Tables, conditions, figures "
           "and each run's provenance: [docs/RESULTS.md](docs/RESULTS.md).",
           "",
           "| # | claim | result | conditions |",
           "|---|---|---|---|"]
    for r in rows:
        cond = f"{MARK} {_commit_words(r['source'])}; {r['conditions']}" if r["odd"] else r["conditions"]
        out.append(f"| [{r['nn']}](docs/RESULTS.md#{stems.get(r['nn'], r['nn'])}) | {r['claim']} | {r['result']} | {cond} |")
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

    The rows must be those :func:`readme_rows` makes of ``results`` (same notebooks and claims, in order). A row
    whose run is of another commit than most rows, or records none, must carry :data:`MARK` and say its commit in
    its conditions; the other rows must not carry it. With no odd row, every row is of the one commit the block's
    first line names. Returns one message per problem (empty: fine).
    """
    i, j = readme_text.find(BEGIN), readme_text.find(END)
    if i < 0 or j < i:
        return ["README has no results block"]
    lines = [ln for ln in readme_text[i:j].splitlines() if re.match(r"\| \[\d\d\]\(", ln)]
    rows = readme_rows(results)
    if len(lines) != len(rows):
        return [f"README block has {len(lines)} rows, the files make {len(rows)}"]
    problems = []
    ref = _reference_vintage([r["source"] for r in rows])
    for ln, r in zip(lines, rows):
        cells = [c.strip() for c in ln.strip().strip("|").split(" | ")]
        if not cells[0].startswith(f"[{r['nn']}]") or cells[1] != r["claim"]:
            problems.append(f"README row {ln[:50]!r} is not the row of notebook {r['nn']} ({r['claim']!r})")
            continue
        marked = MARK in cells[-1]
        if r["odd"] and not (marked and _commit_words(r["source"]) in cells[-1]):
            problems.append(f"README row {r['nn']} ({r['claim']}) is from {_commit_words(r['source'])}, not "
                            f"{'commit ' + ref[:12] if ref else 'a recorded commit'}, and is not marked {MARK}")
        if marked and not r["odd"]:
            problems.append(f"README row {r['nn']} ({r['claim']}) is marked {MARK} but is of commit {ref[:12]}")
    if not any(r["odd"] for r in rows) and ref and f"all rows from commit `{ref[:12]}`" not in readme_text[i:j]:
        problems.append(f"README block does not name the commit of its rows ({ref[:12]})")
    return problems


# ----------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mdlstm_utils.report.results", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs", help="folder of executed notebooks (runs/<notebook>/metrics.json)")
    ap.add_argument("--docs", default="docs", help="folder holding results/ and RESULTS.md")
    ap.add_argument("--readme", default=None, help="README to update (default: the README.md beside --docs)")
    ap.add_argument("--allow-mixed", action="store_true",
                    help="write the README block even when its rows come from runs of different or unknown commits, "
                         f"marking those rows {MARK} (without it such a block is refused and the README left alone)")
    args = ap.parse_args(argv)
    docs = Path(args.docs)
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
