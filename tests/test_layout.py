"""The layout of the code, checked: docs/reference/layout.md against the folders and modules that exist, section by
section, the size of each file (tests/ too), and the imports that would tangle the layers (tracking reaching up; a
cycle inside a package; a test file importing another: what test files share lives in conftest.py or a helper module).

docs/reference/layout.md's module list is the code block of entries ``NAME.py`` or ``NAME/``: top-level folders at
column 0, their modules and folders at column 2, a folder's modules at column 4; each entry followed by its one job,
continued on deeper-indented lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from layering import LAYER, LAYERS, imports, module_name

ROOT = Path(__file__).resolve().parent.parent
PAGE = "docs/reference/layout.md"  # the page this test holds to the code
LAYOUT = ROOT / PAGE
LISTED_FOLDERS = ("colorgan", "reports")  # the packages whose every module the list names
MAX_LINES = 400  # a file of colorgan/ or reports/ over this has more than one job
MAX_LINES_STUDIES = 250  # colorgan/studies/: each of its modules does one step of a study
MAX_LINES_TESTS = 450  # a test file over this tests more than one module


def listed(text: str) -> dict[str, dict[str, str]]:
    """Listed path ("colorgan", "colorgan/base", ...) -> {entry ("config.py", "tracking/") -> its text}, in order."""
    block = text.split("```", 2)[1]
    out: dict[str, dict[str, str]] = {}
    parents: dict[int, str] = {}
    last: tuple[str, str] | None = None
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        name, _, rest = stripped.partition(" ")
        if indent in (0, 2, 4) and (name.endswith(".py") or name.endswith("/")):
            if indent == 0:
                parents = {2: name.rstrip("/")}
                out[parents[2]] = {}
                last = None
                continue
            where = parents[indent]
            out[where][name] = rest.strip()
            last = (where, name)
            if name.endswith("/"):
                parents[indent + 2] = f"{where}/{name.rstrip('/')}"
                out[parents[indent + 2]] = {}
        elif last is not None:
            out[last[0]][last[1]] += " " + stripped
    return out


def existing(folder: Path) -> set[str]:
    """The modules (NAME.py, __init__.py aside) and packages (NAME/) directly in ``folder``."""
    return ({p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
            | {d.name + "/" for d in folder.iterdir() if (d / "__init__.py").is_file()})


def first_docstring_line(package: Path) -> str:
    return (ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or "").splitlines()[0].strip() \
        if (package / "__init__.py").read_text().strip() else ""


def layout_problems(root: Path, text: str) -> list[str]:
    """Every way docs/reference/layout.md's block and the code differ, section by section."""
    entries = listed(text)
    problems = []
    for where in sorted(set(entries) | {f"colorgan/{d.name}" for d in (root / "colorgan").iterdir()
                                        if (d / "__init__.py").is_file()} | set(LISTED_FOLDERS)):
        if where.split("/")[0] not in LISTED_FOLDERS:
            continue  # experiments/, tests/...: named, not checked module by module
        if where not in entries:
            problems.append(f"{where}/: not in {PAGE}")
            continue
        have, said = existing(root / where), set(entries[where])
        problems += [f"{where}/{name}: not in {PAGE}" for name in sorted(have - said)]
        problems += [f"{where}/{name}: listed in {PAGE} but does not exist" for name in sorted(said - have)]
        problems += [f"{where}/{name}: its line in {PAGE} says nothing" for name in sorted(said & have)
                     if not entries[where][name]]
    folders = [name.rstrip("/") for name in entries.get("colorgan", {}) if name.endswith("/")]
    order = [name for layer in LAYERS for name in layer if name in folders]
    if folders != order:
        problems.append(f"colorgan's folders are listed as {folders}, not in the layers' order {order}")
    for name in folders:
        package = root / "colorgan" / name
        if not (package / "__init__.py").is_file():
            continue
        said = " ".join(entries["colorgan"][name + "/"].split())
        first = first_docstring_line(package)
        if said != first:
            problems.append(f"colorgan/{name}/: {PAGE} says {said!r}; its __init__ docstring begins {first!r}")
    return problems


