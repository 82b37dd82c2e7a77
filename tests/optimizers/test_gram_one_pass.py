"""Stop 27 (mexp4, issue 16): the Gram matrix of three to five Jacobian rows
over one long range in one pass (``engines/numba/gram1.py``, taken by
``gram.gram``), against NumPy's ``J.T @ J`` and ``J.T @ r``.

Tolerance: any order of summing ``N`` products differs from the exact sum by
at most ``(N + 1) ε Σ |J_i J_j|``; the entries are asserted within
``2 N ε Σ |J_i J_j|`` of NumPy's (itself within the same of the exact sum),
and NumPy's Gram matrix of the kernel's own (unfused) Jacobian rows is the
truth. On Expressions: the decay of the battery's ``multiexp``, a
Gaussian-like peak, a twinned column (two decays sharing a lifetime: that
column the sum of two components' rows), a binned signal (bin scale ≠ 1) and a
non-uniform axis.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import gram as gm
from swiftfit.engines.numba import gram1
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D
EPS = np.finfo(float).eps


def _bound(J, r):
    """``2 N ε Σ |J_i J_j|`` and ``2 N ε Σ |J_i r|``."""
    N = J.shape[1]
    A = np.abs(J)
    return 2 * N * EPS * (A @ A.T), 2 * N * EPS * (A @ np.abs(r))


def _check(J, jlo, jhi, r, P):
    G = np.full((P, P), np.nan)
    g = np.full(P, np.nan)
    gm.gram(J, jlo, jhi, r, G, g)
    Jt = J[:P]
    bG, bg = _bound(Jt, r)
    assert (np.abs(G - Jt @ Jt.T) <= bG).all()
    assert (np.abs(g - Jt @ r) <= bg).all()
    assert np.array_equal(G, G.T)
    return G, g


@pytest.mark.parametrize("P", [3, 4, 5])
@pytest.mark.parametrize("N, lo, hi", [(400, 0, 400), (1000, 100, 900), (160, 0, 160)])
def test_one_pass_equals_numpy_on_random_rows(P, N, lo, hi):
    rng = np.random.default_rng(P * 1000 + N)
    J = np.zeros((P + 1, N))
    J[:P, lo:hi] = rng.normal(size=(P, hi - lo)) * rng.uniform(0.1, 1e3, (P, 1))
    J[P] = np.nan  # the scratch row: never read
    jlo = np.array([lo] * P + [0])
    jhi = np.array([hi] * P + [0])
    r = rng.normal(size=N)
    assert gram1.one_pass_ok(jlo, jhi, P, N)
    _check(J, jlo, jhi, r, P)


def test_one_pass_rule():
    """One range of ≥ MIN_CHANNELS channels, 3–5 rows; anything else keeps gram.gram's pairs."""
    N = 400
    full_lo, full_hi = np.zeros(6, dtype=np.int64), np.full(6, N)
    assert gram1.one_pass_ok(full_lo, full_hi, 5, N)
    assert not gram1.one_pass_ok(full_lo, full_hi, 6, N)  # six rows: pairwise
    assert not gram1.one_pass_ok(full_lo, full_hi, 2, N)
    lo2 = full_lo.copy()
    lo2[3] = 10  # a row with another range
    assert not gram1.one_pass_ok(lo2, full_hi, 5, N)
    short = np.full(6, gram1.MIN_CHANNELS - 1)
    assert not gram1.one_pass_ok(full_lo, short, 5, N)


def _problem(components, x, binned=False, twin=None, nonuniform=False):
    rng = np.random.default_rng(7)
    data = rng.uniform(50, 100, (2, x.size))
    if nonuniform:
        s = sf.signals.Signal1D(data, axes=[{"size": 2}, {"axis": x}])
    else:
        s = sf.signals.Signal1D(data)
        s.axes_manager[-1].scale = x[1] - x[0]
    if binned:
        s.axes_manager[-1].is_binned = True
    m = s.create_model()
    m.extend(components)
    if twin is not None:
        twin[0].twin = twin[1]
    m.assign_current_values_to_all()
    return m._problem(list(np.ndindex(2)))


