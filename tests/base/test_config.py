import dataclasses
from pathlib import Path

import pytest

from colorgan.base import config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_reports_final_settings():
    cfg = config.Config()
    assert (cfg.batch_size, cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.power_iterations) == (128, 4e-4, 1e-3, 0.5, 10)
    assert (cfg.label_smoothing, cfg.lambda_recon, cfg.color_space) == (0.1, 100.0, "lab")


def test_overrides_are_typed():
    cfg = config.load(None, ["epochs=3", "lr_g=1e-3", "adversarial=false", "color_space=rgb"])
    assert (cfg.epochs, cfg.lr_g, cfg.adversarial, cfg.color_space) == (3, 1e-3, False, "rgb")


@pytest.mark.parametrize("pair, message", [
    ("epocs=2", "unknown config key 'epocs'"),
    ("epochs=two", "epochs: 'two' is not a valid int"),
    ("color_space=hsv", "not one of lab, rgb"),
    ("generator=resnet", "generator: 'resnet' is not one of unet"),
    ("image_size=100", "power of two"),
    ("label_smoothing=0.9", "outside"),
    ("batch_size=0", "at least 1"),
    ("epochs", "key=value"),
    ("pretrain_epochs=-1", "pretrain_epochs: must not be negative"),
    ("lr_schedule=cosine", "lr_schedule: 'cosine' is not one of constant, linear_decay"),
    ("ema_decay=1", "ema_decay: must be 0 \\(off\\) or in \\(0, 1\\)"),
    ("ema_decay=-0.1", "ema_decay"),
    ("ema_decay=nan", "ema_decay"),
    ("lambda_recon=inf", "lambda_recon: must be a finite number, got inf"),
    ("lambda_recon=nan", "lambda_recon: must be a finite number, got nan"),
    ("grey_threshold=nan", "grey_threshold: must be a finite number, got nan"),
    ("eval_fraction=0", "eval_fraction: must be above 0"),
    ("experiment=", "experiment: must name the MLflow experiment, got an empty string"),
    ("experiment=   ", "experiment: must name the MLflow experiment"),
])
def test_bad_overrides_are_clear_errors(pair, message):
    with pytest.raises(config.ConfigError, match=message):
        config.load(None, [pair])


FLOAT_KEYS = [f.name for f in dataclasses.fields(config.Config) if f.type == "float"]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_key_refuses_non_finite_values(key, text):
    with pytest.raises(config.ConfigError, match=f"^{key}: must be a finite number, got {text}$"):
        config.load(None, [f"{key}={text}"])


def test_a_binary_file_given_as_toml_is_one_clear_error(tmp_path):
    bad = tmp_path / "photo.toml"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(config.ConfigError, match=r"photo.toml: not a TOML text file \(not UTF-8: byte 0x89 at "
                                                 r"offset 0\)"):
        config.load(bad)


def test_toml_unknown_key_and_wrong_type(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('batch_sise = 3\n')
    with pytest.raises(config.ConfigError, match="bad.toml.*batch_sise"):
        config.load(bad)
    bad.write_text('batch_size = "big"\n')
    with pytest.raises(config.ConfigError, match="batch_size: expected int"):
        config.load(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_loads_and_round_trips(path, tmp_path):
    cfg = config.load(path)
    assert cfg.run_name == path.stem
    again = tmp_path / "resolved.toml"
    again.write_text(config.to_toml(cfg))
    assert config.load(again) == cfg


def test_experiments_hold_only_changes():
    defaults = config.Config().to_dict()
    for path in (ROOT / "experiments").glob("*.toml"):
        for key, value in config.read_toml(path).items():
            assert defaults[key] != value, f"{path.name}: {key} = {value!r} is already the default"


def test_new_schedule_keys_default_to_the_reports_single_phase_constant_rate_training():
    cfg = config.Config()
    assert (cfg.pretrain_epochs, cfg.lr_schedule, cfg.decay_epochs, cfg.ema_decay) == (0, "constant", 0, 0.0)


def test_the_decay_must_fit_in_every_phase_and_must_apply():
    ok = config.load(None, ["lr_schedule=linear_decay", "decay_epochs=3", "epochs=3", "pretrain_epochs=3"])
    assert ok.decay_epochs == 3
    with pytest.raises(config.ConfigError, match=r"decay_epochs: 4 is longer than the phase it applies to "
                                                 r"\(epochs = 3\)"):
        config.load(None, ["lr_schedule=linear_decay", "decay_epochs=4", "epochs=3"])
    with pytest.raises(config.ConfigError, match=r"\(pretrain_epochs = 2\)"):
        config.load(None, ["lr_schedule=linear_decay", "decay_epochs=3", "epochs=5", "pretrain_epochs=2"])
    with pytest.raises(config.ConfigError, match="decay_epochs: 2 has no effect with lr_schedule = constant"):
        config.load(None, ["decay_epochs=2"])


def test_padding_and_rebalance_keys_default_to_the_reports_behaviour_and_are_checked():
    cfg = config.Config()
    assert (cfg.padding, cfg.recon_weighting, cfg.rebalance_mix, cfg.rebalance_bins) == ("zero", "none", 0.5, 16)
    cfg = config.load(None, ["padding=reflect", "recon_weighting=rebalance", "rebalance_mix=1", "rebalance_bins=8"])
    assert (cfg.padding, cfg.recon_weighting, cfg.rebalance_mix, cfg.rebalance_bins) == ("reflect", "rebalance",
                                                                                         1.0, 8)
    for pair, message in (("padding=same", "padding: 'same' is not one of zero, reflect"),
                          ("recon_weighting=focal", "not one of none, rebalance"),
                          ("rebalance_mix=1.5", "rebalance_mix: 1.5 is outside"),
                          ("rebalance_bins=1", "rebalance_bins: 1 is outside")):
        with pytest.raises(config.ConfigError, match=message):
            config.load(None, [pair])
    with pytest.raises(config.ConfigError, match="needs color_space = 'lab'"):
        config.load(None, ["recon_weighting=rebalance", "color_space=rgb"])
