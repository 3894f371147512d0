"""Every tag key colorgan writes on an MLflow run, experiment or registered version, and what its value is.

One home per key: a writer or reader anywhere in colorgan imports the constant from here. The strings are stored:
runs already in users' stores are found again by them, and the report generator (reports/, which never imports
colorgan) spells the ones it reads itself, so a key's string never changes; a new tag gets its constant here.
MLflow keeps every value as a string. Not here, on purpose: a study's Optuna user attributes (``colorgan.owner``,
``colorgan.fail_reason``, ``colorgan.cut_off``, ``colorgan.retry_of``: colorgan.studies.trials), which are
Optuna's, not MLflow's; tests/tracking/test_tags.py holds every other ``colorgan.*`` string of colorgan/ to this module.
"""

from __future__ import annotations

# -- what a run is, and whose ------------------------------------------------------------------------------------
ROLE_TAG = "colorgan.role"  # a run's role: "trial", "trial_group", "parent", "pretrain", "claim", "baseline", "shipped"
STUDY_TAG = "colorgan.study"  # the study name: on its parent and trial runs, the warm start it trained, a publish run
TRIAL_TAG = "colorgan.trial"  # a trial run's Optuna trial number
REPEAT_TAG = "colorgan.repeat"  # a trial run's seed index within its trial (0: the one that reports to the pruner)
TRIAL_STATE_TAG = "colorgan.trial_state"  # a trial run's outcome: "RUNNING", then "COMPLETE", "PRUNED" or "FAIL"
EPOCHS_RUN_TAG = "colorgan.epochs_run"  # a trial run's epochs trained when it ended
PARAM_PREFIX = "param."  # + a searched hyper-parameter's name, on a trial run: its drawn value
BEST_TAG = "colorgan.best"  # on a trial run: "true" while it is its study's best, "false" once another is
STORAGE_TAG = "colorgan.storage"  # on a study's parent run: its Optuna storage (the URL without credentials)
PRETRAIN_RUN_TAG = "colorgan.pretrain_run"  # on a study's parent run: the run id of its shared warm start
BEST_PARAM_PREFIX = "best."  # + a param name, on a study's parent run: the best trial's value so far
BEST_TRIAL_TAG = "best.trial"  # on a study's parent run: the best trial's number
BEST_RUN_TAG = "best.run_id"  # on a study's parent run: the best trial's run id
RECOMMEND_RULE_TAG = "colorgan.recommend_rule"  # on a two-objective study's parent run: its [recommend] rule in words
RECOMMENDED_TRIAL_TAG = "colorgan.recommended_trial"  # ... and the rule's pick: a trial number, or "none"

# -- runs trained once, found again by a key (colorgan.training.once) ---------------------------------------------
REPRODUCE_KEY_TAG = "colorgan.reproduce_key"  # a `make reproduce` run's key: its config and data (once.key)
PRETRAIN_KEY_TAG = "colorgan.pretrain_key"  # a study's shared warm start's key, the same function

# -- what a training run did -------------------------------------------------------------------------------------
DATA_SOURCE_TAG = "colorgan.data_source"  # where its data directory came from: config data_dir, $COLORGAN_DATA, ...
PRECISION_TAG = "colorgan.precision_reason"  # why it trained in precision_resolved (auto: the hardware)
LAST_EPOCH_TAG = "colorgan.last_epoch"  # the last epoch whose checkpoint it logged
MODEL_URI_TAG = "colorgan.model_uri"  # the MLflow URI of the generator it logged at the end
STOPPED_TAG = "colorgan.stopped"  # why it stopped early: the CPU budget spent, with the epoch
CRITIC_PRETRAIN_TAG = "colorgan.critic_pretrain"  # the critic's pre-training line: steps and held-out AUC
VERDICT_TAG = "colorgan.critic"  # a GAN run's verdict on its game: "learned: ..." or "chance: ..." (scoring.critic)
LINEAGE_TAG = "colorgan.init_from_run"  # init_from resolved: a run id, or shipped:<folder>@<weights sha256 prefix>
DISCRIMINATOR_TAG = "colorgan.init_from_discriminator"  # "loaded", or why D started fresh
ERROR_TAG = "colorgan.error"  # why it ended FAILED or KILLED: the exception, "interrupted (Ctrl-C)", "abandoned: ..."

# -- liveness (colorgan.tracking.liveness) ----------------------------------------------------------------------
HEARTBEAT_TAG = "colorgan.heartbeat"  # Unix time of the owner's last beat
OWNER_TAG = "colorgan.owner"  # host:pid of the process training the run
SPACE_TAG = "colorgan.owner_space"  # that pid's space (host, boot, pid namespace): heartbeat.pid_space
GRACE_TAG = "colorgan.heartbeat_grace"  # seconds without a beat after which the run is dead

# -- evaluations and publishing ----------------------------------------------------------------------------------
BASELINE_TAG = "colorgan.baseline"  # on a baseline's evaluation run: the baseline's name ("gray", "welsh")
SHIPPED_TAG = "colorgan.shipped"  # on a shipped model's evaluation run: its lineage, shipped:<folder>@<sha>
DATA_DIR_TAG = "colorgan.data_dir"  # on those evaluation runs: the data folder evaluated
IMAGE_SIZE_TAG = "colorgan.image_size"  # ... and the image size, in pixels
EVALUATED_PREFIX = "colorgan.evaluated."  # + an evaluation's data key, on the run evaluated: "<data dir> @ <size>px"
SOURCE_RUN_TAG = "colorgan.source_run"  # on a publish run and its registered version: the training run published

# -- MLflow's own keys that colorgan sets or reads ----------------------------------------------------------------
RUN_NAME_TAG = "mlflow.runName"  # a run's name
PARENT_RUN_TAG = "mlflow.parentRunId"  # a nested run's parent: a trial run's is its trial group or the study's parent
NOTE_TAG = "mlflow.note.content"  # a run's description (markdown) on its page in the UI
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # an experiment's: lists it under the UI's "Model training" (ui.py)
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."  # + a key, an experiment's: a saved runs view (JSON)
