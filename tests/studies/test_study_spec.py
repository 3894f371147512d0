"""Study files (colorgan.studies.spec): a bad one is one StudyError naming the problem, reading one loads neither
Optuna nor TensorFlow, and every shipped study loads and says in its header comment which hyper-parameters are
scientific, nuisance and fixed. Pure: no study runs. What each table may hold is test_study_settings.py."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import spec_file, study_text

from colorgan import studies
from colorgan.base import config

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"


GOOD = '[search.lr_g]\ntype = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n'


@pytest.mark.parametrize("text, message", [
    ('base = "smoke"\n[search.lr_gg]\ntype = "float"\nlow = 1\nhigh = 2\n', "search.lr_gg: unknown config key"),
    ('[search.lr_g]\ntype = "float"\nlow = 1e-2\nhigh = 1e-4\n', r"low \(0.01\) must be below high"),
    ('[search.color_space]\ntype = "categorical"\nchoices = []\n', "non-empty list of choices"),
    ('[search.batch_size]\ntype = "categorical"\nchoices = [16, "big"]\n', "bad choice 'big'"),
    ('[search.batch_size]\ntype = "float"\nlow = 8\nhigh = 64\n', "float range for a int key"),
    ('[fixed]\nepocs = 2\n' + GOOD, "unknown config key"),
    ('base = "nope"\n' + GOOD, "base experiment 'nope' not found"),
    ('[sampler]\nname = "cmaes"\n' + GOOD, "sampler: 'cmaes'"),
    ('[budget]\ntrials = 0\n' + GOOD, "budget.trials"),
    ('[search]\n', "declares no hyper-parameter"),
    ('[budget]\ntrials = "three"\n' + GOOD, "budget.trials: must be a whole number, got 'three'"),
    ('[budget]\ntrials = 2.5\n' + GOOD, "budget.trials: must be a whole number, got 2.5"),
    ('[budget]\ntimeout_minutes = "1h"\n' + GOOD, "budget.timeout_minutes: must be a finite number, got '1h'"),
    ('[budget]\ntimeout_minutes = nan\n' + GOOD, "budget.timeout_minutes: must be a finite number, got nan"),
    ('[budget]\nminutes = 5\n' + GOOD, r"budget: unknown setting\(s\) minutes"),
    ('[trials]\nheartbeat_interval = "2"\n' + GOOD, "trials.heartbeat_interval: must be a whole number, got '2'"),
    ('[trials]\ngrace_period = 6.5\n' + GOOD, "trials.grace_period: must be a whole number, got 6.5"),
    ('[trials]\nmax_retry = -1\n' + GOOD, "trials.max_retry: must be at least 0, got -1"),
    ('[trials]\nmax_retry = true\n' + GOOD, "trials.max_retry: must be a whole number, got True"),
    ('[trials]\nheartbeat_interval = 10\ngrace_period = 5\n' + GOOD, r"trials.grace_period \(5 s\) must be longer"),
    ('[trials]\nheartbeats = 2\n' + GOOD, r"trials: unknown setting\(s\) heartbeats"),
    ('trials = 3\n' + GOOD, "trials: must be a table"),
    ('[runner]\nmax_retry = 1\n' + GOOD, r"the \[runner\] table is now called \[trials\] \(the same settings\): "
                                          "rename it"),
    ('sampler = "tpe"\n' + GOOD, "sampler: must be a table"),
    ('[sampler]\nname = "tpe"\nseed = "zero"\n' + GOOD, r"sampler \(tpe\).seed: must be a whole number"),
    ('[sampler]\nname = 3\n' + GOOD, "sampler: 3 is not one of"),
    ('[pruner]\nname = "median"\nn_warmup_steps = "1"\n' + GOOD, r"pruner \(median\).n_warmup_steps: must be a whole"),
    ('[pruner]\nname = "median"\nlower = 1.0\n' + GOOD, r"pruner \(median\): unknown setting\(s\) lower"),
    ('[objective]\nmetrics = "eval/psnr"\n' + GOOD, "objective.metrics: must be a list"),
    ('[search]\nlr_g = 0.001\n', "search.lr_g: must be a table"),
])
def test_bad_study_file_names_the_problem(tmp_path, text, message):
    with pytest.raises(studies.StudyError, match=message):
        studies.load_spec(spec_file(tmp_path, text))


def test_a_binary_study_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "study.toml"
    bad.write_bytes(b"\xff\xfe" + bytes(range(256)))
    with pytest.raises(studies.StudyError, match=r"study.toml: not a TOML text file \(not UTF-8: byte 0xff"):
        studies.load_spec(bad)


def test_reading_a_study_file_loads_neither_optuna_nor_tensorflow():
    code = ("import sys; from colorgan.studies import StudyError, load_spec; from colorgan.studies import spec; "
            f"load_spec({str(SMOKE)!r}); print(sorted({{'optuna', 'tensorflow'}} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


ROLES = ("scientific", "nuisance", "fixed")


def role_problems(text: str, spec: studies.StudySpec) -> list[str]:
    """What a study file's header comment gets wrong about the roles of its hyper-parameters (the tuning
    playbook's ``scientific: ... nuisance: ... fixed: ...``): the searched keys are exactly those it names
    scientific or nuisance (remarks in parentheses aside), nuisance names keys or says none, and fixed names
    no searched key but the base experiment and, when there is one, the [fixed] table."""
    header = " ".join(line.lstrip("# ") for line in itertools.takewhile(lambda s: s.startswith("#"), text.splitlines()))
    parts = re.split(r"\b(scientific|nuisance|fixed):", header)
    said = {role: re.sub(r"\([^)]*\)", "", body) for role, body in zip(parts[1::2], parts[2::2], strict=True)}
    missing = [role for role in ROLES if role not in said]
    if missing:
        return [f"the header comment does not say which hyper-parameters are {', '.join(missing)}"]
    named = {role: {k for k in config.KEYS if re.search(rf"\b{k}\b", said[role])} for role in ROLES}
    searched = {p.name for p in spec.params}
    problems = []
    if not named["scientific"]:
        problems.append("scientific: names no config key")
    if named["scientific"] & named["nuisance"]:
        problems.append(f"both scientific and nuisance: {sorted(named['scientific'] & named['nuisance'])}")
    if named["scientific"] | named["nuisance"] != searched:
        problems.append(f"scientific + nuisance name {sorted(named['scientific'] | named['nuisance'])}, "
                        f"the search is over {sorted(searched)}")
    if not named["nuisance"] and not re.match(r"\s*none\b", said["nuisance"]):
        problems.append("nuisance: names no key and does not say none")
    if named["fixed"] & searched:
        problems.append(f"fixed: names searched keys {sorted(named['fixed'] & searched)}")
    if spec.base not in said["fixed"] or (spec.fixed and "[fixed]" not in said["fixed"]):
        problems.append(f"fixed: does not point at the base experiment {spec.base!r} and the [fixed] table")
    return problems


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_loads(path):
    spec = studies.load_spec(path)
    assert spec.params and spec.trials >= 1
    assert role_problems(path.read_text(), spec) == [], path.name


SMOKE_HEADER = "# scientific: lr_g; nuisance: none; fixed: everything in [fixed] and the smoke experiment.\n"


@pytest.mark.parametrize("header, problem", [
    ("# scientific: lr_g. fixed: [fixed] and smoke.\n", "does not say which hyper-parameters are nuisance"),
    ("# Tiny. Nothing fixed here: [fixed], smoke.\n", "scientific, nuisance"),
    ("# scientific: lr_g, lr_d. nuisance: none. fixed: [fixed], smoke.\n", "the search is over ['lr_g']"),
    ("# scientific: lr_d. nuisance: lr_g. fixed: [fixed], smoke.\n", "the search is over ['lr_g']"),
    ("# scientific: lr_g. nuisance: lr_g. fixed: [fixed], smoke.\n", "both scientific and nuisance"),
    ("# scientific: lr_g. nuisance: (to come). fixed: [fixed], smoke.\n", "does not say none"),
    ("# scientific: lr_g. nuisance: none.\n# fixed: lr_g at 1e-3, [fixed], smoke.\n", "names searched keys"),
    ("# scientific: lr_g. nuisance: none. fixed: the rest.\n", "does not point at the base experiment"),
    ("# scientific: batch size (lr_g). nuisance: none. fixed: [fixed], smoke\n", "scientific: names no config key"),
])
def test_role_check_fails_a_wrong_header(header, problem):
    spec = studies.load_spec(SMOKE)
    body = "\n".join(itertools.dropwhile(lambda s: s.startswith("#"), SMOKE.read_text().splitlines()))
    assert role_problems(SMOKE_HEADER + body, spec) == []  # the check passes the right header ...
    assert any(problem in p for p in role_problems(header + body, spec))  # ... and fails this one


def test_a_pretrain_of_another_image_size_is_refused_up_front(tmp_path):
    text = study_text(extra='\n[pretrain]\nexperiment = "smoke"\nimage_size = 64\n')
    with pytest.raises(studies.StudyError, match="pretrain: image_size = 64 but the trials use 32"):
        studies.load_spec(spec_file(tmp_path, text))

