"""The Gauss–Newton step's factorisation, shared by the conditioning test,
the step and the fit's end (issue 16, Cpufit's 5×5).

Truths: NumPy's solve, inverse and eigenvalues on the same matrices, and the
tests these functions replace run on the same inputs —
:func:`.lm_linalg._gn_ok` and :func:`.lm_linalg._ill_conditioned` (whose
decision :func:`.lm_linalg._gn_factor` must repeat on every matrix, well
conditioned, near-singular and singular), and :func:`.lm_linalg._cov_core`
(whose covariance, scaled inverse and bound :func:`.lm_linalg._cov_reuse`
must give to 1e-10 relative, or decline).
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.engines.numba import lm_linalg as ll

BIG = ll.GRAM_MAX_COND * ll.GRAM_MAX_COND


def _gram(rng, P, N=25, collinear=0.0):
    """``JᵀJ`` of a random ``N×P`` Jacobian with columns of unequal scale; with
    ``collinear`` the last column is the first plus that much noise (near-singular)."""
    J = rng.normal(size=(N, P))
    if collinear:
        J[:, -1] = J[:, 0] + collinear * rng.normal(size=N)
    J = J * rng.uniform(0.1, 100.0, P)
    return J.T @ J


def _scaled(G, act, Dn):
    Gs = G / np.outer(Dn, Dn)
    return np.where(np.outer(act, act), Gs, np.eye(G.shape[0]))


def _old_decision(Gs, act):
    """The kernel's former test: SVD where not _gn_ok or _ill_conditioned."""
    P = Gs.shape[0]
    L = np.zeros((P, P))
    return not ll._gn_ok(Gs, L) or ll._ill_conditioned(Gs, L, np.empty(P), np.empty(P), act)


def _factor(Gs, gs, act):
    P = Gs.shape[0]
    M = np.full((P, P), np.nan)
    z = np.full(P, np.nan)
    gain = ll._gn_factor(Gs, gs, act, np.full((P, P), np.nan), M, np.empty(P), np.empty(P), np.empty(P), z)
    return gain, z, M


