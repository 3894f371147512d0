import numpy as np
import pytest
from skimage import metrics as skm

from colorgan import evaluate, metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(1)
    true = rng.random((3, 32, 32, 3)).astype(np.float32)
    pred = np.clip(true + rng.normal(0, 0.05, true.shape), 0, 1).astype(np.float32)
    return pred, true


def test_psnr_matches_skimage(pair):
    pred, true = pair
    ours = metrics.psnr(pred, true).numpy()
    ref = [skm.peak_signal_noise_ratio(t, p, data_range=1.0) for p, t in zip(pred, true, strict=True)]
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_ssim_matches_skimage(pair):
    pred, true = pair
    ours = metrics.ssim(pred, true).numpy()
    ref = [skm.structural_similarity(t, p, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False) for p, t in zip(pred, true, strict=True)]
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_exactly_grey_image_gives_no_inf_or_nan():
    grey = np.full((2, 16, 16, 3), 0.4, np.float32)
    scores = metrics.image_scores(grey, grey)
    for value in scores.values():
        assert np.all(np.isfinite(value.numpy()))
    acc = metrics.QualityAccumulator()
    acc.update(scores)
    summary = acc.result()
    assert all(np.isfinite(v) for v in summary.values())
    assert summary["psnr_mean"] == pytest.approx(metrics.PSNR_CAP_DB)
    assert summary["psnr"] == pytest.approx(metrics.PSNR_CAP_DB)
    assert summary["colorfulness"] == pytest.approx(0.0, abs=1e-3)


def test_pooled_mean_and_median_psnr_differ_as_defined():
    acc = metrics.QualityAccumulator()
    mse = np.array([1e-2, 1e-3, 0.0])  # the last one: a perfect (grey) prediction, capped
    acc.update({"mse": mse})
    out = acc.result()
    assert out["psnr"] == pytest.approx(-10 * np.log10(mse.mean()))
    assert out["psnr_median"] == pytest.approx(30.0)
    assert out["psnr_mean"] == pytest.approx((20 + 30 + metrics.PSNR_CAP_DB) / 3)


def test_colorfulness_orders_grey_dull_vivid():
    rng = np.random.default_rng(2)
    base = rng.random((1, 16, 16, 3)).astype(np.float32)
    grey = np.repeat(base.mean(-1, keepdims=True), 3, -1)
    dull = 0.8 * grey + 0.2 * base
    values = [float(metrics.colorfulness(x)[0]) for x in (grey, dull, base)]
    assert values[0] < 1e-3 < values[1] < values[2]


def test_colorfulness_known_value():
    # Half pure red, half pure green: rg = +-255, yb = 127.5 -> std_rg=255, std_yb=0, mean_rg=0, mean_yb=127.5
    img = np.zeros((1, 2, 2, 3), np.float32)
    img[0, 0, :, 0] = 1.0
    img[0, 1, :, 1] = 1.0
    assert float(metrics.colorfulness(img)[0]) == pytest.approx(255.0 + 0.3 * 127.5, rel=1e-4)


def test_every_split_figure_is_declared_once():
    rng = np.random.default_rng(3)
    acc = metrics.QualityAccumulator()
    acc.update(metrics.image_scores(rng.random((2, 16, 16, 3)).astype(np.float32),
                                    rng.random((2, 16, 16, 3)).astype(np.float32)))
    assert set(acc.result()) - {"images"} == set(metrics.QUALITY)
    assert all(m.better in ("higher", "lower", "") and m.name == key for key, m in metrics.QUALITY.items())
    assert metrics.QUALITY["psnr"].heading == "PSNR pooled (dB)" and metrics.QUALITY["ssim"].heading == "SSIM"
    assert metrics.QUALITY["psnr"].show(21.814) == "21.81 dB"


def test_evaluate_summary_has_a_column_per_figure_and_an_interval_per_mean():
    per_image = {"mse": np.array([1e-2, 1e-3])} | {m.mean_of: np.array([1.0, 3.0]) for m in metrics.MEANS}
    row = evaluate.summary_row("all", per_image)
    assert list(row) == ["group", "n", "psnr", "psnr_median", "psnr_mean", "psnr_ci95", "ssim", "ssim_ci95",
                         "colorfulness", "colorfulness_ci95", "colorfulness_orig", "colorfulness_orig_ci95",
                         "colorfulness_gap", "colorfulness_gap_ci95"]
    assert row["ssim"] == 2.0 and row["psnr"] == pytest.approx(-10 * np.log10(5.5e-3))


def test_sample_grid_images_are_spread_over_every_class():
    from colorgan.evaluate import spread_pick

    names = [f"{c}/{i:03d}.jpg" for c in ("street", "forest", "glacier") for i in range(5)] + ["top.jpg"]
    pick = spread_pick(names, 7)
    assert [names[i] for i in pick] == ["top.jpg", "forest/000.jpg", "glacier/000.jpg", "street/000.jpg",
                                        "forest/001.jpg", "glacier/001.jpg", "street/001.jpg"]
    assert len(spread_pick(names[:2], 10)) == 2  # fewer images than rows: all of them, once
