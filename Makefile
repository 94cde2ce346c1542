# Two commands on a fresh machine with Python 3.11+ and make: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint format clean deploy

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "dunning needs Python 3.11 or newer"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing dunning and its dependencies into $(VENV)"
	$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo:
	@DUNNING_DEMO_STARTED=$$(date +%s) $(MAKE) --no-print-directory _demo

_demo: $(STAMP)
	$(BIN)/dunning demo

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The worker runs the flows from this checkout: its path is fixed at deploy time.
deploy: $(STAMP)
	DUNNING_CHECKOUT=$(CURDIR) $(BIN)/prefect --no-prompt deploy --all

clean:
	rm -rf var .pytest_cache
