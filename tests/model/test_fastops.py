"""The write-back's exact shortcuts (swiftfit.problem.fastops, lower._reach_counts)
against NumPy's own reductions, on seeded random inputs with NaN, inf, empty
axes and edge shapes: equal values and dtypes (the truth is the NumPy expression
each one replaces)."""

import copy

import numpy as np
import pytest

from swiftfit.problem.fastops import LazyStats, all_nan_blocks, row_counts


@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (1, 1), (17, 5), (4096, 7)])
def test_row_counts_is_sum_over_rows(shape):
    rng = np.random.default_rng(3)
    mask = rng.random(shape) < 0.4
    got = row_counts(mask)
    want = mask.sum(axis=1)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("shape", [(0, 2, 2), (3, 0, 0), (1, 1, 1), (50, 4, 4), (4096, 5, 5)])
def test_all_nan_blocks_is_isnan_all(shape):
    rng = np.random.default_rng(4)
    a = rng.normal(size=shape)
    if a.size:
        a[rng.random(shape[0]) < 0.3] = np.nan  # whole blocks
        a[rng.random(shape) < 0.05] = np.nan  # scattered entries
        a[rng.random(shape) < 0.02] = np.inf
        a[::7, 0, 0] = np.nan  # first entry NaN, the rest not
    got = all_nan_blocks(a)
    want = np.isnan(a).all(axis=(1, 2))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == bool


def test_bad_shapes_are_refused_by_name():
    with pytest.raises(ValueError, match="`mask` must be a 2-D bool array"):
        row_counts(np.ones((2, 2)))
    with pytest.raises(ValueError, match="`a` must be 3-D"):
        all_nan_blocks(np.ones((2, 2)))


def test_reach_counts_is_sum_over_rows():
    pytest.importorskip("numba")
    from swiftfit.engines.numba.lower import _reach_counts

    rng = np.random.default_rng(5)
    row = rng.random(6) < 0.5
    reach = np.empty((40, 6), dtype=bool)
    reach[:] = row
    active = np.ones((40, 3), dtype=bool)
    np.testing.assert_array_equal(_reach_counts(reach, active), reach.sum(axis=1))
    active[3, 1] = False  # not every component active: counted row by row
    reach[3] = rng.random(6) < 0.5
    got = _reach_counts(reach, active)
    np.testing.assert_array_equal(got, reach.sum(axis=1))
    assert got.dtype == reach.sum(axis=1).dtype


def test_lazy_stats_reads_like_the_dict_it_stands_for():
    calls = []

    def cost():
        calls.append(1)
        return np.arange(3.0)

    def make():
        return LazyStats({"chisq": 1.0, "aic": cost, "bic": 2.0}, lazy=("aic",))

    plain = {"chisq": 1.0, "aic": np.arange(3.0), "bic": 2.0}
    s = make()
    assert len(s) == 3 and "aic" in s and calls == []  # not computed by len or `in`
    assert s["chisq"] == 1.0 and calls == []
    np.testing.assert_array_equal(s.get("aic"), plain["aic"])
    assert calls == [1]
    s["aic"]  # computed once
    assert calls == [1]
    # every way of reading the whole dict sees the computed value, in the original order
    assert list(make()) == list(plain) == list(make().keys())
    for whole in (dict(make()), {**make()}, make().copy(), copy.copy(make()), copy.deepcopy(make())):
        assert list(whole) == list(plain)
        np.testing.assert_array_equal(whole["aic"], plain["aic"])
        assert type(whole["aic"]) is np.ndarray
    items = list(make().items())
    assert [k for k, _ in items] == list(plain) and type(items[1][1]) is np.ndarray
    assert type(list(make().values())[1]) is np.ndarray
    assert make().pop("aic").shape == (3,)
