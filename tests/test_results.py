"""`make results`: docs/RESULTS.md and the README's results block are written from docs/results/ and cannot go stale."""

import json
import re
import shutil
from pathlib import Path

import pytest

from mdlstm_utils.report import results as R

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
    assert R.pm(0.85, 0.0166) == "0.85 ± 0.0166" and R.pm(0.85, None) == "0.85"


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
    assert len(R.number_tokens(md)) > 500  # the check is not vacuous


def test_every_number_in_the_readme_block_is_a_value_of_its_notebook():
    text = README.read_text()
    assert text.count(R.BEGIN) == 1 and text.count(R.END) == 1
    assert R.check_readme_block(text, RESULTS) == []
    block = text[text.index(R.BEGIN): text.index(R.END)]
    assert len(R.number_tokens(block)) > 20


def _bump(line: str) -> str:
    """``line`` with its first number (in a table cell) multiplied by 1.1 and formatted by the same rule."""
    m = next(m for m in R.NUMBER_RE.finditer(line) if float(m.group()) != 0)
    new = R.fmt(float(m.group()) * 1.1)
    assert new != m.group()
    return line[: m.start()] + new + line[m.end():]


@pytest.mark.parametrize("nn", ["01", "02", "03", "04", "05", "06", "07"])
def test_check_fails_when_one_number_changes_by_10_percent(nn):
    md = (DOCS / "RESULTS.md").read_text()
    start = md.index(f"\n## {nn} ")
    lines = md[start:].splitlines()
    # the last data row of the section's first table, and the first line of its bullet list
    rows = [i for i, ln in enumerate(lines) if ln.startswith("| ") and not ln.startswith("|---")
            and any(float(t) != 0 for t in R.number_tokens(ln))]
    for i in (rows[1], rows[-1]):
        changed = lines.copy()
        changed[i] = _bump(lines[i])
        text = md[:start] + "\n".join(changed) + ("\n" if md.endswith("\n") else "")
        problems = R.check_numbers(text, RESULTS)
        assert problems, f"changing {lines[i]!r} -> {changed[i]!r} went unnoticed"


def test_readme_check_fails_when_one_number_changes_by_10_percent():
    text = README.read_text()
    lines = text.splitlines()
    rows = [i for i, ln in enumerate(lines) if re.match(r"\| \[\d\d\]\(", ln)]
    assert rows
    for i in rows:
        changed = lines.copy()
        # skip the notebook link in the first cell
        head, rest = changed[i].split(") |", 1)
        changed[i] = head + ") |" + _bump(rest)
        assert changed[i] != lines[i]
        assert R.check_readme_block("\n".join(changed), RESULTS), f"changing row {lines[i][:40]!r} went unnoticed"


