"""Finding runs by tags: the two helpers (colorgan.tracking for the writing side, reports.source for the report)
against a real temporary MLflow store, and an evaluation of a folder whose name holds quotes, written by
`colorgan evaluate` and found again by the report; a study's trial runs found under its parent run."""

from __future__ import annotations

import pytest
from conftest import finished_run, write_colour_images

from colorgan import tracking
from colorgan.evaluation import evaluate
from reports import source

AWKWARD = ["plain", "it's", 'say "hi"', "back\\slash", "ends in \\", "both ' and \"", "it_s", "IT'S", "50%_off"]


@pytest.fixture
def tagged(store):
    """A store with one run per awkward value (tag ``k``), plus a FINISHED twin of ``it's`` started later."""
    client = tracking.store.connect(store)
    exp = tracking.experiment_id("find", store)
    runs = {value: client.create_run(exp, tags={"k": value, "role": "x"}).info.run_id for value in AWKWARD}
    twin = finished_run(client, exp, tags={"k": "it's", "role": "x"}, start_time=2**41)
    return client, exp, runs, twin


@pytest.mark.slow  # a real MLflow store for each
@pytest.mark.parametrize("find_runs", [tracking.find_runs, source.find_runs], ids=["tracking", "reports"])
def test_each_value_finds_exactly_its_runs(tagged, find_runs):
    client, exp, runs, twin = tagged
    for value, run_id in runs.items():
        found = [r.info.run_id for r in find_runs(client, [exp], {"k": value, "role": "x"}, max_results=10)]
        assert found == ([twin, run_id] if value == "it's" else [run_id]), value
    oldest = find_runs(client, [exp], {"k": "it's"}, order_by=("attributes.start_time ASC",))
    assert [r.info.run_id for r in oldest] == [runs["it's"]]
    finished = find_runs(client, [exp], {"k": "it's"}, status="FINISHED", max_results=10)
    assert [r.info.run_id for r in finished] == [twin]
    assert find_runs(client, [exp], {"k": "it's", "role": "y"}, max_results=10) == []


@pytest.mark.slow  # a real MLflow store and the evaluate pipeline
def test_an_evaluation_of_a_folder_with_quotes_is_found_by_the_report(store, tmp_path):
    folder = tmp_path / "Bob's \"best\" \\ photos"
    write_colour_images(folder, 4, size=32)
    first = evaluate.evaluate_model("baseline:gray", str(folder), 32, root=store)
    again = evaluate.evaluate_model("baseline:gray", str(folder), 32, root=store)
    assert again.run_id == first.run_id  # found again by its tags, not duplicated
    reader = source.Source(store)
    entry = reader.baseline("gray", str(folder.resolve()), 32)
    assert entry is not None and entry.run_id == first.run_id
    evaluated = reader.evaluation(entry, str(folder))
    assert evaluated is not None and evaluated.info["data_dir"] == str(folder.resolve())
    assert int(evaluated.summary.iloc[0]["n"]) == 4


def test_a_study_s_trial_runs_are_found_under_its_parent_as_stored_before_and_now(store):
    """A study resumed from a store written before trials had runs of their own: its old trial's seed runs sit
    directly under the parent (without a role tag), a new trial's under the trial's own run. Both are its trial
    runs (tracking.trial_runs: the gray figures, the CPU time, the trial count read them); the trial's own run and
    a run not under the parent are not."""
    client = tracking.store.connect(store)
    exp = tracking.experiment_id("study-old", store)
    parent = finished_run(client, exp, "study-old", tags={"colorgan.role": "parent"})
    old = [finished_run(client, exp, f"trial-0-seed{k}", tags={"mlflow.parentRunId": parent, "colorgan.trial": 0})
           for k in (0, 1)]
    group = finished_run(client, exp, "trial-1", tags={"mlflow.parentRunId": parent, "colorgan.trial": 1,
                                                       "colorgan.role": "trial_group"})
    new = [finished_run(client, exp, f"trial-1-seed{k}", tags={"mlflow.parentRunId": group, "colorgan.trial": 1,
                                                               "colorgan.role": "trial"}) for k in (0, 1)]
    elsewhere = finished_run(client, exp, "elsewhere")
    finished_run(client, exp, "under elsewhere", tags={"mlflow.parentRunId": elsewhere, "colorgan.role": "trial"})
    assert sorted(r.run_id for r in tracking.trial_runs(store, parent)) == sorted(old + new)
