"""The critic's held-out AUC in a report: its panel beside the loss graphs (per epoch with its interval, within
epochs, in the claim figures) with a chance line, and the sentences that say which GAN phases were no game. A real
temporary MLflow store and Optuna study hold synthetic critic figures as colorgan logs them (no training, no
mocks)."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import finished_run, fresh_store
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from reports import build, claim_figures, critic, curve_figures, figures, render, spec
from reports.declared import Declared
from reports.locations import optuna_url, tracking_uri
from reports.source import Source

EPOCHS, POINTS, STEPS = 3, 2, 8  # 3 epochs (1 of generator pre-training), 2 curve points per epoch, 8 batches


def _auc(run: int, epoch: int) -> float:
    """A distinct AUC per run and epoch, so a point drawn for the wrong run or epoch shows."""
    return round(0.5 + 0.1 * run + 0.03 * epoch, 6)


def _metrics(n: int, critic_logged: bool) -> list[Metric]:
    """A run's per-epoch losses and phase and, for a critic, its epoch-end figures and curve points (step = global
    batch number) in the GAN epochs, as colorgan logs them."""
    now, out = int(time.time() * 1000), []
    for e in range(1, EPOCHS + 1):
        out += [Metric("train/g_total", 1.0 / e, now, e), Metric("phase", float(e > 1), now, e)]
        if critic_logged and e > 1:
            auc = _auc(n, e)
            out += [Metric(critic.AUC, auc, now, e), Metric(critic.LOW, auc - 0.08, now, e),
                    Metric(critic.HIGH, min(1.0, auc + 0.08), now, e), Metric(critic.GAP, auc - 0.5, now, e)]
    for i in range(1, EPOCHS * POINTS + 1):
        step = i * STEPS // POINTS
        out.append(Metric(curve_figures.CURVE_EPOCH, step / STEPS, now, step))
        out.append(Metric("curve/train/g_recon", 1.0 / i, now, step))
        if critic_logged and step > STEPS:  # the critic scores points of the GAN phase only
            out.append(Metric(critic.CURVE_AUC, _auc(n, i) - 0.01, now, step))
    return out


def _run(client: MlflowClient, exp: str, name: str, n: int, verdict: str | None, critic_logged: bool = True) -> str:
    """A FINISHED run with synthetic metrics and, when ``verdict``, the colorgan.scoring.critic tag colorgan sets."""
    tags = {critic.VERDICT_TAG: f"{verdict}: critic AUC ... on held-out photos"} if verdict else {}
    if n == 0 and critic_logged:
        tags[critic.PRETRAIN_TAG] = "critic pre-trained: 40 steps, held-out AUC 0.700"
    return finished_run(client, exp, name, tags=tags, metrics=_metrics(n, critic_logged),
                        params={"curve_points": POINTS, "curve_eval_images": 32, "n_eval": 40, "lr_g": 1e-3 * (n + 1)})


def _study(client: MlflowClient, root, exp: str, name: str, trials: list[tuple[str | None, dict]]) -> None:
    """A study whose trial n's run says ``verdict`` in its tag (None: no tag) and has user attributes ``attrs``."""
    study = optuna.create_study(study_name=name, storage=optuna_url(root), direction="maximize")
    space = {"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    for n, (verdict, attrs) in enumerate(trials):
        run = _run(client, exp, f"{name}-{n}", n, verdict)
        study.add_trial(optuna.trial.create_trial(params={"lr_g": 1e-3 * (n + 1)}, distributions=space, value=float(n),
                                                  user_attrs={"run_id": run, **attrs}))


@pytest.fixture(scope="module")
def project(tmp_path_factory, empty_mlflow_db):
    """Experiment "set": a critic that learned, one at chance, an L1-only run (no critic figures); study "mixed":
    trial 0 learned (tag and the study's attributes), trial 1 at chance by its attribute only, trial 2 at chance by
    its run's tag only (a store from before the attributes); study "blind": every trial at chance."""
    root = fresh_store(tmp_path_factory.mktemp("critic") / "project", empty_mlflow_db)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = MlflowClient(tracking_uri(root))
        exp = client.create_experiment("set")
        _run(client, exp, "learned", 0, critic.LEARNED)
        _run(client, exp, "blind", 1, critic.CHANCE)
        _run(client, exp, "l1", 2, None, critic_logged=False)
        trials = client.create_experiment("trials")
        _study(client, root, trials, "mixed", [
            (critic.LEARNED, {critic.VERDICT_ATTR: critic.LEARNED, critic.MEAN_ATTR: 0.81}),
            (None, {critic.VERDICT_ATTR: critic.CHANCE, critic.MEAN_ATTR: 0.52}),
            (critic.CHANCE, {})])
        _study(client, root, trials, "blind", [(critic.CHANCE, {}), (critic.CHANCE, {})])
        yield root


@pytest.fixture
def source(project, monkeypatch) -> Source:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Source(project)


def _drawn(monkeypatch) -> list:
    """The figures the next calls save (closed, but their artists stay inspectable)."""
    drawn, save = [], figures.save
    monkeypatch.setattr(figures, "save", lambda fig, folder, name: (drawn.append(fig), save(fig, folder, name))[1])
    return drawn


def _panel(fig):
    return next(ax for ax in fig.axes if ax.get_title() == critic.TITLE)


def _data_lines(ax) -> list:
    """A panel's lines of runs: neither its chance line nor a vertical GAN-phase line."""
    return [line for line in ax.get_lines()
            if line.get_gid() != critic.CHANCE_ID and len(set(np.asarray(line.get_xdata()).tolist())) > 1]


def _chance_lines(ax) -> list:
    return [line for line in ax.get_lines() if line.get_gid() == critic.CHANCE_ID]


def _stored(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _entries(source: Source, names) -> list:
    return source.runs(spec.ReportSpec("set", "set", experiment="set", runs=tuple(names)))


def test_the_losses_figure_has_a_critic_panel_with_the_logged_aucs_their_interval_and_chance(source, tmp_path,
                                                                                          monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    entries = _entries(source, ("learned", "blind", "l1"))
    plotted = curve_figures.losses(source.histories(entries, curve_figures.epoch_keys(Declared())), tmp_path)
    ax = _panel(drawn[0])
    for entry in entries:  # the plotted critic points are the store's, run by run
        got = plotted[(plotted["run"] == entry.label) & (plotted["metric"] == critic.AUC)]
        assert sorted(zip(got["step"], got["value"], strict=True)) == _stored(source.client, entry.run_id, critic.AUC)
    assert not ((plotted["run"] == "l1") & (plotted["metric"] == critic.AUC)).any()  # no made-up points
    drawn_points = sorted(tuple(zip(line.get_xdata(), line.get_ydata(), strict=True)) for line in _data_lines(ax))
    assert drawn_points == sorted(tuple((e, _auc(n, e)) for e in range(2, EPOCHS + 1)) for n in (0, 1))
    (line,) = _chance_lines(ax)
    assert set(line.get_ydata()) == {0.5} and line.get_label() == "chance" and line.get_linestyle() == ":"
    assert ax.get_ylim() == (0.4, 1.0)
    bands = [c for c in ax.collections if (c.get_gid() or "").startswith(critic.INTERVAL_ID)]
    assert len(bands) == 2  # one 95% band per run with a critic, none for the L1-only run
    ys = np.concatenate([b.get_paths()[0].vertices[:, 1] for b in bands])
    assert ys.min() == pytest.approx(_auc(0, 2) - 0.08) and ys.max() == pytest.approx(_auc(1, EPOCHS) + 0.08)
    legend = [t.get_text() for leg in drawn[0].legends for t in leg.get_texts()]
    assert "chance" in legend
    assert critic.CHANCE_ID in (tmp_path / "losses.svg").read_text()


@pytest.mark.slow  # two figures drawn
def test_runs_without_critic_figures_get_the_panel_saying_not_logged(source, tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    hist = source.histories(_entries(source, ("l1",)), curve_figures.epoch_keys(Declared()))
    curve_figures.losses(hist, tmp_path / "epochs")
    l1 = _entries(source, ("l1",))
    names = tuple(n for n, _, _ in curve_figures.loss_curve_panels(Declared()))
    curve_figures.loss_curves(source.histories(l1, curve_figures.curve_keys(source.metric_keys(l1), names)),
                              tmp_path / "within")
    for fig, key in zip(drawn, (critic.AUC, "curve/train|eval/critic_auc"), strict=True):
        ax = _panel(fig)
        assert _data_lines(ax) == [] and len(_chance_lines(ax)) == 1
        assert f"{key}:" in " ".join(t.get_text() for t in ax.texts) and "not logged" in ax.texts[0].get_text()


@pytest.mark.slow  # a study and its report
def test_a_study_report_draws_each_trials_within_epoch_critic_auc_from_the_store(source, tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    report_spec = spec.ReportSpec("mixed", "mixed", study="mixed", figures=("loss_curves",))
    models, curves, study = build.entries(report_spec, source)
    report = build.Report(report_spec, models, curves, [], pd.DataFrame(), study=study)
    build._curve_figures(report, source, tmp_path)
    plotted = report.plotted["loss_curves_lr_g"]
    for entry in curves:
        got = plotted[(plotted["run"] == entry.label) & (plotted["metric"] == critic.CURVE_AUC)]
        assert sorted(zip(got["step"], got["value"], strict=True)) == _stored(source.client, entry.run_id,
                                                                             critic.CURVE_AUC)
        assert len(got) == (EPOCHS - 1) * POINTS and (got["epoch"] == got["step"] / STEPS).all()
    ax = _panel(drawn[0])
    assert len(_chance_lines(ax)) == 1 and ax.get_ylim() == (0.4, 1.0)
    assert [line.get_linestyle() for line in _data_lines(ax)] == ["--"] * 3  # one dashed (eval subset) line per trial
    assert "critic" in report.captions["loss_curves_lr_g"] and "0.5 = chance" in report.captions["loss_curves_lr_g"]


def test_the_claim_figures_have_the_critic_panel_per_configuration(tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    rows = []
    for config, base in (("a", 0.5), ("b", 0.8)):
        for seed in range(2):
            run = f"{config}-s{seed}"
            for step in range(1, 7):
                rows += [(config, run, curve_figures.CURVE_EPOCH, step, step / 2),
                         (config, run, "curve/train/d_loss", step, 0.6),
                         (config, run, critic.CURVE_AUC, step, base + 0.01 * seed)]
    hist = pd.DataFrame(rows, columns=["config", "run", "metric", "step", "value"])
    claim_figures.claim_curves(hist, "d_loss", tmp_path, "claim_d_loss")
    ax = _panel(drawn[0])
    assert len(_chance_lines(ax)) == 1
    means = sorted(np.round(np.unique(line.get_ydata()), 3).tolist() for line in _data_lines(ax))
    assert means == [[0.505], [0.805]]  # each configuration's mean over its two seeds


def _critic_of(source: Source, name: str, study: bool) -> build.Report:
    report_spec = (spec.ReportSpec(name, name, study=name) if study
                   else spec.ReportSpec(name, name, experiment="set", runs=("learned", "blind", "l1")))
    models, curves, found = build.entries(report_spec, source)
    report = build.Report(report_spec, models, curves, [], pd.DataFrame(), study=found)
    report.says, report.says_lines = pd.DataFrame(), ["The best configuration is trial 0."]
    build._critic(report, source)
    return report


def test_trials_at_chance_are_named_and_their_gan_phase_discounted(source):
    report = _critic_of(source, "mixed", study=True)
    assert report.critic_lines[0] == ("The critic never left chance in trials 1, 2 (of 3 trials with a GAN phase): "
                                      "their GAN phase says nothing about the knobs searched.")
    assert report.critic_lines[1].startswith("The critic learned") and "trial 0" in report.critic_lines[1]
    assert not report.critic_alarm and report.says_lines == ["The best configuration is trial 0."]
    table = report.critic.set_index("run")
    assert list(table["critic"]) == ["learned", "chance", "chance"]  # trial 1 by its attribute, 2 by its tag
    shown = table["critic AUC, eval split, final epoch"]
    assert shown["trial 1"] == "0.520 (mean over seeds)"  # the study's mean over seeds where it recorded one
    assert shown["trial 2"] == f"{_auc(2, EPOCHS):.3f} [{_auc(2, EPOCHS) - 0.08:.3f}, {_auc(2, EPOCHS) + 0.08:.3f}]"


def test_a_study_whose_critic_never_left_chance_says_so_first(source, tmp_path):
    report = _critic_of(source, "blind", study=True)
    assert critic.all_at_chance(report.critic)
    assert report.critic_alarm.startswith("The critic never left chance in any of the 2 trials with a GAN phase "
                                          "(trials 0, 1)")
    assert "says nothing about the knobs searched" in report.critic_alarm
    assert report.says_lines[0] == report.critic_alarm  # the study's answer begins with it
    report.spec = spec.ReportSpec("blind", "blind", study="blind", figures=())
    report.table = pd.DataFrame({"group": []})
    render.write(report, source, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.index(report.critic_alarm) < md.index("## Runs and baselines")  # up front, before any table
    assert "## Did the critic learn?" in md and "| trial 0 |" in md
    assert "class='alarm'" in (tmp_path / "index.html").read_text()


def test_a_run_set_names_its_runs_at_chance_and_skips_runs_without_a_critic(source):
    report = _critic_of(source, "set", study=False)
    assert report.critic_lines[0] == ("The critic never left chance in blind (of 2 runs with a GAN phase): their "
                                      "GAN phase says nothing about the knobs these runs were run for.")
    assert not report.critic_alarm
    table = report.critic.set_index("run")
    assert table.loc["l1", "critic"] == "no verdict logged"
    assert table.loc["l1", "critic AUC, eval split, final epoch"] == "not logged"
    assert table.loc["learned", "critic pre-training"].startswith("critic pre-trained")


def test_a_report_with_no_critic_figures_has_a_note_and_no_verdict(source):
    report_spec = spec.ReportSpec("old", "old", experiment="set", runs=("l1",))
    models, curves, _ = build.entries(report_spec, source)
    report = build.Report(report_spec, models, curves, [], pd.DataFrame())
    build._critic(report, source)
    assert report.critic is None and not report.critic_lines
    (note,) = report.notes
    assert note.startswith("None of the 1 runs logged its critic's held-out AUC")


def test_lines_say_nothing_without_verdicts_and_praise_only_when_all_learned():
    table = pd.DataFrame({"run": ["trial 0", "trial 1"], "critic": ["no verdict logged", "no verdict logged"]})
    assert critic.lines(table, study=True) == [] and not critic.all_at_chance(table)
    table["critic"] = [critic.LEARNED, critic.LEARNED]
    (line,) = critic.lines(table, study=True)
    assert line.startswith("The critic learned") and "every GAN phase here was a game" in line


def test_critic_names_match_what_colorgan_logs():
    """The report never imports colorgan; this test holds the two sides to the same names."""
    from colorgan.scoring import critic as logged
    from colorgan.tracking import tags
    from colorgan.training import curves

    assert (critic.VERDICT_TAG, critic.PRETRAIN_TAG) == (tags.VERDICT_TAG, tags.CRITIC_PRETRAIN_TAG)
    assert (critic.CHANCE, critic.LEARNED) == (logged.CHANCE, logged.LEARNED)
    assert tuple(f"eval/{k}" for k in logged.FIGURES) == critic.EPOCH_KEYS
    assert {critic.CURVE_NAME, critic.CURVE_GAP.rsplit("/", 1)[1]} <= set(curves.SCORES)
