"""Tests for colorgan.data.datasets (scan, splits, pipelines, data-dir resolution) and colorgan.data.samples."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import huge_png_header
from PIL import Image

from colorgan.base.config import Config
from colorgan.data import datasets, images, samples

SKIPPED = {"bad/truncated.jpg", "bad/text.jpg", "bad/tiny.png", "bad/huge.png"}
CONVERTED = 5  # cmyk.jpg, grey.png, grey16.png, rgba.png, palette.png
GREY = 2  # grey.png, grey16.png: converted fine, then dropped as near-grey
GOOD = 30 + 1  # 30 generated colour images + the EXIF-rotated one


def colourful(rng: np.random.Generator, h: int = 48, w: int = 48) -> np.ndarray:
    """Smooth random colour blobs: clearly above any grey threshold."""
    blocks = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((8, 8, 1), np.uint8))[:h, :w]


def make_dataset(root: Path, n_good: int = 30, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n_good):
        folder = root / ("forest", "glacier", "street")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        ext = (".jpg", ".PNG", ".bmp", ".jpeg", ".webp")[i % 5]  # case-insensitive extensions too
        Image.fromarray(colourful(rng)).save(folder / f"img{i:02d}{ext}")


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """30 good images in class folders plus one file of each awkward kind in bad/."""
    root = tmp_path_factory.mktemp("messy")
    make_dataset(root)
    bad = root / "bad"
    bad.mkdir()
    rng = np.random.default_rng(1)
    colour = Image.fromarray(colourful(rng, 64, 64))
    colour.save(bad / "full.jpg", quality=95)
    (bad / "truncated.jpg").write_bytes((bad / "full.jpg").read_bytes()[:600])
    (bad / "full.jpg").unlink()
    (bad / "text.jpg").write_text("this is not a JPEG\n")
    colour.convert("CMYK").save(bad / "cmyk.jpg")
    colour.convert("L").save(bad / "grey.png")
    Image.fromarray((np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 28).astype(np.uint16)).save(
        bad / "grey16.png"
    )
    rgba = np.dstack([colourful(rng), np.full((48, 48), 255, np.uint8)])
    rgba[:4, :4, 3] = 0  # a transparent corner: composited on white
    Image.fromarray(rgba, "RGBA").save(bad / "rgba.png")
    colour.convert("P", palette=Image.Palette.ADAPTIVE).save(bad / "palette.png")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(bad / "tiny.png")
    huge_png_header(bad / "huge.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(colourful(rng, 40, 64)).save(bad / "rotated.jpg", exif=exif)
    (root / "notes.txt").write_text("not an image extension: ignored, not skipped")
    return root


def cfg_for(root: Path, **changes) -> Config:
    return Config(
        data_dir=str(root),
        image_size=32,
        batch_size=8,
        eval_fraction=0.25,
        test_fraction=0.25,
        sample_images=3,
        **changes,
    )


def snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_read_rgb_converts_every_mode(messy):
    bad = messy / "bad"
    grey16, converted = images.read_rgb(bad / "grey16.png")
    assert converted and grey16.dtype == np.uint8 and grey16.shape == (48, 48, 3)
    expected = np.rint((np.arange(48 * 48).reshape(48, 48) * 28) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(grey16[..., 0], expected)  # scaled to 8 bit, not clipped at 255
    rgba, _ = images.read_rgb(bad / "rgba.png")
    assert (rgba[:4, :4] == 255).all()  # transparent pixels composited on white
    rotated, converted = images.read_rgb(bad / "rotated.jpg")
    assert rotated.shape == (64, 40, 3) and not converted  # EXIF orientation honoured
    for name in ("cmyk.jpg", "grey.png", "palette.png"):
        rgb, converted = images.read_rgb(bad / name)
        assert converted and rgb.shape[-1] == 3 and rgb.dtype == np.uint8
    for name, reason in (
        ("truncated.jpg", "corrupt"),
        ("text.jpg", "not a readable"),
        ("tiny.png", "too small"),
        ("huge.png", "too large"),
    ):
        with pytest.raises(images.BadImage, match=reason):
            images.read_rgb(bad / name)


def test_scan_reports_bad_files_in_one_warning(messy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = datasets.scan(messy)
    summaries = [w for w in caught if "skipped" in str(w.message)]
    assert len(summaries) == 1 and all(name in str(summaries[0].message) for name in SKIPPED)
    assert {rel for rel, _ in result.skipped} == SKIPPED
    assert result.converted == CONVERTED
    assert len(result.files) == GOOD + CONVERTED and result.n_found == len(result.files) + len(SKIPPED)
    assert not any(f.endswith(".txt") for f in result.files)
    grey = {rel for rel, c in zip(result.files, result.chroma, strict=True) if c < 3.0}
    assert grey == {"bad/grey.png", "bad/grey16.png"}


def test_load_runs_an_epoch_and_never_writes_to_the_data_dir(messy, tmp_path):
    before = snapshot(messy)
    with pytest.warns(UserWarning, match=f"skipped {len(SKIPPED)} "):
        bundle = datasets.load(cfg_for(messy), tmp_path)
    info = bundle.info
    assert snapshot(messy) == before
    assert list((tmp_path / ".cache" / "colorgan").glob("scan-*.json"))  # the cache went to the repo instead
    assert {rel for rel, _ in bundle.skipped} == SKIPPED and info["n_skipped"] == len(SKIPPED)
    assert info["n_converted"] == CONVERTED and info["n_files"] == GOOD + CONVERTED + len(SKIPPED)
    assert info["n_grey_train"] + info["n_grey_eval"] + info["n_grey_test"] == GREY
    assert info["n_train"] + info["n_eval"] + info["n_test"] == GOOD + CONVERTED - GREY
    assert info["data_source"] == "config data_dir" and len(info["fingerprint"]) == 64
    assert all(isinstance(v, (str, int)) for v in info.values())
    for split in ("train", "eval", "test"):
        seen = 0
        for l_in, target in getattr(bundle, split):
            assert l_in.dtype == target.dtype == np.float32
            assert l_in.shape[1:] == (32, 32, 1) and target.shape[1:] == (32, 32, 2) and l_in.shape[0] <= 8
            assert float(np.abs(l_in).max()) <= 1.0
            assert float(np.abs(target).max()) <= 1.0
            seen += int(l_in.shape[0])
        assert seen == info[f"n_{split}"] > 0
        # tf.data's autotuner took the cores from the training step on 2 cores (data.pipeline_options)
        assert getattr(bundle, split).options().autotune.enabled is False
    sample = bundle.eval_rgb_sample
    assert sample.shape == (3, 32, 32, 3) and sample.dtype == np.float32 and 0 <= sample.min() <= sample.max() <= 1


def test_train_order_and_jitter_are_seeded(messy, tmp_path):
    def first_epochs(seed: int) -> list[np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = datasets.load(cfg_for(messy, seed=seed, color_space="rgb"), tmp_path).train
        return [np.concatenate([t.numpy() for _, t in train]) for _ in range(2)]

    a, b, other = first_epochs(1), first_epochs(1), first_epochs(2)
    np.testing.assert_array_equal(a[0], b[0])  # same seed, same batches
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].shape[-1] == 3  # rgb targets
    assert not np.array_equal(a[0], a[1])  # reshuffled / re-jittered each epoch
    assert not np.array_equal(a[0], other[0])


def test_caps_take_the_first_files_in_hash_order(messy, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = datasets.load(cfg_for(messy), tmp_path)
        capped = datasets.load(cfg_for(messy, max_train_images=5, max_eval_images=2), tmp_path)
    assert capped.info["n_train"] == 5 and capped.info["n_eval"] == 2
    assert capped.info["n_test"] == full.info["n_test"]  # the test split is never capped
    np.testing.assert_array_equal(capped.eval_rgb_sample, full.eval_rgb_sample[:2])


def test_splits_are_stable_when_files_are_added(tmp_path):
    names = [f"class{i % 4}/img{i:04d}.jpg" for i in range(2000)]
    before = datasets.split_files(names[:1000], 0.1, 0.1)
    after = datasets.split_files(names, 0.1, 0.1)
    for split in before:
        assert set(before[split]) <= set(after[split])
    assert 150 < len(after["test"]) < 250 and 150 < len(after["eval"]) < 250  # fractions roughly honoured

    make_dataset(tmp_path, n_good=10)
    first = datasets.scan(tmp_path)
    Image.fromarray(colourful(np.random.default_rng(5))).save(tmp_path / "forest" / "new.png")
    second = datasets.scan(tmp_path)
    assert first.fingerprint != second.fingerprint and datasets.scan(tmp_path).fingerprint == second.fingerprint
    old = datasets.split_files(first.files, 0.3, 0.3)
    new = datasets.split_files(second.files, 0.3, 0.3)
    assert all(set(old[s]) <= set(new[s]) for s in old)


def test_grey_filter_drops_grey_and_keeps_colour(tmp_path):
    make_dataset(tmp_path, n_good=9)
    rng = np.random.default_rng(3)
    for i in range(4):  # exactly grey, stored as RGB
        grey = rng.integers(0, 256, size=(48, 48, 1), dtype=np.uint8).repeat(3, axis=-1)
        Image.fromarray(grey).save(tmp_path / "street" / f"grey{i}.png")
    repo = tmp_path / "repo"
    on = datasets.load(cfg_for(tmp_path, grey_threshold=3.0), repo).info
    off = datasets.load(cfg_for(tmp_path, grey_threshold=0.0), repo).info
    assert sum(on[f"n_grey_{s}"] for s in ("train", "eval", "test")) == 4
    assert on["n_train"] + on["n_eval"] + on["n_test"] == 9
    assert off["n_train"] + off["n_eval"] + off["n_test"] == 13 and off["n_grey_train"] == 0


def test_color_gray_layout_uses_only_color(tmp_path):
    make_dataset(tmp_path / "color", n_good=3)
    make_dataset(tmp_path / "gray", n_good=3)
    make_dataset(tmp_path / "nested" / "color", n_good=2)
    make_dataset(tmp_path / "nested" / "gray", n_good=2)
    make_dataset(tmp_path / "only" / "gray", n_good=1)  # no color/ beside it: kept
    files = datasets.scan(tmp_path).files
    assert len(files) == 6 and not any(f.startswith(("gray/", "nested/gray/")) for f in files)
    assert sum(f.startswith("only/gray/") for f in files) == 1


def test_empty_or_missing_dir_is_a_clear_error(tmp_path):
    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    for path in (missing, empty):
        with pytest.raises(datasets.DataError, match=str(path)):
            datasets.scan(path)
        with pytest.raises(datasets.DataError, match=str(path)):
            datasets.load(cfg_for(path), tmp_path / "repo")


def test_resolve_data_dir_order(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "ws" / "repo"
    repo.mkdir(parents=True)
    fake_samples = tmp_path / "cache" / "samples"
    monkeypatch.setattr(samples, "sample_dir", lambda cache_root: fake_samples)
    monkeypatch.delenv("COLORGAN_DATA", raising=False)
    assert datasets.resolve_data_dir("", repo) == (fake_samples, "built-in samples")  # the tag's stored value
    err = capsys.readouterr().err  # the fallback is loud: a WARNING line on stderr, once per process
    assert err.startswith(f"WARNING: no data set found: using the small built-in sample set in {fake_samples}; "
                          "figures from it are not comparable with a data set's.") and err.count("\n") == 1, err
    assert datasets.resolve_data_dir("", repo)[1] == datasets.BUILT_IN and capsys.readouterr().err == ""
    shared = tmp_path / "ws" / "shared" / "data" / "landscapes"
    shared.mkdir(parents=True)
    assert datasets.resolve_data_dir("", repo)[0] == shared.resolve()
    local = repo / "data" / "landscapes"
    local.mkdir(parents=True)
    assert datasets.resolve_data_dir("", repo)[0] == local.resolve()
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv("COLORGAN_DATA", str(env))
    assert datasets.resolve_data_dir("", repo) == (env.resolve(), "$COLORGAN_DATA")
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    assert datasets.resolve_data_dir(str(explicit), repo) == (explicit.resolve(), "config data_dir")
    with pytest.raises(datasets.DataError, match="missing-dir"):
        datasets.resolve_data_dir(str(tmp_path / "missing-dir"), repo)
    monkeypatch.setenv("COLORGAN_DATA", str(tmp_path / "missing-env"))
    with pytest.raises(datasets.DataError, match="missing-env"):
        datasets.resolve_data_dir("", repo)


def test_samples_build_offline_once_and_load(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the sample set must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert len(samples.source_images()) >= 5
    folder = samples.sample_dir(tmp_path, count=24)
    assert folder == tmp_path / "samples"
    images = sorted(folder.rglob("*.jpg"))
    assert len(images) == 24 and all(Image.open(p).size == (150, 150) for p in images)
    stamp = snapshot(folder)
    assert samples.sample_dir(tmp_path, count=24) == folder and snapshot(folder) == stamp  # built once
    assert len(list(samples.sample_dir(tmp_path, count=12).rglob("*.jpg"))) == 12  # new settings: rebuilt
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no file of the sample set is skipped
        bundle = datasets.load(
            Config(data_dir=str(folder), image_size=32, batch_size=4, grey_threshold=0.0), tmp_path / "repo"
        )
    assert bundle.info["n_files"] == 12 and bundle.info["n_skipped"] == 0
    assert sum(int(l_in.shape[0]) for l_in, _ in bundle.train) == bundle.info["n_train"]


def test_the_other_subjects_folder_holds_every_source_photo_whole_built_once(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("must not touch the network"))
    sources = samples.source_images()
    folder = samples.other_subjects_dir(tmp_path)
    files = sorted(folder.rglob("*.png"))
    assert [p.relative_to(folder).as_posix() for p in files] == [f"other/{n}.png" for n in sorted(sources)]
    for path in files:  # whole: the source's own size and pixels, not a crop
        with Image.open(path) as img:
            assert img.size == sources[path.stem].size
            assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(sources[path.stem]))
    stamp = snapshot(folder)
    assert samples.other_subjects_dir(tmp_path) == folder and snapshot(folder) == stamp  # built once


def test_make_ood_finds_the_other_subjects_folder_under_the_project_cache(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "COLORGAN_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "colorgan.data.samples"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    folder = Path(out.stdout.strip())
    assert folder == tmp_path / ".cache" / "colorgan" / "other-subjects" and len(list(folder.rglob("*.png"))) >= 5


def test_a_file_gone_mid_run_is_dropped_not_fatal(tmp_path):
    make_dataset(tmp_path, n_good=5)
    paths = [str(p) for p in sorted(tmp_path.rglob("*.*"))] + [str(tmp_path / "deleted.jpg")]
    cfg = Config(image_size=32, batch_size=4)
    for ds in (datasets.train_dataset(paths, cfg), datasets.eval_dataset(paths, cfg)):
        assert sum(int(l_in.shape[0]) for l_in, _ in ds) == 5


def test_bad_directory_entries_are_named_counted_skips_and_training_goes_on(tmp_path):
    """A symlink loop, a dangling symlink and a file name that is not UTF-8 each used to abort the scan with a
    traceback (OSError ELOOP, FileNotFoundError, UnicodeEncodeError)."""
    root = tmp_path / "photos"
    make_dataset(root, n_good=12)
    os.symlink("loop_b.jpg", root / "loop_a.jpg")
    os.symlink("loop_a.jpg", root / "loop_b.jpg")
    os.symlink("nowhere.png", root / "gone.png")
    Image.fromarray(colourful(np.random.default_rng(3))).save(os.fsencode(root) + b"/caf\xe9.jpg")  # Latin-1 name
    with pytest.warns(UserWarning, match="skipped 4 of 16 image files") as caught:
        bundle = datasets.load(cfg_for(root, grey_threshold=0.0), tmp_path / "repo")
    reasons = dict(bundle.skipped)
    assert reasons == {"loop_a.jpg": "symlink loop", "loop_b.jpg": "symlink loop",
                       "gone.png": "dangling symlink (to nowhere.png, which does not exist)",
                       "caf\\xe9.jpg": "file name is not valid UTF-8: rename it"}
    assert all(name in str(caught[0].message) for name in reasons)
    assert bundle.info["n_skipped"] == 4 and bundle.info["n_files"] == 16
    assert sum(int(l_in.shape[0]) for l_in, _ in bundle.train) == bundle.info["n_train"] > 0  # training goes on
