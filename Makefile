# Two commands for a newcomer: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# checkov scans the rendered Kubernetes manifests in the tests; it lives in its own venv
# because its pins (packaging<24, boto3, networkx<2.7, ...) clash with the project's.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_REQUIREMENTS := tests/tools/checkov-requirements.txt

.PHONY: install checkov demo test lint typecheck unit schemas docs golden bench clean

install: $(VENV)/.installed

# pip's own chatter goes to a log that is shown only when the install fails.
$(VENV)/.installed: pyproject.toml
	@echo "== installing modelkiln and its test tools into $(VENV) (log: $(VENV)/install.log)"
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --upgrade pip > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/pip install -e '.[dev]' >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@# byte-compile now: with PYTHONDONTWRITEBYTECODE set, every run would compile from source
	@$(BIN)/python -m compileall -q compiler >> $(VENV)/install.log 2>&1
	touch $@

checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: $(CHECKOV_REQUIREMENTS)
	@echo "== installing checkov into $(CHECKOV_VENV) (log: $(CHECKOV_VENV)/install.log)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install --upgrade pip > $(CHECKOV_VENV)/install.log 2>&1 || (cat $(CHECKOV_VENV)/install.log; exit 1)
	@$(CHECKOV_VENV)/bin/pip install -r $(CHECKOV_REQUIREMENTS) >> $(CHECKOV_VENV)/install.log 2>&1 || (cat $(CHECKOV_VENV)/install.log; exit 1)
	touch $@

demo: install
	@echo "== modelkiln validate examples/quickstart"
	$(BIN)/modelkiln validate examples/quickstart
	@echo "== modelkiln validate examples/multi-cloud"
	$(BIN)/modelkiln validate examples/multi-cloud
	@echo "== modelkiln validate examples/llm"
	$(BIN)/modelkiln validate examples/llm
	@echo "== modelkiln validate examples/broken/gpus-exceed-pool (a mistake, on purpose)"
	-$(BIN)/modelkiln validate examples/broken/gpus-exceed-pool
	@echo "== modelkiln compile examples/multi-cloud --out build/demo"
	$(BIN)/modelkiln compile examples/multi-cloud --out build/demo
	@echo "== what one model gets in one environment:"
	@cd build/demo/prod-us && find models/recommender terraform kueue -type f | sort

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install checkov
	$(BIN)/pytest

test: lint typecheck unit

schemas: install
	$(BIN)/modelkiln schema --out schemas

bench: install
	$(BIN)/python benchmarks/bench_validate.py
	$(BIN)/python benchmarks/bench_compile.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache

docs: install
	$(BIN)/python -m compiler.codes > docs/diagnostics.md

golden: install
	UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_golden.py