def test_the_layout_lists_every_folder_and_module_section_by_section():
    problems = layout_problems(ROOT, LAYOUT.read_text())
    assert not problems, "\n".join(problems)


def test_the_layout_check_finds_a_module_in_the_wrong_section(tmp_path):
    """A module moved to another folder, or a folder whose job changed, is a difference the check names."""
    for rel in ("colorgan/__init__.py", "colorgan/base/config.py", "colorgan/data/images.py", "reports/__init__.py",
                "reports/build.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "colorgan/base/__init__.py").write_text('"""The base."""\n')
    (tmp_path / "colorgan/data/__init__.py").write_text('"""The data."""\n')
    text = ("```\ncolorgan/\n  base/  The base.\n    config.py  the config\n  data/  The data.\n"
            "    images.py  the decoder\nreports/  the reports\n  build.py  one report\n```\n")
    assert layout_problems(tmp_path, text) == []
    (tmp_path / "colorgan/data/images.py").rename(tmp_path / "colorgan/base/images.py")
    assert layout_problems(tmp_path, text) == [f"colorgan/base/images.py: not in {PAGE}",
                                               f"colorgan/data/images.py: listed in {PAGE} but does not exist"]
    (tmp_path / "colorgan/base/images.py").rename(tmp_path / "colorgan/data/images.py")
    swapped = text.replace("  base/  The base.\n    config.py  the config\n", "").replace(
        "reports/", "  base/  The base.\n    config.py  the config\nreports/")
    assert any("not in the layers' order" in p for p in layout_problems(tmp_path, swapped))
    (tmp_path / "colorgan/data/__init__.py").write_text('"""Pixels."""\n')
    assert any("its __init__ docstring begins 'Pixels.'" in p for p in layout_problems(tmp_path, text))


def _module_file(name: str) -> Path | None:
    found = [p for p in (ROOT / "colorgan").rglob(f"{name}.py")]
    return found[0] if len(found) == 1 else None


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
                module = _module_file(dotted[1])
                if module is None or dotted[2] not in _defined(module):
                    problems.append(f"{ref}: colorgan.{dotted[1]} defines no {dotted[2]}")
            elif ref not in targets:
                problems.append(f"{ref}: neither a path, a module's name nor a Makefile target")
    assert seen, "no reference found in the table"
    assert not problems, f"{PAGE}'s table:\n" + "\n".join(problems)


def test_no_file_has_more_than_one_job_by_its_size():
    over = []
    for path in sorted(p for top in LISTED_FOLDERS for p in (ROOT / top).rglob("*.py")):
        limit = MAX_LINES_STUDIES if path.relative_to(ROOT).parts[:2] == ("colorgan", "studies") else MAX_LINES
        lines = len(path.read_text().splitlines())
        if lines > limit:
            over.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {limit})")
    assert not over, "\n".join(over)


def test_no_test_file_tests_more_than_one_module_by_its_size():
    over = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES_TESTS:
            over.append(f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_LINES_TESTS}): split it by what it "
                        "tests")
    assert not over, "\n".join(over)


def imports_between_test_files(folder: Path) -> list[str]:
    """Every import of a test module (``test_*``) in a Python file of ``folder``, lazy ones too: what two test
    files share belongs in conftest.py (fixtures) or a helper module (helpers.py, layering.py...), so that a test
    file is never run, or its fixtures defined twice, by importing it."""
    tests = {p.stem for p in folder.rglob("test_*.py")}
    return [f"{path.relative_to(folder.parent)}:{line}: `{text}`" for path in sorted(folder.rglob("*.py"))
            for line, module, text in imports(path, folder.parent)
            if module.split(".")[0] in tests and "." not in module]


def test_no_test_file_imports_another():
    found = imports_between_test_files(ROOT / "tests")
    assert not found, "a test file imports another (move what they share to conftest.py or tests/helpers.py):\n" + \
        "\n".join(found)


def test_the_check_finds_a_test_file_imported_at_the_top_or_inside_a_function(tmp_path):
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / "helpers.py").write_text("def smoke_config(): ...\n")
    (folder / "test_b.py").write_text("from helpers import smoke_config\n\nLAYERS = ()\n")
    (folder / "test_a.py").write_text("import pytest\nfrom conftest import photo\nfrom helpers import smoke_config\n")
    assert imports_between_test_files(folder) == []
    (folder / "test_a.py").write_text("from test_b import LAYERS\n\n\ndef f():\n    import test_b as b\n")
    assert imports_between_test_files(folder) == ["tests/test_a.py:1: `from test_b import LAYERS`",
                                                       "tests/test_a.py:5: `import test_b as b`"]


TOP_TESTS = ("test_cli", "test_docs", "test_layers", "test_layout")  # the CLI and the rules of the whole tree


def mirror_problems(root: Path) -> list[str]:
    """tests/ mirrors the code: one folder per folder of colorgan/ (and reports/), each test file in the folder of
    what it tests (it, or a probe module beside it, imports that folder, or its text names a module of it: a script it
    runs, its docstring), and at the top only TOP_TESTS."""
    tests = root / "tests"
    code = {d.name for d in (root / "colorgan").iterdir() if (d / "__init__.py").is_file()} | {"reports"}
    have = {d.name for d in tests.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))}
    problems = [f"tests/{name}/: no such folder of colorgan/ (or reports/)" for name in sorted(have - code)]
    problems += [f"colorgan/{name}/: no tests/{name}/ folder" for name in sorted(code - have)]
    problems += [f"{path.relative_to(root)}: a test file at the top of tests/; put it in the folder of what it tests"
                 for path in sorted(tests.glob("test_*.py")) if path.stem not in TOP_TESTS]
    for name in sorted(have & code):
        target = "reports" if name == "reports" else f"colorgan.{name}"
        folder = tests / name
        reached = {path: {m for _, m, _ in imports(path, folder)} for path in folder.glob("*.py")}
        for path in sorted(folder.glob("test_*.py")):
            seen = set(reached[path])
            for module in list(seen):  # a probe beside the test (``study_race_probe``) counts as the test's
                if (folder / f"{module.split('.')[0]}.py") in reached:
                    seen |= reached[folder / f"{module.split('.')[0]}.py"]
            named = re.compile(rf"\bcolorgan\.{name}\b|\b{name}\.[a-z_]+")  # or its docstring or a script names it
            strings = [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
                       and isinstance(n.value, str)]
            if not any(_within(m, target) for m in seen) and not any(named.search(s) for s in strings):
                problems.append(f"{path.relative_to(root)}: imports nothing from {target}; move it to the folder of "
                                "what it tests")
    return problems


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_tests_mirror_the_code_s_folders():
    problems = mirror_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_the_mirror_check_finds_a_test_in_the_wrong_folder(tmp_path):
    for rel, text in (("colorgan/base/__init__.py", ""), ("colorgan/data/__init__.py", ""), ("reports/__init__.py", ""),
                      ("tests/base/test_config.py", "from colorgan.base import config\n"),
                      ("tests/data/test_color.py", '"""data.color\'s conversions."""\n'),
                      ("tests/reports/test_build.py", "from reports import build\n"),
                      ("tests/test_cli.py", "")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert mirror_problems(tmp_path) == []
    (tmp_path / "tests/base/test_config.py").rename(tmp_path / "tests/data/test_config.py")
    (tmp_path / "tests/test_misc.py").write_text("")
    assert mirror_problems(tmp_path) == [
        "tests/test_misc.py: a test file at the top of tests/; put it in the folder of what it tests",
        "tests/data/test_config.py: imports nothing from colorgan.data; move it to the folder of what it tests"]


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
