# colorgan — `make help` lists the targets. Every target sets up .venv first (idempotent).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Which TensorFlow build .venv holds, recorded by the stamp its install left: .installed (the pinned CPU build,
# requirements.lock's tensorflow-cpu) or .installed-gpu (`make setup GPU=1`: pyproject's gpu extra, the CUDA build of
# the same TF, and the lock's other pins). Once .venv holds the GPU build, GPU defaults to 1, so every later target
# (which needs $(STAMP)) keeps it, reinstalling the GPU build if pyproject.toml or the lock change, never the CPU one;
# `make setup GPU=` goes back to the CPU build.
GPU ?= $(if $(wildcard $(VENV)/.installed-gpu),1,)
STAMP := $(VENV)/.installed$(if $(GPU),-gpu)
EXP ?= lab_advanced
SET ?=
NAME ?= lr_sweep
PORT ?= 5000
HOST ?= 127.0.0.1
# the MLflow UI the reports link to: `make ui`'s address unless set in the environment (reports/locations.py)
COLORGAN_UI_URL ?= http://127.0.0.1:$(PORT)

.DEFAULT_GOAL := help
# two one-thread study workers: on 2 cores one worker's tracing, data and MLflow work leaves a thread idle (docs/results/measurements.md)
WORKERS ?= 2
STORAGE ?=
# test processes: most of a tiny test's time is single-threaded tracing and Python, so one per core (a test file
# stays in one process, its module fixtures built once)
TEST_PROCS ?= auto
TRIALS ?=
EPOCHS ?=
# `$(WHERE) NAME` prints a location of the project (root, mlruns, mlflow-uri, optuna-db...): colorgan/base/paths.py
WHERE := $(PY) -m colorgan.base.paths
# MODEL empty: serve, evaluate, colorize use the default model (models:/colorgan@champion if registered, else the shipped one)
MODEL ?=
DATA ?=
SIZE ?=

.PHONY: help setup train study summary dashboard evaluate ood report reproduce test test-fast lint ui bench bench-serve serve \
	critic-pilots \
	model-serve clean

# Each target's `## text` is its line in `make help`; $(PORT) and $(HOST) in it are written with their values.
help: ## list the targets
	@grep -E '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/$$(PORT)/$(PORT)/g' -e 's/$$(HOST)/$(HOST)/g' | \
		awk -F':.*## ' '{name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1)} \
		END {for (i = 1; i <= NR; i++) printf "  make %-" w "s  %s\n", name[i], text[i]}'

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip uninstall -qq -y tensorflow  # the GPU build, if .venv held it
	$(VENV)/bin/pip install -q -r requirements.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-gpu
	touch $@

# the GPU build: the lock without tensorflow-cpu, and the gpu extra's tensorflow[and-cuda] (its CUDA libraries),
# resolved together; colorgan itself --no-deps, as its dependencies name tensorflow-cpu
$(VENV)/.installed-gpu: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip uninstall -qq -y tensorflow-cpu  # the CPU build, if .venv held it
	grep -viE '^tensorflow[-_]cpu==' requirements.lock > $(VENV)/requirements-gpu.txt
	$(VENV)/bin/pip install -q -r $(VENV)/requirements-gpu.txt "$$($(VENV)/bin/python -c 'import tomllib; \
		print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"])')"
	$(VENV)/bin/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed
	touch $@

setup: $(STAMP) ## create .venv and install the pinned dependencies (idempotent); GPU=1: the CUDA build of TensorFlow, kept by later targets

train: $(STAMP) ## train one model: make train EXP=lab_advanced SET="epochs=2 batch_size=32"
	$(PY) -m colorgan train experiments/$(EXP).toml $(if $(strip $(SET)),--set $(SET))

study: $(STAMP) ## run or resume a study: make study NAME=lr_sweep [WORKERS=1] [STORAGE=url] [TRIALS=n] [EPOCHS=n]
	$(PY) -m colorgan study studies/$(NAME).toml --workers $(WORKERS) $(if $(STORAGE),--storage $(STORAGE)) \
		$(if $(TRIALS),--trials $(TRIALS)) $(if $(EPOCHS),--epochs $(EPOCHS))

summary: $(STAMP) ## the trials table and best trial of a study: make summary NAME=lr_sweep
	$(PY) -m colorgan study studies/$(NAME).toml --summary $(if $(STORAGE),--storage $(STORAGE))

# optuna-dashboard lists every study of the storage; NAME (given) prints that study's own page first, and stops if the
# storage has no such study (the NAME ?= lr_sweep default is not taken here: without NAME, the line says it lists all)
dashboard: $(STAMP) ## optuna-dashboard on http://127.0.0.1:8080 over the study storage: make dashboard [NAME=lr_sweep] prints its page
	mkdir -p "$$($(WHERE) mlruns)"
	$(PY) -m colorgan.studies.dashboard $(if $(filter command line environment,$(origin NAME)),'$(NAME)') \
		$(if $(STORAGE),--storage $(STORAGE)) --host 127.0.0.1 --port 8080
	$(VENV)/bin/optuna-dashboard $(if $(STORAGE),$(STORAGE),"$$($(WHERE) optuna-db)") --host 127.0.0.1 --port 8080