@pytest.mark.parametrize("seed", range(6))
def test_gn_factor_step_is_numpys_solve(seed):
    """Well-conditioned matrices, 3–7 parameters, random active columns: the step
    solves ``Gs z = gs`` (NumPy's solve, 1e-10), the gain is ``gsᵀGs⁻¹gs``, M's lower triangle is ``L⁻¹``;
    step and gain are the former ``_gn_ok``/``_forward``/``_backward`` path's bit for bit."""
    rng = np.random.default_rng(seed)
    P = 3 + seed % 5
    for trial in range(10):
        G = _gram(rng, P)
        act = rng.random(P) < 0.8 if trial else np.ones(P, dtype=bool)
        Dn = np.sqrt(np.diag(G)) * rng.uniform(1.0, 3.0, P)
        Gs = _scaled(G, act, Dn)
        gs = np.where(act, rng.normal(size=P), 0.0)
        gain, z, M = _factor(Gs, gs, act)
        want = np.linalg.solve(Gs, gs)
        assert gain >= 0
        np.testing.assert_allclose(z, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
        assert gain == pytest.approx(gs @ want, rel=1e-10)
        np.testing.assert_allclose(np.tril(M), np.linalg.inv(np.linalg.cholesky(Gs)), rtol=1e-10, atol=1e-13)
        assert not _old_decision(Gs, act)
        # the former path's step, bit for bit: Cholesky (_gn_ok), then the two triangular solves
        L, t, zref = np.zeros((P, P)), np.empty(P), np.empty(P)
        assert ll._gn_ok(Gs, L)
        ll._forward(L, gs, t)
        ll._backward(L, t, zref)
        np.testing.assert_array_equal(z, zref)
        assert gain == sum(v * v for v in t)


@pytest.mark.parametrize("seed", range(4))
def test_gn_factor_decides_as_the_full_test_near_singular(seed):
    """Near-singular matrices (cond from ~1e2 to past 1e16, and exactly singular):
    the SVD is asked for (−1) exactly where ``_gn_ok``/``_ill_conditioned`` asked
    for it; and where NumPy's eigenvalues put ``trace/λ_min`` ten times inside
    the threshold the step is taken, ten times past it the SVD is asked for."""
    rng = np.random.default_rng(100 + seed)
    P = 5
    seen = {True: 0, False: 0}
    for eps in np.logspace(0, -10, 41):
        G = _gram(rng, P, collinear=eps)
        act = np.ones(P, dtype=bool)
        Gs = _scaled(G, act, np.sqrt(np.diag(G)))
        gain, _, _ = _factor(Gs, rng.normal(size=P), act)
        ill = gain < 0
        assert ill == _old_decision(Gs, act), eps
        seen[ill] += 1
        lam = np.linalg.eigvalsh(Gs)
        ratio = np.trace(Gs) / lam[0] if lam[0] > 0 else np.inf
        if ratio < BIG / 10:
            assert not ill, (eps, ratio)
        if ratio > BIG * 10:
            assert ill, (eps, ratio)
    assert seen[True] >= 5 and seen[False] >= 5  # both sides reached
    G = _gram(rng, P)
    G[-1, :] = G[0, :]
    G[:, -1] = G[:, 0]  # exactly singular
    Gs = _scaled(G, np.ones(P, dtype=bool), np.sqrt(np.diag(G)))
    assert _factor(Gs, rng.normal(size=P), np.ones(P, dtype=bool))[0] == -1.0
    assert _old_decision(Gs, np.ones(P, dtype=bool))


@pytest.mark.parametrize("seed", range(6))
def test_cov_reuse_is_cov_core_from_the_iterations_factor(seed):
    """From the last iteration's ``L⁻¹`` (scaled by the running maxima ``Dn``, not
    the Jacobi scale): the covariance is NumPy's inverse of ``G`` on the relevant
    block (NaN elsewhere) and the scaled inverse and bound are ``_cov_core``'s, at 1e-10;
    a near-singular ``G`` is declined wherever ``_cov_core``'s own bound would not settle."""
    rng = np.random.default_rng(200 + seed)
    P = 3 + seed % 4
    for eps in (0.0, 1e-2, 1e-4, 1e-7, 1e-9):
        G = _gram(rng, P, collinear=eps)
        rel = np.ones(P, dtype=bool)
        if seed % 2:
            rel[seed % P] = False
        Dn = np.sqrt(np.diag(G)) * rng.uniform(1.0, 3.0, P)
        gain, _, M = _factor(_scaled(G, rel, Dn), np.zeros(P), rel)
        ref_cov, ref_pre = np.empty((P, P)), np.empty((P, P))
        ref_ok, ref_bound = ll._cov_core(G, rel, np.sqrt(np.diag(G)), ref_cov, ref_pre, np.empty(P), np.empty(P),
                                         np.empty(P), np.empty((P, P)))
        if gain < 0:
            continue  # the SVD took that iteration: the kernel does not reuse
        cov, pre = np.full((P, P), 7.0), np.full((P, P), 7.0)
        ok, bound = ll._cov_reuse(G, rel, Dn, M, cov, pre, np.empty(P))
        Gi = np.linalg.inv(G[np.ix_(rel, rel)])
        Da = np.sqrt(np.diag(G))
        inv_trace = np.trace(Gi * np.outer(Da[rel], Da[rel]))
        settled = inv_trace * rel.sum() <= BIG / 10
        if settled:
            assert ok and ref_ok
        if not ok:
            assert not settled
            continue
        np.testing.assert_allclose(cov[np.ix_(rel, rel)], Gi, rtol=1e-10 if eps == 0 else 1e-6)
        assert np.isnan(cov[~rel]).all() and np.isnan(cov[:, ~rel]).all()
        assert ref_ok
        np.testing.assert_allclose(pre, ref_pre, rtol=1e-10 if eps == 0 else 1e-6, atol=1e-14)
        assert bound == pytest.approx(ref_bound, rel=1e-10 if eps == 0 else 1e-6)
