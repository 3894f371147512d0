"""The end of an epoch runs in one named order (epoch.end_epoch), so nothing depends on the order of callbacks:
the caller's hook (a study's pruner) comes last and sees an epoch already checkpointed, logged and printed."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import tensorflow as tf

from colorgan.base import config
from colorgan.scoring import metrics
from colorgan.training import budget, epoch


class Calls(list):
    """The order things happened in, as names."""

    def write(self, text: str) -> int:  # stands in for sys.stdout: a printed line is one "print"
        if text.strip():
            self.append("print")
        return len(text)

    def flush(self) -> None:
        pass


def _fakes(calls: Calls, cfg: config.Config):
    tracker = SimpleNamespace(
        save_checkpoint=lambda write, step, values: calls.append("checkpoint"),
        log_metrics=lambda values, step: calls.append("log metrics"),
        log_image=lambda image, name: calls.append("log grid"))
    guard = SimpleNamespace(before_writes=lambda step: calls.append("check stores"), kept=None, logged=0)
    model = SimpleNamespace(
        loss_names=("g_total", "d_loss"), stop_training=False, adversarial_now=True, eval_step=lambda: None,
        g_optimizer=SimpleNamespace(learning_rate=2e-4), d_optimizer=SimpleNamespace(learning_rate=2e-4),
        inference_generator=lambda l_in, training: tf.zeros((*l_in.shape[:-1], 2)))
    size = cfg.image_size
    bundle = SimpleNamespace(eval=None, eval_rgb_sample=np.full((2, size, size, 3), 128, np.uint8))
    return tracker, guard, model, bundle


def test_the_end_of_an_epoch_evaluates_checks_checkpoints_logs_prints_then_calls_the_hook(monkeypatch):
    cfg = config.build({"image_size": 32, "full_eval": "every_epoch", "checkpoint": True, "epochs": 2})
    calls = Calls()
    tracker, guard, model, bundle = _fakes(calls, cfg)
    figures = {"g_total": 1.0, "d_loss": 0.5, **{name: 1.0 for name in metrics.QUALITY}}

    def evaluate_split(model_, dataset, step_fn):
        calls.append("evaluate")
        return dict(figures), {}

    seen = {}

    def hook(step, values):
        calls.append("hook")
        seen.update(step=step, psnr=values["eval/psnr"], kept=guard.kept, logged=guard.logged)

    monkeypatch.setattr(epoch, "evaluate_split", evaluate_split)
    gray = {name: 0.5 for name in metrics.QUALITY}
    run = epoch.RunEpochs(cfg, bundle, tracker, SimpleNamespace(write=None), gray, budget.Spend(cfg, 8), guard,
                          print_lines=True, on_epoch_end=hook)
    epoch.start_epoch(run, model, 0)
    monkeypatch.setattr(sys, "stdout", calls)
    values = epoch.end_epoch(run, model, 0, {"g_total": 1.5, "d_loss": 0.7})
    monkeypatch.undo()
    assert calls == ["evaluate", "check stores", "checkpoint", "log metrics", "log grid", "print", "hook"]
    assert seen == {"step": 1, "psnr": 1.0, "kept": 1, "logged": 1}
    assert run.step == 1 and run.last is values and values["eval/psnr_gain"] == 0.5


def test_no_hook_and_no_line_leave_the_rest_in_order(monkeypatch):
    cfg = config.build({"image_size": 32, "full_eval": "last_epoch", "checkpoint": False, "epochs": 2})
    calls = Calls()
    tracker, guard, model, bundle = _fakes(calls, cfg)
    run = epoch.RunEpochs(cfg, bundle, tracker, SimpleNamespace(write=None), {}, budget.Spend(cfg, 8), guard,
                          print_lines=False)
    epoch.start_epoch(run, model, 0)
    values = epoch.end_epoch(run, model, 0, {"g_total": 1.5, "d_loss": 0.7})
    assert calls == ["check stores", "log metrics", "log grid"]  # not the last epoch: no whole-split evaluation
    assert "eval/psnr" not in values and guard.kept is None and guard.logged == 1
