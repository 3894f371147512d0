"""`colorgan colorize` and the full-resolution path, on a real tiny model in a real temporary MLflow store."""

from __future__ import annotations

import hashlib

import numpy as np
import optuna
import pytest
from conftest import photo
from PIL import Image

from colorgan.__main__ import main
from colorgan.data import color
from colorgan.serving.colorize import Colorizer
from colorgan.serving.references import load_colorizer

pytestmark = pytest.mark.slow


def lightness(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(color.rgb_to_lab(np.asarray(rgb, np.float32) / 255.0))[..., 0]


def assert_same_lightness(out: np.ndarray, original: np.ndarray) -> None:
    """The output is the input's own L* plus predicted chroma: L* may move only by rounding and gamut clipping."""
    diff = np.abs(lightness(out) - lightness(original))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 4.0, (diff.mean(), np.percentile(diff, 99))


def test_colorize_keeps_size_and_lightness(home, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    colour = photo(150, 200, seed=1)
    gray = photo(97, 131, seed=2, gray=True)
    Image.fromarray(colour).save(src / "colour.png")
    Image.fromarray(gray).save(src / "gray.png")
    out = tmp_path / "out"
    assert main(["colorize", str(src / "colour.png"), str(src / "gray.png"), "--model", f"runs:/{home.run_id}",
                 "--out", str(out), "--quiet"]) == 0
    assert "colorized 2 file(s)" in capsys.readouterr().out
    got = np.asarray(Image.open(out / "colour.png"))
    assert got.shape == (150, 200, 3) and got.dtype == np.uint8
    assert_same_lightness(got, colour)
    got = np.asarray(Image.open(out / "gray.png"))
    assert got.shape == (97, 131, 3)
    assert_same_lightness(got, np.repeat(gray[..., None], 3, axis=-1))
    assert np.abs(got[..., 0].astype(int) - got[..., 2].astype(int)).max() > 0  # it is no longer grey


def test_exif_rotated_photo_is_colorized_upright(home, tmp_path):
    stored = photo(40, 64, seed=3)  # stored 64 wide, 40 high; EXIF says: rotate 90 degrees clockwise to display
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", exif=exif, quality=98)
    out = tmp_path / "out"
    assert main(["colorize", str(tmp_path / "rotated.jpg"), "--model", home.run_id, "--out", str(out),
                 "--quiet"]) == 0
    got = np.asarray(Image.open(out / "rotated.jpg"))
    assert got.shape == (64, 40, 3)  # displayed upright: 40 wide, 64 high
    with Image.open(tmp_path / "rotated.jpg") as img:
        from PIL import ImageOps

        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    diff = np.abs(lightness(got) - lightness(upright))
    assert diff.mean() < 2.5  # JPEG output re-quantises, so a looser bound than for PNG


def test_folder_with_bad_files_names_counts_and_skips_them(home, tmp_path, capsys):
    src = tmp_path / "album"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(photo(50, 60, seed=4)).save(src / "good.png")
    Image.fromarray(photo(70, 40, seed=5)).save(src / "sub" / "good.webp", lossless=True)
    (src / "fake.jpg").write_text("not a photo")
    (src / "empty.png").write_bytes(b"")
    Image.fromarray(np.ones((20, 20), np.float32)).save(src / "float.tif")
    (src / "notes.txt").write_text("ignored: not an image extension")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    assert main(["colorize", str(src), "--model", home.run_id, "--out", str(out), "--quiet"]) == 1
    text = capsys.readouterr().out
    assert "colorized 2 file(s)" in text and "skipped 3" in text
    for name, reason in (("fake.jpg", "not a readable image"), ("empty.png", "not a readable image"),
                         ("float.tif", "unsupported image mode 'F'")):
        assert any(name in line and reason in line for line in text.splitlines()), (name, text)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["good.png",
                                                                                          "sub/good.webp"]
    assert Image.open(out / "sub" / "good.webp").size == (40, 70)
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    # the inputs are never overwritten: writing into the input folder is refused
    assert main(["colorize", str(src), "--model", home.run_id, "--out", str(src), "--quiet"]) == 2
    assert main(["colorize", str(src / "good.png"), "--model", home.run_id, "--out", str(src), "--quiet"]) == 1
    assert "would overwrite an input" in capsys.readouterr().out
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}


def test_study_reference_resolves_to_the_best_trial(home, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="tiny", storage=storage, direction="maximize")
    dist = {"lr_g": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}
    for value, run_id in ((10.0, "not-a-run"), (30.0, home.run_id)):
        study.add_trial(optuna.trial.create_trial(params={"lr_g": 1e-3}, distributions=dist, value=value,
                                                  user_attrs={"run_id": run_id}))
    Image.fromarray(photo(33, 45, seed=6)).save(tmp_path / "a.png")
    assert main(["colorize", str(tmp_path / "a.png"), "--model", "study:tiny", "--storage", storage,
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert home.run_id in capsys.readouterr().out
    assert main(["colorize", str(tmp_path / "a.png"), "--model", "study:nope", "--storage", storage,
                 "--out", str(tmp_path / "out")]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path / "a.png"), "--model", "models:/colorgan/99", "--out",
                 str(tmp_path / "out")]) == 2


def test_colorizer_takes_gray_2d_and_colour_arrays_of_any_size(home):
    colorizer, loaded = load_colorizer(home.run_id, home.root)
    assert isinstance(colorizer, Colorizer) and loaded.run_id == home.run_id
    for image in (photo(17, 300, gray=True), photo(301, 29, seed=1), photo(64, 64, gray=True)[..., None]):
        out = colorizer(image)
        assert out.shape == (*image.shape[:2], 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="HxW"):
        colorizer(np.zeros((4, 4, 2), np.uint8))
