"""The 1-D Gram matrix two rows at a time (engines/numba/gram.py ``gram``):
the same ``JᵀJ`` and ``Jᵀr`` as NumPy's products over the columns' ranges,
on the row-at-a-time path (short ranges) and the paired one (long ranges,
mixed with columns of other ranges)."""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.engines.numba import gram as m


def _case(rng, N, ranges):
    P = len(ranges)
    J = np.zeros((P + 1, N))
    jlo = np.zeros(P + 1, dtype=np.int64)
    jhi = np.zeros(P + 1, dtype=np.int64)
    for j, (lo, hi) in enumerate(ranges):
        J[j, lo:hi] = rng.normal(size=hi - lo)
        jlo[j], jhi[j] = lo, hi
    J[P] = rng.normal(size=N)  # scratch row: garbage the Gram matrix must not read
    r = rng.normal(size=N)
    return J, jlo, jhi, r


@pytest.mark.parametrize("N, ranges", [
    (800, [(0, 800)] * 8),                                    # power law + two Lorentzians: every row paired
    (800, [(0, 800)] * 7),                                    # an odd count: the last row alone
    (25, [(4, 23)] * 3 + [(0, 25)]),                          # short: row at a time
    (1000, [(12, 1000)] * 3 + [(0, 1000)]),                   # Gaussian window + offset
    (600, [(100, 400)] * 3 + [(300, 600)] * 3 + [(0, 600)]),  # a later column not containing the pair's range
    (600, [(0, 600), (0, 600), (50, 550), (50, 550), (0, 0)]),  # an empty column
])
def test_gram_equals_numpy(N, ranges):
    """Every entry within 1e-13 of the largest (the sums are reassociated),
    G exactly symmetric, and row P of J (scratch) never read."""
    rng = np.random.default_rng(3)
    J, jlo, jhi, r = _case(rng, N, ranges)
    P = len(ranges)
    Jt = J[:P].copy()  # J zero outside each column's range: plain products
    G = np.full((P, P), np.nan)
    g = np.full(P, np.nan)
    m.gram(J, jlo, jhi, r, G, g)
    Gref = Jt @ Jt.T
    gref = Jt @ r
    np.testing.assert_allclose(G, Gref, rtol=0, atol=1e-13 * np.abs(Gref).max())
    np.testing.assert_allclose(g, gref, rtol=0, atol=1e-13 * np.abs(gref).max())
    assert np.array_equal(G, G.T)


def test_paired_rule():
    """Rows pair where two neighbours share a range of ≥ GRAM_BLOCK channels
    that every later column's contains."""
    P = 4
    lo = np.array([0, 0, 0, 0, 0])
    hi = np.array([800, 800, 800, 800, 800])
    assert m._paired(lo, hi, 0, P) and m._paired(lo, hi, 2, P)
    assert not m._paired(lo, hi, 3, P)  # no neighbour
    hi2 = hi.copy()
    hi2[3] = 700  # a later column shorter than the pair's range
    assert not m._paired(lo, hi2, 0, P)
    short = np.array([0, 0, 0, 0, 0]), np.full(5, m.GRAM_BLOCK - 1)
    assert not m._any_paired(*short, P)
