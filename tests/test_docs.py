"""What a newcomer reads, checked: README.md and the guides (docs/guides/*.md) name only `make` targets the Makefile
defines and `colorgan` commands the CLI has; every relative link of README.md and docs/**/*.md leads to a file
that exists; README.md stays a short guide (at most README_MAX_LINES lines); LICENSE and CITATION.cff exist and
CITATION.cff is YAML with a title.

Commands are looked for in code only (fenced blocks and `inline code`), links outside it. Each check is a function
of a folder, so the last test runs them on a small tree made wrong on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 110  # the README is a guide; measurements and their history live in docs/results/

FENCED = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(`+)(.+?)\1", re.S)
# `make [VAR=value ...] TARGET`, not `$(MAKE)` nor a path ending in make
MAKE = re.compile(r"(?<![\w./$-])make((?:\s+[A-Z][A-Z0-9_]*=\S*)*)\s+([a-z][\w.-]*)")
# `colorgan [-v] COMMAND` where a command starts (a code span's or line's start, after VAR=value settings), or as
# `python -m colorgan` / `.venv/bin/colorgan`: not prose in a code block ("what colorgan logs"), colorgan/, colorgan.x
COLORGAN = re.compile(r"(?:^[ \t]*(?:\$[ \t]+)?(?:[A-Z_][A-Z0-9_]*=\S*[ \t]+)*|-m[ \t]+|bin/)colorgan"
                      r"(?:[ \t]+(?:-v|--verbose))?[ \t]+([a-z][\w-]*)", re.M)
COMMENT = re.compile(r"(^|\s)#.*$", re.M)  # a shell comment in code: `make study  # make it so` names one target
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REFERENCE = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:...
TARGET = re.compile(r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?!=)", re.M)


def split_code(text: str) -> tuple[list[str], str]:
    """(the code of a markdown text: fenced blocks and inline spans, the text without its code)."""
    code = [m.group(2) for m in FENCED.finditer(text)]
    rest = FENCED.sub("\n", text)
    code += [m.group(2) for m in INLINE.finditer(rest)]
    return code, INLINE.sub(" ", rest)


def makefile_targets(makefile: str) -> set[str]:
    """The targets a Makefile's rules define (not variables, not .PHONY and the like, not $(VAR) targets)."""
    return {name for m in TARGET.finditer(makefile) for name in m.group(1).split()}