evaluate: $(STAMP) ## score a model or baseline on the test split: make evaluate [MODEL=RUN_ID|baseline:welsh] [DATA=dir] [SIZE=64] (no MODEL: the default model, as serve)
	$(PY) -m colorgan evaluate $(if $(MODEL),--model '$(MODEL)') $(if $(DATA),--data $(DATA)) $(if $(SIZE),--size $(SIZE))

ood: $(STAMP) ## score a model on photos of other subjects (the built-in samples' source photos, whole): make ood [MODEL=shipped]
	$(PY) -m colorgan evaluate --model '$(or $(MODEL),shipped)' --data "$$($(PY) -m colorgan.data.samples)" $(if $(SIZE),--size $(SIZE))

report: $(STAMP) ## reports/NAME/ from MLflow, evaluating what is missing first: make report NAME=seed_graphs|<study> [STORAGE=url]
	cache="$$($(WHERE) cache)" && mkdir -p "$$cache" && \
	$(PY) -m reports $(NAME) --plan $(if $(STORAGE),--storage $(STORAGE)) > "$$cache/report-plan-$(NAME).sh" && \
	bash -ex "$$cache/report-plan-$(NAME).sh"
	COLORGAN_UI_URL='$(COLORGAN_UI_URL)' $(PY) -m reports $(NAME) $(if $(STORAGE),--storage $(STORAGE))

reproduce: $(STAMP) ## train what reports/claims.toml declares (the report's 5 claims), then its report; CLAIMS=precision_claims: fp32 vs bf16
	$(PY) -m colorgan reproduce reports/$(or $(CLAIMS),claims).toml
	$(MAKE) report NAME="$$($(PY) -m colorgan reproduce reports/$(or $(CLAIMS),claims).toml --report-name)"

# -m "": every test, the slow ones too (a plain `pytest` leaves them out: pyproject's addopts)
test: $(STAMP) ## lint, then the whole test suite (what CI runs)
	$(VENV)/bin/ruff check colorgan tests reports
	$(PY) -m pytest -q -m "" -n $(TEST_PROCS) --dist loadfile --durations=25  # the slowest tests: where CI's minutes went

test-fast: $(STAMP) ## the tests without the slow end-to-end runs (what a plain `pytest` runs)
	$(PY) -m pytest -q

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check colorgan tests reports

ui: $(STAMP) ## MLflow UI on http://127.0.0.1:$(PORT) over mlruns/ (1 worker), dead runs marked FAILED first; prints each experiment's runs URL
	env -u MLFLOW_TRACKING_URI $(PY) -m colorgan close-stale
	$(PY) -m colorgan.tracking.ui --host 127.0.0.1 --port $(PORT)

serve: $(STAMP) ## the upload page + API: make serve [MODEL=models:/colorgan@champion|runs:/ID|study:NAME|shipped] [PORT=8000]
	$(PY) -m colorgan serve $(if $(MODEL),--model '$(MODEL)') --host $(HOST) \
		--port $(if $(filter command line environment,$(origin PORT)),$(PORT),8000)

model-serve: $(STAMP) ## `mlflow models serve` of the registered pyfunc: make model-serve [MODEL=models:/colorgan@champion] [PORT=5001]
	PATH="$(abspath $(VENV))/bin:$$PATH" MLFLOW_TRACKING_URI="$$($(WHERE) mlflow-uri)" \
		$(VENV)/bin/mlflow models serve -m '$(or $(MODEL),models:/colorgan@champion)' --env-manager local -h $(HOST) \
		-p $(if $(filter command line environment,$(origin PORT)),$(PORT),5001)

bench-serve: $(STAMP) ## p50/p95 latency + req/s of a running `make serve`: make bench-serve IMAGE=photo.jpg [PORT=8000]
	$(PY) -m colorgan.bench.serve_latency --image '$(IMAGE)' \
		--url http://$(HOST):$(if $(filter command line environment,$(origin PORT)),$(PORT),8000)

critic-pilots: $(STAMP) ## the critic alone on a frozen generator, one row per design (docs/results/critic.md): make critic-pilots WARM=RUN_ID
	@test -n '$(WARM)' || { echo "make critic-pilots: name the warm-started generator: WARM=RUN_ID (a 64x64 run, e.g. a study's warm start)" >&2; exit 2; }
	$(PY) -m colorgan.bench.critic_pilots --init-from '$(WARM)' --set image_size=64 precision=fp32

bench: $(STAMP) ## one table: this CPU's ceiling, the step's FLOPs, images/s and % of ceiling at 64 and 128, fit on real data
	$(PY) -m colorgan.bench

clean: ## remove caches (keeps mlruns/ and .venv)
	rm -rf "$$($(WHERE) cache)" .pytest_cache .ruff_cache
