# The two commands: `make demo` runs the whole system, `make test` passes every test.
# Both create .venv when missing and install the project with its test extras.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.zonegate-installed
# classify's hot modules compiled with mypyc (setup.py); rebuilt when a classify source changes
NATIVE := classify/_native_sources.json

.PHONY: demo test lint typecheck unit bench sysdeps native clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# A failed compile is not fatal: classify then runs its .py sources, and says so
# (classify.NATIVE_MODE, the gateway's "listening" log line, the bench notes).
$(NATIVE): setup.py $(wildcard classify/*.py) | $(STAMP)
	@echo "compiling classify's hot modules (mypyc, about 30 s)"
	@$(BIN)/python -m pip install -q --no-deps -e . > $(VENV)/native-build.log 2>&1 \
		|| echo "classify: compile failed (see $(VENV)/native-build.log); the .py sources run"

native: $(NATIVE)

sysdeps:
	@bash scripts/install-system-deps.sh

demo: $(STAMP) $(NATIVE)
	$(BIN)/zonegate demo

test: $(STAMP) sysdeps lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(NATIVE)
	$(BIN)/pytest -q

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,bench]"
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -f classify/*.so *__mypyc*.so $(NATIVE)
