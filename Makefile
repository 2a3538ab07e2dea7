# Two commands for a newcomer: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint typecheck unit schemas docs bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	@echo "== modelplane validate examples/quickstart"
	$(BIN)/modelplane validate examples/quickstart
	@echo "== modelplane validate examples/multi-cloud"
	$(BIN)/modelplane validate examples/multi-cloud
	@echo "== modelplane validate examples/broken/gpus-exceed-pool (expected to fail)"
	-$(BIN)/modelplane validate examples/broken/gpus-exceed-pool

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

schemas: install
	$(BIN)/modelplane schema --out schemas

bench: install
	$(BIN)/python benchmarks/bench_validate.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache

docs: install
	$(BIN)/python -m compiler.codes > docs/diagnostics.md
