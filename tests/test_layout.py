"""The package's shape: subpackages along the pipeline, imports only from earlier stages, no import hidden in
a function, no sibling's private name, and short functions. These are read from the source (``ast``), so a
change that breaks the shape fails here before anyone reads the code."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mdlstm_utils"
#: the import order: a module may import from its own layer and the layers before it
LAYERS = ["_checks", "runtime", "states", "kinetics", "data", "lm", "report", "cli"]
MAX_CODE_LINES = 60


def _modules():
    return sorted(p for p in PKG.rglob("*.py"))


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    assert parts[0] == "mdlstm_utils", dotted
    return parts[1] if len(parts) > 1 else ""


def _imports(tree: ast.AST):
    """(node, imported module, names, inside a function) for every import of mdlstm_utils."""
    def walk(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("mdlstm_utils"):
                yield child, child.module, [a.name for a in child.names], f
            elif isinstance(child, ast.ImportFrom) and child.level:
                yield child, "." * child.level + (child.module or ""), [a.name for a in child.names], f
            elif isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.startswith("mdlstm_utils"):
                        yield child, a.name, [], f
            yield from walk(child, f)
    yield from walk(tree, False)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_imports_run_down_the_pipeline():
    bad = []
    for path in _modules():
        me = _module_name(path)
        mine = _layer(me) if me != "mdlstm_utils" else None
        tree = ast.parse(path.read_text())
        for node, mod, _, _ in _imports(tree):
            if mod.startswith("."):
                bad.append(f"{me}:{node.lineno} relative import {mod}")
                continue
            if mine is None or mod == "mdlstm_utils":
                continue
            theirs = _layer(mod)
            if theirs not in LAYERS or mine not in LAYERS:
                bad.append(f"{me}:{node.lineno} imports {mod} outside the layers {LAYERS}")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                bad.append(f"{me}:{node.lineno} ({mine}) imports {mod} ({theirs}), a later stage")
    assert not bad, "\n".join(bad)


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    names = {_module_name(p): p for p in _modules()}
    graph = {}
    for me, path in names.items():
        deps = set()
        for _, mod, imported, _ in _imports(ast.parse(path.read_text())):
            subs = {f"{mod}.{n}" for n in imported} & names.keys()
            deps |= subs or {mod}
        graph[me] = {d for d in deps if d in names and d != me}
    return graph


def test_no_import_cycle_between_modules():
    """Two modules that import each other (type hints included) hold one idea between them: the shared types go
    in a module both import. A package's ``__init__`` re-exporting its modules is not counted."""
    graph = _graph()
    inits = {_module_name(p) for p in _modules() if p.name == "__init__.py"}
    cycles, path, done = [], [], set()

    def visit(v):
        path.append(v)
        for w in sorted(graph[v] - inits):
            if w in path:
                cycles.append(" -> ".join(path[path.index(w):] + [w]))
            elif w not in done:
                visit(w)
        path.pop()
        done.add(v)

    for v in sorted(graph.keys() - inits):
        if v not in done:
            visit(v)
    assert not cycles, "\n".join(cycles)


def test_no_package_import_inside_a_function():
    bad = [f"{_module_name(p)}:{node.lineno} imports {mod} inside a function"
           for p in _modules() for node, mod, _, in_func in _imports(ast.parse(p.read_text())) if in_func]
    assert not bad, "\n".join(bad)


def test_no_private_name_of_another_module():
    bad = [f"{_module_name(p)}:{node.lineno} imports {n} from {mod}"
           for p in _modules() for node, mod, names, _ in _imports(ast.parse(p.read_text()))
           for n in names if n.startswith("_") and n != "__version__"]
    assert not bad, "\n".join(bad)


def code_lines(source: str, node: ast.AST) -> int:
    """Lines of a function's body that hold code: not blank, not only a comment, not its docstring (the
    signature, however many parameters it spreads over, is not counted)."""
    start = node.body[0].lineno
    lines = source.splitlines()[start - 1:node.end_lineno]
    doc = set()
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    comment_only = set()
    for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if tok.type == tokenize.COMMENT and not lines[tok.start[0] - 1][:tok.start[1]].strip():
            comment_only.add(tok.start[0] + start - 1)
    return sum(1 for i, text in enumerate(lines, start)
               if text.strip() and i not in doc and i not in comment_only)


def test_code_lines_counts_only_code():
    src = 'def f(x,\n      z=1):\n    """Doc.\n\n    More."""\n    # a comment\n\n    y = x  # trailing\n    return y\n'
    assert code_lines(src, ast.parse(src).body[0]) == 2


def long_functions(limit: int = MAX_CODE_LINES) -> list[str]:
    out = []
    for p in _modules():
        src = p.read_text()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (n := code_lines(src, node)) > limit:
                out.append(f"{_module_name(p)}.{node.name}: {n} lines of code")
    return out


def test_no_function_over_60_lines_of_code():
    long = long_functions()
    assert not long, "\n".join(long)


@pytest.mark.parametrize("layer", LAYERS[2:])
def test_every_layer_is_a_documented_subpackage(layer):
    init = PKG / layer / "__init__.py"
    assert init.is_file(), f"mdlstm_utils/{layer}/ is not a package"
    assert ast.get_docstring(ast.parse(init.read_text())), f"mdlstm_utils/{layer}/__init__.py has no module map"
