"""Draws that do not depend on timing: trial n's values come from a sampler made for trial n alone, seeded by the
study's seed and n, that sees only the trials numbered below n, and, when its draw reads their results, waits for
every one of them to finish first.

One sampler per worker, reseeded by the trials held when the worker chose, made a seeded study's later values
depend on which worker took which trial and which trial ended first: two runs of one study file with two workers
tried different configurations. Here trial n's draw has the same inputs whatever the timing. A draw that reads no
results (random, grid, TPE's startup trials, NSGA-II's first generation) is made at once; one that does waits,
holding no lock, polling the storage: after its startup trials a TPE study runs its trials one after the other,
the price of the same study giving the same configurations with any number of workers.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState


class Before:
    """The study as trial n's draw sees it: the trials numbered below n, read once (after the wait); anything else
    a sampler asks for (directions, storage, system attributes) is the study's own."""

    def __init__(self, study: optuna.Study, number: int):
        self._study = study
        self._trials = [t for t in study._get_trials(deepcopy=False) if t.number < number]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return self.get_trials(deepcopy, states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class InOrder(optuna.samplers.BaseSampler):
    """Trial n drawn by ``for_trial(n)`` on the study cut at n (Before); from trial number ``reads_from`` on (None:
    never), only once ``wait(study, n)`` has returned. One trial at a time, as a worker runs them."""

    def __init__(self, for_trial: Callable[[int], optuna.samplers.BaseSampler], reads_from: int | None,
                 wait: Callable[[optuna.Study, int], None]):
        self.for_trial, self.reads_from, self.wait = for_trial, reads_from, wait
        self._number: int | None = None
        self._sampler: optuna.samplers.BaseSampler | None = None
        self._seen: Before | None = None

    def _made(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if self._sampler is None or self._number != trial.number:
            self._number, self._sampler, self._seen = trial.number, self.for_trial(trial.number), None
        return self._sampler

    def _drawing(self, study: optuna.Study, trial: FrozenTrial) -> tuple[optuna.samplers.BaseSampler, Before]:
        sampler = self._made(trial)
        if self._seen is None:
            # A trial whose values are all fixed (a cut-off trial run again) waits too past reads_from: Optuna asks
            # the sampler for its relative search space all the same. Rare, and nothing earlier is running then.
            if self.reads_from is not None and trial.number >= self.reads_from:
                self.wait(study, trial.number)
            self._seen = Before(study, trial.number)
        return sampler, self._seen

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # called while the study's lock is held: never waits (grid marks its point here, from trials already made)
        self._made(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        sampler, seen = self._drawing(study, trial)
        return sampler.infer_relative_search_space(seen, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        sampler, seen = self._drawing(study, trial)
        return sampler.sample_relative(seen, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        sampler, seen = self._drawing(study, trial)
        return sampler.sample_independent(seen, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._made(trial).after_trial(study, trial, state, values)


def until_earlier_finished(every_s: float, tidy: Callable[[], None] = lambda: None) -> Callable[[optuna.Study, int],
                                                                                                 None]:
    """A wait that returns once every trial numbered below n has finished (COMPLETE, PRUNED or FAIL), looking every
    ``every_s`` seconds and holding nothing in between; ``tidy`` runs before each look (the trial loop fails the
    trials of dead workers there, so a trial waited for whose process died does not hold the study up for ever)."""

    def wait(study: optuna.Study, number: int) -> None:
        while True:
            tidy()
            if all(t.state.is_finished() for t in study._get_trials(deepcopy=False) if t.number < number):
                return
            time.sleep(every_s)

    return wait
