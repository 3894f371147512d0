"""`colorgan publish`, the registered pyfunc, `mlflow models serve` on it, and `colorgan export`."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
import tensorflow as tf
from conftest import free_port, photo
from PIL import Image

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.serving import pyfunc_model, references
from colorgan.serving.references import load_colorizer
from colorgan.tracking import pyfunc as tracking_pyfunc

pytestmark = pytest.mark.slow
CHAMPION = "models:/colorgan@champion"


@pytest.fixture(scope="module")
def published(trained):
    """Publish the trained run once for this module (through the CLI, as a user would)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_HOME", str(trained.root))
        assert main(["publish", "--run", trained.run_id]) == 0
    return trained


def test_models_registered_before_load_the_predictor_publish_names_now():
    """The adapter cannot import the application, so it spells the predictor of models that name none (registered
    before model_config named it) as text: held here to what publish records, lest a rename break old models."""
    assert tracking_pyfunc.DEFAULT_PREDICTOR == pyfunc_model.PREDICTOR
    module, _, name = pyfunc_model.PREDICTOR.partition(":")
    assert module == pyfunc_model.__name__ and getattr(pyfunc_model, name) is pyfunc_model.ColorizerPredictor


def test_publish_registers_the_champion_with_a_model_card(published, home):
    client = tracking.store.connect(home.root)
    version = client.get_model_version_by_alias("colorgan", "champion")
    assert str(version.version) == "1"
    card = version.description
    assert client.get_registered_model("colorgan").description == card
    for text in (published.run_id, "## Training data", "## Config", "image_size = 32", "| PSNR pooled (dB) |",
                 "gray baseline", "## Limitations", "capped at 256", "## Intended use", "## Out-of-scope use",
                 "## Data source and licence", "## Sample grid", "## Size, speed and memory", " parameters. ",
                 "| 32x32 | ", "| 1024x1024 | ", "## Licence and terms of the weights", "Historical photos of people"):
        assert text in card, text
    publish_run = client.get_run(version.run_id)
    assert publish_run.data.tags["colorgan.source_run"] == published.run_id
    assert publish_run.data.metrics["test/psnr"] > 0 and publish_run.data.metrics["baseline/gray_psnr"] > 0
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "model_card")}
    assert artifacts == {"model_card/model_card.md", "model_card/test_samples.png"}
    assert mlflow.artifacts.load_text(f"runs:/{version.run_id}/model_card/model_card.md") == card
    # every model reference form leads back to the training run's generator and config
    for ref in (CHAMPION, "models:/colorgan/1", f"runs:/{published.run_id}"):
        loaded = references.resolve(ref, home.root)
        assert loaded.run_id == published.run_id and loaded.cfg.image_size == 32


def test_the_cards_figures_and_grid_are_what_colorgan_evaluate_gives_on_the_same_images(published, home):
    """publish scores through `colorgan evaluate`'s code: on a test split under the cap (the whole split), the
    card's table, the publish run's test/ and gray figures and its sample grid are evaluate's for the same run."""
    from colorgan.evaluation import evaluate
    from colorgan.release import cards, publish

    client = tracking.store.connect(home.root)
    version = client.get_model_version_by_alias("colorgan", "champion")
    logged = client.get_run(version.run_id).data.metrics
    evaluated = evaluate.evaluate_model(published.run_id, root=home.root)
    cfg = references.resolve(published.run_id, home.root).cfg
    gray = evaluate.evaluate_model("baseline:gray", size=cfg.image_size, root=home.root, overrides=(
        f"data_dir={home.data_dir}", f"eval_fraction={cfg.eval_fraction}", f"test_fraction={cfg.test_fraction}",
        f"grey_threshold={cfg.grey_threshold}"))
    model_row, gray_row = evaluate.records(evaluated.summary)[0], evaluate.records(gray.summary)[0]
    assert list(gray.per_image["file"]) == list(evaluated.per_image["file"])
    assert 0 < model_row["n"] <= publish.TEST_CAP and logged["test/images"] == model_row["n"]
    for key in (k for k in model_row if k not in ("group", "n")):
        assert logged[f"test/{key}"] == pytest.approx(model_row[key], rel=1e-9, abs=1e-12), key
        assert logged[f"baseline/gray_{key}"] == pytest.approx(gray_row[key], rel=1e-9, abs=1e-12), key
    card = version.description
    for line in cards.figures_table(model_row, gray_row):
        assert line in card, line
    assert f"Scored on the first {model_row['n']} images of the sorted test split (capped at 256)" in card
    grids = [np.asarray(Image.open(mlflow.artifacts.download_artifacts(uri))) for uri in (
        f"runs:/{version.run_id}/{publish.GRID_FILE}", f"runs:/{evaluated.run_id}/evaluation/test/samples.png")]
    assert grids[0].shape == grids[1].shape and np.array_equal(grids[0], grids[1])


def test_the_pyfunc_colorizes_images_of_any_size(published, home):
    model = mlflow.pyfunc.load_model(CHAMPION)
    colorizer, _ = load_colorizer(CHAMPION, home.root)
    gray = photo(48, 80, gray=True)
    out = model.predict(gray)
    assert out.shape == (48, 80, 3) and out.dtype == np.uint8
    assert np.array_equal(out, colorizer(gray))  # the same full-resolution path as `colorize`
    colour = photo(121, 37, seed=2)
    assert model.predict(colour).shape == (121, 37, 3)
    outs = model.predict([gray, colour])
    assert [o.shape for o in outs] == [(48, 80, 3), (121, 37, 3)]
    frame = pd.DataFrame({"image": [_b64_png(gray), _b64_png(colour)]})
    got = model.predict(frame)
    assert [_decode(v).size for v in got["image"]] == [(80, 48), (37, 121)]


def test_mlflow_models_serve_answers_a_request(published, home, tmp_path):
    port = free_port()
    bin_dir = Path(sys.executable).parent  # mlflow starts `uvicorn` from PATH: the venv's, as when it is activated
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.store_uri(home.root),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", CHAMPION, "--env-manager",
                                 "local", "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/ping", proc, tmp_path / "serve.log")
        image = photo(60, 90, seed=7, gray=True)
        reply = requests.post(f"{url}/invocations", json={"dataframe_records": [{"image": _b64_png(image)}]},
                              timeout=120)
        assert reply.status_code == 200, reply.text
        got = _decode(reply.json()["predictions"][0]["image"])
        assert got.size == (90, 60) and got.mode == "RGB"
        bad = requests.post(f"{url}/invocations", json={"dataframe_records": [{"image": "bm90IGFuIGltYWdl"}]},
                            timeout=60)
        assert bad.status_code >= 400 and "not a readable image" in bad.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_export_writes_a_savedmodel_whose_signature_runs(published, home, tmp_path):
    out = tmp_path / "savedmodel"
    assert main(["export", "--model", CHAMPION, "--out", str(out)]) == 0
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    colorizer, _ = load_colorizer(CHAMPION, home.root)
    for shape in ((50, 70), (33, 20)):
        gray = photo(*shape, seed=3, gray=True)
        result = serve(image=tf.constant(gray[..., None]))["image"].numpy()
        assert result.shape == (*shape, 3) and result.dtype == np.uint8
        assert np.abs(result.astype(int) - colorizer(gray).astype(int)).max() <= 1
    assert main(["export", "--model", CHAMPION, "--out", str(out)]) == 2  # never into a non-empty folder


def _b64_png(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {timeout} s:\n{log.read_text()[-3000:]}")