def cli_commands(main_py: str) -> set[str]:
    """The sub-commands colorgan/__main__.py defines: the first argument of each ``command("NAME", ...)`` (its
    helper around ``add_subparsers().add_parser``) or ``add_parser("NAME", ...)`` call, read from the source."""
    found = set()
    for node in ast.walk(ast.parse(main_py)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("command", "add_parser"):
                found.add(node.args[0].value)
    return found


def named_commands(text: str) -> tuple[set[str], set[str]]:
    """(the `make` targets, the `colorgan` commands) a markdown text names in its code."""
    code = [COMMENT.sub("", piece) for piece in split_code(text)[0]]
    targets = {m.group(2) for piece in code for m in MAKE.finditer(piece)}
    commands = {m.group(1) for piece in code for m in COLORGAN.finditer(piece)}
    return targets, commands


def command_pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs" / "guides").glob("*.md"))]


def command_problems(root: Path) -> list[str]:
    """Every `make X` of README.md and docs/guides/*.md that the Makefile lacks, and every `colorgan X` that the
    CLI lacks."""
    targets = makefile_targets((root / "Makefile").read_text())
    commands = cli_commands((root / "colorgan" / "__main__.py").read_text())
    problems = []
    for page in command_pages(root):
        if not page.is_file():
            continue
        make, colorgan = named_commands(page.read_text())
        where = page.relative_to(root)
        problems += [f"{where}: `make {t}`: no such target in the Makefile" for t in sorted(make - targets)]
        problems += [f"{where}: `colorgan {c}`: no such command in colorgan/__main__.py"
                     for c in sorted(colorgan - commands)]
    return problems


def link_pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def relative_links(text: str) -> list[str]:
    """The relative link targets of a markdown text outside its code, anchors and queries cut off (a link to an
    anchor of the same page alone is left out)."""
    _, prose = split_code(text)
    out = []
    for target in [m.group(1) for m in LINK.finditer(prose)] + [m.group(1) for m in REFERENCE.finditer(prose)]:
        if SCHEME.match(target) or target.startswith(("#", "//")):
            continue
        path = unquote(re.split(r"[#?]", target, maxsplit=1)[0])
        if path:
            out.append(path)
    return out


def link_problems(root: Path) -> list[str]:
    """Every relative link of README.md and docs/**/*.md whose file does not exist (a leading / is the repo's
    root; anything else is relative to the page)."""
    problems = []
    for page in link_pages(root):
        if not page.is_file():
            continue
        for target in relative_links(page.read_text()):
            path = root / target.lstrip("/") if target.startswith("/") else page.parent / target
            if not path.exists():
                problems.append(f"{page.relative_to(root)}: link to {target}: no such file")
    return problems


def readme_problems(root: Path) -> list[str]:
    lines = len((root / "README.md").read_text().splitlines())
    return [f"README.md: {lines} lines, over {README_MAX_LINES}: move detail into docs/"] \
        if lines > README_MAX_LINES else []


def licence_problems(root: Path) -> list[str]:
    """LICENSE and CITATION.cff exist; CITATION.cff parses as YAML into a mapping with a title."""
    import yaml

    problems = [f"{name}: missing" for name in ("LICENSE", "CITATION.cff") if not (root / name).is_file()]
    if (root / "CITATION.cff").is_file():
        try:
            cff = yaml.safe_load((root / "CITATION.cff").read_text())
        except yaml.YAMLError as exc:
            return [*problems, f"CITATION.cff: not YAML: {exc}"]
        if not isinstance(cff, dict) or not str(cff.get("title") or "").strip():
            problems.append("CITATION.cff: no title")
    return problems


def test_make_targets_and_colorgan_commands_named_in_the_readme_and_guides_exist():
    assert command_problems(ROOT) == []


def test_the_checks_read_the_real_makefile_and_cli():
    targets = makefile_targets((ROOT / "Makefile").read_text())
    assert {"setup", "study", "test", "ui", "serve"} <= targets and not targets & {"PHONY", "VENV", "STAMP"}
    commands = cli_commands((ROOT / "colorgan" / "__main__.py").read_text())
    assert {"train", "study", "evaluate", "colorize", "serve"} <= commands
    make, colorgan = named_commands((ROOT / "README.md").read_text())
    assert {"study", "test"} <= make and "colorize" in colorgan  # the README's two commands and its colorize line


def test_relative_links_in_the_readme_and_docs_lead_to_files():
    assert link_problems(ROOT) == []


def test_the_readme_is_a_short_guide():
    assert readme_problems(ROOT) == []


def test_licence_and_citation():
    assert licence_problems(ROOT) == []


def test_the_checks_find_what_is_wrong(tmp_path):
    (tmp_path / "colorgan").mkdir()
    (tmp_path / "docs" / "guides").mkdir(parents=True)
    (tmp_path / "Makefile").write_text("PY := x\n.PHONY: study\nstudy: $(STAMP) ## a study\n\t$(PY) -m colorgan\n")
    (tmp_path / "colorgan" / "__main__.py").write_text('def command(name, **kw): ...\n\ncommand("train", help="x")\n')
    (tmp_path / "docs" / "here.md").write_text("x")
    (tmp_path / "README.md").write_text(
        "Run `make study NAME=x` and `make PYTHON=python3.11 bogus`, then `python -m colorgan train` and\n"
        "`colorgan frobnicate`. The word make in prose is no command.\n\n```bash\nmake nosuch  # make it so\n"
        "X=1 .venv/bin/colorgan -v train  # colorgan nope\n```\n\n```\ncolorgan/  what colorgan logs\n```\n\n"
        "[fine](docs/here.md#anchor) [same page](#top) [web](https://example.com/x.md) ![gone](docs/img/gone.png)\n"
        "[wrapped\ntext](docs/missing.md) `[in code](docs/not-a-link.md)`\n\n[ref]: docs/also-missing.md\n")
    (tmp_path / "docs" / "guides" / "a.md").write_text("`colorgan -v serve` and [up](../../README.md)\n")
    assert command_problems(tmp_path) == [
        "README.md: `make bogus`: no such target in the Makefile",
        "README.md: `make nosuch`: no such target in the Makefile",
        "README.md: `colorgan frobnicate`: no such command in colorgan/__main__.py",
        "docs/guides/a.md: `colorgan serve`: no such command in colorgan/__main__.py",
    ]
    assert link_problems(tmp_path) == [
        "README.md: link to docs/img/gone.png: no such file",
        "README.md: link to docs/missing.md: no such file",
        "README.md: link to docs/also-missing.md: no such file",
    ]
    assert readme_problems(tmp_path) == []
    (tmp_path / "README.md").write_text("line\n" * (README_MAX_LINES + 1))
    assert readme_problems(tmp_path) == [f"README.md: {README_MAX_LINES + 1} lines, over {README_MAX_LINES}: "
                                         "move detail into docs/"]
    assert licence_problems(tmp_path) == ["LICENSE: missing", "CITATION.cff: missing"]
    (tmp_path / "LICENSE").write_text("MIT")
    (tmp_path / "CITATION.cff").write_text("cff-version: 1.2.0\ntitle: [unclosed\n")
    assert licence_problems(tmp_path)[0].startswith("CITATION.cff: not YAML")
    (tmp_path / "CITATION.cff").write_text("cff-version: 1.2.0\nmessage: cite it\n")
    assert licence_problems(tmp_path) == ["CITATION.cff: no title"]
