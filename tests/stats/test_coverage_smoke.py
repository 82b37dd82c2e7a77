"""Smoke test of benchmarks/coverage.py: its core runs on a few datasets.

40 samples cannot test 68 % coverage; this only keeps the script from rotting.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "coverage.py"


@pytest.fixture(scope="module")
def bench():
    # load under another name: "coverage" is also the name of a package numba imports
    spec = importlib.util.spec_from_file_location("swiftfit_coverage_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["poisson-high", "ls-exp"])
def test_coverage_core_runs(bench, case):
    rows = bench.run_case(case, n=40, seed=1, check=2)
    assert len(rows) == 2
    for r in rows:
        assert r["N"] == 40 and 0 <= r["failures"] <= 40
        assert 0.0 <= r["profile"] <= 1.0 and 0.0 <= r["covariance"] <= 1.0
        assert np.isfinite(r["asymmetry"]) and r["asymmetry"] > 0
        assert r["check"] < 1e-4  # the batched intervals are confidence()'s
    assert "poisson" in bench.format_table(rows) or "ls-exp" in bench.format_table(rows)