def _evaluate(problem, theta):
    """The compiled ``model.evaluate`` (as the LM kernel calls it) at ``theta[0]``:
    the weighted Jacobian rows, their ranges, the residuals and the bin scales."""
    from swiftfit.engines.numba.model import evaluate

    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    P = problem.P
    T = low["ex"][7].shape[0]
    N = low["x"].size
    col = low["col"]
    q = np.ascontiguousarray(low["fixed"][0], dtype=float).copy()
    for k in range(q.size):
        if 0 <= col[k] < P:
            q[k] = theta[0, col[k]]
    J = np.zeros((P + 1 + T, N))
    jlo = np.zeros(P + 1 + T, dtype=np.int64)
    jhi = np.zeros(P + 1 + T, dtype=np.int64)
    f, r = np.empty(N), np.empty(N)
    R = np.empty((low["n_reg"], N))
    y = np.ascontiguousarray(problem.data[0], dtype=float)
    evaluate(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], y, np.ones(N), False,
             low["kinds"], low["qoff"], low["nq"], low["active"][0], q, col, f, r, J, jlo, jhi, low["ex"], R)
    return J, jlo, jhi, r, low["bs"]


X = np.linspace(0.0, 200.0, 400)
XN = 200.0 * np.linspace(0.0, 1.0, 400) ** 1.5  # a non-uniform axis


def _decay(name="d", **kw):
    start = dict(A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0) | kw
    return C.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c", name=name, **start)


def _twins():
    d1 = C.Expression("A*exp(-x/t)", name="d1", A=900.0, t=20.0)
    d2 = C.Expression("A*exp(-x/t) + b", name="d2", A=300.0, t=60.0, b=4.0)
    return [d1, d2], (d2.t, d1.t)


