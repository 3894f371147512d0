"""`make reproduce` and the claims table: the verdict rules on known answers, then a tiny claims file trained
for real (each run once, a second call trains nothing) and checked by the report."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import write_colour_images
from scipy import stats

from colorgan import tracking
from colorgan.base import config
from colorgan.tracking.tags import REPRODUCE_KEY_TAG, ROLE_TAG
from colorgan.training import once, reproduce
from reports import __main__ as reports_cli
from reports import build, claims, source, spec

ROOT = Path(__file__).resolve().parents[2]

TINY = """experiment = "claims-smoke"
seeds = [1, 2]

[set]
image_size = 32
batch_size = 8
max_train_images = 24
max_eval_images = 12
checkpoint = false
sample_images = 4

[pretrain]
experiment = "smoke"
set = { adversarial = false, epochs = 1 }

[runs.gan]
experiment = "smoke"
warm = true
set = { epochs = 5 }

[runs.no_sn]
experiment = "smoke"
warm = true
set = { epochs = 5, power_iterations = 0 }

[runs.rgb]
experiment = "smoke"
warm = false
seeds = [3, 4]
set = { epochs = 2, color_space = "rgb" }

[[claims]]
id = "1"
text = "RGB over-fits more"
figure = "overfit"
parts = [{ score = "overfit_gap", a = "rgb", b = "gan", expect = "higher" }]

[[claims]]
id = "2"
text = "spectral normalization steadies D"
figure = "d_loss"
parts = [{ score = "d_loss_step_variation", a = "no_sn", b = "gan", expect = "higher" }]

[[claims]]
id = "3"
text = "spectral normalization changes little but costs time"
figure = "effects"
rule = "any"
parts = [{ score = "psnr", a = "gan", b = "no_sn", expect = "same", margin = 0.5 },
         { score = "colorfulness_gap", a = "gan", b = "no_sn", expect = "lower" },
         { score = "images_per_sec", a = "gan", b = "no_sn", expect = "lower" }]
"""

# one plain (L1-only) run of one epoch: what "found again by its key" needs, and no more
ONE = """experiment = "once-smoke"

[set]
image_size = 32
batch_size = 8
max_train_images = 16
max_eval_images = 8
checkpoint = false
sample_images = 4
curve_points = 0

