# The two commands: `make demo` runs the whole system, `make test` passes every test.
# Both create .venv when missing and install the project with its test extras.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.zonegate-installed

.PHONY: demo test lint typecheck unit bench sysdeps clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

sysdeps:
	@bash scripts/install-system-deps.sh

demo: $(STAMP)
	$(BIN)/zonegate demo

test: $(STAMP) sysdeps lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,bench]"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
