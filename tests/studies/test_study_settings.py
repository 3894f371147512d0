"""What a study file's tables may hold (colorgan.studies.settings): each setting's kind and least value checked so
a wrong one is a StudyError naming it, every setting one Optuna's sampler or pruner really takes (a name Optuna
does not know would be a TypeError after the study's parent run exists), and the [recommend] rule a two-objective
study must state. Pure: no study runs."""

from __future__ import annotations

import inspect
import math

import optuna
import pytest

from colorgan.studies import settings
from colorgan.studies.settings import StudyError

SAMPLER_CLASSES = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
                   "grid": optuna.samplers.GridSampler, "nsga2": optuna.samplers.NSGAIISampler}
PRUNER_CLASSES = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner,
                  "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
                  "threshold": optuna.pruners.ThresholdPruner}
ALLOWED = {"n": ("int", 1), "x": ("number", 0), "size": ("int|auto", 1), "on": "bool", "name": "str", "keys": "list"}


def test_settings_of_their_kinds_pass():
    settings.options("t", {"n": 1, "x": 0.5, "size": "auto", "on": False, "name": "a", "keys": []}, ALLOWED)
    settings.options("t", {"n": 7, "x": 0, "size": 3}, ALLOWED)
    settings.options("t", {}, ALLOWED)


@pytest.mark.parametrize("table, message", [
    ({"m": 1}, r"t: unknown setting\(s\) m; allowed: n, x, size, on, name, keys"),
    ({"n": True}, "t.n: must be a whole number, got True"),  # a bool is no number here, though Python says it is
    ({"n": 1.0}, "t.n: must be a whole number, got 1.0"),
    ({"n": 0}, "t.n: must be at least 1, got 0"),
    ({"x": math.inf}, "t.x: must be a finite number, got inf"),
    ({"x": "1"}, "t.x: must be a finite number, got '1'"),
    ({"x": -0.5}, "t.x: must be at least 0, got -0.5"),
    ({"size": "big"}, "t.size: must be a whole number or \"auto\", got 'big'"),
    ({"size": 0}, "t.size: must be at least 1, got 0"),
    ({"on": 1}, "t.on: must be true or false, got 1"),
    ({"name": 3}, "t.name: must be a string, got 3"),
    ({"keys": "a"}, "t.keys: must be a list, got 'a'"),
])
def test_a_wrong_setting_is_a_study_error_naming_it(table, message):
    with pytest.raises(StudyError, match=message):
        settings.options("t", table, ALLOWED)


def test_every_sampler_and_pruner_setting_is_a_keyword_optuna_takes():
    assert set(settings.SAMPLER_OPTIONS) == set(settings.SAMPLERS) == set(SAMPLER_CLASSES)
    assert set(settings.PRUNER_OPTIONS) == set(settings.PRUNERS) == {*PRUNER_CLASSES, "none"}
    for options, classes in ((settings.SAMPLER_OPTIONS, SAMPLER_CLASSES), (settings.PRUNER_OPTIONS, PRUNER_CLASSES)):
        for name, cls in classes.items():
            taken = set(inspect.signature(cls).parameters)
            assert set(options[name]) <= taken, f"{name}: {sorted(set(options[name]) - taken)} not taken by {cls}"


RULE = {"best": "eval/psnr_gain", "require": "eval/color_auc_rebal", "margin": 0.0}
TWO = ("eval/psnr_gain", "eval/color_auc_rebal")


@pytest.mark.parametrize("recommend, objectives, message", [
    ({}, TWO, "two objectives need a"),
    (RULE, ("eval/psnr_gain",), "this study has 1"),
    ({k: v for k, v in RULE.items() if k != "margin"}, TWO, "recommend.margin: missing"),
    ({**RULE, "margin": -1.0}, TWO, "recommend.margin: must be at least 0"),
    ({**RULE, "best": "eval/psnr"}, TWO, "recommend.best: 'eval/psnr' is not one of the objectives"),
    ({**RULE, "require": "eval/psnr_gain"}, TWO, "best and require must be the two different objectives"),
    ({**RULE, "pick": "first"}, TWO, r"recommend: unknown setting\(s\) pick"),
])
def test_a_two_objective_study_needs_a_whole_recommend_rule(recommend, objectives, message):
    with pytest.raises(StudyError, match=message):
        settings.check_recommend(recommend, objectives)


def test_a_whole_rule_or_one_objective_without_a_rule_passes():
    settings.check_recommend(RULE, TWO)
    settings.check_recommend({**RULE, "best": TWO[1], "require": TWO[0], "margin": 0.02}, TWO)
    settings.check_recommend({}, ("eval/psnr_gain",))
