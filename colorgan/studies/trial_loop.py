"""Running trials until the budget is met: one worker's loop (``work``; ``worker.py`` is a worker process's entry
point), the N processes of ``--workers N``, and waiting for trials another session is still running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

from colorgan import tracking
from colorgan.base import diskspace, paths
from colorgan.base.errors import Terminated
from colorgan.studies import answer as answer_mod
from colorgan.studies import lock as lock_mod
from colorgan.studies import summaries
from colorgan.studies.objective import make_objective
from colorgan.studies.spec import StudyError, StudySpec
from colorgan.studies.storage import PRETRAIN_ATTR, make_sampler, open_study, parent_run_id
from colorgan.studies.trials import (
    close_dead_runs,
    counted,
    cut_off,
    fail_dead_trials,
    longest_trial_s,
    stopped_line,
    trial_owner,
)
from colorgan.tracking import liveness, studyruns
from colorgan.training import train


def work(spec: StudySpec, url: str, parent_run_id: str, root: Path, budget: int, epochs: int | None,
         deadline: float | None, worker: int = 0) -> None:
    """One worker: run trials until the study holds ``budget`` finished ones (or time is up).

    Each choice of the next trial (stale trials failed and retried, the budget counted, the base values or a
    cut-off trial's fixed) holds the study's lock (studies.lock) until the trial exists, so processes sharing a
    SQLite study never overshoot the budget or run the base values twice. Its values are drawn after the lock is
    released, by draws.InOrder: trial n's from (seed, n) and the trials before n, whichever worker runs it."""
    study = open_study(spec, url)
    objective = make_objective(spec, parent_run_id, root, epochs, study.user_attrs.get(PRETRAIN_ATTR, ""))
    objective.lock = lock = lock_mod.StudyLock(url)

    def tidy() -> None:
        """While a draw waits for earlier trials (the lock released by then): a waited-for trial whose worker died
        is failed and retried, under the lock as at each choice, so it does not hold this one up for ever."""
        with lock:
            optuna.storages.fail_stale_trials(study)
            fail_dead_trials(study, spec)

    sampler = make_sampler(spec, tidy)
    while deadline is None or time.time() + longest_trial_s(study) < deadline:
        try:
            lock.acquire()
            optuna.storages.fail_stale_trials(study)
            fail_dead_trials(study, spec)
            close_dead_runs(study, root)
            trials = study.get_trials(deepcopy=False)
            running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if counted(trials) + running >= budget:
                break
            # The base experiment's own values first, or a cut-off trial's again: fixed by this worker's sampler (an
            # enqueued trial can be popped by two workers at once on SQLite), marked by the objective.
            base = _base_to_run(study, spec, worker, lock.path is not None)
            retry = None if base else cut_off(study)
            fixed = base or (retry.params if retry else {})
            study.sampler = optuna.samplers.PartialFixedSampler(fixed, sampler) if fixed else sampler
            objective.base_next, objective.retry_of = bool(base), retry.number if retry else None
            study.optimize(objective, n_trials=1, catch=(Exception,))
        finally:
            lock.release()
        if objective.full is not None:  # the trial's line ("run R stopped: WHAT; kept ...") names the store
            what = str(objective.full).partition(" stopped: ")[2].partition("; kept ")[0] or str(objective.full)
            raise diskspace.DiskFull(stopped_line(spec, study, budget, what, "free some space, then"))
        if objective.gone is not None:
            gone = objective.gone
            raise StudyError(stopped_line(spec, study, budget, f"the tracking server {gone.server} did not answer "
                                           f"for {gone.waited_s:.0f} s (COLORGAN_TRACKING_WAIT_S)",
                                           "once the server answers again:"))
        update_parent(study, spec, parent_run_id, root)
    study.sampler = sampler


def _base_to_run(study: optuna.Study, spec: StudySpec, worker: int, locked: bool) -> dict:
    """The base experiment's values, for the study's first trial (trial 0 of a new study, whichever worker chooses
    first while the study's lock orders the choices; worker 0's first without a lock, on a server storage); {} once
    a trial holds them, with include_base = false, or when they lie outside the space."""
    if (worker != 0 and not locked) or not spec.include_base or any(
            t.user_attrs.get(summaries.BASE_ATTR) for t in study.get_trials(deepcopy=False)):
        return {}
    return spec.base_values()


def update_parent(study: optuna.Study, spec: StudySpec, parent_run_id: str, root: Path,
                   found: answer_mod.Answer | None = None) -> None:
    """The parent's description (what the study found: the trials table, and a two-objective study's Pareto front
    and recommended trial) and the best objective so far, one point per finished trial (step = its number)."""
    text = summaries.markdown(study, spec, studyruns.gray_by_run(root, parent_run_id))
    if found is not None:
        text += "\n" + "\n".join(f"    {line}" for line in found.lines(spec)) + "\n"
    studyruns.describe_run(root, parent_run_id, text)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL))
    best = study.best_trial if not spec.multi_objective else next(
        (t for t in complete if found is not None and t.number == found.recommended), study.best_trials[0])
    tracking.log_parent_progress(
        root, parent_run_id, {"number": best.number, "params": best.params,
                              "values": dict(zip(spec.metrics, best.values, strict=True))},
        max(t.number for t in finished), studyruns.trial_run_id(best.user_attrs))


