# `make demo` and `make test` each build .venv when it is missing, so a fresh
# machine with only Python 3.11 and pip needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow fuzz kill-writers bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m swiftfit.demo --out demo_output

test: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -n 2

test-slow: $(STAMP)
	MPLBACKEND=Agg $(PY) -m pytest -q -n 2 -m slow

# many more hostile files than `make test` (tests/io/test_fuzz_files.py), then
# the kill -9 runs of every writer (twenty each)
fuzz: $(STAMP)
	SWIFTFIT_FUZZ=long MPLBACKEND=Agg $(PY) -m pytest -q -p no:randomly tests/io/test_fuzz_files.py

kill-writers: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/kill_writers.py --runs 20

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[peers]"
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/multifit.py
	$(PY) benchmarks/model2d.py
	$(PY) benchmarks/samplers.py
	$(PY) benchmarks/lazy.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache build src/*.egg-info
