"""The Pareto front and the study file's [recommend] rule on synthetic studies (pure: no training)."""

from __future__ import annotations

import math

import pytest

from colorgan import studies
from colorgan.studies import pareto
from colorgan.training import curves

OBJECTIVES = ["eval/psnr_gain", "eval/color_auc_rebal"]
BOTH_MAX = ["maximize", "maximize"]
RULE = pareto.Rule("eval/psnr_gain", "eval/color_auc_rebal", 0.005)
# trial: (PSNR gain, colour AuC). 0 the smallest rates (no change from the warm start: high PSNR, no colour), 1-3 a
# trade-off, 4 dominated by 2, 5 dominated by everything on the front.
POINTS = {0: (1.50, 0.800), 1: (1.40, 0.808), 2: (1.20, 0.820), 3: (0.90, 0.830), 4: (1.10, 0.815), 5: (0.5, 0.79)}
WARM = (1.53, 0.801)


def test_the_front_is_the_undominated_points():
    assert pareto.front(POINTS, (1.0, 1.0)) == [0, 1, 2, 3]
    # minimising the second objective turns the front around
    assert pareto.front(POINTS, (1.0, -1.0)) == [0, 5]
    assert pareto.dominates((1.0, 1.0), (1.0, 0.5), (1.0, 1.0)) and not pareto.dominates((1, 1), (1, 1), (1.0, 1.0))


def test_the_rule_picks_the_best_psnr_among_front_trials_that_buy_colour_over_the_warm_start():
    # trial 0 has the best PSNR but no colour over the warm start (0.800 < 0.801 + 0.005): the rule passes it over
    assert pareto.pick(POINTS, OBJECTIVES, BOTH_MAX, RULE, WARM) == 1
    assert pareto.pick(POINTS, OBJECTIVES, BOTH_MAX, pareto.Rule(*OBJECTIVES, 0.02), WARM) == 3
    # nothing on the front beats the warm start by this much: no recommendation, rather than the least bad
    assert pareto.pick(POINTS, OBJECTIVES, BOTH_MAX, pareto.Rule(*OBJECTIVES, 0.05), WARM) is None
    # a lower-is-better requirement (colourfulness gap): at least 1 below the reference
    gap = {0: (1.5, 20.0), 1: (1.3, 18.5), 2: (1.0, 17.0)}
    rule = pareto.Rule("eval/psnr_gain", "eval/colorfulness_gap", 1.0)
    assert pareto.pick(gap, ["eval/psnr_gain", "eval/colorfulness_gap"], ["maximize", "minimize"], rule,
                       (1.5, 19.6)) == 1


def test_the_table_marks_the_front_the_pick_and_the_reference_points():
    pick = pareto.pick(POINTS, OBJECTIVES, BOTH_MAX, RULE, WARM)
    table = pareto.table(POINTS, {n: {"lr_g": 1e-4 * (n + 1)} for n in POINTS}, OBJECTIVES, BOTH_MAX,
                         {pareto.GRAY: (0.0, 0.78), pareto.WARM_START: WARM}, pick)
    assert list(table["point"][:2]) == ["gray", "warm start"] and table["trial"][:2].isna().all()
    assert list(table.loc[table["on_front"], "trial"]) == [0, 1, 2, 3]
    assert list(table.loc[table["recommended"], "trial"]) == [1]
    rule_text = RULE.text(dict(zip(OBJECTIVES, BOTH_MAX, strict=True)), "warm start")
    text = pareto.lines(table, OBJECTIVES, ["lr_g"], rule_text, pick, "warm start")
    assert text[0].startswith("Pareto front: 4 of 6 configurations; reference points gray: PSNR gain over the gray "
                              "image +0.00 dB")
    assert "  trial 3: PSNR gain over the gray image +0.90 dB, colour AuC, rebalanced 0.8300  (lr_g = 0.0004)" in text
    assert text[-1] == ("Recommended by the study file's rule (the Pareto trial with the highest PSNR gain over the "
                        "gray image among those whose colour AuC, rebalanced is at least 0.005 above the warm "
                        "start's): trial 1")


def _study(tmp_path, recommend: str) -> str:
    path = tmp_path / "two.toml"
    path.write_text('base = "smoke"\n[search.lr_g]\ntype = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n'
                    '[objective]\nmetrics = ["eval/psnr_gain", "eval/color_auc_rebal"]\n'
                    'directions = ["maximize", "maximize"]\n' + recommend)
    return path


@pytest.mark.parametrize("recommend, message", [
    ("", r"two objectives need a \[recommend\] rule"),
    ('[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/psnr"\nmargin = 0.01\n',
     "recommend.require: 'eval/psnr' is not one of the objectives"),
    ('[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/color_auc_rebal"\n', "recommend.margin: missing"),
    ('[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/color_auc_rebal"\nmargin = -1\n',
     "recommend.margin: must be at least 0"),
    ('[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/psnr_gain"\nmargin = 0\n', "two different objectives"),
])
def test_a_bad_recommend_rule_is_refused_up_front(tmp_path, recommend, message):
    with pytest.raises(studies.StudyError, match=message):
        studies.load_spec(_study(tmp_path, recommend))


def test_every_gan_phase_study_answers_with_two_objectives_and_a_rule():
    for name in ("lr_sweep", "beta1_sweep", "smoothing_sweep", "power_iter_sweep", "lambda_sweep", "batch_sweep"):
        spec = studies.load_spec(studies.resolve_path(name))
        assert spec.metrics == ("eval/psnr_gain", "eval/color_auc_rebal") and spec.recommend["best"] == spec.metrics[0]
        assert spec.pretrain_config() is not None and spec.base_config().full_eval == "last_epoch"
    pretrains = {studies.load_spec(studies.resolve_path(n)).pretrain_config() for n in ("lr_sweep", "beta1_sweep")}
    assert len(pretrains) == 1  # the same warm start: trained once per store, shared


@pytest.mark.parametrize("steps, points, expected", [
    (24, 4, (6, 12, 18, 24)), (3, 4, (1, 2, 3)), (10, 4, (2, 5, 8, 10)), (5, 0, ())])
def test_curve_points_are_spread_over_the_epoch_and_end_with_it(steps, points, expected):
    assert curves.boundaries(steps, points) == expected
    assert not expected or expected[-1] == steps and all(not math.isnan(b) for b in expected)
