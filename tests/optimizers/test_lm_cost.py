"""The LM step's cost per iteration (stop 29, lmcost): the fused factorisation
and forward solve, the reduction by buffer index, the end check's sums.

Truth: the code each replaces — :func:`.newton.cholesky` then
:func:`.lm_linalg._forward` and :func:`.lm_linalg._backward` (the former
``_solve_damped`` and the tail of ``_gn_factor``), :func:`.gram.reduction`
on the rows themselves, and the serial sums in Python floats.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from swiftfit.engines.numba import endcheck as ec
from swiftfit.engines.numba import gram, kernel_at
from swiftfit.engines.numba import lm_linalg as ll
from swiftfit.engines.numba import lm_rules as lr
from swiftfit.engines.numba import newton as nw


def _bits(a):
    return np.asarray(a, dtype=float).view(np.int64)


def _scaled_gram(rng, P, eig=None):
    """A Jacobi-scaled Gram matrix (unit diagonal), or one with eigenvalues ``eig``."""
    if eig is not None:
        Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
        return (Q * np.asarray(eig)) @ Q.T
    J = rng.normal(size=(P, 3 * P)) + rng.normal(size=(1, 3 * P)) * rng.uniform(0.0, 3.0)  # correlated columns
    G = J @ J.T
    d = np.sqrt(np.diag(G))
    return G / np.outer(d, d)


def _reference_solve(Gs, gs, lam):
    """The former ``_solve_damped``: Cholesky, then the two triangular solves."""
    P = gs.size
    L = np.zeros((P, P))
    if not nw.cholesky(Gs, L, lam):
        return None
    t = np.empty(P)
    z = np.empty(P)
    ll._forward(L, gs, t)
    ll._backward(L, t, z)
    return L, t, z


@pytest.mark.parametrize("P", [1, 2, 5, 8])
def test_solve_damped_equals_cholesky_then_solves_bit_for_bit(P):
    rng = np.random.default_rng(P)
    for trial in range(100):
        Gs = _scaled_gram(rng, P)
        gs = rng.normal(size=P)
        lam = [0.0, 1e-8, 1e-3, 0.7, 40.0][trial % 5]
        L, t, z = np.full((P, P), 9.0), np.full(P, 9.0), np.full(P, 9.0)
        assert ll._solve_damped(Gs, gs, lam, L, t, z)
        L0, t0, z0 = _reference_solve(Gs, gs, lam)
        np.testing.assert_array_equal(_bits(L), _bits(L0))
        np.testing.assert_array_equal(_bits(t), _bits(t0))
        np.testing.assert_array_equal(_bits(z), _bits(z0))


def test_solve_damped_refuses_what_cholesky_refuses():
    Gs = np.array([[1.0, 2.0], [2.0, 1.0]])  # indefinite
    z = np.zeros(2)
    assert _reference_solve(Gs, np.ones(2), 0.0) is None
    assert not ll._solve_damped(Gs, np.ones(2), 0.0, np.zeros((2, 2)), np.zeros(2), z)
    assert ll._solve_damped(Gs, np.ones(2), 1.5, np.zeros((2, 2)), np.zeros(2), z)  # damped: definite


def _gn(Gs, gs, act):
    P = gs.size
    L, M, rd, t, v, z = np.zeros((P, P)), np.zeros((P, P)), np.zeros(P), np.zeros(P), np.zeros(P), np.zeros(P)
    gain = ll._gn_factor(Gs, gs, act, L, M, rd, t, v, z)
    return gain, z, t


@pytest.mark.parametrize("seed", range(6))
def test_gn_factor_step_and_gain_equal_cholesky_then_solves_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    P = 5
    act = np.ones(P, dtype=bool)
    for _ in range(50):
        Gs = _scaled_gram(rng, P)
        gs = rng.normal(size=P)
        gain, z, t = _gn(Gs, gs, act)
        _, t0, z0 = _reference_solve(Gs, gs, 0.0)
        assert gain == sum(v * v for v in t0)
        np.testing.assert_array_equal(_bits(z), _bits(z0))


def test_gn_factor_after_the_power_iterations_solves_again():
    """Eigenvalues (1, 1, a, a, a), a = 4e-10: ``trace·trace(Gs⁻¹) ≈ 1.5e10`` does
    not settle the conditioning test, the power iterations (which take the
    forward solve's scratch) pass it (``trace/λ_min = 5e9``): the step is still
    the triangular solves'."""
    rng = np.random.default_rng(3)
    P = 5
    Gs = _scaled_gram(rng, P, eig=[1.0, 1.0, 4e-10, 4e-10, 4e-10])
    Gs = (Gs + Gs.T) / 2
    gs = rng.normal(size=P)
    act = np.ones(P, dtype=bool)
    L0, t0, z0 = _reference_solve(Gs, gs, 0.0)
    inv_trace = float(np.sum(np.linalg.inv(L0) ** 2))
    assert inv_trace * np.trace(Gs) > ll.GRAM_MAX_COND ** 2  # the bound does not settle it
    gain, z, _ = _gn(Gs, gs, act)
    assert gain >= 0.0  # the power iterations passed it
    assert gain == sum(v * v for v in t0)
    np.testing.assert_array_equal(_bits(z), _bits(z0))
    bad = _scaled_gram(rng, P, eig=[1.0, 1.0, 1.0, 1.0, 1e-11])  # trace/λ_min > 1e10: to the SVD
    assert _gn(bad, gs, act)[0] == -1.0


def test_reduction_at_equals_the_reduction_of_the_rows():
    rng = np.random.default_rng(0)
    rb = rng.normal(size=(2, 401))
    for k, kn in ((0, 1), (1, 0)):
        assert kernel_at.reduction_at(rb, k, kn) == gram.reduction(rb[k].copy(), rb[kn].copy())
    rb[1, 7] = np.nan
    assert math.isnan(kernel_at.reduction_at(rb, 0, 1))


@pytest.mark.parametrize("N", [1, 3, 25, 400, 1001])
def test_square_sums_equal_the_serial_sums_to_rounding(N):
    """Reassociated (vectorised): the serial sums to N·ε relative, NaN and inf kept."""
    rng = np.random.default_rng(N)
    f = rng.uniform(0.0, 50.0, N)
    bs = rng.uniform(0.5, 2.0, N)
    y = f + rng.normal(size=N)
    model_sq = 0.0
    data_sq = 0.0
    for n in range(N):
        model_sq += (f[n] * bs[n]) * (f[n] * bs[n])
        data_sq += y[n] * y[n]
    m, d = ec._square_sums(f, bs, y)
    assert abs(m - model_sq) <= 4 * N * np.finfo(float).eps * model_sq
    assert abs(d - data_sq) <= 4 * N * np.finfo(float).eps * data_sq
    y[N // 2] = np.inf
    assert ec._square_sums(f, bs, y)[1] == np.inf
    f[0] = np.nan
    assert math.isnan(ec._square_sums(f, bs, y)[0])


def _sum_sq(r):
    s = 0.0
    for v in r:
        s += v * v
    return s


@pytest.mark.parametrize("N", [5, 25, 400, 4096])
def test_settled_decides_every_test_as_the_residuals_sum(N):
    """Where ``_settled`` lets the kernel take ``cost − cost_new``, every test the
    reduction enters (``lm_rules._tests_at``) answers as with ``gram.reduction``
    of the residuals; trials with the gain ratio put on a threshold (within
    roundings), with tiny reductions against ``ftol`` and ``noise``, and clear ones.
    Truth: the reduction the kernel summed before (``gram.reduction``)."""
    rng = np.random.default_rng(N)
    ftol = 1e-12
    taken = 0
    for trial in range(400):
        r = rng.normal(size=N) * rng.uniform(0.1, 1e3)
        step = [1e-1, 1e-3, 1e-7, 1e-12, 1e-15][trial % 5]
        rn = r * (1.0 - step * rng.uniform(-1.0, 2.0)) + step * rng.normal(size=N) * np.abs(r).mean()
        cost, cost_new = _sum_sq(r), _sum_sq(rn)
        red = gram.reduction(r, rn)
        a = cost - cost_new
        kind = trial % 4
        if kind == 0:
            pred = abs(red) * rng.uniform(0.5, 3.0) + 1e-300
        else:  # the ratio on 1e-4, 0.25, 0.75 or 2 within roundings
            pred = red / [1e-4, 0.25, 0.75, 2.0][kind] if red > 0 else abs(red) + 1.0
        noise = 8 * np.finfo(float).eps * math.sqrt(_sum_sq(r * (2 * np.abs(r) + np.abs(r))))
        tol = max(ftol * cost, noise)
        if lr._settled(a, cost, cost_new, pred, noise, ftol, N):
            taken += 1
            assert lr._tests_at(a, pred, noise, tol) == lr._tests_at(red, pred, noise, tol), trial
        if kind == 0 and step >= 1e-3:
            assert lr._settled(a, cost, cost_new, pred, noise, ftol, N), trial  # clear: taken
    assert taken > 50


def test_settled_refuses_where_the_costs_and_the_sum_straddle_a_threshold():
    """A reduction whose ratio rounds on 0.25 from one side and the costs' difference
    from the other: ``_settled`` must send the kernel to the residuals' sum."""
    rng = np.random.default_rng(11)
    N = 400
    seen = 0
    for _ in range(3000):
        r = rng.normal(size=N) * 100.0
        rn = r * (1.0 - 1e-9 * rng.uniform(0.5, 1.5, N))
        cost, cost_new = _sum_sq(r), _sum_sq(rn)
        red = gram.reduction(r, rn)
        a = cost - cost_new
        pred = red / 0.25
        if (a / pred < 0.25) != (red / pred < 0.25):
            seen += 1
            assert not lr._settled(a, cost, cost_new, pred, 0.0, 1e-12, N)
    assert seen > 0  # the costs' difference does differ from the sum here
