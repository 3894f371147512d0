"""Studies run end to end in this process (colorgan.studies.runner: real tiny trainings, a real SQLite Optuna
storage and MLflow store): trials nested under one parent run and resumed without duplicates, pruned trials, the
time budget, a configuration drawn twice, repeats over seeds compared paired, the shared warm start ([pretrain]),
and a two-objective study's Pareto front and pick. Worker processes are test_study_workers.py."""

from __future__ import annotations

import io
import itertools
import json
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers import spec_file, study_text, trial_runs

from colorgan import studies, tracking
from colorgan.scoring import metrics
from colorgan.studies import comparisons, printout, runner, summaries

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"
State = optuna.trial.TrialState


@pytest.mark.slow
def test_smoke_study_nests_trials_and_resumes_without_duplicates(env, capsys):
    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    assert [t.state for t in study.trials] == [State.COMPLETE] * 2
    parent = study.user_attrs["mlflow_parent_run_id"]

    study = runner.run_study(spec, trials=4, epochs=1, root=env)  # resume: the budget is now 4
    assert len(study.trials) == 4 and all(t.state == State.COMPLETE for t in study.trials)
    assert study.user_attrs["mlflow_parent_run_id"] == parent
    client = tracking.store.connect(env)
    exp = client.get_experiment_by_name("study-smoke")
    parents = client.search_runs([exp.experiment_id], "tags.`colorgan.role` = 'parent'")
    assert [p.info.run_id for p in parents] == [parent]
    runs = trial_runs(env, parent)
    assert sorted(runs) == [0, 1, 2, 3]
    for trial in study.trials:
        run = runs[trial.number]
        assert run.status == "FINISHED"
        assert run.tags["colorgan.trial_state"] == "COMPLETE"
        assert float(run.params["lr_g"]) == pytest.approx(trial.params["lr_g"])
        assert run.metrics["eval/psnr_gain"] == pytest.approx(trial.value)  # the default objective
        assert run.metrics["trial/eval/psnr_gain"] == round(trial.value, 2)  # one seed: its run is the trial's
        assert run.tags["mlflow.parentRunId"] == parent and "group_run_id" not in trial.user_attrs
    assert study.trials[0].user_attrs["base"] and study.trials[0].params == {"lr_g": 4e-4}  # the smoke default
    lr = [t.params["lr_g"] for t in study.trials]
    assert len(set(lr)) == 4, f"the resumed call sampled the first call's values again: {lr}"
    best = client.get_run(parent)
    assert best.info.status == "FINISHED"  # no session is working on it any more
    assert best.data.tags["best.trial"] == str(study.best_trial.number)
    assert runs[study.best_trial.number].tags["colorgan.best"] == "true"
    assert {a.path for a in client.list_artifacts(parent)} >= {"trials.csv", "study"}
    # The parent page answers "what did this study find": its settings, the best so far per trial, the table.
    assert best.data.params["space.lr_g"] == "float 0.0001 to 0.01 log"
    assert best.data.params["objective"] == "maximize eval/psnr_gain"
    assert best.data.params["sampler"] == "random seed=0"
    assert sorted({m.step for m in client.get_metric_history(parent, "best/eval/psnr_gain")}) == [0, 1, 2, 3]
    note = best.data.tags["mlflow.note.content"]
    assert f"best trial {study.best_trial.number}: eval PSNR gain over the gray image" in note
    assert "4 trials: 4 complete" in note and "(gray PSNR pooled " in note
    assert note.count("| complete |") == 4 and "| gray PSNR pooled (dB) | critic AUC | critic | base | epoch |" in note
    assert note.count("| chance |") + note.count("| learned |") == 4  # each trial's GAN phase judged (issue 33)
    view = json.loads(exp.tags["mlflow.sharedViewState.colorgan"])  # what make ui's link opens (test_ui.py)
    assert view["orderByKey"] == "attributes.start_time" and view["orderByAsc"] is True  # the UI nests runs
    assert view["columnOrder"][:4] == ["metrics.`trial/eval/psnr_gain`", "metrics.`trial/eval/colorfulness_gap`",
                                       "metrics.`trial/eval/critic_auc`", "metrics.`eval/psnr_gain`"]

    capsys.readouterr()
    printout.print_summary(study, spec, env)  # make summary: each figure next to the gray one, with its epoch
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:3] == ["trial", "state", "lr_g"] and "gray PSNR pooled (dB)" in lines[0]
    for trial, line in zip(study.trials, lines[1:5], strict=True):
        gray = float(runs[trial.number].params["gray_psnr"])
        cells = line.split()
        assert cells[:2] == [str(trial.number), "complete"] and cells[-2] == "1/1"
        assert [float(c) for c in cells[3:5]] == pytest.approx([trial.value, gray], abs=0.006)
    best_line = f"best trial {study.best_trial.number}: eval PSNR gain over the gray image "
    assert lines[5].startswith(best_line) and "(gray PSNR pooled " in lines[5]

    study = runner.run_study(spec, trials=4, epochs=1, root=env)  # budget met: nothing more runs
    assert len(study.trials) == 4


