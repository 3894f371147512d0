"""The shared warm start of a study with [pretrain] (colorgan.studies.pretrain), on a real MLflow store and image
folder without training: found again by the key of its resolved config and data, in the one warm-start experiment
whichever study trained it, and linked from the study's parent run; trained anew for other data; none at all
without [pretrain]."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import finished_run, write_colour_images
from helpers import spec_file, study_text

from colorgan import studies, tracking
from colorgan.data import datasets
from colorgan.studies import pretrain
from colorgan.training import train

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"
PRETRAIN = '\n[pretrain]\nexperiment = "smoke"\nepochs = 1\nadversarial = false\n'


def _key(cfg, root: Path) -> str:
    """The key a warm start is found again by, as runs trained before hold it: the resolved config and the data it
    learnt from (a change to it would orphan every warm start trained before)."""
    _, _, _, info = datasets.split_dataset(cfg, root)
    resolved = {**cfg.to_dict(), "data_dir": info["data_dir"], "data_fingerprint": info["fingerprint"]}
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


@pytest.fixture
def no_training(monkeypatch):
    """Training a warm start is an error the test names (the tests here only find one)."""

    def refuse(*args, **kwargs):
        raise AssertionError("trained a warm start")

    monkeypatch.setattr(train, "run_training", refuse)


def _parent(client, root: Path) -> str:
    return finished_run(client, tracking.experiment_id("study-smoke", root), "smoke")


def test_a_study_without_pretrain_has_no_warm_start(env, no_training):
    client = tracking.store.connect(env)
    parent = _parent(client, env)
    assert pretrain.pretrain(studies.load_spec(SMOKE), env, parent) == ""
    assert "colorgan.pretrain_run" not in client.get_run(parent).data.tags
    assert client.get_experiment_by_name(studies.spec.PRETRAIN_EXPERIMENT) is None


def test_a_finished_warm_start_of_the_same_config_and_data_is_found_again(env, tmp_path, no_training, capsys):
    spec = studies.load_spec(spec_file(tmp_path, study_text(extra=PRETRAIN)))
    cfg = spec.pretrain_config()
    assert cfg.experiment == studies.spec.PRETRAIN_EXPERIMENT and cfg.epochs == 1 and not cfg.adversarial
    client = tracking.store.connect(env)
    experiment = tracking.experiment_id(cfg.experiment, env)
    tags = {"colorgan.role": "pretrain", "colorgan.pretrain_key": _key(cfg, env)}
    finished_run(client, experiment, "pretrain", tags={**tags, "colorgan.pretrain_key": "0" * 16})  # another config
    found = finished_run(client, experiment, "pretrain", tags={**tags, "colorgan.study": "another-study"})
    client.create_run(experiment, tags=tags)  # a newer one still training (or dead): not a warm start to start from
    parent = _parent(client, env)
    assert pretrain.pretrain(spec, env, parent) == found
    assert client.get_run(parent).data.tags["colorgan.pretrain_run"] == found
    assert f"the shared warm start ([pretrain]) is run {found}, trained before" in capsys.readouterr().out


def test_the_same_config_on_other_data_is_another_warm_start(env, tmp_path, monkeypatch, no_training, capsys):
    spec = studies.load_spec(spec_file(tmp_path, study_text(extra=PRETRAIN)))
    cfg = spec.pretrain_config()
    client = tracking.store.connect(env)
    finished_run(client, tracking.experiment_id(cfg.experiment, env), "pretrain",
                 tags={"colorgan.role": "pretrain", "colorgan.pretrain_key": _key(cfg, env)})
    other = tmp_path / "other-photos"
    write_colour_images(other, 20, seed=1)
    monkeypatch.setenv("COLORGAN_DATA", str(other))
    with pytest.raises(AssertionError, match="trained a warm start"):
        pretrain.pretrain(spec, env, _parent(client, env))
    assert "training the shared warm start ([pretrain], 0 + 1 epochs) once" in capsys.readouterr().out
