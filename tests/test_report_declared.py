"""What the report reads instead of keeping copies of colorgan's facts: the metric declarations each evaluation
logs, the data key an evaluation is filed under (from the run's tags), and a sample grid's layout (from its
logged image size). Each is checked against what colorgan writes."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from colorgan.evaluation import evaluate
from colorgan.scoring import grids, metrics
from reports import build, claims
from reports.source import EVALUATED_TAG, evaluation_key


def test_the_declarations_label_keys_gains_and_paired_scores(declared):
    assert declared.label("eval/psnr") == "PSNR pooled (dB)" and declared.name("eval/psnr") == "PSNR pooled"
    assert declared.label("eval/psnr_gain") == "PSNR pooled gain over the gray image (dB)"
    assert declared.better("colorfulness_gap") == "lower" and declared.label("eval/no_such") == "eval/no_such"
    assert declared.mean("psnr") == ("PSNR mean", "dB", 2)
    assert {score for score, _ in metrics.PAIRED} <= declared.paired()  # what a study's comparisons compare
    assert {"psnr", "colorfulness_gap"} <= set(claims.scores(declared))  # what the claims files compare
    assert claims.scores(declared)["colorfulness"] == claims.RUN_SCORES["colorfulness"]  # a run score stays one


def test_the_report_finds_an_evaluation_under_the_key_colorgan_filed_it(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    other = tmp_path / "other"
    # the tags colorgan.tracking.evaluations.log_evaluation sets, one per evaluation of the run
    tags = {f"{EVALUATED_TAG}{evaluate.data_key(None)}": f"{tmp_path / 'data'} @ 32px",
            f"{EVALUATED_TAG}{evaluate.data_key(str(folder))}": f"{folder.resolve()} @ 32px",
            "mlflow.runName": "run"}
    assert evaluation_key(tags, None) == evaluate.data_key(None)
    assert evaluation_key(tags, str(folder)) == evaluate.data_key(str(folder))
    assert evaluation_key(tags, str(other)) is None
    assert evaluation_key({"mlflow.runName": "run"}, None) is None


def test_the_report_cuts_a_colorgan_sample_grid_back_into_its_tiles():
    rng = np.random.default_rng(0)
    side, rows = 8, 4
    columns = [rng.random((rows, side, side, 3)).astype(np.float32) for _ in range(3)]
    grid = grids.sample_grid(columns)
    for c, batch in enumerate(columns):
        expected = np.clip(np.rint(batch * 255.0), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(build.tiles(grid, c, side), expected)


def test_the_report_keeps_no_copy_of_the_declarations():
    """No string of the report's code is a declared figure's label or heading: it reads them from what was
    logged (docstrings aside: they may name one as an example)."""
    shown = {text for m in metrics.QUALITY.values() for text in (m.label, m.heading)}
    copied = []
    for path in sorted((Path(__file__).parents[1] / "reports").glob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        copied += [f"{path.name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and node.value in shown and id(node) not in docstrings]
    assert not copied, "reports/ spells out declared labels:\n" + "\n".join(copied)
