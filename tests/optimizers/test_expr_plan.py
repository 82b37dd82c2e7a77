"""Stop 29 (vmcost, issue 16): ``expr_gram.evaluate_gram`` reads what depends
on the pixel's structure only — ``x``'s uniform step, whether every bin scale
is 1, which derivatives are computed in their Jacobian rows — from a plan that
``expr_gram.fusable`` writes into ``R``'s last row for each pixel, instead of
finding it at every evaluation (``forms1d._expression`` still does).

A stale plan would give wrong rows (unscaled by the bin scales, or written
into the wrong row): each test here would see it.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D
X = np.linspace(0.0, 200.0, 400)
XN = 200.0 * np.linspace(0.0, 1.0, 400) ** 1.5  # a non-uniform axis


def _decay():
    return C.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c", name="d", A1=1500.0, t1=13.0, A2=700.0, t2=45.0,
                        c=10.0)


def _problem(x, binned, B=2, seed=7):
    """B pixels of two decays plus noise on ``x`` (uniform or not, binned or not)."""
    rng = np.random.default_rng(seed)
    truth = 1400.0 * np.exp(-x / 12.0) + 650.0 * np.exp(-x / 50.0) + 9.0
    data = truth * rng.uniform(0.9, 1.1, (B, 1)) + rng.normal(0.0, 3.0, (B, x.size))
    if np.array_equal(x, X):
        s = sf.signals.Signal1D(data)
        s.axes_manager[-1].scale = x[1] - x[0]
    else:
        s = sf.signals.Signal1D(data, axes=[{"size": B}, {"axis": x}])
    if binned:
        s.axes_manager[-1].is_binned = True
    m = s.create_model()
    m.append(_decay())
    m.assign_current_values_to_all()
    return m._problem(list(np.ndindex(B)))


def _fusable(low, P, R):
    from swiftfit.engines.numba import expr_gram

    N = low["x"].size
    return expr_gram.fusable(low["kinds"], low["qoff"], low["nq"], low["active"][0], low["col"], low["ex"], P, N,
                             low["x"], low["bs"], R)


def _gram_eval(problem, low, R, w, use_w):
    """``evaluate_gram`` at ``p0`` (pixel 0) into fresh buffers: ``(J rows, f)``."""
    from swiftfit.engines.numba import expr_gram

    P = problem.P
    N = low["x"].size
    col = low["col"]
    q = np.ascontiguousarray(low["fixed"][0], dtype=float).copy()
    theta = np.ascontiguousarray(problem.p0, dtype=float)[0] * 1.02
    for k in range(q.size):
        if 0 <= col[k] < P:
            q[k] = theta[col[k]]
    J = np.full((P + 1, N), np.nan)
    jlo, jhi = np.zeros(P + 1, dtype=np.int64), np.zeros(P + 1, dtype=np.int64)
    f, r = np.empty(N), np.empty(N)
    G, g = np.empty((P, P)), np.empty(P)
    y = np.ascontiguousarray(problem.data[0], dtype=float)
    expr_gram.evaluate_gram(low["x"], low["bs"], y, w, use_w, low["qoff"], low["nq"], q, col, f, r, J, jlo, jhi,
                            low["ex"], R, G, g)
    return J[:P].copy(), f


@pytest.mark.parametrize("use_w", [False, True], ids=["unweighted", "weighted"])
def test_plan_is_written_for_each_pixel(use_w):
    """An ``R`` holding another problem's plan (uniform axis, unit bin scales)
    gives, after ``fusable``, the rows that a fresh ``R`` gives; without
    ``fusable`` (the old plan kept) they differ: the plan is read."""
    from swiftfit.engines.numba import expression_vm as vm

    a = _problem(X, binned=False)
    b = _problem(XN, binned=True)
    low_a, low_b = _fused.lower(a), _fused.lower(b)
    assert low_a["n_reg"] == low_b["n_reg"]
    N = X.size
    w = np.random.default_rng(3).uniform(0.5, 2.0, N) if use_w else np.ones(N)
    fresh = np.empty((low_b["n_reg"], N))
    assert _fusable(low_b, b.P, fresh)
    plan = fresh[-1]
    assert plan[0] == vm.uniform_step(low_b["x"]) == 0.0  # not uniform
    assert plan[1] == 0.0  # binned: bin scales ≠ 1
    assert plan[2] == 4  # A1, t1, A2, t2 computed in their rows; c's a constant
    want = _gram_eval(b, low_b, fresh, w, use_w)

    stale = np.empty((low_a["n_reg"], N))
    assert _fusable(low_a, a.P, stale)
    assert stale[-1, 0] > 0.0 and stale[-1, 1] == 1.0
    assert _fusable(low_b, b.P, stale)  # rewritten
    got = _gram_eval(b, low_b, stale, w, use_w)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])

    stale = np.empty((low_a["n_reg"], N))
    assert _fusable(low_a, a.P, stale)  # a's plan, b evaluated with it
    bad = _gram_eval(b, low_b, stale, w, use_w)
    assert not np.array_equal(bad[0], want[0])


def _fit(problem, low, Y, W, use_w, active):
    from swiftfit.engines.numba import driver as k

    B = Y.shape[0]
    theta = np.ascontiguousarray(np.broadcast_to(np.asarray(problem.p0, dtype=float)[0], (B, problem.P))).copy()
    inf = np.full(problem.P, np.inf)
    out = k.fit_pixels(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"],
                       np.ascontiguousarray(Y, dtype=float), W, use_w, low["kinds"], low["qoff"],
                       low["nq"], active, np.ascontiguousarray(np.broadcast_to(low["fixed"][0], (B, low["fixed"].shape[1]))),
                       low["col"], theta, 1e-8, 1e-8, 200, 100.0, low["ex"], low["n_reg"], -inf, inf)
    return theta, out


@pytest.mark.parametrize("x, binned", [(X, False), (XN, True)], ids=["uniform", "non-uniform binned"])
def test_pixels_of_one_call_fit_as_each_alone(x, binned):
    """Pixels with different weights, one with the Expression inactive (the
    unfused path in between), fitted in one call: each pixel's values, χ²,
    nfev and status are those of a call with that pixel alone, bit for bit."""
    problem = _problem(x, binned, B=4)
    low = _fused.lower(problem)
    rng = np.random.default_rng(11)
    W = rng.uniform(0.5, 2.0, (4, x.size))
    active = np.ones((4, 1), dtype=np.bool_)
    active[2, 0] = False
    Y = np.asarray(problem.data, dtype=float)
    theta, out = _fit(problem, low, Y, W, True, active)
    assert (out[1][[0, 1, 3]] > 2).all()  # fitted, not stopped at once
    for b in range(4):
        th1, out1 = _fit(problem, low, Y[b:b + 1], W[b:b + 1], True, active[b:b + 1])
        np.testing.assert_array_equal(th1[0], theta[b])
        for k in (0, 1, 4):  # status, nfev, χ²
            assert out1[k][0] == out[k][b]
