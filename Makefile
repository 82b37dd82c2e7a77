# `make demo` and `make test` each build .venv when it is missing, so a fresh
# machine with only Python 3.11 and pip needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench clean fuzz-expr

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

# hostile expressions and specs, 2,000 generated examples per property
fuzz-expr: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz MPLBACKEND=Agg $(PY) -m pytest -q -p no:randomly tests/test_fuzz_expressions.py

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[peers]"
	$(PY) benchmarks/accuracy.py
	$(PY) benchmarks/multifit.py
	$(PY) benchmarks/model2d.py
	$(PY) benchmarks/samplers.py
	$(PY) benchmarks/lazy.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache build src/*.egg-info