def run_worker(spec: StudySpec, url: str, budget: int, epochs: int | None = None, deadline: float | None = None,
               index: int = 0, threads: int = 0) -> None:
    """One of the processes ``spawn`` starts (``colorgan.studies.worker``): the study is prepared, so its
    parent run is read from Optuna, and the project root comes from $COLORGAN_HOME, which ``spawn`` sets."""
    train.configure_threads(threads)
    parent = parent_run_id(open_study(spec, url))
    if parent is None:
        raise StudyError(f"study {spec.name!r} in {url.split('@')[-1]} was not prepared: start it with colorgan study")
    work(spec, url, parent, paths.repo_root(), budget, epochs, deadline, index)


def spawn(spec, url, workers, budget, epochs, deadline, root) -> None:
    """N worker processes (not threads), each with TF's thread pools sized to its share of the cores."""
    share = max(1, (os.cpu_count() or 1) // workers)
    cmd = [sys.executable, "-m", "colorgan.studies.worker", str(Path(spec.path).resolve()), "--storage", url,
           "--trials", str(budget), "--threads", str(share)]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    if deadline:
        cmd += ["--deadline", str(deadline)]
    env = {**os.environ, paths.HOME_ENV: str(root)}
    procs = [subprocess.Popen([*cmd, "--index", str(i)], cwd=root, env=env) for i in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt as exc:  # Ctrl-C reached every worker (the terminal's process group); SIGTERM may not
        for p in procs:
            if isinstance(exc, Terminated) and p.poll() is None:
                p.terminate()  # each ends its trial as Ctrl-C does (base.errors.sigterm_as_interrupt)
        for p in procs:
            p.wait()
        raise
    if any(codes) and all(code in (0, 2) for code in codes):  # an expected stop: each worker said why in one line
        raise StudyError(f"study {spec.name}: {sum(c == 2 for c in codes)} of {len(codes)} workers stopped (the "
                         f"reason above); colorgan study {spec.name} goes on once it is dealt with")
    if any(codes):
        raise RuntimeError(f"study workers exited with codes {codes}")


def run_budget(spec: StudySpec, url: str, parent: str, root: Path, budget: int, epochs: int | None,
                deadline: float | None, workers: int, threads: int) -> None:
    """This session's workers, run again while the budget still wants trials they can run; the parent run beats
    meanwhile (colorgan.tracking.liveness), so it is not left RUNNING if the session dies."""
    with liveness.keep_alive(root, parent, spec.heartbeat):
        if workers <= 1:
            train.configure_threads(threads)
        while True:
            if workers <= 1:
                work(spec, url, parent, root, budget, epochs, deadline)
            else:
                spawn(spec, url, workers, budget, epochs, deadline, root)
            if not wants_more(spec, url, budget, deadline):
                return


def wants_more(spec: StudySpec, url: str, budget: int, deadline: float | None) -> bool:
    """After this session's workers stopped: whether the budget still wants trials they can run (a trial that
    another process was running ended or died meanwhile). A trial of the budget still alive elsewhere is waited for
    up to twice the longest finished trial plus one grace period and a beat; past that, a StudyError says it may
    still be running, rather than report the study done while it is not."""
    beat = spec.heartbeat
    study = open_study(spec, url)
    # a live trial is waited for as long as twice the longest finished one (another session's last trial, on a
    # busy machine), plus a grace period: a trial that long overdue is reported, not waited for
    give_up = time.time() + beat.grace_s + beat.interval_s + 2 * longest_trial_s(study)
    while True:
        optuna.storages.fail_stale_trials(study)
        fail_dead_trials(study, spec)
        trials = study.get_trials(deepcopy=False)
        done = counted(trials)
        if done >= budget or (deadline is not None and time.time() + longest_trial_s(study) >= deadline):
            return False
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        if not running:
            return True
        if time.time() >= give_up:
            who = ", ".join(f"trial {t.number} ({(trial_owner(t) or {}).get('owner', 'owner unknown')})"
                            for t in running)
            raise StudyError(f"study {spec.name}: {done} of {budget} trials finished; {who} may still be running "
                             f"elsewhere (heartbeat within the {beat.grace_s:g} s grace period): run this again once "
                             "it has ended")
        time.sleep(beat.interval_s)
