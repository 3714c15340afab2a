"""`make results`: docs/RESULTS.md and the README's results block are written from docs/results/ and cannot go stale."""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from mdlstm_utils import runtime
from mdlstm_utils.report import results as R
from mdlstm_utils.report.claims import Claim, ClaimNumber, MissingClaimError, Source, read_claim

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
README = ROOT / "README.md"


def test_fmt_rule():
    assert R.fmt(72) == "72"
    assert R.fmt(120000) == "120000"
    assert R.fmt(1503.7222) == "1504"
    assert R.fmt(100.0) == "100"
    assert R.fmt(25.447) == "25.4"
    assert R.fmt(0.054871) == "0.0549"
    assert R.fmt(1.0) == "1"
    assert R.fmt(1.988e-05) == "1.99e-05"
    assert R.fmt(0.0) == "0"
    assert R.fmt(None) == "–"
    assert R.fmt(True) == "yes" and R.fmt(False) == "no"
    assert R.fmt(float("inf")) == "inf"


def test_number_tokens_definition():
    text = (
        "## 03 · Alanine\n"
        "torch `2.13.0+cpu`, ![fig 12](results/03_x.png) [link](docs/RESULTS.md#nb07) <a id='x9'></a>\n"
        "| 0.0549 | 1504 | 30-D | E32 | 1.99e-05 | v2.13.0 | -0.5 | end 0.25.\n"
    )
    assert R.number_tokens(text) == ["0.0549", "1504", "30", "1.99e-05", "-0.5", "0.25"]