CASES = {
    "multiexp decay": lambda: _problem([_decay()], X),
    "Gaussian-like": lambda: _problem([C.Expression("A*exp(-(x - m)**2/(2*s**2)) + b", name="g", A=80.0, m=90.0,
                                                    s=40.0, b=3.0)], X),
    "twinned column": lambda: _problem(_twins()[0], X, twin=None),
    "binned (bin scale ≠ 1)": lambda: _problem([_decay()], X, binned=True),
    "non-uniform axis, binned": lambda: _problem([_decay()], XN, binned=True, nonuniform=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_pass_gram_of_expressions(name):
    if name == "twinned column":
        comps, (a, b) = _twins()
        problem = _problem(comps, X, twin=(a, b))
    else:
        problem = CASES[name]()
    P = problem.P
    theta = np.ascontiguousarray(problem.p0, dtype=float) * np.array([[1.03], [0.98]])
    J, jlo, jhi, r, bs = _evaluate(problem, theta)
    N = J.shape[1]
    assert gram1.one_pass_ok(jlo, jhi, P, N), (P, jlo, jhi)  # the path under test is the one taken
    if name.startswith("binned") or name.startswith("non-uniform"):
        assert not np.allclose(bs, 1.0)
    _check(J, jlo, jhi, r, P)
    # and the rows are the model's Jacobian (sympy's derivatives, NumPy path; bin scales in it)
    ref = problem.jacobian(theta)[0]
    for j in range(P):
        np.testing.assert_allclose(J[j], ref[:, j], rtol=0, atol=1e-12 * np.abs(ref[:, j]).max())


FUSED = {
    "multiexp decay": lambda: _problem([_decay()], X),
    "Gaussian-like": CASES["Gaussian-like"],
    "binned (bin scale ≠ 1)": CASES["binned (bin scale ≠ 1)"],
    "non-uniform axis, binned": CASES["non-uniform axis, binned"],
}


@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", list(FUSED))
def test_evaluation_with_its_gram_matrix(name, weights):
    """``expr_gram.evaluate_gram``: ``f``, ``r`` and the Jacobian rows as the
    unfused evaluation (``model.evaluate``) gives them, ``G``, ``g`` within
    ``2 N ε Σ|products|`` of NumPy's ``J.T @ J``, ``J.T @ r`` of those rows,
    ``Σ r²`` within ``2 N ε Σ r²`` of NumPy's."""
    from swiftfit.engines.numba import expr_gram
    from swiftfit.engines.numba.model import evaluate

    problem = FUSED[name]()
    P = problem.P
    theta = np.ascontiguousarray(problem.p0, dtype=float) * np.array([[1.03], [0.98]])
    low = _fused.lower(problem)
    N = low["x"].size
    col = low["col"]
    q = np.ascontiguousarray(low["fixed"][0], dtype=float).copy()
    for k in range(q.size):
        if 0 <= col[k] < P:
            q[k] = theta[0, col[k]]
    y = np.ascontiguousarray(problem.data[0], dtype=float)
    w = np.random.default_rng(2).uniform(0.5, 2.0, N) if weights else np.ones(N)
    out = []
    for fused in (False, True):
        J = np.full((P + 1, N), np.nan)  # stale values: every row must be stored over every channel
        jlo = np.full(P + 1, -5, dtype=np.int64)
        jhi = np.full(P + 1, -5, dtype=np.int64)
        if not fused:
            J[:] = 0.0
            jlo[:] = 0
            jhi[:] = 0
        f, r = np.empty(N), np.empty(N)
        R = np.empty((low["n_reg"], N))
        G, g = np.full((P, P), np.nan), np.full(P, np.nan)
        if fused:
            # fusable also leaves evaluate_gram's plan in R's last row
            assert expr_gram.fusable(low["kinds"], low["qoff"], low["nq"], low["active"][0], col, low["ex"], P, N,
                                     low["x"], low["bs"], R)
            cost, noise = expr_gram.evaluate_gram(low["x"], low["bs"], y, w, weights, low["qoff"], low["nq"], q, col,
                                                  f, r, J, jlo, jhi, low["ex"], R, G, g)
        else:
            cost, noise = evaluate(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], y, w,
                                   weights, low["kinds"], low["qoff"], low["nq"], low["active"][0], q, col, f, r, J,
                                   jlo, jhi, low["ex"], R)
        out.append((J[:P].copy(), jlo[:P].copy(), jhi[:P].copy(), f, r, cost, noise, G, g))
    (J0, lo0, hi0, f0, r0, c0, n0, _, _), (J1, lo1, hi1, f1, r1, c1, n1, G, g) = out
    assert (lo1 == 0).all() and (hi1 == N).all()
    np.testing.assert_array_equal(J1, J0)
    np.testing.assert_array_equal(f1, f0)
    np.testing.assert_allclose(r1, r0, rtol=0, atol=4 * EPS * np.abs(y * w).max())  # an FMA or not
    bG, bg = _bound(J1, r1)
    assert (np.abs(G - J1 @ J1.T) <= bG).all()
    assert (np.abs(g - J1 @ r1) <= bg).all()
    assert np.array_equal(G, G.T)
    assert abs(c1 - r1 @ r1) <= 2 * N * EPS * (r1 @ r1)
    assert abs(n1 - n0) <= 1e-12 * n0


def test_twinned_column_is_not_fused():
    """A column two components share (a twin) is the sum of their rows: not one Expression's."""
    from swiftfit.engines.numba import expr_gram

    comps, (a, b) = _twins()
    problem = _problem(comps, X, twin=(a, b))
    low = _fused.lower(problem)
    R = np.empty((low["n_reg"], low["x"].size))
    assert not expr_gram.fusable(low["kinds"], low["qoff"], low["nq"], low["active"][0], low["col"], low["ex"],
                                 problem.P, low["x"].size, low["x"], low["bs"], R)
    one = _problem([_decay()], X)
    low = _fused.lower(one)
    R = np.empty((low["n_reg"], low["x"].size))
    assert expr_gram.fusable(low["kinds"], low["qoff"], low["nq"], low["active"][0], low["col"], low["ex"], one.P,
                             low["x"].size, low["x"], low["bs"], R)
