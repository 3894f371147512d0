"""One model reference grammar (serving.references) for every command that takes a model: each command run through
the CLI with each kind of reference, against a real temporary MLflow store (a run, a registered version and alias),
a real Optuna study and real shipped-model folders."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import requests
from conftest import free_ports, photo
from PIL import Image

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.base import paths
from colorgan.scoring import baselines
from colorgan.serving import model_folder, references
from colorgan.studies.storage import storage_url
from colorgan.tracking import registry

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("run", "runs", "version", "alias", "study", "shipped", "folder")


@pytest.fixture(scope="module")
def refs(trained, tmp_path_factory):
    """Kind -> reference text, each naming a real model: the trained run, a version and alias registered from it
    (model `grammar`, so the store's champion is untouched), a study whose best trial is that run, the checkout's
    shipped model (128 px) and a 32 px shipped folder written from the run's generator."""
    root, run_id = trained.root, trained.run_id
    uri = tracking.run_data(root, run_id).tags["colorgan.model_uri"]
    version = registry.register(root, uri, "grammar", {})
    registry.set_alias(root, "grammar", "best", version)
    study = optuna.create_study(study_name="grammar", storage=storage_url(None, root), direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={},
                                              user_attrs={"run_id": run_id}))
    model = references.resolve(run_id, root)
    folder = model_folder.write(tmp_path_factory.mktemp("shipped") / "tiny-32", model.generator, model.cfg, "# card\n",
                                {})
    return {"run": run_id, "runs": f"runs:/{run_id}", "version": f"models:/grammar/{version}",
            "alias": "models:/grammar@best", "study": "study:grammar", "shipped": "shipped", "folder": str(folder)}


def described(kind: str, refs: dict, run_id: str) -> str:
    """How every command names the model it used (references.Model.description)."""
    if kind in ("shipped", "folder"):
        folder = paths.shipped_model_dir() if kind == "shipped" else Path(refs[kind])
        return f"the shipped model {model_folder.display(folder)} (weights sha256 {model_folder.weights_sha(folder)})"
    return f"run {run_id}" if kind in ("run", "runs") else f"{refs[kind]} (run {run_id})"


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_command_takes_every_kind_of_reference(kind, refs, home, tmp_path, capsys):
    """colorize, evaluate, export and train's init_from, in-process through the CLI entry, with one reference."""
    ref, which = refs[kind], described(kind, refs, home.run_id)
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(photo(40, 56, gray=True)).save(photos / "old.png")

    assert main(["colorize", str(photos), "--model", ref, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert f"colorized 1 file(s) into {tmp_path / 'out'} with {which}" in capsys.readouterr().out
    assert Image.open(tmp_path / "out" / "old.png").size == (56, 40)

    assert main(["evaluate", "--model", ref, "--data", str(home.data_dir)]) == 0
    logged = capsys.readouterr().out.splitlines()[-1]
    assert logged.startswith("logged to run ") and "(0 files skipped)" in logged
    evaluated = tracking.run_data(home.root, logged.split()[3])
    if kind in ("shipped", "folder"):  # no training run here: a run of its own, keyed by the model's lineage
        assert evaluated.tags["colorgan.shipped"] == references.resolve(ref, home.root).lineage
    else:
        assert logged.split()[3] == home.run_id
    assert any(key.endswith("/psnr") for key in evaluated.metrics)

    assert main(["export", "--model", ref, "--out", str(tmp_path / "export")]) == 0
    assert f"SavedModel of {which} written to" in capsys.readouterr().out
    assert (tmp_path / "export" / "saved_model.pb").is_file()

    train = ["train", str(ROOT / "experiments" / "smoke.toml"), "--set", f"data_dir={home.data_dir}", "epochs=1",
             "max_train_images=8", "max_eval_images=8", "experiment=grammar-warmstart", f"init_from={ref}"]
    if kind == "shipped":  # the checkout's model is 128 px: resolved, then refused by the warm start's check
        assert main(train) == 2
        assert "init_from shipped: image_size 128 != this run's 32" in capsys.readouterr().err
    else:
        assert main(train) == 0
        assert f"warm start from {which}: generator loaded" in capsys.readouterr().out


@pytest.mark.slow
def test_serve_takes_every_kind_of_reference(refs, home):
    """`colorgan serve --model REF` for each kind, as processes of their own (all at once): /api/health names the
    model each one resolved."""
    env = {**os.environ, "COLORGAN_HOME": str(home.root), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    servers = {}
    for kind, port in zip(KINDS, free_ports(len(KINDS)), strict=True):
        servers[kind] = port, subprocess.Popen([sys.executable, "-m", "colorgan", "serve", "--model", refs[kind],
                                                "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        for kind, (port, proc) in servers.items():
            health = None
            while health is None and time.time() < deadline:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    health = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()
                except requests.ConnectionError:
                    time.sleep(0.5)
            assert health is not None, f"serve --model {refs[kind]} did not start"
            assert proc.poll() is None, f"another process answered on port {port}: {proc.stdout.read()}"
            assert health["model"] == described(kind, refs, home.run_id)
    finally:
        for _, proc in servers.values():
            proc.terminate()
        for _, proc in servers.values():
            proc.wait(timeout=30)


@pytest.mark.parametrize("argv", [
    ["colorize", "x.png", "--out", "out"], ["evaluate"], ["export", "--out", "out"], ["serve"], ["ship"],
    ["train", "experiments/smoke.toml", "--set"],
])
@pytest.mark.parametrize("ref", ["champion", "runs:/abc", "models:/colorgan"])
def test_a_reference_that_names_nothing_is_one_line_listing_the_kinds(argv, ref, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLORGAN_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(ROOT)
    args = [*argv, f"init_from={ref}"] if argv[0] == "train" else [*argv, "--model", ref]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"'{ref}' " in err and f"a model reference is one of: {references.FORMS}" in err


def test_baselines_are_references_of_evaluate_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLORGAN_HOME", str(tmp_path))
    assert main(["colorize", "x.png", "--out", "out", "--model", "baseline:gray"]) == 2
    assert "'baseline:gray' is a baseline: only `colorgan evaluate` scores those" in capsys.readouterr().err
    assert references.parse("baseline:welsh", baselines.NAMES) == references.Ref("baseline:welsh", "baseline", "welsh")


def test_the_commands_reports_print_parse(tmp_path):
    """reports/ never imports colorgan, so the evaluate commands it prints are checked against the grammar here."""
    from reports.source import evaluate_command

    run_id = "0123456789abcdef0123456789abcdef"
    for command, kind in ((evaluate_command("--model", run_id, "--data", str(tmp_path)), "run"),
                          (evaluate_command("--model", "baseline:welsh", "--size", "64"), "baseline")):
        args = shlex.split(command)
        assert args[1:4] == ["-m", "colorgan", "evaluate"]
        assert references.parse(args[args.index("--model") + 1], baselines.NAMES).kind == kind