@pytest.mark.slow
def test_pruned_trial_is_marked_in_optuna_and_mlflow(env, tmp_path):
    text = "repeats = 2\n" + SMOKE.read_text().replace('[pruner]\nname = "none"',
                                                      '[pruner]\nname = "threshold"\nlower = 1000.0  # none reaches it')
    spec = studies.load_spec(spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=1, root=env)
    (trial,) = study.trials
    assert trial.state == State.PRUNED and trial.user_attrs["epochs"] == 1
    (run,) = trial_runs(env, study.user_attrs["mlflow_parent_run_id"]).values()  # a pruned first seed: no other
    # A normal outcome, not a failure: FINISHED, named and tagged as pruned, found by the filter
    # docs/guides/studies.md gives;
    # so is the trial's own run, which its seed's run nests under, with the figure it was pruned at, rounded.
    group = tracking.run_data(env, trial.user_attrs["group_run_id"])
    for each, name in ((run, "trial-0-seed0 (pruned)"), (group, "trial-0 (pruned)")):
        assert each.tags["colorgan.trial_state"] == "PRUNED"
        assert each.status == "FINISHED" and each.name == name
    assert run.tags["mlflow.parentRunId"] == group.run_id
    assert group.metrics["trial/eval/psnr_gain"] == round(run.metrics["eval/psnr_gain"], 2)
    found = tracking.store.connect(env).search_runs([run.experiment_id], "tags.colorgan.trial_state = 'PRUNED'")
    assert sorted(r.info.run_id for r in found) == sorted([run.run_id, group.run_id])
    (row,) = summaries.table(study, spec, printout.gray_by_run(study, env)).to_dict("records")
    assert row["state"] == "pruned" and row["epoch"] == "1/2"  # its figure is from epoch 1 of 2
    gain = row["eval PSNR gain over the gray image (dB)"]
    assert gain == pytest.approx(run.metrics["eval/psnr_gain"])
    assert gain == pytest.approx(run.metrics["eval/psnr"] - row["gray PSNR pooled (dB)"], abs=1e-4)


@pytest.mark.slow
def test_time_budget_starts_no_trial_that_would_end_past_it(env):
    import dataclasses

    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    (first,) = study.trials
    length = (first.datetime_complete - first.datetime_start).total_seconds()
    # A budget shorter than the longest trial so far: a new trial could not end within it, so none starts.
    short = dataclasses.replace(spec, timeout_minutes=0.5 * length / 60)
    started = time.time()
    study = runner.run_study(short, trials=5, epochs=1, root=env)
    assert len(study.trials) == 1
    assert time.time() - started < 0.5 * length + 15  # only the closing bookkeeping (summary, trials.csv)
    study = runner.run_study(spec, trials=2, epochs=1, root=env)  # without a time budget the next one runs
    assert len(study.trials) == 2


def test_an_objective_no_run_logs_is_an_error_before_any_trial(env, tmp_path):
    text = study_text().replace('metrics = ["eval/psnr_gain"]', 'metrics = ["eval/psnr_gainn"]')
    spec = studies.load_spec(spec_file(tmp_path, text))
    with pytest.raises(studies.StudyError, match="eval/psnr_gainn is logged by no run"):
        runner.run_study(spec, trials=1, epochs=1, root=env)
    assert tracking.store.connect(env).get_experiment_by_name(f"study-{spec.name}") is None  # nothing was created


