# Two commands a newcomer needs: `make synth` (render a stack offline) and `make test`.
# `make synth` installs only what the program and the policy pack import (pyproject.toml
# [project] dependencies); `make test` adds the dev group. Both come from uv.lock, with hashes.
PYTHON ?= python3
VENV ?= .venv
STACK ?= staging
BIN := $(VENV)/bin
UV := $(BIN)/uv
# uv installs into $(VENV) whatever the caller's environment says, and never downloads a
# Python of its own: the venv's interpreter is the one `$(PYTHON) -m venv` made.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# --inexact keeps uv itself (installed by pip, not by the lock's project groups) and lets
# `make synth` run in a venv that `make test` extended.
SYNC := $(UV) sync --locked --inexact
# Checkov pins packaging<24, which uv.lock cannot share: it gets a venv of its own
# (requirements-checkov.txt). Its tests find it there; `make test` installs it.
CHECKOV_VENV ?= .venv-checkov

.PHONY: install install-dev checkov synth preview test lint typecheck unit bench schema lock clean

install: $(BIN)/.runtime
install-dev: $(BIN)/.dev
checkov: $(CHECKOV_VENV)/.installed

# The installer, bootstrapped by pip from a file exported from uv.lock (every hash checked).
$(UV): requirements-uv.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements-uv.txt
	touch $@

$(BIN)/.runtime: $(UV) uv.lock pyproject.toml
	$(SYNC) --quiet
	touch $@

$(BIN)/.dev: $(BIN)/.runtime
	$(SYNC) --quiet --group dev
	touch $@

# Its own pip bootstraps its own uv (requirements-uv.txt): this venv never touches $(VENV).
# --no-config keeps pyproject.toml's constraints, made for the program's venv, out of this one.
# About 20 s on a cold cache.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt requirements-uv.txt
	$(PYTHON) -m venv --clear $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r requirements-uv.txt
	$(CHECKOV_VENV)/bin/uv pip install --no-config --quiet --python $(CHECKOV_VENV)/bin/python \
		--require-hashes --no-deps --compile-bytecode -r requirements-checkov.txt
	touch $@

lock: $(UV)
	$(UV) lock
	$(UV) export --locked --quiet --only-group uv --no-emit-project --format requirements-txt \
		--output-file requirements-uv.txt
	$(UV) pip compile services/requirements.in --quiet --generate-hashes --python-version 3.12 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
		--output-file services/requirements.txt
	$(UV) pip compile requirements-checkov.in --no-config --quiet --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--custom-compile-command "make lock" --output-file requirements-checkov.txt

# ./synth keeps the exit codes 0/1/2 apart; through make any failure becomes 2.
synth: install
	SYNTH_PYTHON=$(BIN)/python ./synth --stack $(STACK)

preview: install
	SYNTH_PYTHON=$(BIN)/python ./synth --stack $(STACK) --preview

test: lint typecheck unit

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The service apps run on the images' Python 3.12: one run for all of them and the shared
# runtime; every service's package is named `app`, so modules are named from services/
# (orders.app.main), one cache for both runs.
typecheck: install-dev
	$(BIN)/mypy .
	cd services && ../$(BIN)/mypy --strict --python-version 3.12 --explicit-package-bases \
		--cache-dir ../.mypy_cache micromart_runtime */app

# The suite is CPU-bound (synths, the policy pack, real servers): one worker per core. Each
# worker starts its own session fixtures (synths, PostgreSQL, RabbitMQ on free ports).
PYTEST_WORKERS ?= 2
unit: install-dev checkov
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

bench: install-dev
	$(BIN)/python -m benchmarks

schema: install
	$(BIN)/python -m tools.schema --write

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