[runs.l1]
experiment = "smoke"
set = { epochs = 1, adversarial = false }
"""


def test_part_outcomes_follow_the_interval():
    assert claims.holds("higher", 0.1, 0.5) == "holds"
    assert claims.holds("higher", -0.5, -0.1) == "against"
    assert claims.holds("lower", -0.5, -0.1) == "holds"
    assert claims.holds("lower", -0.1, 0.5) == "within noise"
    assert claims.holds("same", -0.05, 0.08, margin=0.1) == "holds"  # the whole interval within the margin
    assert claims.holds("same", 0.01, 0.06, margin=0.1) == "holds"  # different from 0, yet the same in practice
    assert claims.holds("same", -0.1, 0.5, margin=0.1) == "within noise"
    assert claims.holds("same", 0.2, 0.5, margin=0.1) == "against"


def test_claim_verdicts_follow_their_rule():
    assert claims.verdict("all", ["holds", "holds"]) == "supported"
    assert claims.verdict("all", ["holds", "within noise"]) == "inconclusive at this budget"
    assert claims.verdict("all", ["holds", "against"]) == "contradicted"
    assert claims.verdict("any", ["holds", "within noise"]) == "supported"
    assert claims.verdict("any", ["against", "within noise"]) == "contradicted"
    assert claims.verdict("any", ["holds", "against"]) == "inconclusive at this budget (a trade-off)"
    assert claims.verdict("any", ["within noise", "within noise"]) == "inconclusive at this budget"


def test_intervals_find_a_known_shift_and_miss_none():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.2, 40), rng.normal(0.0, 0.5, 30)
    mean, low, high = claims.welch_interval(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ref.low, ref.high))
    assert low < 1.0 < high and low > 0
    mean, low, high = claims.t_interval(rng.normal(0.0, 1.0, 200))
    assert low < 0 < high


def _exact(n: int, mean: float, sd: float) -> np.ndarray:
    """n values with exactly this mean and sample SD."""
    z = np.arange(n, dtype=np.float64)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_what_an_inconclusive_part_would_need_has_known_answers():
    assert claims.detectable(0.1, 20) == pytest.approx((stats.t.ppf(0.975, 20) + stats.t.ppf(0.8, 20)) * 0.1)
    # paired: at the images needed the observed mean's interval excludes 0, one image fewer it does not
    n = claims.needed(1.0, 0.3)
    assert claims.t_interval(_exact(n, 0.3, 1.0))[1] > 0 >= claims.t_interval(_exact(n - 1, 0.3, 1.0))[1]
    # Welch, n seeds in each configuration, from the two measured SDs
    sa, sb, d = 0.05, 0.12, 0.1
    n = claims.needed(np.hypot(sa, sb), d, (sa**2 + sb**2) ** 2 / (sa**4 + sb**4))

    def welch_low(k):
        return claims.welch_interval(_exact(k, d, sa), _exact(k, 0.0, sb))[1]

    assert n > 3 and welch_low(n) > 0 >= welch_low(n - 1)

    # "the same within 0.5", observed 0.2: the interval fits within +-0.5 at n, not at n - 1
    def fits(k):
        _, low, high = claims.t_interval(_exact(k, 0.2, 1.0))
        return low >= -0.5 and high <= 0.5

    n = claims.needed(1.0, 0.5 - 0.2)
    assert fits(n) and not fits(n - 1)
    assert claims.needed(1.0, 0.5 - 0.6) is None and claims.needed(1.0, 0.0) is None  # no n would do


def test_an_inconclusive_claim_says_what_it_would_need(declared):
    import pandas as pd

    from reports.source import Entry

    rng = np.random.default_rng(3)
    files = pd.Index([f"f{i}.png" for i in range(60)], name="file")
    base = rng.normal(25.0, 3.0, 60)
    tables = {"a": pd.DataFrame({"psnr": base + rng.normal(0.02, 0.5, 60)}, index=files),
              "b": pd.DataFrame({"psnr": base}, index=files)}
    found = {c: [Entry(f"{c}-s{s}", f"{c}{s}", "model") for s in (1, 2, 3)] for c in "ab"}
    colourful = {"a": [20.0, 22.0, 21.5], "b": [19.5, 21.0, 20.5]}
    hist = pd.DataFrame([(f"{c}-s{s + 1}", "eval/colorfulness", 1, v) for c, vs in colourful.items()
                         for s, v in enumerate(vs)], columns=["run", "metric", "step", "value"])
    claim = {"id": "9", "text": "a is better", "figure": "effects",
             "parts": [{"score": "psnr", "a": "a", "b": "b", "expect": "higher"},
                       {"score": "colorfulness", "a": "a", "b": "b", "expect": "higher"}]}
    psnr, colour = (claims.measure(claim, part, found, hist, tables) for part in claim["parts"])
    assert psnr.holds == colour.holds == "within noise"
    diff = (tables["a"]["psnr"] - tables["b"]["psnr"]).to_numpy()
    sd = np.std(diff, ddof=1)
    assert psnr.detectable == pytest.approx((stats.t.ppf(0.975, 59) + stats.t.ppf(0.8, 59)) * sd / np.sqrt(60))
    assert psnr.needed == claims.needed(sd, abs(diff.mean())) and psnr.per == "images"
    va, vb = np.var(colourful["a"], ddof=1), np.var(colourful["b"], ddof=1)
    assert colour.needed == claims.needed(np.sqrt(va + vb), abs(colour.mean), (va + vb) ** 2 / (va**2 + vb**2))
    shown = claims.scores(declared)  # paired scores as colorgan declared their means over images
    row, line = claims.judged(claim, [psnr, colour], shown)
    assert row["verdict"] == "inconclusive at this budget"
    assert row["smallest detectable effect"] == (f"PSNR mean ±{psnr.detectable:.2f} dB; colourfulness "
                                                 f"(eval split, last epoch) ±{colour.detectable:.1f}")
    assert f"about {psnr.needed:,} images would resolve the observed effect ({psnr.mean:+.2f})" in row[
        "would resolve it"]
    assert f"about {colour.needed:,} seeds per configuration would resolve" in row["would resolve it"]
    assert (f"Inconclusive at this budget, PSNR mean: the smallest effect it can detect is "
            f"±{psnr.detectable:.2f} dB; about {psnr.needed:,} images would resolve the observed effect") in line
    # "the same within 0.1 dB" ([-0.15, +0.14] measured): how many images would fit the interval in the margin
    same = {**claim, "parts": [{"score": "psnr", "a": "a", "b": "b", "expect": "same", "margin": 0.1}]}
    row, line = claims.judged(same, [claims.measure(same, same["parts"][0], found, hist, tables)], shown)
    assert row["verdict"] == "inconclusive at this budget"
    needed = claims.needed(sd, 0.1 - abs(diff.mean()))
    assert 60 < needed < 200 and f"about {needed:,} images would fit its interval within ±0.1 (-0.01)" in line
    # a clear claim needs nothing more
    clear = {**claim, "parts": [{"score": "psnr", "a": "a", "b": "b", "expect": "same", "margin": 1.0}]}
    row, line = claims.judged(clear, [claims.measure(clear, clear["parts"][0], found, hist, tables)], shown)
    assert row["verdict"] == "supported" and row["would resolve it"] == "" and "Inconclusive" not in line


def test_run_scores_read_the_histories_as_documented():
    import pandas as pd

    from reports.source import Entry

    d_loss = [0.9, 0.8, 0.75, 0.70, 0.72, 0.69]  # epochs 1-6: a steep start, then small moves
    rows = [("r", "train/d_loss", i + 1, v) for i, v in enumerate(d_loss)]
    rows += [("r", "train/g_recon", 1, 0.5), ("r", "train/g_recon", 2, 0.4),
             ("r", "eval/g_recon", 1, 0.45), ("r", "eval/g_recon", 2, 0.5)]
    hist = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    entry = [Entry("r", "id", "model")]
    expected = np.std(np.diff(d_loss[2:]), ddof=1)  # from epoch 3: the first descent is not "variation"
    assert claims.run_values(hist, entry, "d_loss_variation") == pytest.approx([expected])
    assert claims.run_values(hist, entry, "overfit_gap") == pytest.approx([0.5 / 0.4 - 1])
    # per curve point: the training D loss's points after the GAN phase's epoch 2 only (x = curve/epoch)
    x = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    d_points = [0.9, 0.7, 0.6, 0.55, 0.50, 0.58, 0.52, 0.57]
    curve = [("r", "curve/epoch", 10 * (i + 1), v) for i, v in enumerate(x)]
    curve += [("r", "curve/train/d_loss", 10 * (i + 1), v) for i, v in enumerate(d_points)]
    hist = pd.concat([hist, pd.DataFrame(curve, columns=hist.columns)])
    expected = np.std(np.diff(d_points[4:]), ddof=1)  # points at 2.5, 3, 3.5, 4: changes -0.05, +0.08, -0.06, +0.05
    assert claims.run_values(hist, entry, "d_loss_step_variation") == pytest.approx([expected])
    # after 3 epochs of in-run pre-training (curve points without a D loss), the GAN phase's epoch 2 is x = 5
    pre = [("p", "curve/epoch", 10 * (i + 1), 0.5 * (i + 1)) for i in range(6)]
    pre += [(row[0].replace("r", "p"), row[1], row[2] + 60, row[3] + 3.0 if row[1] == "curve/epoch" else row[3])
            for row in curve]
    hist = pd.concat([hist, pd.DataFrame(pre, columns=hist.columns)])
    assert claims.run_values(hist, [Entry("p", "id2", "model")], "d_loss_step_variation") == pytest.approx([expected])
    short = hist[~((hist["metric"].str.startswith("curve/")) & (hist["step"] > 60))]  # 2 points after epoch 2
    with pytest.raises(claims.Missing, match="logged 2 D-loss curve points after its GAN phase's epoch 2"):
        claims.run_values(short, entry, "d_loss_step_variation")


@pytest.mark.parametrize("text, problem", [
    ('experiment = "x"\nbudget = 3\n', "unknown key.*budget"),
    ('[runs.a]\nexperiment = "smoke"\nwarm = true\n', "runs.a is warm but the file has no \\[pretrain\\]"),
    ('[runs.a]\nexperiment = "smoke"\nset = { epoks = 2 }\n', "runs.a.*epoks"),
])
def test_claims_file_errors_name_the_key(tmp_path, text, problem):
    bad = tmp_path / "claims.toml"
    bad.write_text(text)
    with pytest.raises(config.ConfigError, match=problem):
        reproduce.plan(bad)


def test_a_same_part_without_a_margin_is_refused(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('[[claims]]\nid = "5"\ntext = "t"\nfigure = "effects"\n'
                    'parts = [{ score = "psnr", a = "x", b = "y", expect = "same" }]\n')
    with pytest.raises(ValueError, match="needs a margin"):
        claims.load(path)


@pytest.mark.parametrize("stem", ["claims", "precision_claims", "spectral_claims", "critic_claims"])
def test_shipped_claims_files_plan_every_claim_run(stem):
    path = ROOT / "reports" / f"{stem}.toml"
    pretrain, planned = reproduce.plan(path)
    raw = claims.load(path)
    names = {p.name for p in planned}
    for claim in raw["claims"]:
        for part in claim["parts"]:
            for side in (part["a"], part["b"]):
                assert f"{side}-s1" in names
    report = spec.load(reproduce.report_name(path))  # the report the CLI names after training
    assert report.claims == stem and set(report.runs) <= names
    seeds = [p.cfg.seed for p in planned]
    assert seeds == sorted(seeds)  # seed by seed: a slower machine late in the plan hits every configuration
    if stem == "claims":
        assert pretrain is not None and pretrain.adversarial is False
    elif stem == "critic_claims":  # the game's claims: a warm start that pre-trains lab_advanced's critic
        assert pretrain is not None and pretrain.adversarial and pretrain.critic_pretrain_steps and not pretrain.epochs
        warm = [p for p in planned if p.warm]
        assert warm and all(p.cfg.critic_norm == pretrain.critic_norm and p.cfg.critic_patch == pretrain.critic_patch
                            and p.cfg.power_iterations == pretrain.power_iterations for p in warm if p.cfg.adversarial)
    elif stem == "spectral_claims":  # claim 2 alone: its runs and warm start are make reproduce's, found either way
        _, full = reproduce.plan(ROOT / "reports" / "claims.toml")
        assert pretrain is None and not any(p.cfg.init_from for p in planned)  # each pre-trains its own generator
        assert {(p.cfg.image_size, p.cfg.batch_size) for p in planned} == {(32, 32)}
        configs = {p.name: p.cfg.to_dict() for p in full}  # the same config, so the same key on the same data
        assert all(configs.get(p.name) == p.cfg.to_dict() for p in planned if p.name in configs)
        assert {p.name.rsplit("-s", 1)[0] for p in planned} == {"lab_tuned", "lab_spectral"}
    else:  # fp32 against bf16, the same recipe otherwise
        assert {p.cfg.precision for p in planned} == {"fp32", "bf16"} and pretrain is None
        fp32, bf16 = ({k: v for k, v in p.cfg.to_dict().items() if k not in ("precision", "run_name")}
                      for p in planned[:2])
        assert fp32 == bf16


@pytest.mark.slow
def test_reproduce_trains_once_and_the_report_checks_every_claim(env, tmp_path, colour_folder, capsys):
    path = tmp_path / "claims.toml"
    path.write_text(TINY)
    done = reproduce.train_claims(path, root=env)
    assert set(done) == {"pretrain", "gan-s1", "gan-s2", "no_sn-s1", "no_sn-s2", "rgb-s3", "rgb-s4"}
    again = reproduce.train_claims(path, root=env)
    assert again == done  # found again by their configs: nothing retrained
    assert capsys.readouterr().out.count("already trained") == 6

    (tmp_path / "graphs.toml").write_text('title = "t"\nexperiment = "claims-smoke"\nruns = ["gan-s1"]\n'
                                          'baselines = ["gray"]\nfigures = ["losses"]\nclaims = "claims"\n')
    for command in build.plan(spec.load("graphs", tmp_path), source.Source(env)):
        subprocess.run(command, shell=True, check=True, cwd=ROOT, capture_output=True)
    out = tmp_path / "out"
    report = reports_cli.generate("graphs", env, out=out, log=False, spec_dir=tmp_path)
    table = report.says
    assert list(table["claim"]) == ["1", "2", "3"]
    assert set(table["verdict"]) <= {"supported", "contradicted", "inconclusive at this budget",
                                     "inconclusive at this budget (a trade-off)"}
    assert {"smallest detectable effect", "would resolve it"} <= set(table.columns)
    effects = table["effect (a - b), 95% CI"]
    assert re.search(r"paired over \d+ eval images, each the mean of 2 and 2 seeds", effects.iloc[2])
    assert "2 + 2 seeds" in effects.iloc[0] and "10 + 10 epochs" in effects.iloc[2]
    for name in ("claim_overfit", "claim_d_loss", "claim_effects"):
        assert (out / "figures" / f"{name}.svg").is_file()
    # the overfit figure plots eval / train L1 - 1 from the store's histories
    plotted = report.plotted["claim_overfit"]
    assert set(plotted["config"]) == {"rgb", "gan"} and len(plotted) == 2 * 2 + 2 * 5
    # the D loss figure: a point after every step (3 per epoch, 5 epochs) of each of 2 seeds of both configurations
    plotted = report.plotted["claim_d_loss"]
    assert set(plotted["config"]) == {"no_sn", "gan"} and len(plotted) == 2 * 2 * 5 * 3
    assert plotted["x"].max() == pytest.approx(5.0)
    md = (out / "report.md").read_text()
    assert "The original report's claims, checked" in md and "Claim 2, \"spectral normalization" in md


def _legacy_run(root: Path, cfg: config.Config, data: dict[str, str]) -> str:
    """A FINISHED run as `make reproduce` tagged them before the data joined the key: its config's hash alone."""
    client = tracking.store.connect(root)
    old_key = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    run = client.create_run(tracking.experiment_id(cfg.experiment, root),
                            tags={ROLE_TAG: "claim", REPRODUCE_KEY_TAG: old_key})
    for name, value in data.items():
        client.log_param(run.info.run_id, name, value)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def test_a_run_keyed_by_its_config_alone_is_found_again_on_its_own_data_only(env, tmp_path, colour_folder):
    cfg = config.load(ROOT / "experiments" / "smoke.toml", ["experiment=once-smoke"])
    data = once.data_of(cfg, env)
    assert data["data_dir"] == str(colour_folder.resolve())
    write_colour_images(tmp_path / "other", 50, seed=1)
    other = once.data_of(config.build({**cfg.to_dict(), "data_dir": str(tmp_path / "other")}), env)
    assert other["fingerprint"] != data["fingerprint"] and once.key(cfg, other) != once.key(cfg, data)
    assert once.find(cfg, env, {ROLE_TAG: "claim"}, REPRODUCE_KEY_TAG) is None
    mine = _legacy_run(env, cfg, data)
    _legacy_run(env, cfg, other)  # newer, the same config on other data: passed over
    assert once.find(cfg, env, {ROLE_TAG: "claim"}, REPRODUCE_KEY_TAG) == mine
    assert once.find(cfg, env, {ROLE_TAG: "pretrain"}, REPRODUCE_KEY_TAG) is None  # the other tags must match too


@pytest.mark.slow
def test_reproduce_trains_again_on_other_data_and_finds_each_run_on_its_own(env, tmp_path, colour_folder,
                                                                             monkeypatch, capsys):
    path = tmp_path / "claims.toml"
    path.write_text(ONE)
    first = reproduce.train_claims(path, root=env)["l1-s0"]
    other = tmp_path / "other"
    write_colour_images(other, 50, seed=1)
    monkeypatch.setenv("COLORGAN_DATA", str(other))
    second = reproduce.train_claims(path, root=env)["l1-s0"]
    assert second != first  # the same config on other data is not the run trained before
    monkeypatch.setenv("COLORGAN_DATA", str(colour_folder))
    assert reproduce.train_claims(path, root=env)["l1-s0"] == first  # the same config on the same data is
    monkeypatch.setenv("COLORGAN_DATA", str(other))
    assert reproduce.train_claims(path, root=env)["l1-s0"] == second
    out = capsys.readouterr().out
    assert out.count("l1-s0: training") == 2 and out.count("already trained") == 2
    params = {run: tracking.run_data(env, run).params for run in (first, second)}
    assert params[first]["data_dir"] == str(colour_folder.resolve())
    assert params[second]["data_dir"] == str(other.resolve())
