# Two commands on a fresh machine (only Python 3.11+ and pip needed):
#   make demo   set up .venv and run the demo tree
#   make test   set up .venv and run the full test suite (what .ci/run calls)
#   make test-load  the suite three times on a machine kept busy (flakiness check)
#   make stress     fault, load and hostile-input scenarios, one table (not part of make test)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-load lint bench stress clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

test: $(VENV)/.installed
	$(PY) -m ruff check src tests examples bench
	$(PY) -m mypy
	$(PY) -m pytest

# the suite three times with every core kept busy by loops it starts and always stops
test-load: $(VENV)/.installed
	$(PY) tests/under_load.py --runs 3 -- $(PY) -m pytest -q

lint: $(VENV)/.installed
	$(PY) -m ruff check src tests examples bench
	$(PY) -m ruff format --check src tests examples bench
	$(PY) -m mypy

# issue 14's figures against floors measured in the same run: one table and
# bench/results/latest.json (~3-5 min; BENCH_QUICK=1 for a ~1 min smoke run,
# DEVX_SPAWN_METHOD=<name> to fill the fork-server rows)
# (devx's own modules are byte-compiled first, as an installed package's are: with
# PYTHONDONTWRITEBYTECODE set, every actor would compile them again at boot)
bench: $(VENV)/.installed
	$(PY) -m compileall -q src >/dev/null
	$(PY) bench/run.py

# fault, load and hostile-input scenarios against live trees, one table (not in `make test`)
stress: $(VENV)/.installed
	$(PY) bench/stress.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
