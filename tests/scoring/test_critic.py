"""The critic's skill (scoring.critic): the AUC on known answers, the chance verdict, a constant critic judged at
chance in a real run, the critic's pre-training logged and loaded by a warm start, and found again by a second
study."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import interrupt_after

from colorgan import studies, tracking
from colorgan.base import config
from colorgan.model import gan
from colorgan.scoring import critic
from colorgan.studies import runner
from colorgan.tracking.tags import VERDICT_TAG
from colorgan.training import epoch, train, warmstart

ROOT = Path(__file__).resolve().parents[2]


def smoke(data_dir: Path, *extra: str) -> config.Config:
    return config.load(ROOT / "experiments" / "smoke.toml",
                       [f"data_dir={data_dir}", "eval_fraction=0.2", "test_fraction=0.1", *extra])


def test_the_auc_of_a_constant_critic_is_one_half_and_of_a_perfect_one_is_one():
    rng = np.random.default_rng(0)
    assert critic.auc(np.zeros(50), np.zeros(70)) == 0.5  # every pair tied
    assert critic.auc(rng.random(30) + 1.0, rng.random(40)) == 1.0
    assert critic.auc(rng.random(30), rng.random(40) + 1.0) == 0.0


def test_the_auc_is_the_share_of_real_fake_pairs_in_order_ties_counting_half():
    rng = np.random.default_rng(1)
    real, fake = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 30).astype(float)  # many ties
    pairs = (real[:, None] > fake[None, :]).mean() + 0.5 * (real[:, None] == fake[None, :]).mean()
    assert critic.auc(real, fake) == pytest.approx(pairs)


def test_the_interval_narrows_with_more_photos_and_holds_its_estimate():
    low64, high64 = critic.auc_interval(0.5, 64, 64)
    low600, high600 = critic.auc_interval(0.5, 600, 600)
    assert low64 < low600 < 0.5 < high600 < high64
    assert high600 - low600 == pytest.approx(2 * 1.96 * np.sqrt(1 / 12 * (1 / 600 + 1 / 600)), rel=0.05)
    low, high = critic.auc_interval(1.0, 64, 64)
    assert low < 1.0 == high  # a perfect critic still gets an interval of some width


@pytest.mark.parametrize("auc, kind", [(0.51, critic.CHANCE), (0.30, critic.CHANCE), (0.80, critic.LEARNED)])
def test_the_verdict_is_chance_when_the_interval_holds_one_half_or_lies_below(auc, kind):
    low, high = critic.auc_interval(auc, 100, 100)
    found = critic.verdict({"eval/critic_auc": auc, "eval/critic_auc_low": low, "eval/critic_auc_high": high})
    assert found[0] == kind and f"{auc:.3f}" in found[1]
    assert critic.verdict({"eval/psnr": 20.0}) is None  # no GAN phase, no verdict


def _zero_critic(model: gan.ColorGAN) -> None:
    """Every weight of the critic 0: its logits are the last bias, 0, whatever the photo (a constant critic)."""
    model.discriminator.set_weights([np.zeros_like(w) for w in model.discriminator.get_weights()])


@pytest.mark.parametrize("batches", ["joint", "separate"])
def test_a_constant_critic_scores_one_half_on_held_out_photos(colour_folder, store, batches):
    from colorgan.data import datasets

    cfg = smoke(colour_folder, f"critic_batches={batches}")
    bundle = datasets.load(cfg, store)
    model = gan.build_colorgan(cfg)
    _zero_critic(model)
    figures, per_image = epoch.evaluate_split(model, bundle.eval)
    assert figures["critic_auc"] == 0.5 and figures["critic_gap"] == 0.0
    assert figures["critic_auc_low"] < 0.5 < figures["critic_auc_high"]
    assert len(per_image["critic_real"]) == len(per_image["critic_fake"]) == figures["images"]
    assert critic.verdict({f"eval/{k}": v for k, v in figures.items()})[0] == critic.CHANCE


class ConstantCritic(keras.callbacks.Callback):
    """Keeps the critic a constant through training: its weights zeroed after every batch."""

    def on_train_batch_end(self, batch, logs=None):
        _zero_critic(self.model)


def test_a_run_whose_critic_is_a_constant_is_judged_at_chance(colour_folder, store, capsys):
    cfg = smoke(colour_folder, "epochs=1", "curve_points=2")
    result = train.run_training(cfg, root=store, verbose=0, callbacks=(ConstantCritic(),))
    client = tracking.store.connect(store)
    run = client.get_run(result.run_id)
    assert run.data.tags[VERDICT_TAG].startswith("chance: critic AUC 0.500")
    assert run.data.metrics["eval/critic_auc"] == 0.5
    points = client.get_metric_history(result.run_id, "curve/eval/critic_auc")
    assert len(points) == 2  # the critic's skill at every curve point, next to the losses
    assert "critic AUC 0.500" in capsys.readouterr().out  # on the epoch line


def test_a_regression_run_logs_no_critic_and_gets_no_verdict(colour_folder, store):
    result = train.run_training(smoke(colour_folder, "epochs=1", "adversarial=false"), root=store, verbose=0)
    run = tracking.store.connect(store).get_run(result.run_id)
    assert VERDICT_TAG not in run.data.tags and "eval/critic_auc" not in run.data.metrics


def test_a_pre_trained_critic_is_logged_and_a_warm_start_loads_it(colour_folder, store, capsys):
    warm = smoke(colour_folder, "pretrain_epochs=1", "epochs=0", "critic_pretrain_steps=25",
                 "critic_pretrain_auc=0.95", "curve_eval_images=16")
    first = train.run_training(warm, root=store, verbose=0)
    client = tracking.store.connect(store)
    run = client.get_run(first.run_id)
    checks = client.get_metric_history(first.run_id, "critic_pretrain/critic_auc")
    # checked every max(10, steps // 10) steps and at the last, stopping at the first check that reaches the target
    reached = [m.step for m in checks if m.value >= 0.95]
    steps = [10, 20, 25][:[10, 20, 25].index(reached[0]) + 1] if reached else [10, 20, 25]
    assert [m.step for m in checks] == steps
    assert f"critic pre-trained: {steps[-1]} steps" in run.data.tags["colorgan.critic_pretrain"]
    assert "critic" in {a.path for a in client.list_artifacts(first.run_id)}
    assert f"critic pre-trained: {steps[-1]} steps" in capsys.readouterr().out

    def loaded(*extra: str) -> tuple[dict, gan.ColorGAN]:
        cfg = smoke(colour_folder, f"init_from={first.run_id}", *extra)
        model = gan.build_colorgan(cfg)
        return warmstart.apply(model, cfg, store, announce=False), model

    tags, model = loaded()
    assert tags[warmstart.DISCRIMINATOR_TAG] == "loaded (pre-trained critic)"
    saved = client.download_artifacts(first.run_id, "critic", str(store / "saved"))
    reference = gan.build_colorgan(warm)
    import tensorflow as tf

    tf.train.Checkpoint(discriminator=reference.discriminator).read(f"{saved}/critic").expect_partial()
    for mine, theirs in zip(model.discriminator.get_weights(), reference.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    tags, _ = loaded("critic_norm=none")  # another design: the pre-trained critic does not fit it
    assert tags[warmstart.DISCRIMINATOR_TAG].startswith("fresh (the source's pre-trained critic is another design")


def test_a_run_with_a_loaded_critic_does_not_pre_train_it_again(colour_folder, store):
    warm = smoke(colour_folder, "pretrain_epochs=1", "epochs=0", "critic_pretrain_steps=10")
    first = train.run_training(warm, root=store, verbose=0)
    cfg = smoke(colour_folder, "epochs=1", f"init_from={first.run_id}", "critic_pretrain_steps=10")
    second = train.run_training(cfg, root=store, verbose=0)
    client = tracking.store.connect(store)
    assert client.get_metric_history(second.run_id, "critic_pretrain/critic_auc") == []
    assert client.get_run(second.run_id).data.tags[warmstart.DISCRIMINATOR_TAG] == "loaded (pre-trained critic)"


def test_every_critic_patch_the_config_allows_has_a_layout():
    from colorgan.model import networks

    assert set(networks.CRITIC_LAYOUTS) == set(config.CRITIC_PATCHES)


def test_zero_gan_epochs_needs_pre_training_epochs():
    with pytest.raises(config.ConfigError, match="epochs: 0 GAN epochs"):
        config.build({"epochs": 0})
    with pytest.raises(config.ConfigError, match="critic_patch: 7 is not one of 1, 16, 46"):
        config.build({"critic_patch": 7})


CRITIC_PRETRAIN = ('\n[pretrain]\nexperiment = "smoke"\npretrain_epochs = 1\nepochs = 0\n'
                   'critic_pretrain_steps = 10\n')


@pytest.mark.slow
def test_the_pre_trained_critic_is_shared_and_found_again_by_a_second_study(env, tmp_path):
    text = (ROOT / "studies" / "smoke.toml").read_text() + CRITIC_PRETRAIN
    first = tmp_path / "first.toml"
    first.write_text(text)
    runner.run_study(studies.load_spec(first), trials=1, epochs=1, root=env)
    second = tmp_path / "second.toml"
    second.write_text(text)
    study = runner.run_study(studies.load_spec(second), trials=1, epochs=1, root=env)
    client = tracking.store.connect(env)
    experiment = client.get_experiment_by_name(studies.spec.PRETRAIN_EXPERIMENT).experiment_id
    (pre,) = client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")  # trained once, by the first
    assert "critic" in {a.path for a in client.list_artifacts(pre.info.run_id)}
    (trial_run,) = tracking.trial_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert trial_run.params["init_from"] == pre.info.run_id
    assert client.get_run(trial_run.run_id).data.tags[warmstart.DISCRIMINATOR_TAG] == "loaded (pre-trained critic)"
    assert study.trials[0].user_attrs["critic"] in (critic.CHANCE, critic.LEARNED)


def test_the_rule_never_recommends_a_trial_whose_critic_stayed_at_chance(store, tmp_path):
    """Trial 0 dominates trial 1 on both objectives, but its critic never left chance: the rule picks trial 1, and
    the answer says why trial 0 is passed over; with both at chance it picks none and says the study says nothing."""
    import optuna

    from colorgan.studies import answer

    text = (ROOT / "studies" / "smoke.toml").read_text().replace(
        'metrics = ["eval/psnr_gain"]', 'metrics = ["eval/psnr_gain", "eval/color_auc_rebal"]').replace(
        'directions = ["maximize"]', 'directions = ["maximize", "maximize"]') + (
        '[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/color_auc_rebal"\nmargin = 0.0\n')
    path = tmp_path / "two.toml"
    path.write_text(text)
    spec = studies.load_spec(path)
    client = tracking.store.connect(store)
    experiment = client.create_experiment("study-two")
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    client.log_param(child, "gray_psnr", 20.0)
    client.log_param(child, "gray_color_auc_rebal", 0.80)

    def study_with(verdicts: list[str]) -> optuna.Study:
        study = optuna.create_study(directions=["maximize", "maximize"])
        for number, (values, verdict) in enumerate(zip(([1.5, 0.90], [1.0, 0.85]), verdicts, strict=True)):
            study.add_trial(optuna.trial.create_trial(
                params={"lr_g": 1e-3 * (number + 1)}, values=values, user_attrs={"critic": verdict},
                distributions={"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}))
        return study

    found = answer.answer(study_with([critic.CHANCE, critic.LEARNED]), spec, store, parent, "")
    assert found.recommended == 1 and found.at_chance == (0,)
    assert "The critic never left chance in trial 0" in "\n".join(found.lines(spec))
    assert list(found.table.loc[found.table["trial"].notna(), "critic"]) == [critic.CHANCE, critic.LEARNED]
    found = answer.answer(study_with([critic.LEARNED, critic.LEARNED]), spec, store, parent, "")
    assert found.recommended == 0 and found.at_chance == ()  # the same trial, judged learned, is the pick
    found = answer.answer(study_with([critic.CHANCE, critic.CHANCE]), spec, store, parent, "")
    assert found.recommended is None
    assert "this study says nothing about the knobs searched" in "\n".join(found.lines(spec))


@pytest.mark.parametrize("stop_after, again", [(1, True), (2, False)])
def test_a_resumed_run_pre_trains_its_critic_again_only_before_its_gan_phase(colour_folder, store, stop_after, again):
    """Stopped after the pre-training epoch, the checkpoint's critic is the untrained one: pre-trained again. Stopped
    after a GAN epoch, the checkpoint holds the game's critic: not pre-trained again."""
    from colorgan.training import resume

    cfg = smoke(colour_folder, "pretrain_epochs=1", "epochs=2", "critic_pretrain_steps=10")
    with pytest.raises(KeyboardInterrupt):
        train.run_training(cfg, root=store, verbose=0, callbacks=(interrupt_after(stop_after),))
    client = tracking.store.connect(store)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0].info.run_id
    before = len(client.get_metric_history(run_id, "critic_pretrain/steps"))
    assert before == (0 if stop_after == 1 else 1)
    train.run_training(resume.resume_config(run_id, {}, root=store), resume_run_id=run_id, root=store, verbose=0)
    after = len(client.get_metric_history(run_id, "critic_pretrain/steps"))
    assert after == (before + 1 if again else before)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "critic" in {a.path for a in client.list_artifacts(run_id)}
    assert run.data.tags[VERDICT_TAG].split(":")[0] in (critic.CHANCE, critic.LEARNED)
