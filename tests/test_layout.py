"""The layout of the code, checked: docs/layout.md against the modules that exist, the size of each file, and the
imports that would tangle the layers (tracking reaching up; a cycle inside a package).

docs/layout.md's module list is the code block of entries ``NAME.py`` or ``NAME/`` (top-level folders at column 0,
their modules and packages at column 2), each followed by its one job, continued on deeper-indented lines; a
package's modules are named in its text in parentheses: "(spec)", "(app.py)", "(worker: ...)".
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from test_layers import LAYER, imports, module_name

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "docs" / "layout.md"
LISTED_FOLDERS = ("colorgan", "reports")  # the packages whose every module the list names
MAX_LINES = 400  # a file of colorgan/ over this has more than one job
MAX_LINES_STUDIES = 250  # colorgan/studies/: each of its modules does one step of a study
NAMED_IN_PARENS = re.compile(r"\((\w+)(?:\.py)?[):;]")


def listed(text: str) -> dict[str, dict[str, str]]:
    """Top-level folder -> {entry ("config.py", "tracking/") -> its text}, from the layout's code block."""
    block = text.split("```", 2)[1]
    out: dict[str, dict[str, str]] = {}
    top, last = "", None
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        name, _, rest = stripped.partition(" ")
        if indent in (0, 2) and (name.endswith(".py") or name.endswith("/")):
            if indent == 0:
                top = name.rstrip("/")
                out[top] = {}
                last = None
            else:
                out[top][name] = rest.strip()
                last = name
        elif last is not None:
            out[top][last] += " " + stripped
    return out


def existing(folder: Path) -> set[str]:
    """The modules (NAME.py, __init__.py aside) and packages (NAME/) directly in ``folder``."""
    return ({p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
            | {d.name + "/" for d in folder.iterdir() if (d / "__init__.py").is_file()})


def test_the_layout_lists_every_module_and_package_and_nothing_else():
    entries = listed(LAYOUT.read_text())
    problems = []
    for top in LISTED_FOLDERS:
        assert top in entries, f"docs/layout.md lists no {top}/"
        have, said = existing(ROOT / top), set(entries[top])
        problems += [f"{top}/{name}: not in docs/layout.md" for name in sorted(have - said)]
        problems += [f"{top}/{name}: listed in docs/layout.md but does not exist" for name in sorted(said - have)]
        for package in sorted(have & said):
            if not package.endswith("/"):
                continue
            modules = {p.stem for p in (ROOT / top / package).glob("*.py")}
            named = set(NAMED_IN_PARENS.findall(entries[top][package]))
            problems += [f"{top}/{package}{m}.py: not named in its package's line of docs/layout.md"
                         for m in sorted(modules - named - {"__init__"})]
            problems += [f"{top}/{package}{m}: named in docs/layout.md but does not exist"
                         for m in sorted(named - modules)]
    assert not problems, "\n".join(problems)


def _defined(path: Path) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_where_a_change_goes_table_names_what_exists():
    text = LAYOUT.read_text()
    table = text.split("**Where a change goes:**", 1)[1].split("\n\n", 2)[1]
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    problems, seen = [], 0
    for row in table.splitlines()[2:]:  # past the header and its rule
        files = row.split("|")[2]
        for ref in re.findall(r"`([^`]+)`", files):
            seen += 1
            dotted = re.fullmatch(r"(\w+)\.(\w+)(\[.*\])?", ref)
            if "/" in ref:
                path = ROOT / ref
                if not (path.parent.is_dir() if "NAME" in path.name else path.exists()):
                    problems.append(f"{ref}: no such path")
            elif dotted:
                module = ROOT / "colorgan" / f"{dotted[1]}.py"
                if not module.is_file() or dotted[2] not in _defined(module):
                    problems.append(f"{ref}: colorgan.{dotted[1]} defines no {dotted[2]}")
            elif ref not in targets:
                problems.append(f"{ref}: neither a path, a module's name nor a Makefile target")
    assert seen, "no reference found in the table"
    assert not problems, "docs/layout.md's table:\n" + "\n".join(problems)


def test_no_file_has_more_than_one_job_by_its_size():
    over = []
    for path in sorted((ROOT / "colorgan").rglob("*.py")):
        limit = MAX_LINES_STUDIES if "studies" in path.relative_to(ROOT / "colorgan").parts[:-1] else MAX_LINES
        lines = len(path.read_text().splitlines())
        if lines > limit:
            over.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {limit})")
    assert not over, "\n".join(over)


def _modules() -> dict[str, Path]:
    return {module_name(p, ROOT): p for top in LISTED_FOLDERS for p in sorted((ROOT / top).rglob("*.py"))}


def test_tracking_imports_nothing_from_the_layers_above_it():
    """The MLflow adapter serves the application; it never reaches into it (train, studies, the CLI...)."""
    found = []
    for name, path in _modules().items():
        if not name.startswith("colorgan.tracking"):
            continue
        for line, module, text in imports(path, ROOT):
            parts = module.split(".")
            if parts[0] == "colorgan" and len(parts) > 1 and parts[1] in LAYER \
                    and LAYER[parts[1]] > LAYER["tracking"]:
                found.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert not found, "tracking imports from the layers above it:\n" + "\n".join(found)


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of a graph: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_package_has_an_import_cycle():
    """Within one package (its __init__ and its modules), imports go one way: every import statement counts,
    lazy ones inside functions too (they hide a cycle from Python, not from the reader)."""
    modules = _modules()
    graph = {name: {m for _, m, _ in imports(path, ROOT)
                    if m in modules and m != name and _package(m, modules[m]) == _package(name, path)}
             for name, path in modules.items()}
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
