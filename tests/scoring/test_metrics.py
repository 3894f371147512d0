import numpy as np
import pytest
import tensorflow as tf
from skimage import metrics as skm

from colorgan.evaluation import evaluate
from colorgan.scoring import metrics


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
    per_image = ({"mse": np.array([1e-2, 1e-3])} | {m.mean_of: np.array([1.0, 3.0]) for m in metrics.MEANS}
                 | {name: np.array([2.0, 4.0]) for name in metrics.POOLED_SCORES[1:]})
    per_image["chroma_ring"] = np.array([1.0, 2.0])
    row = evaluate.summary_row("all", per_image)
    assert list(row) == ["group", "n", "psnr", "psnr_median", "border_ratio", "border_ratio_orig",
                         "psnr_mean", "psnr_ci95", "ssim", "ssim_ci95",
                         "colorfulness", "colorfulness_ci95", "colorfulness_orig", "colorfulness_orig_ci95",
                         "colorfulness_gap", "colorfulness_gap_ci95", "colorfulness_delta",
                         "colorfulness_delta_ci95", "color_auc", "color_auc_ci95",
                         "color_auc_rebal", "color_auc_rebal_ci95"]
    assert row["ssim"] == 2.0 and row["psnr"] == pytest.approx(-10 * np.log10(5.5e-3))
    assert row["border_ratio"] == pytest.approx(0.5) and row["border_ratio_orig"] == pytest.approx(1.0)


def test_set_level_colourfulness_difference_on_known_answers():
    """DDColor's ΔCF: outputs identical to the originals give 0; gray outputs give minus the originals' mean CF;
    and it is signed where the per-photo gap is not (one photo too vivid, one too pale: ΔCF 0, gap > 0)."""
    rng = np.random.default_rng(0)
    photos = tf.constant(rng.uniform(0, 1, (4, 16, 16, 3)), tf.float32)
    same = metrics.summarise(_scored(photos, photos))
    assert same["colorfulness_delta"] == pytest.approx(0.0, abs=1e-4)
    assert same["colorfulness_gap"] == pytest.approx(0.0, abs=1e-4)
    gray = tf.repeat(tf.reduce_mean(photos, axis=-1, keepdims=True), 3, axis=-1)
    gray_figures = metrics.summarise(_scored(gray, photos))
    originals = float(np.mean(metrics.colorfulness(photos)))
    assert originals > 10 and gray_figures["colorfulness_delta"] == pytest.approx(-originals, rel=1e-4)
    vivid, pale = photos[:1], 0.5 + 0.5 * (photos[:1] - 0.5)
    both = metrics.summarise(_scored(tf.concat([vivid, pale], 0), tf.concat([pale, vivid], 0)))
    assert both["colorfulness_delta"] == pytest.approx(0.0, abs=1e-4) and both["colorfulness_gap"] > 5


def _scored(pred, true) -> dict:
    acc = metrics.QualityAccumulator()
    acc.update(metrics.image_scores(pred, true))
    return acc.per_image()


def test_sample_grid_images_are_spread_over_every_class():
    from colorgan.evaluation.evaluate import spread_pick

    names = [f"{c}/{i:03d}.jpg" for c in ("street", "forest", "glacier") for i in range(5)] + ["top.jpg"]
    pick = spread_pick(names, 7)
    assert [names[i] for i in pick] == ["top.jpg", "forest/000.jpg", "glacier/000.jpg", "street/000.jpg",
                                        "forest/001.jpg", "glacier/001.jpg", "street/001.jpg"]
    assert len(spread_pick(names[:2], 10)) == 2  # fewer images than rows: all of them, once