# (c) collect
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fake_runs(root: Path) -> Path:
    """Full runs of 01, 07 and 08 (all of commit COMMIT, clean) and a smoke run of 06."""
    env = {"commit": COMMIT, "commit_dirty": False}
    runs = root / "runs"
    full = runs / "01_toy_potentials"
    full.mkdir(parents=True)
    d01 = json.loads((RESULTS / "01_toy_potentials_full.json").read_text())
    d01["environment"].update(env, wall_seconds=412.3)
    (full / "metrics.json").write_text(json.dumps(d01))
    (full / "free_energy.png").write_bytes(b"\x89PNG fake figure")
    (full / "01_toy_potentials.ipynb").write_text("{}")
    smoke = runs / "06_transformer_vs_lstm"
    smoke.mkdir()
    (smoke / "metrics.json").write_text(json.dumps({"notebook": "06_transformer_vs_lstm", "profile": "smoke", "seed": 0}))
    (smoke / "transformer_vs_lstm.png").write_bytes(b"smoke figure")
    sweep = runs / "07_batch_sweeps"
    sweep.mkdir()
    rows = [{"partition": "micro", "interval": 1, "model": "lstm", "gen_vs_truth_err_mean": 0.97,
             "gen_vs_truth_err_std": 0.01, "gen_vs_truth_err_count": 3}]
    (sweep / "metrics.json").write_text(json.dumps({
        "notebook": "07_batch_sweeps", "profile": "full", "seed": 0, "n_runs": 3, "status_counts": {"ok": 3},
        "grid": {"interval": [1], "partition": ["micro"], "model": ["lstm"]}, "seeds": [0, 1, 2], "summary": rows,
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
    assert R.main(["--runs", str(runs), "--docs", str(docs), "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    res = docs / "results"
    assert (res / "01_toy_potentials_full.json").read_bytes() == (runs / "01_toy_potentials" / "metrics.json").read_bytes()
    assert (res / "01_free_energy.png").read_bytes() == b"\x89PNG fake figure"
    assert (res / "07_batch_sweeps_full.json").is_file() and (res / "07_three_factors_summary.csv").is_file()
    assert (res / "08_your_own_system_full.json").is_file()
    assert not any(p.name.startswith("06") for p in res.iterdir()), "a smoke run was collected"
    assert not (res / "07_three_factors_runs.csv").exists()
    assert "skip" in out and "'smoke'" in out and "06_transformer_vs_lstm" in out

    md = (docs / "RESULTS.md").read_text()
    assert "## 01 ·" in md and "](results/01_free_energy.png)" in md and "## 06" not in md
    assert "NVIDIA H100 80GB HBM3" in md and "2026-11-26" in md  # device and date from the environment record
    assert "0.97 ± 0.01" in md and "0.123" in md and "17" in md
    # each run's provenance: commit, date, profile, seeds, machine, wall time (where the file records them)
    assert (f"- **Provenance:** commit `{COMMIT[:12]}`; date not recorded; profile `full`; seed 0; machine: device "
            "`cpu` (`cpu`), CPU cores 2, torch threads 2; wall time 412 s.") in md
    assert f"commit `{COMMIT[:12]}`; date `2026-11-26`; profile `full`; seeds 0, 1, 2; machine: device `cuda`" in md
    assert R.check_numbers(md, res) == []
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n" + R.BEGIN) and text.endswith(R.END + "\nafter\n") and "old" not in text
    assert "0.97 ± 0.01" in text and R.check_readme_block(text, res) == []
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
README_HAND_TYPED = ["13 %", "−13 %", "+11 %", "−22 %", "+8 %", "−10 %"]


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


def test_seeded_interval_scan_is_written_as_mean_and_sd(tmp_path):
    # notebook 02 with 3 seeds: the mean and sd over seeds per interval, and the conditions say so
    res = tmp_path / "results"
    res.mkdir()
    row = {"interval": 0.1, "k": 10, "model": "LSTM", "slow-process error": 0.42, "slow-process error sd": 0.07, "seeds": 3}
    d = {"notebook": "02_temporal_resolution", "profile": "full", "seed": 0, "n_seeds": 3, "base_interval": 0.01,
         "table": [row, dict(row, model="MSM", **{"slow-process error": 0.05, "slow-process error sd": 0.01})],
         "best_interval_lstm": 0.1, "lstm_max_population_error": 0.03,
         "lstm_slow_error_by_interval": {"0.01": 0.9, "0.1": 0.42}, "lstm_slow_error_sd_by_interval": {"0.01": 0.02, "0.1": 0.07},
         "msm_slow_error_by_interval": {"0.01": 0.08, "0.1": 0.05}, "environment": {}}
    (res / "02_temporal_resolution_full.json").write_text(json.dumps(d))
    block = R.render_readme_block(res, allow_mixed=True)  # the file records no commit
    assert "LSTM slow-process error 0.42 ± 0.07 at Δt 0.1 (best) to 0.9 ± 0.02 at Δt 0.01" in block
    assert "mean ± std over 3 seeds per Δt" in block
    md = R.render_results(res)
    assert "3 training seeds per interval and model" in md and R.check_numbers(md, res) == []
    assert R.check_readme_block(block, res) == []


def test_seeded_partitions_and_intervals_are_written(tmp_path):
    # notebook 05 with 3 seeds (mean ± sd), notebook 03 with 95 % intervals of MFPTs and implied timescales
    res = tmp_path / "results"
    res.mkdir()
    d05 = {"notebook": "05_metastable_states", "profile": "full", "seed": 0, "n_seeds": 3, "environment": {},
           "slow_process_error": {"toy (30-D)": {"microstates": 0.9, "+ dynamical coring": 0.1}},
           "slow_process_error_sd": {"toy (30-D)": {"microstates": 0.05, "+ dynamical coring": 0.02}}}
    pair = lambda a, b: [[None, a], [b, None]]  # noqa: E731
    d03 = {"notebook": "03_alanine_dipeptide", "profile": "full", "seed": 0, "environment": {},
           "states": {"metastable": {"n_states": 2, "mfpt_ref": pair(1500.0, 110.0), "mfpt_gen": pair(1450.0, 120.0),
                                     "mfpt_ref_low": pair(1300.0, 95.0), "mfpt_ref_high": pair(1700.0, 125.0),
                                     "mfpt_gen_low": pair(1250.0, 105.0), "mfpt_gen_high": pair(1650.0, 135.0),
                                     "mfpt_n_ref": pair(70, 70), "mfpt_n_gen": pair(80, 80),
                                     "its_ref": 104.0, "its_gen": 99.0, "its_ref_interval": [90.0, 118.0],
                                     "its_gen_interval": None, "msm_mfpt_max_rel_err": 0.04, "noise_floor_mfpt_err": 0.15}},
           "errors": {"metastable": {"populations": 0.05, "mfpt_to_alphaL": 0.033, "mfpt_from_alphaL": 0.09, "slowest_its": 0.048}},
           "targets_met": {"metastable": {"populations": True, "mfpt_to_alphaL": True, "mfpt_from_alphaL": True,
                                          "slowest_its": True}}}
    d05["toy"] = {"partitions": {"microstates": {"mfpt_ref": pair(30.0, 31.0), "mfpt_gen": pair(3.0, 3.1),
                                                 "mfpt_n_ref": pair(50, 50), "mfpt_n_gen": pair(400, 400),
                                                 "mfpt_max_rel_err": 0.9, "msm_mfpt_max_rel_err": 0.55,
                                                 "noise_floor_mfpt_err": 0.16}}}
    (res / "05_metastable_states_full.json").write_text(json.dumps(d05))
    (res / "03_alanine_dipeptide_full.json").write_text(json.dumps(d03))
    block = R.render_readme_block(res, allow_mixed=True)  # the files record no commit
    assert "toy 0.9 ± 0.05 → 0.1 ± 0.02" in block and "mean ± std over 3 seeds" in block
    md = R.render_results(res)
    assert "| 0.9 ± 0.05 | 0.1 ± 0.02 |" in md
    assert "| slow-process error | MSM baseline | noise floor | validation loss |" in md and "| 0.9 | 0.55 | 0.16 | – |" in md
    assert "| 1500 [1300, 1700] | 110 [95, 125] | 1450 [1250, 1650] | 120 [105, 135] |" in md
    assert "| 104 [90, 118] | 99 |" in md  # no interval recorded for the generated timescale: the value alone
    # 03's errors beside the MSM baseline and the noise floor
    assert "| slowest ITS | MSM baseline | noise floor |" in md and "| 0.048 (yes) | 0.04 | 0.15 |" in md
    assert "populations 0.05 (largest MFPT error: MSM baseline 0.04, noise floor 0.15)" in block
    assert R.check_numbers(md, res) == [] and R.check_readme_block(block, res) == []


# (d) provenance: one commit per README block, or the odd rows marked
def _readme_lines(text: str) -> list[str]:
    block = text[text.index(R.BEGIN): text.index(R.END)]
    return [ln for ln in block.splitlines() if re.match(r"\| \[\d\d\]\(", ln)]


def test_readme_rows_name_one_commit_or_are_marked():
    """Every docs/results/*_full.json a README row is read from names the same commit, or the README marks the rows
    that differ (another commit than most rows, none recorded, or uncommitted changes to the code)."""
    text = README.read_text()
    rows, lines = R.readme_rows(RESULTS), _readme_lines(text)
    assert len(rows) == len(lines) >= 7
    commits = [R.vintage(r["source"]) for r in rows]
    known = [c for c in commits if c]
    majority = max(set(known), key=known.count) if known else None
    for r, c, ln in zip(rows, commits, lines):
        assert ln.startswith(f"| [{r['nn']}]") and f"| {r['claim']} |" in ln
        conditions = ln.rstrip(" |").rsplit(" | ", 1)[1]
        if c is None or c != majority:
            assert conditions.startswith(f"{R.MARK} commit"), f"row {r['nn']} ({r['claim']}) of another commit, unmarked"
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
    assert f"{R.MARK} commit `{other[:12]}` with uncommitted changes to the code; single run" in text
    assert R.check_readme_vintages(text, res) == [] and R.check_readme_block(text, res) == []


def test_rows_of_a_minority_commit_are_marked_and_the_majority_named(tmp_path):
    main_c, other = "a" * 40, "b" * 40
    res = tmp_path / "results"
    res.mkdir()
    env = lambda c: {"device": "cpu", "torch_threads": 2, "cpu_count": 2, "commit": c, "commit_dirty": False}  # noqa: E731
    row06 = [{"data": "low-dim", "model": "LSTM", "slow_error": 0.5, "slow_error_std": 0.1}]
    (res / "06_transformer_vs_lstm_full.json").write_text(json.dumps(
        {"notebook": "06_transformer_vs_lstm", "profile": "full", "seed": 0, "n_seeds": 3, "summary": row06,
         "environment": env(main_c)}))
    (res / "05_metastable_states_full.json").write_text(json.dumps(
        {"notebook": "05_metastable_states", "profile": "full", "seed": 0, "environment": env(main_c),
         "slow_process_error": {"toy (30-D)": {"microstates": 0.9, "+ dynamical coring": 0.1}}}))
    (res / "04_high_dimensional_full.json").write_text(json.dumps(
        {"notebook": "04_high_dimensional", "profile": "full", "seed": 0, "n_micro": 100, "environment": env(other),
         "partitions": {"microstates": {"mfpt_max_rel_err": 0.7, "state_pop_max_abs_err": 0.004}}}))
    with pytest.raises(R.MixedVintagesError, match="04 .commit `bbbbbbbbbbbb`"):
        R.render_readme_block(res)
    block = R.render_readme_block(res, allow_mixed=True)
    lines = _readme_lines(block + "\n")
    assert [R.MARK in ln for ln in lines] == [True, False, False]  # 04 is the odd one, 05 and 06 are of main_c
    assert f"{R.MARK} commit `bbbbbbbbbbbb`; single run" in lines[0]
    assert f"rows marked {R.MARK} are not from commit `aaaaaaaaaaaa`" in block
    assert R.check_readme_vintages(block, res) == [] and R.check_readme_block(block, res) == []
    # dropping the mark, or marking a row of the main commit, is caught
    assert R.check_readme_vintages(block.replace(f"{R.MARK} commit `bbbbbbbbbbbb`; ", ""), res)
    assert R.check_readme_vintages(block.replace("| mean ± std over", f"| {R.MARK} commit x; mean ± std over"), res)


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
