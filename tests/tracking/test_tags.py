"""The tag schema (colorgan/tracking/tags.py) is the one home of every tag key colorgan writes: no ``colorgan.*``
string elsewhere in colorgan/ but module paths and the few keys that are no MLflow tags; each key declared once,
with a comment; and every ``colorgan.*`` key the report generator reads is one of them (its strings are its own)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from colorgan.tracking import tags

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "colorgan" / "tracking" / "tags.py"
# "colorgan." strings that are neither module paths nor MLflow tag keys, where they live
NOT_TAGS = {
    "colorgan/studies/trials.py": {"colorgan.fail_reason", "colorgan.owner", "colorgan.cut_off",
                                   "colorgan.retry_of"},  # Optuna user attributes of a trial
    "colorgan/tracking/pyfunc.py": {"colorgan.pyfunc_model"},  # the old path of a moved module (MOVED)
}
REPORTS_OWN = {"colorgan.report", "colorgan."}  # the tag reports/ writes on its report run; the keys' prefix


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("colorgan.")]


def _is_module(value: str) -> bool:
    """``colorgan.a.b`` or ``colorgan.a.b:Name`` naming a module or package of this checkout."""
    parts = value.split(":", 1)[0].split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    where = ROOT.joinpath(*parts)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def test_every_colorgan_tag_key_lives_in_the_schema():
    stray = []
    for path in sorted((ROOT / "colorgan").rglob("*.py")):
        if path == SCHEMA:
            continue
        rel = path.relative_to(ROOT).as_posix()
        stray += [f"{rel}:{line}: {value!r}" for line, value in _strings(path)
                  if not _is_module(value) and value not in NOT_TAGS.get(rel, set())]
    assert not stray, "declare these tag keys in colorgan/tracking/tags.py and import them:\n" + "\n".join(stray)


def test_the_scan_tells_module_paths_from_tag_keys():
    assert _is_module("colorgan.studies.worker") and _is_module("colorgan.bench")
    assert _is_module("colorgan.serving.pyfunc_model:ColorizerPredictor")
    assert not _is_module("colorgan.role") and not _is_module("colorgan.evaluated.")
    assert not _is_module("colorgan.critic")  # a tag, though colorgan/scoring/critic.py exists


def test_each_key_is_declared_once_with_what_its_value_is():
    declared = {name: value for name, value in vars(tags).items() if name.isupper() and isinstance(value, str)}
    assert len(set(declared.values())) == len(declared), "two constants for one key"
    assert all(value.startswith(("colorgan.", "mlflow.", "best.", "param.")) for value in declared.values())
    commented = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(SCHEMA.read_text()).readline)
                 if tok.type == tokenize.COMMENT}
    tree = ast.parse(SCHEMA.read_text())
    bare = [node.targets[0].id for node in tree.body if isinstance(node, ast.Assign)
            and node.targets[0].id.isupper() and node.lineno not in commented]
    assert not bare, f"say in a comment what these tags' values are: {bare}"


def test_every_key_the_reports_read_is_in_the_schema():
    values = {value for name, value in vars(tags).items() if name.isupper() and isinstance(value, str)}
    read = {value for path in (ROOT / "reports").glob("*.py") for _, value in _strings(path)}
    assert read and read - REPORTS_OWN <= values, sorted(read - REPORTS_OWN - values)