def _colour_field(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth, saturated random colour images [n, size, size, 3]."""
    rng = np.random.default_rng(seed)
    small = tf.constant(rng.random((n, 4, 4, 3)), tf.float32)
    return np.asarray(tf.image.resize(small, [size, size], method="bilinear"), np.float32)


@pytest.mark.parametrize("size, width", [(32, 1), (64, 1), (128, 2), (256, 4)])
def test_border_ring_width_follows_the_image_size(size, width):
    assert metrics.border_width(size) == width
    img = np.zeros((1, size, size, 3), np.float32) + 0.5
    img[:, :width, :, 0] = 1.0  # a red top strip exactly one ring wide: all its colour is in the ring
    ring, inner = (float(v[0]) for v in metrics.border_chroma(img))
    assert ring > 10.0 and inner == pytest.approx(0.0, abs=0.05)


def test_a_grey_frame_gives_a_ratio_well_below_one_and_a_uniform_colour_exactly_one():
    orig = _colour_field(4, 64, seed=5)
    framed = orig.copy()
    grey = orig.mean(-1, keepdims=True)
    framed[:, :1], framed[:, -1:], framed[:, :, :1], framed[:, :, -1:] = (
        grey[:, :1], grey[:, -1:], grey[:, :, :1], grey[:, :, -1:])  # a 1-px grey frame (the ring at 64 px)
    acc = metrics.QualityAccumulator()
    acc.update(metrics.image_scores(framed, orig))
    out = acc.result()
    assert out["border_ratio"] < 0.3  # the frame holds almost no colour
    assert 0.7 < out["border_ratio_orig"] < 1.3  # the originals have none
    uniform = np.zeros((2, 32, 32, 3), np.float32) + np.array([0.8, 0.3, 0.1], np.float32)
    acc = metrics.QualityAccumulator()
    acc.update(metrics.image_scores(uniform, uniform))
    assert acc.result()["border_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert acc.result()["border_ratio_orig"] == pytest.approx(1.0, abs=1e-6)


def test_the_originals_ratio_is_computed_the_same_way_and_pooled():
    a, b = _colour_field(3, 32, seed=6), _colour_field(3, 32, seed=7)
    acc = metrics.QualityAccumulator()
    acc.update(metrics.image_scores(a, b))
    swapped = metrics.QualityAccumulator()
    swapped.update(metrics.image_scores(b, a))
    assert acc.result()["border_ratio"] == pytest.approx(swapped.result()["border_ratio_orig"], rel=1e-6)
    per = acc.per_image()  # pooled: a ratio of means, not a mean of per-image ratios
    assert acc.result()["border_ratio"] == pytest.approx(per["chroma_ring"].mean() / per["chroma_inner"].mean(),
                                                         rel=1e-5)


def test_logged_keys_read_with_their_declared_label_and_unit():
    assert metrics.heading_of("eval/psnr") == "eval PSNR pooled (dB)"
    assert metrics.heading_of("test/colorfulness_gap") == "test colourfulness gap to original"
    assert metrics.heading_of("ssim") == "SSIM"
    assert metrics.heading_of("eval/g_total") == "eval/g_total"  # a loss, not a declared figure: kept as logged
    assert metrics.declared("eval/psnr").better == "higher" and metrics.declared("images_per_sec") is None


def test_study_summary_names_its_objective_with_label_and_unit():
    import optuna

    from colorgan.studies import spec, summaries

    study = optuna.create_study(direction="maximize")
    dist = {"lr_g": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}
    for lr, value in ((1e-4, 0.5), (1e-3, 1.25)):
        study.add_trial(optuna.trial.create_trial(params={"lr_g": lr}, distributions=dist, value=value))
    study_spec = spec.load_spec(spec.resolve_path("smoke"))  # one objective: eval/psnr_gain
    table = summaries.table(study, study_spec)
    label = "eval PSNR gain over the gray image (dB)"
    assert list(table[label]) == [0.5, 1.25]
    assert summaries.best_text(study, study_spec).startswith("best trial 1: eval PSNR gain over the gray image 1.25 dB")


def test_a_paired_difference_finds_a_known_shift_and_no_shift():
    rng = np.random.default_rng(0)
    b = rng.normal(25.0, 3.0, 400)  # per-image PSNR of model B: a wide spread across images ...
    shifted = b + 0.5 + rng.normal(0.0, 0.2, 400)  # ... model A is 0.5 dB better on every image, give or take
    result = metrics.paired_difference(shifted, b, "psnr", "higher")
    assert result.verdict == "better" and result.low < 0.5 < result.high and result.half_width < 0.05
    assert metrics.paired_difference(b, shifted, "psnr", "higher").verdict == "worse"
    # an unpaired reading of the same numbers could not tell: the spread across images dwarfs the shift
    noise = b + rng.normal(0.0, 0.2, 400)
    assert metrics.paired_difference(noise, b, "psnr", "higher").verdict == "within noise"
    # for a lower-is-better score, a smaller value is the better one
    assert metrics.paired_difference(b - 1.0, b, "colorfulness_gap", "lower").verdict == "better"
    mean, half = metrics.mean_ci(shifted - b)
    assert (result.mean, result.half_width) == pytest.approx((mean, half))
    with pytest.raises(ValueError, match="aligned"):
        metrics.paired_difference(b[:3], b[:4], "psnr", "higher")


@pytest.mark.slow  # about 10 s of t-quantile searches
def test_a_within_noise_comparison_says_what_it_would_need():
    """Known answers: MDE = (t.975 + t.80) * sd / sqrt(n), and the fewest images whose interval around the observed
    mean excludes 0 (found by counting up from 2)."""
    from scipy import stats

    assert metrics.detectable(2.0, 100) == pytest.approx((stats.t.ppf(0.975, 99) + stats.t.ppf(0.8, 99)) * 0.2)
    # at the MDE a two-sided 5% t-test has 80% power (noncentral t; the sum of quantiles is its usual approximation)
    nc = metrics.detectable(1.0, 30) * np.sqrt(30)
    power = stats.nct.sf(stats.t.ppf(0.975, 29), 29, nc) + stats.nct.cdf(-stats.t.ppf(0.975, 29), 29, nc)
    assert power == pytest.approx(0.80, abs=0.01)

    def half(sd, n):
        return stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)

    for sd, effect in ((1.0, 1.0), (1.0, -0.3), (3.0, 0.02), (0.5, 2.0)):
        n = metrics.needed(sd, effect)
        assert n == next(k for k in range(2, 10**6) if half(sd, k) <= abs(effect))
    assert metrics.needed(1.0, 1.0) == 7  # t(.975, 6) / sqrt(7) = 0.925; t(.975, 5) / sqrt(6) = 1.05
    assert metrics.needed(1.0, 0.0) is None

    rng = np.random.default_rng(1)
    b = rng.normal(25.0, 3.0, 300)
    a = b + rng.normal(0.02, 0.5, 300)
    result = metrics.paired_difference(a, b, "psnr", "higher")
    assert result.verdict == "within noise"
    assert result.sd == pytest.approx(np.std(a - b, ddof=1))  # recovered from the half-width
    assert result.detectable == pytest.approx(metrics.detectable(result.sd, 300))
    assert result.needed == metrics.needed(result.sd, result.mean) and result.needed > 300


def _ab(values, size=8):
    """A [1, size, size, 2] a*b* image with one a*b* per row from ``values`` (cycled)."""
    rows = [values[i % len(values)] for i in range(size)]
    return tf.constant(np.array([[[v] * size for v in rows]], np.float32))


def test_color_auc_is_one_for_identical_colours_and_falls_linearly_with_a_constant_error():
    truth = _ab([(0.0, 0.0), (40.0, -30.0), (-60.0, 70.0)])
    raw, rebal = metrics.color_auc(truth, truth)
    assert float(raw[0]) == pytest.approx(1.0) and float(rebal[0]) == pytest.approx(1.0)
    raw, rebal = metrics.color_auc(truth + tf.constant([3.0, 4.0]), truth)  # |(3, 4)| = 5 a*b* units everywhere
    assert float(raw[0]) == pytest.approx(1 - 5 / metrics.AUC_MAX_ERROR, abs=1e-6)
    assert float(rebal[0]) == pytest.approx(1 - 5 / metrics.AUC_MAX_ERROR, abs=1e-6)
    raw, _ = metrics.color_auc(truth + tf.constant([200.0, 0.0]), truth)  # beyond every threshold
    assert float(raw[0]) == pytest.approx(0.0)


def test_rebalanced_color_auc_weighs_each_true_colour_cell_equally():
    # 7 of 8 rows neutral (predicted exactly), 1 row saturated red predicted gray: 75 units of error there.
    truth = _ab([(0.0, 0.0)] * 7 + [(60.0, 45.0)])
    pred = tf.zeros_like(truth)
    raw, rebal = metrics.color_auc(pred, truth)
    miss = 1 - 75 / metrics.AUC_MAX_ERROR
    assert float(raw[0]) == pytest.approx((7 + miss) / 8, abs=1e-6)  # pixels count: the dull majority wins
    assert float(rebal[0]) == pytest.approx((1 + miss) / 2, abs=1e-6)  # cells count: the red cell is half


def test_color_auc_is_per_image_in_a_batch():
    truth = tf.concat([_ab([(0.0, 0.0)]), _ab([(30.0, 40.0)])], axis=0)
    raw, rebal = metrics.color_auc(tf.zeros_like(truth), truth)
    np.testing.assert_allclose(raw.numpy(), [1.0, 1 - 50 / metrics.AUC_MAX_ERROR], atol=1e-6)
    np.testing.assert_allclose(rebal.numpy(), raw.numpy(), atol=1e-6)
