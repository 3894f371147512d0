import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "colorgan", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_help_lists_the_commands():
    out = _cli("--help")
    assert out.returncode == 0 and "train" in out.stdout and "study" in out.stdout


@pytest.mark.slow  # a `colorgan` process
def test_bad_override_is_a_clear_error_before_anything_runs():
    out = _cli("train", "experiments/smoke.toml", "--set", "epocs=2")
    assert out.returncode == 2 and "unknown config key 'epocs'" in out.stderr
    out = _cli("train", "experiments/smoke.toml", "--set", "color_space=hsv")
    assert out.returncode == 2 and "color_space: 'hsv' is not one of lab, rgb" in out.stderr


@pytest.mark.slow  # a `colorgan` process
def test_missing_data_dir_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    out = _cli("train", "experiments/smoke.toml", "--set", f"data_dir={missing}")
    assert out.returncode == 2 and str(missing) in out.stderr


@pytest.mark.slow  # a `colorgan` process
def test_dry_run_prints_the_resolved_config():
    out = _cli("train", "experiments/lab_tuned.toml", "--set", "epochs=3", "--dry-run")
    assert out.returncode == 0 and "epochs = 3" in out.stdout and "power_iterations = 0" in out.stdout


@pytest.mark.slow  # `colorgan` processes
def test_reproduce_names_the_report_of_each_claims_file():
    # `make reproduce CLAIMS=...` draws the report this prints, so each claims file must name the right one.
    assert _cli("reproduce", "--report-name").stdout.strip() == "seed_graphs"
    assert _cli("reproduce", "reports/precision_claims.toml", "--report-name").stdout.strip() == "precision"


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


