"""The epoch plan: phases and pix2pix's per-phase linear learning-rate decay (pure arithmetic, no TF)."""

from __future__ import annotations

import pytest

from colorgan.base import config
from colorgan.training import schedule


def _cfg(**values) -> config.Config:
    return config.build(values)


def test_pretraining_comes_first_and_the_epochs_run_on_without_a_gap():
    cfg = _cfg(pretrain_epochs=2, epochs=3)
    assert [(p.index, p.name, p.start, p.stop) for p in schedule.phases(cfg)] == [
        (schedule.PRETRAIN, "pretrain", 0, 2), (schedule.MAIN, "gan", 2, 5)]
    assert [schedule.phase_at(cfg, e).index for e in range(5)] == [0, 0, 1, 1, 1]
    assert schedule.total_epochs(cfg) == 5
    with pytest.raises(ValueError, match="outside the run's 5 epochs"):
        schedule.phase_at(cfg, 5)


def test_without_pretraining_there_is_one_phase_named_for_what_it_trains():
    assert [p.name for p in schedule.phases(_cfg(epochs=2))] == ["gan"]
    assert [p.name for p in schedule.phases(_cfg(epochs=2, adversarial=False, pretrain_epochs=1))] == ["pretrain",
                                                                                                      "l1"]


def test_linear_decay_is_constant_then_falls_within_each_phase():
    cfg = _cfg(pretrain_epochs=2, epochs=4, lr_schedule="linear_decay", decay_epochs=2, lr_g=3e-4, lr_d=6e-4)
    # within a phase of n epochs, epoch e gets 1 - max(0, e + 1 - (n - 2)) / 3
    factors = [2 / 3, 1 / 3,  # pre-training, n = 2: all of it decays
               1.0, 1.0, 2 / 3, 1 / 3]  # the GAN, n = 4: constant, then the last two epochs decay
    assert [schedule.lr_factor(cfg, e) for e in range(6)] == pytest.approx(factors)
    rates = [schedule.learning_rates(cfg, e) for e in range(6)]
    assert [g for g, _ in rates] == pytest.approx([3e-4 * f for f in factors])
    assert [d for _, d in rates] == pytest.approx([6e-4 * f for f in factors])


def test_the_constant_schedule_keeps_the_base_rates():
    cfg = _cfg(pretrain_epochs=1, epochs=3, lr_g=3e-4, lr_d=6e-4)
    assert {schedule.learning_rates(cfg, e) for e in range(4)} == {(3e-4, 6e-4)}
