"""What the report reads instead of keeping copies of colorgan's facts: the metric declarations each evaluation
logs, the data key an evaluation is filed under (from the run's tags), and a sample grid's layout (logged with
it; inferred from its logged image size for an evaluation from before). Each is checked against what colorgan writes."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from colorgan.evaluation import evaluate
from colorgan.scoring import grids, metrics
from colorgan.tracking import evaluations
from reports import claims, sample_figures
from reports.locations import tracking_uri
from reports.source import EVALUATED_TAG, Entry, Evaluated, Source, evaluation_key


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


def _evaluated(grid: np.ndarray, info: dict, label: str = "model") -> Evaluated:
    return Evaluated(Entry(label, "run", "model"), pd.DataFrame(), pd.DataFrame(), info, grid)


def test_the_report_cuts_a_colorgan_sample_grid_back_into_its_tiles():
    rng = np.random.default_rng(0)
    side, rows = 8, 4
    columns = [rng.random((rows, side, side, 3)).astype(np.float32) for _ in range(3)]
    grid = grids.sample_grid(columns)
    logged = _evaluated(grid, {"image_size": side, "sample_grid": grids.layout(columns, evaluate.GRID_COLUMNS)})
    before = _evaluated(grid, {"image_size": side})  # logged before its layout was: inferred from the pixel size
    for evaluated in (logged, before):
        layout = sample_figures.grid_layout(evaluated)
        for name, batch in zip(evaluate.GRID_COLUMNS, columns, strict=True):
            expected = np.clip(np.rint(batch * 255.0), 0, 255).astype(np.uint8)
            np.testing.assert_array_equal(sample_figures.tiles(grid, layout, name), expected)


def test_the_grid_layout_is_read_from_the_run_not_from_the_png(tmp_path, monkeypatch):
    """Tiles the PNG's size cannot tell (not square, not the logged image_size): the layout logged with the grid
    (what `colorgan evaluate` writes, through colorgan's own writer into a real store) cuts them right."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rng = np.random.default_rng(1)
    columns = [rng.random((3, 6, 10, 3)).astype(np.float32) for _ in range(3)]
    client = MlflowClient(tracking_uri(tmp_path))
    run = client.create_run(client.create_experiment("e")).info.run_id
    info = {"image_size": 8, "sample_files": ["a", "b", "c"],
            "sample_grid": grids.layout(columns, evaluate.GRID_COLUMNS)}
    evaluations.log_evaluation(tmp_path, run, evaluate.data_key(None), {"psnr": 20.0},
                               {"summary.csv": "group,psnr\nall,20.0\n", "per_image.csv": "file,class\na,x\n"},
                               grids.sample_grid(columns), info)
    evaluated = Source(tmp_path).evaluation(Entry("model", run, "model"), None)
    assert evaluated.info["sample_grid"]["tile_width"] == 10  # read from the run
    cut = sample_figures.sample_columns([evaluated])
    assert [label for label, _ in cut] == ["gray input", "model", "original"]
    for (_, got), batch in zip(cut, columns, strict=True):
        np.testing.assert_array_equal(got, np.clip(np.rint(batch * 255.0), 0, 255).astype(np.uint8))
    inferred = sample_figures.grid_layout(_evaluated(evaluated.samples, {"image_size": 8}))
    assert inferred["tile_width"] != 10  # the old inference from the PNG would have cut other tiles


def test_the_report_keeps_no_copy_of_the_declarations():
    """No string of the report's code is a declared figure's label or heading: it reads them from what was
    logged (docstrings aside: they may name one as an example)."""
    shown = {text for m in metrics.QUALITY.values() for text in (m.label, m.heading)}
    copied = []
    for path in sorted((Path(__file__).parents[2] / "reports").glob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        copied += [f"{path.name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                   if isinstance(node, ast.Constant) and node.value in shown and id(node) not in docstrings]
    assert not copied, "reports/ spells out declared labels:\n" + "\n".join(copied)
