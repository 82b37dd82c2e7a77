# `make demo` and `make test` each build .venv when it is missing, so a fresh
# machine with only Python 3.11 and pip needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint test-slow bench clean compat

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m swiftfit.demo --out demo_output

test: $(STAMP) lint
	MPLBACKEND=Agg $(PY) -m pytest -q -n 2

# pyflakes, import order and numpy docstrings (ruff), and the layer contracts (.importlinter)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

test-slow: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -n 2 -m slow

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[peers]"
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/multifit.py
	$(PY) benchmarks/model2d.py
	$(PY) benchmarks/samplers.py
	$(PY) benchmarks/lazy.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache build src/*.egg-info .compat_cache

# HyperSpy 2.5.0's own model/component/SAMFire tests against swiftfit (downloads
# HyperSpy's wheel with pip; not part of `make test`). See tests_compat/run.py.
compat: $(STAMP)
	MPLBACKEND=Agg $(PY) tests_compat/run.py -n 2
