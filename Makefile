# Two commands on a fresh machine (only Python 3.11+ and pip needed):
#   make demo   set up .venv and run the demo tree
#   make test   set up .venv, lint, run the full test suite on python3 and, when the machine
#               has Python 3.13, its version-sensitive tests on 3.13 too (.venv-3.13):
#               what .ci/run calls
#   make test-all  the same on every Python found: python3, 3.12, 3.13, 3.14 (.ci/suite)
#   make test-load  the suite three times on a machine kept busy (flakiness check)
#   make stress     fault, load and hostile-input scenarios, one table (not part of make test)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-all test-load lint bench stress clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/demo.py

# The tests whose mechanics depend on the interpreter: tracing and pdb, greenback,
# signals and threads, bytecode (stackscope, stepping), fork. CI's second Python runs
# these (about half of the suite's time), at the same time as the first run: the suite
# mostly waits on processes and terminals, so the two share CI's 2 cores well;
# `make test-all` runs everything on every Python. A Python the machine lacks is
# skipped with a note (.ci/suite says where it looked).
VERSION_SENSITIVE := tests/test_frames.py tests/test_debugger.py tests/test_repl_habits.py \
	tests/test_repl_inline.py tests/test_breakpoint_async.py tests/test_sync_pause.py \
	tests/test_context_debug.py tests/test_crash_handler.py tests/test_demo.py \
	tests/test_stack.py tests/test_stack_tree.py tests/test_stack_relay.py \
	tests/test_cli_dump.py tests/test_pytest_plugin.py tests/test_forkserver.py \
	tests/test_peer_cache.py tests/test_lazy_imports.py tests/test_inline_calls.py \
	tests/test_reply_poll.py tests/test_direct_reads.py tests/test_holdguard.py \
	tests/test_root_sigterm.py

# Each Python's run of `make test` goes on WORKERS pytest-xdist workers: tests, not
# files, are handed out one by one as workers free up (a file whose tests share a
# module's set-up is one xdist_group); `WORKERS=` runs them in one process.
WORKERS ?= -n 2 --dist loadgroup

test: $(VENV)/.installed
	$(PY) -m ruff check src tests examples bench
	$(PY) -m mypy
	PYTHON=$(PYTHON) VENV=$(VENV) PYTEST_ARGS="$(WORKERS) $$PYTEST_ARGS" \
		.ci/suite --together default "3.13:$(VERSION_SENSITIVE)"

test-all: $(VENV)/.installed
	$(PY) -m ruff check src tests examples bench
	$(PY) -m mypy
	PYTHON=$(PYTHON) VENV=$(VENV) .ci/suite default 3.12 3.13 3.14

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
	rm -rf $(VENV) .venv-3.* build *.egg-info src/*.egg-info
