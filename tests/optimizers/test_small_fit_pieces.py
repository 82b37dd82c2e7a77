"""Pieces of the compiled LM's fixed cost per fit, rewritten for small problems (issue 16, Cpufit's 5×5).

Truths: the arithmetic they replace, run on the same inputs — the linear
start's solve by one Cholesky of the ``P×P`` matrix padded with the identity
(:func:`.lm_linalg._gn_ok`, :func:`._forward`, :func:`._backward`), which
:func:`.lm_linalg._linear_step` must equal bit for bit; the Newton check by
:func:`.newton.gap_into` and the model's norm by its sum, which
:func:`.endcheck._check_ready` must equal bit for bit (or decline); and
``trace(Gs⁻¹)`` by NumPy's inverse, which :func:`.lm_linalg._inverse_trace`
must match to 1e-12 relative (it multiplies by reciprocals: a few roundings).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from swiftfit.engines.numba import endcheck as ec
from swiftfit.engines.numba import lm_linalg as ll
from swiftfit.engines.numba import newton as nw


def _spd(rng, P, N=25):
    """A Jacobi-scaled Gram matrix of a random ``N×P`` Jacobian with columns of unequal scale."""
    J = rng.normal(size=(N, P)) * rng.uniform(0.1, 100.0, P)
    G = J.T @ J
    d = np.sqrt(np.diag(G))
    return G / np.outer(d, d), G


def _padded_linear_step(Gs, gs, on):
    """The former _linear_step: Cholesky of the matrix with the identity's rows off ``on``."""
    P = Gs.shape[0]
    H = np.where(np.outer(on, on), Gs, np.eye(P))
    gl = np.where(on, gs, 0.0)
    L = np.zeros((P, P))
    tmp = np.empty(P)
    z = np.empty(P)
    if not on.any() or not ll._gn_ok(H, L):
        return -1.0, None
    ll._forward(L, gl, tmp)
    ll._backward(L, tmp, z)
    pred = 0.0
    for i in range(P):
        pred += gl[i] * z[i]
    return pred, z


@pytest.mark.parametrize("seed", range(6))
def test_linear_step_on_the_block_equals_the_padded_cholesky_bit_for_bit(seed):
    """Random SPD matrices, 3–7 parameters, random linear and active columns (none, some, all)."""
    rng = np.random.default_rng(seed)
    P = 3 + seed % 5
    Gs, _ = _spd(rng, P)
    gs = rng.normal(size=P)
    for trial in range(8):
        lin = rng.random(P) < 0.5 if trial else np.zeros(P, dtype=bool)
        act = rng.random(P) < 0.8 if trial < 7 else np.ones(P, dtype=bool)
        if trial == 7:
            lin = np.ones(P, dtype=bool)
        z = np.full(P, np.nan)
        pred = ll._linear_step(Gs, gs, lin, act, np.empty((P, P)), np.zeros((P, P)), np.empty(P), np.empty(P), z)
        ref, zref = _padded_linear_step(Gs, gs, lin & act)
        assert pred == ref
        if zref is not None:
            np.testing.assert_array_equal(z, zref)


def test_linear_step_refuses_a_singular_block():
    """Two identical linear columns: the block is singular (−1), as the padded Cholesky says."""
    rng = np.random.default_rng(5)
    Gs, _ = _spd(rng, 4)
    Gs[1, :] = Gs[0, :]
    Gs[:, 1] = Gs[:, 0]
    lin = np.array([True, True, False, False])
    act = np.ones(4, dtype=bool)
    gs = rng.normal(size=4)
    z = np.empty(4)
    assert ll._linear_step(Gs, gs, lin, act, np.empty((4, 4)), np.zeros((4, 4)), np.empty(4), np.empty(4), z) == -1.0
    assert _padded_linear_step(Gs, gs, lin & act)[0] == -1.0


