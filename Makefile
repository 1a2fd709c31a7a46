# ran-harness: `make demo` runs a trial on the simulated lab; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest clean

$(STAMP): pyproject.toml setup.py harness/simlab/_udpcore.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ran-harness needs Python 3.11 or newer")'
	@PYTHON=$(PYTHON) scripts/system-deps.sh build || echo "warning: no C compiler or Python headers: the UDP relay runs in Python"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	@scripts/system-deps.sh run
	@dir=$$($(VENV)/bin/harness run scenarios/smoke.yaml --lab lab.yaml); rc=$$?; \
	  [ -n "$$dir" ] && echo "report: $$dir/report.html"; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check harness drivers tests benchmarks
	$(VENV)/bin/lint-imports  # the layer contracts in .importlinter (docs/architecture.md)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	@scripts/system-deps.sh test
	$(VENV)/bin/pytest -q -ra --durations=25

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