@pytest.mark.slow  # a `colorgan serve` process
def test_serving_never_loads_the_training_data_module(tmp_path):
    """`colorgan serve` with a bad model reference: a one-line error, and neither colorgan.data.datasets nor
    colorgan.evaluation.evaluate was imported on the way (the CLI catches UsageError, not each module's error)."""
    code = ("import sys\nfrom colorgan.__main__ import main\n"
            f"code = main(['serve', '--model', {str(tmp_path / 'no-such-model')!r}])\n"
            "print('exit', code, 'data' if 'colorgan.data.datasets' in sys.modules else '-',"
            " 'evaluate' if 'colorgan.evaluation.evaluate' in sys.modules else '-')")
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
                          ("[trials]\nheartbeat_interval = 0\n", "trials.heartbeat_interval: must be at least 1")]:
        study.write_text('base = "smoke"\n' + text + search)
        assert main(["study", str(study)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "mlruns").exists()  # no store, so no run and no study, was created


def test_make_help_lists_every_target_aligned_with_its_values():
    out = subprocess.run(["make", "-s", "help", "PORT=5123"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    targets = re.findall(r"^([a-z_-]+):.*## ", (ROOT / "Makefile").read_text(), re.M)
    assert [line.split()[1] for line in lines] == targets
    assert "$(" not in out.stdout  # make variables written with their values
    assert "http://127.0.0.1:5123" in next(line for line in lines if line.split()[1] == "ui")
    starts = {re.match(r"  make \S+ +", line).end() for line in lines}  # where each description begins
    assert starts == {len("  make ") + max(map(len, targets)) + 2}, starts



def _make_n(folder: Path, *args: str) -> list[str]:
    # --no-print-directory: under `make test` (MAKELEVEL 1) make would add "Entering/Leaving directory" lines
    out = subprocess.run(["make", "--no-print-directory", "-n", *args], capture_output=True, text=True, cwd=folder,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_make_setup_gpu_installs_the_gpu_build_and_later_targets_keep_it(tmp_path):
    """GPU=1 never installs tensorflow-cpu (the lock's pin is left out, the gpu extra's build installed), and once
    .venv holds the GPU build, a later target reinstalls the GPU build, never the CPU one (make -n: nothing runs)."""
    import tomllib

    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    gpu = _make_n(tmp_path, "setup", "GPU=1")
    assert not [line for line in gpu if "pip install" in line and "requirements.lock" in line], gpu
    assert ".venv/bin/pip uninstall -qq -y tensorflow-cpu  # the CPU build, if .venv held it" in gpu
    assert gpu[-1] == "touch .venv/.installed-gpu" and "rm -f .venv/.installed" in gpu
    (tmp_path / ".venv").mkdir()
    subprocess.run(next(line for line in gpu if line.startswith("grep ")), shell=True, cwd=tmp_path, check=True)
    kept = (tmp_path / ".venv" / "requirements-gpu.txt").read_text().splitlines()
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    assert [line for line in lock if line not in kept] == ["tensorflow_cpu==2.21.0"]
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert extra == ["tensorflow[and-cuda]==2.21.0"]  # the same TF as the lock's CPU build
    assert any("pip install -q -r .venv/requirements-gpu.txt" in line and '["gpu"]' in line for line in gpu), gpu

    (tmp_path / ".venv" / ".installed-gpu").touch()  # what `make setup GPU=1` leaves
    assert _make_n(tmp_path, "train", "EXP=smoke") == [".venv/bin/python -m colorgan train experiments/smoke.toml "]
    os.utime(tmp_path / "pyproject.toml", (2e9, 2e9))  # a changed pyproject: the install runs again, still GPU
    again = _make_n(tmp_path, "train", "EXP=smoke")
    assert "touch .venv/.installed-gpu" in again and not any("requirements.lock" in line and "pip install" in line
                                                              for line in again), again
    cpu = _make_n(tmp_path, "setup", "GPU=")  # going back to the CPU build, by asking for it
    assert ".venv/bin/pip install -q -r requirements.lock" in cpu and cpu[-1] == "touch .venv/.installed"
    assert ".venv/bin/pip uninstall -qq -y tensorflow  # the GPU build, if .venv held it" in cpu


def test_serve_options_have_help_texts():
    out = _cli("serve", "--help")
    assert out.returncode == 0
    options = re.sub(r"\s+", " ", out.stdout.split("options:")[1])
    for option in ("--host HOST the interface to listen on", "--port PORT the port to listen on"):
        assert option in options, options


# Lines TensorFlow, Keras, absl, MLflow and Optuna print unasked; none may reach a quiet command's output.
NOISE = ("oneDNN", "cpu_feature_guard", "absl", "rebuild TensorFlow", "ran out of data", "Unknown", "Epoch ",
         "━", "step - ", "Warning", "WARNING", "INFO", "[I ", "[W ", "I0000", "W0000", "E0000")


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(pattern in line for pattern in NOISE)]


@pytest.mark.slow
def test_a_training_run_prints_one_line_per_epoch_and_nothing_else(env):
    out = subprocess.run([sys.executable, "-m", "colorgan", "train", "experiments/smoke.toml", "--set", "epochs=2",
                          "eval_fraction=0.2", "test_fraction=0.2"], capture_output=True, text=True, cwd=ROOT,
                         timeout=900, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = (out.stdout + out.stderr).splitlines()
    assert _noise(out.stdout + out.stderr) == []
    assert [line.split()[:2] for line in lines[:2]] == [["epoch", "1/2"], ["epoch", "2/2"]]
    # then the GAN phase's verdict on its critic (docs/reference/metrics.md), then the run's last line
    assert len(lines) == 4 and lines[2].startswith("GAN phase: critic AUC "), lines
    assert lines[3].startswith("run ") and " finished: " in lines[3], lines


@pytest.mark.slow
def test_a_study_prints_one_line_per_trial_and_v_shows_the_libraries_lines(env):
    cmd = [sys.executable, "-m", "colorgan", "study", "smoke", "--trials", "2", "--epochs", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, env={**os.environ})
    assert out.returncode == 0, out.stderr[-3000:]
    assert _noise(out.stdout + out.stderr) == []
    trial_lines = [line for line in out.stdout.splitlines() if line.startswith("trial ") and " s" in line[-6:]]
    assert [line.split()[:4] for line in trial_lines] == [["trial", "0", "complete", "epoch"],
                                                         ["trial", "1", "complete", "epoch"]]
    assert not any(line.startswith("epoch ") for line in out.stdout.splitlines())  # no per-epoch lines in a study
    assert out.stderr == ""
    # -v: the same command (its budget met, no trial runs) shows Optuna's and TensorFlow's own lines.
    loud = subprocess.run([sys.executable, "-m", "colorgan", "-v", "study", "smoke", "--summary"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ})
    assert loud.returncode == 0 and _noise(loud.stdout + loud.stderr), loud.stderr[-2000:]
