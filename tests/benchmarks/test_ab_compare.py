"""benchmarks/ab.py's comparison and table on synthetic arrays (no subprocess, no swiftfit fit)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "ab.py"
_spec = importlib.util.spec_from_file_location("_ab_under_test", _PATH)
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)

RNG = np.random.default_rng(15)
X = RNG.uniform(0.5, 2.0, (7, 5)) * np.where(RNG.random((7, 5)) < 0.5, -1, 1)


def test_identical_is_zero():
    assert ab.rel_diff(X, X.copy()) == 0.0
    assert ab.rel_diff(np.zeros(3), np.zeros(3)) == 0.0
    assert ab.rel_diff([np.inf, -np.inf, 1.0], [np.inf, -np.inf, 1.0]) == 0.0


@pytest.mark.parametrize("eps", [1e-12, 1e-6])
def test_relative_offset_is_measured(eps):
    # one element moved by eps relative: the worst difference is eps/(1+eps) (relative to the larger)
    Y = X.copy()
    Y[3, 2] *= 1 + eps
    got = ab.rel_diff(X, Y)
    assert got == pytest.approx(eps / (1 + eps), rel=1e-3)
    assert (got > ab.TOL) == (eps > ab.TOL)  # 1e-12 passes the 1e-10 bar, 1e-6 does not
    assert ab.rel_diff(Y, X) == got  # symmetric


def test_all_elements_off_reports_the_worst():
    Y = X * (1 + np.linspace(0, 1e-6, X.size).reshape(X.shape))
    assert ab.rel_diff(X, Y) == pytest.approx(1e-6 / (1 + 1e-6), rel=1e-6)


def test_nan_patterns():
    a = X.copy()
    a[1, 1] = a[4, 0] = np.nan
    b = a.copy()
    assert ab.rel_diff(a, b) == 0.0  # same NaNs, same values
    b[2, 2] *= 1 + 1e-12
    assert ab.rel_diff(a, b) == pytest.approx(1e-12, rel=1e-3)  # NaNs skipped, the rest compared
    c = a.copy()
    c[1, 1] = 0.0  # a NaN filled in
    assert ab.rel_diff(a, c) == np.inf
    d = a.copy()
    d[0, 0] = np.nan  # a new NaN
    assert ab.rel_diff(a, d) == np.inf
    assert ab.rel_diff(np.full(3, np.nan), np.full(3, np.nan)) == 0.0


def test_shape_and_infinity_mismatch():
    assert ab.rel_diff(X, X[:-1]) == np.inf
    assert ab.rel_diff([1.0, np.inf], [1.0, 1e300]) == np.inf
    assert ab.rel_diff([np.inf], [-np.inf]) == np.inf


def test_zero_against_nonzero_is_one():
    assert ab.rel_diff([0.0, 1.0], [1e-300, 1.0]) == 1.0


def test_compare_dicts():
    got = ab.compare({"a": X, "b": X, "only_base": X}, {"a": X, "b": X * (1 + 1e-6), "only_head": X})
    assert got["a"] == 0.0
    assert got["b"] == pytest.approx(1e-6, rel=1e-5)
    assert got["only_base"] == got["only_head"] == np.inf


def test_table_medians_ratio_and_spread():
    maps = {"base": {"x/y": {"m": X}}, "head": {"x/y": {"m": X * (1 + 1e-12)}}, "repeat": {}}
    cpu = {"base": {"x/y": [1.0, 3.0, 2.0]}, "head": {"x/y": [1.1, 1.0, 1.2]}}
    (row,) = ab.table(["x/y"], maps, cpu, {"base": {}, "head": {}})
    assert (row["base"], row["head"]) == (2.0, 1.1)
    assert row["ratio"] == pytest.approx(0.55)
    assert row["spread"] == pytest.approx(1.0)  # base: (3 - 1) / 2
    assert row["over"] == [] and row["worst"] == pytest.approx(1e-12, rel=1e-3)
    text = ab.markdown([row], "old", "new")
    assert "| x | y | 1 | 1.0e-12 (m) | 2.000 | 1.100 | 0.55 | 100% |" in text