@pytest.mark.slow
def test_a_configuration_sampled_again_is_not_trained_again(env, tmp_path, capsys):
    """A discrete space makes the sampler draw a configuration twice; its seeds would give the same numbers."""
    text = study_text(top="repeats = 2\n").replace(
        'type = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true', 'type = "categorical"\nchoices = [0.0004, 0.001]')
    spec = studies.load_spec(spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=5, epochs=1, root=env)
    copies = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert len(copies) >= 3  # 5 trials over 2 values
    trained = {t.number for t in study.trials} - {t.number for t in copies}
    runs = tracking.trial_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert {int(r.tags["colorgan.trial"]) for r in runs} == trained and len(runs) == 2 * len(trained)
    for copy in copies:
        earlier = study.trials[copy.user_attrs["duplicate_of"]]
        assert copy.params == earlier.params and copy.value == earlier.value
        assert copy.user_attrs["seeds:eval/psnr_gain"] == earlier.user_attrs["seeds:eval/psnr_gain"]
    assert "not trained again" in capsys.readouterr().out
    compared = comparisons.comparisons(study, spec, env)
    assert set(compared["against"]) | set(compared["best"]) <= trained  # a copy is never compared with itself


@pytest.mark.slow
def test_repeats_train_each_configuration_with_every_seed_and_compare_paired(env, tmp_path, capsys):
    spec = studies.load_spec(spec_file(tmp_path, study_text(top="repeats = 2\n")))
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    assert [t.state for t in study.trials] == [State.COMPLETE] * 2
    client = tracking.store.connect(env)
    runs = tracking.trial_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert len(runs) == 4
    parent = study.user_attrs["mlflow_parent_run_id"]
    for trial in study.trials:
        mine = sorted((r for r in runs if r.tags["colorgan.trial"] == str(trial.number)),
                      key=lambda r: int(r.tags["colorgan.repeat"]))
        assert [r.tags["colorgan.repeat"] for r in mine] == ["0", "1"]
        # the seeds' runs nest under the trial's own run, under the study's parent; it holds the rounded figures
        group = client.get_run(trial.user_attrs["group_run_id"])
        assert {r.tags["mlflow.parentRunId"] for r in mine} == {group.info.run_id}
        assert group.data.tags["mlflow.parentRunId"] == parent and group.info.run_name == f"trial-{trial.number}"
        assert group.info.status == "FINISHED" and group.data.tags["colorgan.trial_state"] == "COMPLETE"
        assert group.data.tags["colorgan.role"] == "trial_group" and group.data.params["lr_g"] == \
            f"{trial.params['lr_g']:.3g}"
        gaps = [r.metrics["eval/colorfulness_gap"] for r in mine]
        assert group.data.metrics == {"trial/eval/psnr_gain": round(trial.value, 2),
                                      "trial/eval/colorfulness_gap": round(sum(gaps) / 2, 1),
                                      "trial/eval/critic_auc": round(trial.user_attrs["mean:eval/critic_auc"], 3)}
        assert [r.params["seed"] for r in mine] == ["42", "43"]
        gains = [r.metrics["eval/psnr_gain"] for r in mine]
        assert trial.value == pytest.approx(sum(gains) / 2)  # Optuna sees the mean over the seeds
        assert trial.user_attrs["seeds:eval/psnr_gain"] == pytest.approx(gains)
        assert trial.user_attrs["ci95:eval/psnr_gain"] == pytest.approx(metrics.mean_ci(gains)[1])
        for r in mine:  # the gain is the PSNR minus the gray image's on the same eval images
            assert r.metrics["eval/psnr_gain"] == pytest.approx(
                r.metrics["eval/psnr"] - float(r.params["gray_psnr"]), abs=1e-4)
    table = summaries.table(study, spec, printout.gray_by_run(study, env))
    ci = summaries._ci_heading(metrics.declared(spec.metrics[0]))
    assert table[ci].tolist() == pytest.approx([t.user_attrs["ci95:eval/psnr_gain"] for t in study.trials])

    compared = comparisons.comparisons(study, spec, env)
    n_eval = int(runs[0].params["n_eval"])
    assert list(compared["score"]) == [score for score, _ in metrics.PAIRED]
    assert set(compared["images"]) == {n_eval}
    assert set(compared["verdict"]) <= {"better", "worse", "within noise"}
    assert (compared["ci95_low"] <= compared["difference"]).all() and (compared["difference"] <= compared[
        "ci95_high"]).all()
    assert "base" in set(compared["against_is"]) or study.best_trial.user_attrs.get("base")
    parent_files = {a.path for a in client.list_artifacts(study.user_attrs["mlflow_parent_run_id"])}
    assert "comparisons.csv" in parent_files
    def recompute(*args):
        raise AssertionError("the summary recomputed the comparisons the study had logged")

    with pytest.MonkeyPatch.context() as mp:  # the summary reads what the study logged, never downloads it all again
        mp.setattr(comparisons, "comparisons", recompute)
        logged = comparisons.logged_comparisons(study, spec, env)
    pd.testing.assert_frame_equal(logged, compared, check_dtype=False)
    printout.print_summary(study, spec, env)
    out = capsys.readouterr().out
    assert "paired 95% CI: PSNR mean" in out
    for number, seed in itertools.product((0, 1), (42, 43)):  # one line per seed of each trial, as it ends
        assert f"trial {number} seed {seed} complete " in out, out


