# Two commands a newcomer needs: `make synth` (render a stack offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
STACK ?= staging
BIN := $(VENV)/bin

.PHONY: install synth preview test lint typecheck unit bench schema clean

install: $(BIN)/.installed

# pip (not uv) compiles bytecode at install time; without it, every synth would recompile the
# Azure SDK's thousands of modules when PYTHONDONTWRITEBYTECODE is set.
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# ./synth keeps the exit codes 0/1/2 apart; through make any failure becomes 2.
synth: install
	SYNTH_PYTHON=$(BIN)/python ./synth --stack $(STACK)

preview: install
	SYNTH_PYTHON=$(BIN)/python ./synth --stack $(STACK) --preview

test: lint typecheck unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Each service is its own build context with a package named `app`, so each is checked alone.
typecheck: install
	$(BIN)/mypy .
	for service in services/*/; do $(BIN)/mypy --strict --python-version 3.12 "$$service"app/*.py || exit 1; done

unit: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m benchmarks

schema: install
	$(BIN)/python -m tools.schema --write

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