# (a) the committed page and README block are what the renderer makes of the committed files
def test_results_md_and_readme_block_are_up_to_date(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(RESULTS, docs / "results")
    readme = tmp_path / "README.md"
    shutil.copyfile(README, readme)
    # the committed runs do not all name one commit (test_readme_rows_name_one_commit_or_are_marked), hence the flag
    rc = R.main(["--runs", str(tmp_path / "no-runs"), "--docs", str(docs), "--readme", str(readme), "--allow-mixed"])
    assert rc == 0
    assert (docs / "RESULTS.md").read_text() == (DOCS / "RESULTS.md").read_text(), "docs/RESULTS.md is stale: run `make results`"
    assert readme.read_text() == README.read_text(), "README.md's results block is stale: run `make results`"
    assert sorted(p.name for p in (docs / "results").iterdir()) == sorted(p.name for p in RESULTS.iterdir())


# (b) every number comes from the files, and the check notices a changed one
def test_every_number_in_results_md_is_a_value_of_the_files():
    md = (DOCS / "RESULTS.md").read_text()
    assert R.check_numbers(md, RESULTS) == []
    sections = dict(R._sections(md))
    assert set(sections) == set(R.load_results(RESULTS))  # one section per notebook number, none unchecked
    assert len(R.number_tokens(md)) > 40  # the check is not vacuous


def test_every_number_in_the_readme_block_is_a_value_of_its_notebook():
    text = README.read_text()
    assert text.count(R.BEGIN) == 1 and text.count(R.END) == 1
    assert R.check_readme_block(text, RESULTS) == []
    block = text[text.index(R.BEGIN): text.index(R.END)]
    assert len(R.number_tokens(block)) > 10


def _bump(line: str) -> str:
    """``line`` with its first number (in a table cell) multiplied by 1.1 and formatted by the same rule."""
    m = next(m for m in R.NUMBER_RE.finditer(line) if float(m.group()) != 0)
    new = R.fmt(float(m.group()) * 1.1)
    assert new != m.group()
    return line[: m.start()] + new + line[m.end():]


#: the notebooks of docs/results whose runs record a claim: their sections hold a table of numbers
CLAIMED = sorted({r.nn for g in R.load_results(RESULTS).values() for r in R.records(g) if r.claim})


@pytest.mark.parametrize("nn", CLAIMED)
def test_check_fails_when_one_number_changes_by_10_percent(nn):
    md = (DOCS / "RESULTS.md").read_text()
    start = md.index(f"\n## {nn} ")
    lines = md[start:].splitlines()
    # the second and the last row of the claim's table of numbers that hold a number
    rows = [i for i, ln in enumerate(lines) if ln.startswith("| ") and not ln.startswith("|---")
            and any(float(t) != 0 for t in R.number_tokens(ln))]
    assert len(rows) >= 2
    for i in (rows[1], rows[-1]):
        changed = lines.copy()
        label, value = lines[i].rsplit(" | ", 1)  # a value, not a number in its label ("toy (30-D)")
        changed[i] = f"{label} | {_bump(value)}" if any(float(t) != 0 for t in R.number_tokens(value)) else _bump(lines[i])
        text = md[:start] + "\n".join(changed) + ("\n" if md.endswith("\n") else "")
        problems = R.check_numbers(text, RESULTS)
        assert problems, f"changing {lines[i]!r} -> {changed[i]!r} went unnoticed"


def test_readme_check_fails_when_one_number_changes_by_10_percent():
    text = README.read_text()
    lines = text.splitlines()
    rows = [i for i, ln in enumerate(lines) if re.match(r"\| \[\d\d\]\(", ln)
            and any(float(t) != 0 for t in R.number_tokens(ln.split(") |", 1)[1]))]
    assert rows  # the rows of claims (a row without one holds its seed at most)
    groups = R.load_results(RESULTS)
    for i in rows:
        changed = lines.copy()
        # skip the notebook link in the first cell; bump the first number whose value +10 % no file of the
        # notebook writes anywhere (02's 9% becomes 9.9, a number its metrics hold elsewhere: no check could tell)
        head, rest = changed[i].split(") |", 1)
        allowed = R._allowed_for(groups.get(lines[i][3:5]))
        for m in (m for m in R.NUMBER_RE.finditer(rest) if float(m.group()) != 0):
            if R.fmt(float(m.group()) * 1.1) not in allowed:
                changed[i] = head + ") |" + rest[: m.start()] + R.fmt(float(m.group()) * 1.1) + rest[m.end():]
                break
        assert changed[i] != lines[i]
        assert R.check_readme_block("\n".join(changed), RESULTS), f"changing row {lines[i][:40]!r} went unnoticed"


# (c) collect
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _headline(question: str, numbers: dict, verdict: str, figure: str | None = None) -> dict:
    return runtime.headline(question, numbers, verdict, figure)


def _fake_runs(root: Path) -> Path:
    """Full runs of 01, 07 and 08 (all of commit COMMIT, clean) and a smoke run of 06; 01 and 07 record a claim."""
    env = {"commit": COMMIT, "commit_dirty": False}
    runs = root / "runs"
    full = runs / "01_toy_potentials"
    full.mkdir(parents=True)
    d01 = json.loads((RESULTS / "01_toy_potentials_full.json").read_text())
    d01["environment"].update(env, wall_seconds=412.3)
    d01["environment"].pop("date", None)  # a run that does not record its date: said so
    d01["headline"] = _headline("Does an LSTM learn the four wells?", {"largest MFPT error": "5%"}, "met: MFPTs",
                                "free_energy.png")
    (full / "metrics.json").write_text(json.dumps(d01))
    (full / "free_energy.png").write_bytes(b"\x89PNG fake figure")
    (full / "01_toy_potentials.ipynb").write_text("{}")
    smoke = runs / "06_transformer_vs_lstm"
    smoke.mkdir()
    (smoke / "metrics.json").write_text(json.dumps({"notebook": "06_transformer_vs_lstm", "profile": "smoke", "seed": 0}))
    (smoke / "transformer_vs_lstm.png").write_bytes(b"smoke figure")
    (smoke / "06_transformer_vs_lstm.ipynb").write_text("{}")
    sweep = runs / "07_batch_sweeps"
    sweep.mkdir()
    rows = [{"partition": "micro", "interval": 1, "model": "lstm", "gen_vs_truth_err_mean": 0.97,
             "gen_vs_truth_err_std": 0.01, "gen_vs_truth_err_count": 3}]
    (sweep / "metrics.json").write_text(json.dumps({
        "notebook": "07_batch_sweeps", "profile": "full", "seed": 0, "n_runs": 3, "status_counts": {"ok": 3},
        "grid": {"interval": [1], "partition": ["micro"], "model": ["lstm"]}, "seeds": [0, 1, 2], "summary": rows,
        "headline": _headline("Which factor decides?", {"gen vs truth, micro": "0.97 ± 0.01"}, "met: micro fails"),
        "environment": {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "python": "3.11.7", "date": "2026-11-26",
                        **env}}))
    (sweep / "three_factors_summary.csv").write_text(
        "partition,interval,model,gen_vs_truth_err_mean,gen_vs_truth_err_std,gen_vs_truth_err_count\nmicro,1,lstm,0.97,0.01,3\n")
    (sweep / "three_factors_runs.csv").write_text("not collected\n")
    mine = runs / "08_your_own_system"
    mine.mkdir()
    (mine / "metrics.json").write_text(json.dumps({"notebook": "08_your_own_system", "profile": "full", "seed": 3,
                                                   "n_states": 17, "mfpt_max_rel_err": 0.123456, "environment": env}))
    return runs


def test_collect_copies_full_runs_and_skips_other_profiles(tmp_path, capsys):
    runs = _fake_runs(tmp_path)
    docs = tmp_path / "docs"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{R.BEGIN}\nold\n{R.END}\nafter\n")
    res = docs / "results"
    res.mkdir(parents=True)
    (res / "01_toy_potentials_alanine_full.json").write_text("{}")  # an earlier run's files of 01
    (res / "01_old_figure.png").write_bytes(b"old")
    assert R.main(["--runs", str(runs), "--docs", str(docs), "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    assert not (res / "01_toy_potentials_alanine_full.json").exists() and not (res / "01_old_figure.png").exists()
    assert "replacing 2 file(s) of its earlier run" in out
    assert (res / "01_toy_potentials_full.json").read_bytes() == (runs / "01_toy_potentials" / "metrics.json").read_bytes()
    assert (res / "01_toy_potentials_full.ipynb").read_text() == "{}"  # the executed notebook: the record itself
    assert (res / "01_free_energy.png").read_bytes() == b"\x89PNG fake figure"
    assert (res / "07_batch_sweeps_full.json").is_file() and (res / "07_three_factors_summary.csv").is_file()
    assert (res / "08_your_own_system_full.json").is_file() and not (res / "08_your_own_system_full.ipynb").exists()
    assert not any(p.name.startswith("06") for p in res.iterdir()), "a smoke run was collected"
    assert not (res / "07_three_factors_runs.csv").exists()
    assert "skip" in out and "'smoke'" in out and "06_transformer_vs_lstm" in out

    md = (docs / "RESULTS.md").read_text()
    assert "## 01 ·" in md and "](results/01_free_energy.png)" in md and "## 06" not in md
    assert "**Question.** Does an LSTM learn the four wells?" in md and "| largest MFPT error | 5% |" in md
    assert "**Verdict.** met: MFPTs" in md and "[executed notebook](results/01_toy_potentials_full.ipynb)" in md
    assert "NVIDIA H100 80GB HBM3" in md and "2026-11-26" in md  # device and date from the environment record
    assert "0.97 ± 0.01" in md and "n states 17" in md
    # each run's conditions and provenance: commit, date, profile, seeds, machine, wall time (where recorded)
    assert "- **Conditions:** profile `full`; seed 0; seeds 0, 1, 2; n bins 40; n states 40; saving interval 0.05." in md
    assert (f"- **Provenance:** commit `{COMMIT[:12]}`; date not recorded; machine: device `cpu` (`cpu`), CPU cores 2, "
            "torch threads 2; wall time 412 s.") in md
    assert "- **Conditions:** profile `full`; seed 0; seeds 0, 1, 2; n runs 3." in md
    assert f"commit `{COMMIT[:12]}`; date `2026-11-26`; machine: device `cuda`" in md
    assert "> **No claim record:** its metrics have no 'headline'" in md  # 08's run records none
    assert R.check_numbers(md, res) == []
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n" + R.BEGIN) and text.endswith(R.END + "\nafter\n") and "old" not in text
    assert "| Batch sweeps: the three factors | gen vs truth, micro: 0.97 ± 0.01 | met: micro fails | seeds 0, 1, 2 |" in text
    assert R.check_readme_block(text, res) == []
    # one commit, no flag needed: the block names it and marks no row
    assert f"all rows from commit `{COMMIT[:12]}`" in text and R.MARK not in text
    assert R.check_readme_vintages(text, res) == []


def test_without_full_runs_it_says_so_and_only_renders(tmp_path, capsys):
    runs = tmp_path / "runs"
    (runs / "01_toy_potentials").mkdir(parents=True)
    (runs / "01_toy_potentials" / "metrics.json").write_text(json.dumps({"profile": "quick"}))
    docs = tmp_path / "docs"
    shutil.copytree(RESULTS, docs / "results")
    before = {p.name: p.read_bytes() for p in (docs / "results").iterdir()}
    assert R.main(["--runs", str(runs), "--docs", str(docs), "--readme", str(tmp_path / "README.md")]) == 0
    out = capsys.readouterr().out
    assert "no full-profile run" in out and "'quick'" in out
    assert {p.name: p.read_bytes() for p in (docs / "results").iterdir()} == before
    assert (docs / "RESULTS.md").read_text() == (DOCS / "RESULTS.md").read_text()


#: Results the README states outside its block that no file of docs/results writes as it does (issue #34 item 5):
#: 03's noise floor converted by hand (0.133 -> "13 %") and the measurement of `mdlstm analyze` on unseen systems
#: ("−13…+11 %", "−22…+8 %", "−10…+4 %"; +4 % happens to be a headline's number). Remove an entry when the README
#: quotes it from a run; the test fails when one of them changes or goes away, or another one appears.
README_HAND_TYPED: list[str] = []


def test_result_numbers_definition():
    text = ("errors 1 % / 4 %, 71–76 % off, −13…+11 % of exact, 0.85 ± 0.0166, ratio 0.0549 (`0.5`), 95 % intervals;\n"
            "Python ≥ 3.11, torch 2.13.0, 1.8 GB, 2 cores, 2026-12-04, 00–06, arXiv:2107.06573, 23 min, 1385 s\n")
    assert [t for t, _ in R.result_numbers(text)] == ["1 %", "4 %", "71 %", "76 %", "−13 %", "+11 %", "95 %",
                                                       "0.85", "0.0166", "0.0549"]


def test_no_hand_written_results_in_the_readme_outside_the_block():
    """Outside the generated block a result (a percentage, a decimal, a ± or a range of them) is quoted from
    docs/results as the files write it; counts, install size and times, versions, dates and notebook numbers are free."""
    text = README.read_text()
    outside = text[: text.index(R.BEGIN)] + text[text.index(R.END):]
    problems = R.check_prose(re.sub(r"^```.*?^```", "", outside, flags=re.S | re.M), RESULTS)
    assert [p.split(" in ", 1)[0] for p in problems] == README_HAND_TYPED, "\n".join(problems)


# (c') the claim record and the one renderer
def test_claim_round_trip_and_from_metrics_of_a_committed_run():
    c = read_claim(RESULTS / "03_alanine_dipeptide_full.json")
    d = json.loads((RESULTS / "03_alanine_dipeptide_full.json").read_text())
    assert c.notebook == "03_alanine_dipeptide" and c.question == d["headline"]["question"]
    assert [(n.label, n.text) for n in c.numbers] == [(e["label"], e["value"]) for e in d["headline"]["numbers"]]
    assert c.verdict == d["headline"]["verdict"] and c.figure == "populations_mfpt.png"
    assert c.conditions["profile"] == "full" and c.conditions["seed"] == 0 and c.conditions["total_ns"] == d["total_ns"]
    assert c.source.date == d["environment"]["date"] and c.source.device == "cpu"
    assert c.source.commit == d["environment"]["commit"] and len(c.source.commit) == 40 and not c.source.dirty
    assert c.source.vintage == c.source.commit and c.source.software["torch"] == d["environment"]["packages"]["torch"]
    assert Claim.from_dict(json.loads(json.dumps(c.to_dict()))) == c  # through JSON and back
    # intervals where a headline entry gives them; a dirty commit names no vintage
    c2 = Claim("x", "q?", (ClaimNumber("err", "4% [2%, 7%]", 0.04, 0.02, 0.07),), "met: a", None, {"seeds": [0, 1, 2]},
               Source(commit="a" * 40, dirty=True, wall_seconds=12.5))
    assert Claim.from_dict(c2.to_dict()) == c2 and c2.source.vintage is None
    assert Source(commit="a" * 40, dirty=False).vintage == "a" * 40


@pytest.mark.parametrize("stem, headline, why", [("01_toy_potentials", None, "no 'headline'"),
                                                  ("05_metastable_states", "met", "is str")])
def test_a_run_without_a_claim_is_a_clear_error(tmp_path, stem, headline, why):
    d = json.loads((RESULTS / f"{stem}_full.json").read_text())  # a run of before the record, or a broken one
    d.pop("headline")
    if headline is not None:
        d["headline"] = headline
    (tmp_path / f"{stem}_full.json").write_text(json.dumps(d))
    with pytest.raises(MissingClaimError, match=f"{stem}: no claim record: .*{why}"):
        read_claim(tmp_path / f"{stem}_full.json")


def _fake_claim_run(res: Path, **headline) -> dict:
    d = {"notebook": "02_temporal_resolution", "profile": "full", "seed": 0, "seeds": [0, 1, 2], "n_bins": 40,
         "table": [{"interval": 0.1, "error": 0.4213}],
         "environment": {"commit": COMMIT, "commit_dirty": False, "date": "2026-12-01T10:00:00+00:00", "device": "cpu",
                         "device_name": "x86_64", "cpu_count": 2, "torch_threads": 2, "wall_seconds": 1385.2,
                         "python": "3.11.7", "packages": {"torch": "2.13.0+cpu"}},
         "headline": {"question": "Does the saving interval decide?",
                      "numbers": [{"label": "LSTM error at Δt 0.1 | best", "value": "42% ± 7% (sd, 3 seeds)"},
                                  {"label": "MSM error", "value": "5%", "estimate": 0.05, "low": 0.03, "high": 0.08},
                                  {"label": "worst", "value": "90%"}],
                      "verdict": "met: the interval decides", "figure": "error_vs_interval.png", **headline}}
    (res / "02_temporal_resolution_full.json").write_text(json.dumps(d))
    (res / "02_error_vs_interval.png").write_bytes(b"png")
    return d


def test_the_generic_renderer_writes_a_claim(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _fake_claim_run(res)
    md = R.render_results(res)
    assert "## 02 · Temporal resolution" in md and "**Question.** Does the saving interval decide?" in md
    assert "| number | value, as the run wrote it | interval |" in md
    assert "| LSTM error at Δt 0.1 \\| best | 42% ± 7% (sd, 3 seeds) | – |" in md  # a | in a label is escaped
    assert "| MSM error | 5% | [0.03, 0.08] |" in md
    assert "**Verdict.** met: the interval decides" in md
    assert "- **Conditions:** profile `full`; seed 0; seeds 0, 1, 2; n bins 40." in md
    assert (f"- **Provenance:** commit `{COMMIT[:12]}`; date `2026-12-01T10:00:00+00:00`; machine: device `cpu` "
            "(`x86_64`), CPU cores 2, torch threads 2; wall time 1385 s.") in md
    assert "- **Software:** Python `3.11.7`, torch `2.13.0+cpu`." in md
    assert "![error vs interval](results/02_error_vs_interval.png)" in md
    assert "the executed notebook was not collected" in md
    (res / "02_temporal_resolution_full.ipynb").write_text("{}")
    assert "[executed notebook](results/02_temporal_resolution_full.ipynb)" in R.render_results(res)
    assert R.check_numbers(md, res) == []
    # a number typed into the page by hand is caught
    assert R.check_numbers(md.replace("| 5% |", "| 6% |"), res)


def test_a_missing_headline_gives_a_marked_section_and_row(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    d = _fake_claim_run(res)
    del d["headline"]
    (res / "02_temporal_resolution_full.json").write_text(json.dumps(d))
    md = R.render_results(res)
    assert "> **No claim record:** its metrics have no 'headline'" in md and "**Question.**" not in md
    assert f"commit `{COMMIT[:12]}`" in md and "n bins 40" in md  # conditions and provenance all the same
    assert "0.4213" not in md and "0.421" not in md  # no number of the file without a claim saying what it shows
    block = R.render_readme_block(res)
    assert f"{R.NO_CLAIM} 02." in block and "| [02]" not in block  # named below the table, not a row of it
    assert R.check_numbers(md, res) == [] and R.check_readme_block(block, res) == []


def test_the_readme_table_is_assembled_from_the_claims(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _fake_claim_run(res)
    d03 = json.loads((RESULTS / "03_alanine_dipeptide_full.json").read_text())
    d03["environment"].update(commit=COMMIT, commit_dirty=False)
    (res / "03_alanine_dipeptide_full.json").write_text(json.dumps(d03))
    block = R.render_readme_block(res)  # one clean commit: no flag needed
    rows = _readme_lines(block + "\n")
    claims = [read_claim(res / "02_temporal_resolution_full.json"), read_claim(res / "03_alanine_dipeptide_full.json")]
    assert len(rows) == len(claims)
    for ln, c in zip(rows, claims):
        cells = ln.strip().strip("|").split(" | ")
        assert cells[0].strip() == f"[{c.notebook[:2]}](docs/RESULTS.md#{c.notebook})"
        assert cells[1] == R.TITLES[c.notebook[:2]][1] and cells[3] == c.verdict
        shown = [f"{n.label.replace('|', chr(92) + '|')}: {n.text}" for n in R.readme_numbers(c)]
        assert cells[2] == "; ".join(shown)  # the leading numbers, verbatim
        assert R.MARK not in ln
    assert f"all rows from commit `{COMMIT[:12]}`" in block
    assert R.check_readme_block(block, res) == [] and R.check_readme_vintages(block, res) == []


def test_a_readme_row_keeps_the_yardsticks_of_its_leading_numbers():
    # 02 gives the MSM at the same lag and the noise floor in numbers of their own, after the LSTM's two:
    # the row keeps those of the same system, and leaves the other system's and any other number to RESULTS.md
    from mdlstm_utils.report.claims import ClaimNumber

    labels = ["four-well: LSTM error at its best interval", "four-well: LSTM error, worst interval",
              "four-well: MSM at the same lag, worst interval", "four-well: noise floor (a perfect model)",
              "alanine φ: LSTM error at its best interval", "alanine φ: MSM at the same lag, worst interval",
              "four-well: LSTM population error"]
    c = read_claim(RESULTS / "03_alanine_dipeptide_full.json")
    c = dataclasses.replace(c, numbers=tuple(ClaimNumber(label=lb, text=f"{k}%") for k, lb in enumerate(labels)))
    assert [n.label for n in R.readme_numbers(c)] == labels[:4]
    labels = ["toy (30-D): microstates → + dynamical coring", "alanine: microstates → + dynamical coring",
              "toy (30-D), + dynamical coring: MSM baseline / noise floor", "grid: MSM baseline"]
    c = dataclasses.replace(c, numbers=tuple(ClaimNumber(label=lb, text=f"{k}%") for k, lb in enumerate(labels)))
    assert [n.label for n in R.readme_numbers(c)] == labels[:3]
    one = dataclasses.replace(c, numbers=tuple(ClaimNumber(label=lb, text="1%") for lb in
                                               ["largest MFPT error", "largest population error", "MSM baseline"]))
    assert [n.label for n in R.readme_numbers(one)] == ["largest MFPT error", "largest population error", "MSM baseline"]


# (d) provenance: one commit per README block, or the odd rows marked
def _readme_lines(text: str) -> list[str]:
    block = text[text.index(R.BEGIN): text.index(R.END)]
    return [ln for ln in block.splitlines() if re.match(r"\| \[\d\d\]\(", ln)]


def test_readme_rows_name_one_commit_or_are_marked():
    """Every docs/results/*_full.json a README row is read from names the same commit, or the README marks the rows
    that differ (another commit than most rows, none recorded, or uncommitted changes to the code)."""
    text = README.read_text()
    rows, lines = [r for r in R.readme_rows(RESULTS) if r["claimed"]], _readme_lines(text)
    assert len(rows) == len(lines) >= 1
    commits = [R.vintage(r["source"]) for r in rows]
    known = [c for c in commits if c]
    majority = max(set(known), key=known.count) if known else None
    for r, c, ln in zip(rows, commits, lines):
        assert ln.startswith(f"| [{r['nn']}]") and f"| {r['title']} |" in ln
        conditions = ln.rstrip(" |").rsplit(" | ", 1)[1]
        if c is None or c != majority:
            assert conditions.startswith(f"{R.MARK} commit"), f"row {r['nn']} ({r['question']}) of another commit, unmarked"
        else:
            assert R.MARK not in ln
    if known and all(c == majority for c in commits):
        assert f"all rows from commit `{majority[:12]}`" in text
    assert R.check_readme_vintages(text, RESULTS) == []


def test_vintage_check_notices_a_missing_or_a_false_mark():
    text = README.read_text()
    first = _readme_lines(text)[0]
    if R.MARK in first:  # the committed rows are marked: one mark removed is caught
        bad = text.replace(first, first.replace(f"{R.MARK} ", "", 1), 1)
        assert any("not marked" in p for p in R.check_readme_vintages(bad, RESULTS))
    else:  # they are of one commit: a mark added is caught
        head, cond = first.rstrip(" |").rsplit(" | ", 1)
        bad = text.replace(first, f"{head} | {R.MARK} commit unknown; {cond} |", 1)
        assert any("is marked" in p for p in R.check_readme_vintages(bad, RESULTS))


def _results_of(tmp_path: Path, commits: dict) -> Path:
    """docs/results holding notebook 01's committed file under each stem of ``commits`` ({stem: (commit, dirty)})."""
    res = tmp_path / "docs" / "results"
    res.mkdir(parents=True)
    base = json.loads((RESULTS / "01_toy_potentials_full.json").read_text())
    for stem, (commit, dirty) in commits.items():
        d = json.loads(json.dumps(base))
        d["environment"].update(commit=commit, commit_dirty=dirty)
        d["headline"] = _headline(f"Does {stem} learn?", {"error": "5%"}, "met: a")
        (res / f"{stem}_full.json").write_text(json.dumps(d))
    return res


def test_mixed_commits_are_refused_unless_allowed_and_then_marked(tmp_path, capsys):
    other = "fedcba9876543210fedcba9876543210fedcba98"
    res = _results_of(tmp_path, {"01_toy_potentials": (other, False)})
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{R.BEGIN}\nold\n{R.END}\n")
    # one row of one clean commit: accepted without the flag
    assert R.main(["--runs", str(tmp_path / "none"), "--docs", str(res.parent), "--readme", str(readme)]) == 0
    assert f"all rows from commit `{other[:12]}`" in readme.read_text()
    # the same run with uncommitted changes to the code: its commit does not name its code, refused
    d = json.loads((res / "01_toy_potentials_full.json").read_text())
    d["environment"]["commit_dirty"] = True
    (res / "01_toy_potentials_full.json").write_text(json.dumps(d))
    before = readme.read_text()
    assert R.main(["--runs", str(tmp_path / "none"), "--docs", str(res.parent), "--readme", str(readme)]) == 1
    assert "--allow-mixed" in capsys.readouterr().err and readme.read_text() == before
    assert R.main(["--runs", str(tmp_path / "none"), "--docs", str(res.parent), "--readme", str(readme),
                   "--allow-mixed"]) == 0
    text = readme.read_text()
    assert f"{R.MARK} commit `{other[:12]}` with uncommitted changes to the code; seeds 0, 1, 2 |" in text
    assert R.check_readme_vintages(text, res) == [] and R.check_readme_block(text, res) == []


def test_rows_of_a_minority_commit_are_marked_and_the_majority_named(tmp_path):
    main_c, other = "a" * 40, "b" * 40
    res = tmp_path / "results"
    res.mkdir()
    env = lambda c: {"device": "cpu", "torch_threads": 2, "cpu_count": 2, "commit": c, "commit_dirty": False}  # noqa: E731
    claim = lambda q: _headline(q, {"slow-process error": "50%"}, "met: a")  # noqa: E731
    row06 = [{"data": "low-dim", "model": "LSTM", "slow_error": 0.5, "slow_error_std": 0.1}]
    (res / "06_transformer_vs_lstm_full.json").write_text(json.dumps(
        {"notebook": "06_transformer_vs_lstm", "profile": "full", "seed": 0, "n_seeds": 3, "summary": row06,
         "environment": env(main_c), "headline": claim("Transformer?")}))
    (res / "05_metastable_states_full.json").write_text(json.dumps(
        {"notebook": "05_metastable_states", "profile": "full", "seed": 0, "environment": env(main_c),
         "headline": claim("Coring?"),
         "slow_process_error": {"toy (30-D)": {"microstates": 0.9, "+ dynamical coring": 0.1}}}))
    (res / "04_high_dimensional_full.json").write_text(json.dumps(
        {"notebook": "04_high_dimensional", "profile": "full", "seed": 0, "n_micro": 100, "environment": env(other),
         "headline": claim("High-dim?"),
         "partitions": {"microstates": {"mfpt_max_rel_err": 0.7, "state_pop_max_abs_err": 0.004}}}))
    with pytest.raises(R.MixedVintagesError, match="04 .commit `bbbbbbbbbbbb`"):
        R.render_readme_block(res)
    block = R.render_readme_block(res, allow_mixed=True)
    lines = _readme_lines(block + "\n")
    assert [R.MARK in ln for ln in lines] == [True, False, False]  # 04 is the odd one, 05 and 06 are of main_c
    assert f"{R.MARK} commit `bbbbbbbbbbbb`; base seed 0 |" in lines[0]
    assert f"rows marked {R.MARK} are not from commit `aaaaaaaaaaaa`" in block
    assert R.check_readme_vintages(block, res) == [] and R.check_readme_block(block, res) == []
    # dropping the mark, or marking a row of the main commit, is caught
    assert R.check_readme_vintages(block.replace(f"{R.MARK} commit `bbbbbbbbbbbb`; ", ""), res)
    assert R.check_readme_vintages(block.replace("| 3 seeds (base seed 0) |", f"| {R.MARK} commit x; 3 seeds (base seed 0) |"), res)


def test_environment_record_names_the_commit_and_the_wall_time(monkeypatch):
    import subprocess

    from mdlstm_utils import runtime

    info = runtime.environment_info("cpu")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout: the record names its HEAD
        assert info["commit"] == head.stdout.strip() and isinstance(info["commit_dirty"], bool)
    assert 0 < info["wall_seconds"] < 24 * 3600  # this process's age, in seconds
    assert json.loads(json.dumps(runtime.save_metrics({"environment": info}, None)))["environment"]["commit"] == info["commit"]

    # no git: the commit is unknown, not an error
    def no_git(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(runtime.subprocess, "run", no_git)
    assert runtime.code_version() == {"commit": None, "commit_dirty": None}


def test_quick_page_is_rendered_from_the_quick_runs(tmp_path):
    runs = tmp_path / "runs"
    for stem, q in (("00_quickstart", "Does it learn three wells?"), ("01_toy_potentials", None)):
        (runs / stem).mkdir(parents=True)
        d = {"notebook": stem, "profile": "quick", "seed": 0,
             "environment": {"commit": COMMIT, "commit_dirty": False, "date": "2026-12-04T10:00:00+00:00",
                             "device": "cpu", "cpu_count": 2, "wall_seconds": 75.25}}
        if q:
            d["headline"] = _headline(q, {"largest MFPT error": "11%"}, "met: MFPTs")
        (runs / stem / "metrics.json").write_text(json.dumps(d))
    (runs / "02_temporal_resolution").mkdir()
    (runs / "02_temporal_resolution" / "metrics.json").write_text(json.dumps({"profile": "smoke"}))  # not quick: left out
    docs = tmp_path / "docs"
    assert R.main(["--quick", "--runs", str(runs), "--docs", str(docs), "--suite-seconds", "812.4"]) == 0
    page = (docs / "QUICK.md").read_text()
    assert sorted(p.name for p in (docs / "quick").glob("*_quick.json")) == ["00_quickstart_quick.json",
                                                                              "01_toy_potentials_quick.json"]
    assert f"commit `{COMMIT[:12]}`" in page and "took 812 s" in page and "| `00_quickstart` | 75 |" in page
    assert "| largest MFPT error | 11% |" in page and "**Verdict.** met: MFPTs" in page
    assert "> **No claim record:**" in page  # 01 without a headline says so
    assert page == R.render_quick(docs / "quick")  # the page is what the files make, nothing typed by hand


def test_the_committed_quick_page_is_what_its_runs_make():
    quick = ROOT / "docs" / "quick"
    if not quick.is_dir():
        pytest.skip("no quick runs recorded in docs/quick/")
    assert (ROOT / "docs" / "QUICK.md").read_text() == R.render_quick(quick)