@pytest.mark.slow
def test_a_pretrain_table_is_trained_once_and_shared_by_two_workers(env, tmp_path):
    text = study_text(extra='\n[pretrain]\nexperiment = "smoke"\nepochs = 1\nadversarial = false\n')
    spec = studies.load_spec(spec_file(tmp_path, text))
    study = runner.run_study(spec, workers=2, trials=2, epochs=1, root=env)
    client = tracking.store.connect(env)
    experiment = client.get_experiment_by_name(studies.spec.PRETRAIN_EXPERIMENT).experiment_id
    (pre,) = client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")
    assert pre.info.status == "FINISHED" and pre.data.params["adversarial"] == "False"
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert client.get_run(parent).data.tags["colorgan.pretrain_run"] == pre.info.run_id
    trial_runs = tracking.trial_runs(env, parent)
    assert len(trial_runs) >= 2
    for run in trial_runs:  # every trial, in either worker, started from the one shared run
        assert run.params["init_from"] == pre.info.run_id

    runner.run_study(spec, trials=3, epochs=1, root=env)  # a later call finds it again by its config
    assert len(client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")) == 1
    other = tmp_path / "other_study.toml"  # another study with the same [pretrain] table trains none of its own
    other.write_text(text)
    second = runner.run_study(studies.load_spec(other), trials=1, epochs=1, root=env)
    assert len(client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")) == 1
    assert client.get_run(second.user_attrs["mlflow_parent_run_id"]).data.tags["colorgan.pretrain_run"] == \
        pre.info.run_id


TWO_OBJECTIVES = ('\n[pretrain]\nexperiment = "smoke"\nepochs = 1\nadversarial = false\n'
                  '[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/color_auc_rebal"\nmargin = 0.0\n')


@pytest.mark.slow
def test_a_two_objective_study_answers_with_its_pareto_front_and_the_rule_s_pick(env, tmp_path, capsys):
    text = study_text(extra=TWO_OBJECTIVES).replace(
        'metrics = ["eval/psnr_gain"]', 'metrics = ["eval/psnr_gain", "eval/color_auc_rebal"]').replace(
        'directions = ["maximize"]', 'directions = ["maximize", "maximize"]')
    spec = studies.load_spec(spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    parent = study.user_attrs["mlflow_parent_run_id"]
    client = tracking.store.connect(env)
    assert {"pareto.csv", "pareto.png", "comparisons.csv"} <= {a.path for a in client.list_artifacts(parent)}
    table = pd.read_csv(io.StringIO(tracking.read_text(env, parent, "pareto.csv")))
    assert list(table["point"][:2]) == ["gray", "warm start"]
    assert table.loc[table["point"] == "gray", "eval/psnr_gain"].item() == 0.0
    trials = table[table["trial"].notna()]
    assert len(trials) == 2 and trials["on_front"].any() and "eval/colorfulness_gap" in table
    # the pick, recomputed from the table by the rule (margin 0 over the warm start's colour AuC)
    warm = table.loc[table["point"] == "warm start", "eval/color_auc_rebal"].item()
    eligible = trials[trials["on_front"] & (trials["eval/color_auc_rebal"] >= warm)]
    expected = "none" if eligible.empty else str(int(eligible.sort_values("eval/psnr_gain").iloc[-1]["trial"]))
    tags = client.get_run(parent).data.tags
    assert tags["colorgan.recommended_trial"] == expected and "warm start's" in tags["colorgan.recommend_rule"]
    compared = pd.read_csv(io.StringIO(tracking.read_text(env, parent, "comparisons.csv")))
    assert "warm start" in set(compared["against_is"]) and "color_auc_rebal" in set(compared["score"])
    capsys.readouterr()
    printout.print_summary(study, spec, env)
    out = capsys.readouterr().out
    assert "Pareto front: " in out and "Recommended by the study file's rule" in out
    assert "- the warm start (warm start), eval split" in out and "CPU time: trials " in out