@pytest.mark.parametrize("seed", range(4))
def test_inverse_trace_is_the_trace_of_the_inverse_over_relevant_columns(seed):
    """``Σ_{i relevant} (Gs⁻¹)_ii`` from the Cholesky factor, against NumPy's inverse at 1e-12."""
    rng = np.random.default_rng(seed)
    P = 5
    Gs, _ = _spd(rng, P)
    rel = np.ones(P, dtype=bool)
    rel[seed % P] = False
    A = np.where(np.outer(rel, rel), Gs, np.eye(P))
    L = np.linalg.cholesky(A)
    got = ll._inverse_trace(L, rel, np.empty(P), np.empty(P))
    want = np.diag(np.linalg.inv(A))[rel].sum()
    assert got == pytest.approx(want, rel=1e-12)


def _case(rng, P=5, N=25, rel=None):
    Gs, G = _spd(rng, P, N)
    rel = np.ones(P, dtype=bool) if rel is None else rel
    D = np.sqrt(np.diag(G))
    pre = np.empty((P, P))
    ok, bound = ll._cov_core(G, rel, D, np.empty((P, P)), pre, np.empty(P), np.empty(P), np.empty(P), np.empty((P, P)))
    assert ok and bound < nw.FAST_CONDITION
    g = rng.normal(size=P) * np.sqrt(np.diag(G)) * 1e-3
    f = rng.uniform(1.0, 50.0, N)
    y = f + rng.normal(size=N)
    theta = rng.normal(size=P) * 3
    return G, g, f, y, theta, rel, pre


@pytest.mark.parametrize("seed", range(8))
def test_check_ready_equals_the_general_newton_check_bit_for_bit(seed):
    """Gram matrix copied, model norm and Newton gap identical to building ``H = 2G``,
    ``−2g``, ``√G_ii`` and calling ``newton.gap_into`` with the covariance's inverse."""
    rng = np.random.default_rng(seed)
    P, N = 5, 25
    rel = np.ones(P, dtype=bool)
    if seed % 3 == 2:
        rel[1] = False  # an irrelevant column: ratio 0, no rescaling count
    G, g, f, y, theta, rel, pre = _case(rng, P, N, rel)
    bs = np.ones(N)
    cost = float(rng.uniform(10, 40))
    lo, hi = np.full(P, -np.inf), np.full(P, np.inf)
    out_gram = np.full((P, P), np.nan)
    out_check = np.full(2, np.nan)
    assert ec._check_ready(G, g, cost, f, bs, y, theta, rel, lo, hi, out_gram, out_check, pre, np.zeros((5, P)))
    # the sums over the channels are reassociated (ec._square_sums, stop 29): the check's with those sums
    model_sq, data_sq = ec._square_sums(f, bs, y)
    gap = nw.gap_into(cost, -2 * g, 2 * G, np.sqrt(np.diag(G)), math.sqrt(data_sq), theta, lo, hi, rel,
                      1.0, True, N, np.zeros(P, dtype=bool), np.zeros((5, P)), np.zeros((3, P, P)), pre, True)
    np.testing.assert_array_equal(out_gram, G)
    assert out_check[0] == model_sq
    assert out_check[1] == gap and np.isfinite(gap)


def test_check_ready_declines_a_step_across_a_bound_and_a_non_finite_gram():
    """Where the Newton step crosses a bound (gap_into then holds the parameter and
    refactors) or ``G`` is not finite, it returns False and writes nothing."""
    rng = np.random.default_rng(9)
    P, N = 5, 25
    G, g, f, y, theta, rel, pre = _case(rng, P, N)
    out_gram = np.full((P, P), np.nan)
    out_check = np.full(2, np.nan)
    vecs = np.zeros((5, P))
    args = (f, np.ones(N), y, theta, rel)
    lo, hi = theta - 1e-12, theta + 1e-12  # every non-zero step crosses
    assert not ec._check_ready(G, g, 20.0, *args, lo, hi, out_gram, out_check, pre, vecs)
    bad = G.copy()
    bad[0, 1] = np.inf
    assert not ec._check_ready(bad, g, 20.0, *args, np.full(P, -np.inf), np.full(P, np.inf), out_gram, out_check, pre,
                               vecs)
    assert np.isnan(out_gram).all() and np.isnan(out_check).all()
