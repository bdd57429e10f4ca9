# Two commands do everything on a fresh machine:
#   make demo   -- set up .venv and run the main job
#   make test   -- set up .venv and run the test suite (ruff, pytest; the docs build is a test)
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# First interpreter >= 3.12 among python3.13, python3.12, python3, then pyenv's installs.
FIND_PYTHON := for c in $${PYTHON:-} python3.13 python3.12 python3 \
	  $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.*/bin/python3 2>/dev/null | sort -rV); do \
	  [ -n "$$c" ] || continue; \
	  $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$c"; break; }; \
	done

.PHONY: demo test test-all test-slow lint format bench docs clean

$(STAMP): pyproject.toml constraints.txt
	@py="$$($(FIND_PYTHON))"; \
	if [ -z "$$py" ]; then \
	  echo "error: physebm needs Python >= 3.12; none of python3.13, python3.12, python3 is recent enough." >&2; \
	  echo "       Install Python 3.12 or 3.13, or set PYTHON=/path/to/python3.12." >&2; exit 1; fi; \
	echo "using $$py ($$($$py --version))"; \
	rm -rf $(VENV) && $$py -m venv $(VENV) && \
	$(PY) -m pip install -q --upgrade pip && \
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,docs]' && touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/physebm demo --overwrite

# Three pytest runs (partition, the rest of physebm, samplers and the top-level tests), each
# over TEST_WORKERS processes (pytest-xdist, a test file per process): one process compiling
# every test's programs crashed inside XLA's CPU compiler after ~950 tests, and the suite is
# bound by compilation, one core per process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/ruff check .
	@for part in "tests/physebm/partition" "tests/physebm --ignore=tests/physebm/partition" \
	    "tests --ignore=tests/physebm"; do \
	  $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $$part; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests in $$part" >&2; exit 1; fi; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	done

test-all: $(STAMP)
	$(PY) -m pytest -q -m ""

test-slow: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
