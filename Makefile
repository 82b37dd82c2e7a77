# `make demo` and `make test` each build .venv when it is missing, so a fresh
# machine with only Python 3.11 and pip needs nothing else.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint test-slow bench clean compat sherpa fuzz-expr fuzz kill-writers ab

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

# the extra `sherpa` (same pin): no wheel for every platform; its sdist builds (~5 min) once
# byacc, flex, FFTW and pkg-config are there (apt-get as root, only the missing ones)
SHERPA_APT := byacc flex libfftw3-dev pkg-config
sherpa: $(STAMP)
	@$(PY) -c "import sherpa" 2>/dev/null || { \
	  missing=$$(for p in $(SHERPA_APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update && apt-get install -y $$missing; fi; \
	  $(PY) -m pip install "sherpa>=4.16"; }
	MPLBACKEND=Agg $(PY) -m pytest -q -m sherpa

# hostile expressions and specs, 2,000 generated examples per property
fuzz-expr: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz MPLBACKEND=Agg $(PY) -m pytest -q -p no:randomly tests/test_fuzz_expressions.py

# many more hostile files than `make test` (tests/io/test_fuzz_files.py), then
# the kill -9 runs of every writer (twenty each)
fuzz: $(STAMP) fuzz-expr
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

# issue 15: every benchmark's swiftfit side at the pre-refactor tree (be93721^) and at HEAD,
# maps compared to 1e-10 and fit CPU time (git worktrees under /tmp; ~15 min, nice -n 10)
AB_ARGS ?=
ab: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/ab.py $(AB_ARGS)

clean:
	rm -rf $(VENV) demo_output .pytest_cache build src/*.egg-info .compat_cache

# HyperSpy 2.5.0's own model/component/SAMFire tests against swiftfit (downloads
# HyperSpy's wheel with pip; not part of `make test`). See tests_compat/run.py.
compat: $(STAMP)
	MPLBACKEND=Agg $(PY) tests_compat/run.py -n 2
