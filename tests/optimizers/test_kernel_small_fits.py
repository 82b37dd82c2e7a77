"""The compiled kernel's small linear-algebra pieces against NumPy (issue 16, per-fit cost).

``_cov`` (the covariance at the answer) and ``_trust_step`` (the trust-region λ
search, which now stops at a bit-for-bit fixed point) were rewritten to cost
less per fit; truth here is NumPy's dense linear algebra on the same matrices.
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.engines.numba import lm_linalg as k
from swiftfit.engines.numba import newton


def _spd(rng, P, cond_scale=1e3):
    J = rng.normal(size=(4 * P, P))
    J[:, 0] *= cond_scale  # badly scaled columns, as an amplitude beside a width
    return J.T @ J


@pytest.mark.parametrize("seed", range(5))
def test_cov_is_the_inverse_over_relevant_columns(seed):
    """``_cov`` returns ``(JᵀJ)⁻¹`` on the relevant block (rel. 1e-10 of np.linalg.inv)
    and NaN in every row and column that is not relevant."""
    rng = np.random.default_rng(seed)
    P = 6
    G = _spd(rng, P)
    rel = np.ones(P, dtype=bool)
    rel[seed % P] = False
    D = np.sqrt(np.diag(G))
    out = np.empty((P, P))
    scratch = [np.empty((P, P)), np.empty(P), np.empty(P), np.empty(P), np.empty((P, P))]
    assert k._cov(G, rel, D, out, scratch[0], scratch[1], scratch[2], scratch[3], scratch[4])
    keep = np.flatnonzero(rel)
    truth = np.linalg.inv(G[np.ix_(keep, keep)])
    np.testing.assert_allclose(out[np.ix_(keep, keep)], truth, rtol=1e-10, atol=0)
    assert np.isnan(out[~rel]).all() and np.isnan(out[:, ~rel]).all()


def test_cov_refuses_a_singular_gram_matrix_with_nan():
    """A repeated column: ``_cov`` says False and leaves only NaN (the SVD then decides)."""
    rng = np.random.default_rng(7)
    J = rng.normal(size=(20, 4))
    J[:, 3] = J[:, 2]
    G = J.T @ J
    P = 4
    out = np.zeros((P, P))
    ok = k._cov(G, np.ones(P, dtype=bool), np.sqrt(np.diag(G)), out, np.empty((P, P)), np.empty(P), np.empty(P),
                np.empty(P), np.empty((P, P)))
    assert not ok
    assert np.isnan(out).all()


@pytest.mark.parametrize("seed", range(5))
def test_trust_step_lands_on_the_radius(seed):
    """The damped step is ``(Gs + λI)⁻¹ gs`` (NumPy solve, rel. 1e-10) with
    ``‖z‖ = Δ`` to 1e-6 relative, for a radius a third of the Gauss–Newton step's."""
    rng = np.random.default_rng(seed)
    P = 5
    G = _spd(rng, P)
    d = np.sqrt(np.diag(G))
    Gs = G / np.outer(d, d)
    gs = rng.normal(size=P)
    delta = np.linalg.norm(np.linalg.solve(Gs, gs)) / 3
    L, tmp, z = np.empty((P, P)), np.empty(P), np.empty(P)
    lam = k._trust_step(Gs, gs, delta, 0.0, L, tmp, z)
    assert lam > 0
    np.testing.assert_allclose(z, np.linalg.solve(Gs + lam * np.eye(P), gs), rtol=1e-10)
    assert abs(np.linalg.norm(z) - delta) <= 1e-6 * delta


def test_gap_into_matches_gap_with_dirty_scratch():
    """``newton.gap_into`` with reused (garbage-filled) scratch gives :func:`newton.gap`'s value."""
    rng = np.random.default_rng(3)
    P = 4
    H = 2 * _spd(rng, P, cond_scale=10.0)
    g = rng.normal(size=P)
    theta = rng.normal(size=P)
    col = np.abs(rng.normal(size=P)) + 0.1
    lo, hi = np.full(P, -np.inf), np.full(P, np.inf)
    free = np.ones(P, dtype=bool)
    want = newton.gap(3.0, g, H, col, 10.0, theta, lo, hi, free, 1.0, True, 30)
    got = newton.gap_into(3.0, g, H, col, 10.0, theta, lo, hi, free, 1.0, True, 30, np.ones(P, dtype=bool),
                          np.full((5, P), 1e300), np.full((3, P, P), np.nan), np.full((P, P), np.nan), False)
    assert np.isfinite(want) and want > 0
    assert got == want


@pytest.mark.parametrize("seed", range(4))
def test_cov_core_leaves_the_scaled_inverse_for_the_newton_check(seed):
    """``_cov_core`` leaves ``Gs⁻¹`` (``Gs = D⁻¹GD⁻¹``, identity off the relevant
    columns) in ``L`` (rel. 1e-12 of np.linalg.inv) with the bound
    ``trace(Gs)·trace(Gs⁻¹)``; the Newton check given that inverse
    (``pre_ok``) finds the gap :func:`newton.gap` finds by factoring ``2G``
    itself (rel. 1e-10)."""
    rng = np.random.default_rng(seed)
    P = 5
    G = _spd(rng, P, cond_scale=30.0)
    rel = np.ones(P, dtype=bool)
    rel[seed % P] = seed % 2 == 0  # half the cases with an irrelevant column
    D = np.sqrt(np.diag(G))
    out, L = np.empty((P, P)), np.full((P, P), np.nan)
    ok, bound = k._cov_core(G, rel, D, out, L, np.empty(P), np.empty(P), np.empty(P), np.empty((P, P)))
    assert ok
    Gs = np.where(np.outer(rel, rel), G / np.outer(D, D), np.eye(P))
    inv = np.linalg.inv(Gs)
    np.testing.assert_allclose(L, inv, rtol=1e-12, atol=1e-12 * np.abs(inv).max())
    assert bound == pytest.approx(np.trace(Gs) * np.trace(inv), rel=1e-12)
    assert bound < newton.FAST_CONDITION
    g = rng.normal(size=P)
    theta = rng.normal(size=P) * 10
    col = np.sqrt(np.diag(G))
    lo, hi = np.full(P, -np.inf), np.full(P, np.inf)
    want = newton.gap(3.0, -2 * g, 2 * G, col, 10.0, theta, lo, hi, rel, 1.0, True, 30)
    got = newton.gap_into(3.0, -2 * g, 2 * G, col, 10.0, theta, lo, hi, rel, 1.0, True, 30, np.ones(P, dtype=bool),
                          np.full((5, P), 1e300), np.full((3, P, P), np.nan), L, True)
    assert np.isfinite(want) and want > 0
    assert got == pytest.approx(want, rel=1e-10)
