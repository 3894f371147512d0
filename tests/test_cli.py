import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "colorgan", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_help_lists_the_commands():
    out = _cli("--help")
    assert out.returncode == 0 and "train" in out.stdout and "study" in out.stdout


def test_bad_override_is_a_clear_error_before_anything_runs():
    out = _cli("train", "experiments/smoke.toml", "--set", "epocs=2")
    assert out.returncode == 2 and "unknown config key 'epocs'" in out.stderr
    out = _cli("train", "experiments/smoke.toml", "--set", "color_space=hsv")
    assert out.returncode == 2 and "color_space: 'hsv' is not one of lab, rgb" in out.stderr


def test_missing_data_dir_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    out = _cli("train", "experiments/smoke.toml", "--set", f"data_dir={missing}")
    assert out.returncode == 2 and str(missing) in out.stderr


def test_dry_run_prints_the_resolved_config():
    out = _cli("train", "experiments/lab_tuned.toml", "--set", "epochs=3", "--dry-run")
    assert out.returncode == 0 and "epochs = 3" in out.stdout and "power_iterations = 0" in out.stdout


def test_bad_study_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[search.lr_g]\ntype = "float"\nlow = 1\nhigh = 0.5\n')
    out = _cli("study", str(bad))
    assert out.returncode == 2 and "low (1) must be below high (0.5)" in out.stderr


def test_study_workers_are_a_module_of_their_own(tmp_path):
    out = _cli("study", "smoke", "--deadline", "1")  # no hidden worker flags on the main CLI any more
    assert out.returncode == 2 and "unrecognized arguments: --deadline 1" in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[search.lr_g]\ntype = "float"\nlow = 1\nhigh = 0.5\n')
    out = subprocess.run([sys.executable, "-m", "colorgan.studies.worker", str(bad), "--storage", "sqlite://",
                          "--trials", "1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "low (1) must be below high (0.5)" in out.stderr


def test_serving_never_loads_the_training_data_module(tmp_path):
    """`colorgan serve` with a bad model reference: a one-line error, and neither colorgan.data nor
    colorgan.evaluate was imported on the way (the CLI catches config.UsageError, not each module's error)."""
    code = ("import sys\nfrom colorgan.__main__ import main\n"
            f"code = main(['serve', '--model', {str(tmp_path / 'no-such-model')!r}])\n"
            "print('exit', code, 'data' if 'colorgan.data' in sys.modules else '-',"
            " 'evaluate' if 'colorgan.evaluate' in sys.modules else '-')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.stdout.split() == ["exit", "2", "-", "-"], out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "colorgan: error:" in out.stderr


def test_bad_values_are_one_line_before_any_run_or_store_exists(tmp_path, monkeypatch, capsys):
    """Config and study-file values that used to start a run (or reach MLflow or Optuna) and fail there."""
    from colorgan.__main__ import main

    monkeypatch.setenv("COLORGAN_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    binary = tmp_path / "photo.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    study = tmp_path / "study.toml"
    search = '[search.lr_g]\ntype = "float"\nlow = 1e-4\nhigh = 1e-2\n'
    smoke = str(ROOT / "experiments" / "smoke.toml")
    cases = [
        (["train", smoke, "--set", "experiment="], "experiment: must name the MLflow experiment"),
        (["train", smoke, "--set", "lambda_recon=inf"], "lambda_recon: must be a finite number, got inf"),
        (["train", smoke, "--set", "grey_threshold=nan"], "grey_threshold: must be a finite number, got nan"),
        (["train", smoke, "--set", "eval_fraction=0"], "eval_fraction: must be above 0"),
        (["train", str(binary)], "photo.toml: not a TOML text file"),
        (["study", str(binary)], "photo.toml: not a TOML text file"),
        (["study", str(study)], 'sampler: must be a table ([sampler] with key = value lines), got \'tpe\''),
    ]
    for argv, message in cases:
        study.write_text('base = "smoke"\nsampler = "tpe"\n' + search)
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("colorgan: error: ") and message in err, (argv, err)
    for text, message in [("[budget]\ntrials = \"3\"\n", "budget.trials: must be a whole number, got '3'"),
                          ("[budget]\ntimeout_minutes = \"1h\"\n", "budget.timeout_minutes: must be a finite"),
                          ("[runner]\nheartbeat_interval = 0\n", "runner.heartbeat_interval: must be at least 1")]:
        study.write_text('base = "smoke"\n' + text + search)
        assert main(["study", str(study)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "mlruns").exists()  # no store, so no run and no study, was created
