"""The notebooks as a course: each has goals, a wrap-up, exercises with solutions, a glossary link, and no helper code.

The solutions are executed with the notebooks (tests/test_notebooks.py runs every cell), so they stay right;
here the structure is checked.
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COURSE = [nb for nb in NOTEBOOKS if nb.stem[:2] not in ("07", "08")]  # 07 (sweeps) and 08 (your data) are tools, not lessons


def _cells(nb):
    return json.loads(nb.read_text())["cells"]


def _text(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_goals_and_ends_with_a_wrap_up(nb):
    md = "\n".join(_text(c) for c in _cells(nb) if c["cell_type"] == "markdown")
    for heading in ("Learning goals", "Read first", "Run time", "What we learned", "Try next"):
        assert heading in md, f"{nb.stem}: no '{heading}'"
    assert "(../docs/GLOSSARY.md)" in md, f"{nb.stem}: no link to the glossary"
    assert (ROOT / "docs" / "GLOSSARY.md").is_file()
    for phrase in ("measured while writing", "work session", "TODO"):
        assert phrase not in md, f"{nb.stem}: development history or a to-do in the prose ({phrase!r})"


@pytest.mark.parametrize("nb", COURSE, ids=lambda p: p.stem)
def test_at_least_two_exercises_each_with_a_solution_cell(nb):
    cells = _cells(nb)
    starts = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and re.search(r"^### Exercise", _text(c), re.M)]
    assert len(starts) >= 2, f"{nb.stem}: {len(starts)} exercises"
    for i in starts:
        nxt = cells[i + 1]
        assert nxt["cell_type"] == "code" and "solution" in nxt["metadata"].get("tags", []), \
            f"{nb.stem}: the exercise at cell {i} is not followed by a code cell tagged 'solution'"
        assert "solution" not in cells[i]["metadata"].get("tags", []), "the question itself must stay visible"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_function_over_ten_lines_in_a_notebook(nb):
    for c in _cells(nb):
        if c["cell_type"] != "code":
            continue
        src = "\n".join(line for line in _text(c).splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= 10, f"{nb.stem}: function {node.name} has {length} lines; move it into mdlstm_utils"
