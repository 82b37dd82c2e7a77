"""Stop 26 (mexp3, issue 16): an Expression's Jacobian rows written without
being zeroed first, and the LM's actual reduction as a vectorised sum.

* ``model._evaluate_claimed`` lets an Expression *store* its columns (no
  zeroing) only where ``forms1d.expression_owns`` says no other parameter slot
  has them. Truth: the NumPy problem's Jacobian (sympy's derivatives), at
  1e-12 of each column's largest entry, from Jacobian rows that hold NaN from
  a "previous evaluation" over every channel: a row that is added to instead of
  stored (or not zeroed) keeps a NaN and fails. Both branches: the one-component
  decay (owned: stored) and two decays on one twinned column (shared: zeroed,
  then added).
* ``gram.reduction``: ``Σ (r − rn)(r + rn)`` within ``2 N ε Σ |terms|`` of the
  exactly rounded sum (``math.fsum``), NaN and inf propagated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D
X = np.linspace(0.0, 200.0, 400)


def _decay(name, **kw):
    start = dict(A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0) | kw
    return C.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c", name=name, **start)


def _problem(components, twin=None):
    rng = np.random.default_rng(5)
    s = sf.signals.Signal1D(rng.uniform(50, 100, (2, X.size)))
    s.axes_manager[-1].scale = X[1] - X[0]
    m = s.create_model()
    m.extend(components)
    if twin is not None:
        twin[0].twin = twin[1]
    m.assign_current_values_to_all()
    return m._problem(list(np.ndindex(2)))


def _jacobian_over_stale_rows(problem, theta):
    """The compiled ``model.evaluate`` at ``theta[0]`` with every Jacobian row
    holding NaN over all channels, as a previous evaluation's range."""
    from swiftfit.engines.numba.model import evaluate

    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    P = problem.P
    T = low["ex"][7].shape[0]
    N = X.size
    col = low["col"]
    q = np.ascontiguousarray(low["fixed"][0], dtype=float).copy()
    for k in range(q.size):
        if 0 <= col[k] < P:
            q[k] = theta[0, col[k]]
    J = np.full((P + 1 + T, N), np.nan)
    jlo = np.zeros(P + 1 + T, dtype=np.int64)
    jhi = np.full(P + 1 + T, N, dtype=np.int64)
    f = np.empty(N)
    r = np.empty(N)
    R = np.empty((low["n_reg"], N))
    y = np.ascontiguousarray(problem.data[0], dtype=float)
    w = np.ones(N)
    evaluate(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], y, w, False, low["kinds"],
             low["qoff"], low["nq"], low["active"][0], q, col, f, r, J, jlo, jhi, low["ex"], R)
    return J[:P], col


@pytest.mark.parametrize("shared", [False, True], ids=["owned: stored", "twinned column: zeroed and added"])
def test_expression_rows_written_over_stale_values(shared):
    if shared:
        d1, d2 = _decay("d1"), _decay("d2", t1=20.0, t2=70.0)
        problem = _problem([d1, d2], twin=(d2.A1, d1.A1))
    else:
        problem = _problem([_decay("d")])
    theta = np.ascontiguousarray(problem.p0, dtype=float) * np.array([[1.03], [0.98]])
    J, col = _jacobian_over_stale_rows(problem, theta)
    assert (np.sum(col == col[0]) == 2) == shared
    ref = problem.jacobian(theta)[0]  # (N, P)
    for j in range(problem.P):
        assert np.isfinite(J[j]).all(), f"column {j} kept a stale NaN"
        np.testing.assert_allclose(J[j], ref[:, j], rtol=0, atol=1e-12 * np.abs(ref[:, j]).max())


def test_reduction_is_the_sum_to_rounding():
    from swiftfit.engines.numba.gram import reduction

    rng = np.random.default_rng(11)
    for N in (1, 7, 400, 1001):
        r = rng.normal(0, 30, N)
        rn = r * rng.uniform(0.5, 1.0, N) + rng.normal(0, 1, N)
        terms = [(a - b) * (a + b) for a, b in zip(r, rn)]
        exact = math.fsum(terms)
        bound = 2 * N * np.finfo(float).eps * math.fsum(abs(t) for t in terms)
        assert abs(reduction(r, rn) - exact) <= bound
    r = rng.normal(0, 1, 400)
    rn = r.copy()
    assert reduction(r, rn) == 0.0
    rn[17] = np.nan
    assert math.isnan(reduction(r, rn))
    rn[17] = np.inf
    assert reduction(r, rn) == -np.inf
