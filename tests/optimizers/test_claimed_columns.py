"""The 1-D evaluation writes each Jacobian column where its first component
claims it instead of zeroing every row first (engines/numba/model.py
``_claim``): on a buffer reused from evaluation to evaluation — windows that
move, shrink and grow, components switched off and on, columns shared by two
components (a twin), fixed parameters, a power law, a polynomial — the
Jacobian, its ranges, the model and the residuals are bit for bit those of an
evaluation into a fresh zeroed buffer, and every row is zero outside its range.
Truth: the fresh buffer (the evaluation the NumPy path is checked against in
test_fused_components.py). Below ``CLAIM_MIN`` channels every row is zeroed first, as before."""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused
from swiftfit.engines.numba import model as _model

pytest.importorskip("numba")
C = sf.model.components1D


def _lowered(comps, x, setup=None):
    s = sf.signals.Signal1D(np.ones((2, x.size)), axes=[{"size": 2}, {"axis": x}])
    m = s.create_model()
    m.extend(comps)
    if setup is not None:
        setup(comps)
    m.assign_current_values_to_all()
    problem = m._problem(list(np.ndindex(2)))
    low = _fused.lower(problem)
    assert low is not None
    return problem, low


def _run(low, P, q, active, y, w, use_w, J, jlo, jhi):
    N = low["x"].size
    f = np.empty(N)
    r = np.empty(N)
    R = np.empty((max(low["n_reg"], 1), N))
    cost = _model.evaluate(low["x"], low["xy"], low["grid"], low["ascending"], low["dx"], low["bs"], y, w, use_w,
                           low["kinds"], low["qoff"], low["nq"], active, q, low["col"], f, r, J, jlo, jhi, low["ex"], R)
    return f, r, cost


def _gauss_twin(comps):
    comps[1].sigma.twin = comps[0].sigma


CASES = {  # fresh components per test (a component belongs to one model)
    "gaussians_offset": lambda: ([C.Gaussian(A=50.0, sigma=2.0, centre=30.0), C.Gaussian(A=30.0, sigma=3.0, centre=70.0),
                          C.Offset(offset=1.0)], None),
    "twinned_sigma": lambda: ([C.Gaussian(A=50.0, sigma=2.0, centre=30.0), C.Gaussian(A=30.0, sigma=3.0, centre=70.0),
                       C.Polynomial(order=2)], _gauss_twin),
    "powerlaw_lorentzians": lambda: ([C.PowerLaw(A=1e6, r=2.5, origin=0.0), C.Lorentzian(A=90.0, gamma=3.0, centre=40.0),
                              C.Lorentzian(A=60.0, gamma=2.0, centre=60.0)],
                             lambda c: setattr(c[0].origin, "free", False) or setattr(c[0].left_cutoff, "free", False)),
    "fixed_centre": lambda: ([C.Gaussian(A=50.0, sigma=2.0, centre=30.0), C.Lorentzian(A=20.0, gamma=4.0, centre=60.0),
                      C.Offset(offset=2.0)],
                     lambda c: setattr(c[0].centre, "free", False) or setattr(c[1].gamma, "free", False)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("use_w", [False, True])
@pytest.mark.parametrize("npts", [400, 120])  # claiming (≥ CLAIM_MIN) and zeroing first
def test_reused_buffer_equals_fresh(name, use_w, npts):
    comps, setup = CASES[name]()
    x = np.linspace(10.0, 110.0, npts)
    assert (npts >= _model.CLAIM_MIN) == (npts == 400)
    problem, low = _lowered(comps, x, setup)
    P = problem.P
    N = x.size
    rng = np.random.default_rng(5)
    y = rng.normal(10.0, 1.0, N)
    w = rng.uniform(0.5, 2.0, N) if use_w else np.ones(N)
    nc = low["kinds"].size
    J = np.full((P + 1, N), np.nan)  # a reused buffer: garbage only in the scratch row after the first call
    J[:P] = 0.0
    jlo = np.zeros(P + 1, dtype=np.int64)
    jhi = np.zeros(P + 1, dtype=np.int64)
    q0 = low["fixed"][0].copy()
    theta = np.asarray(problem.p0, dtype=float)
    theta = theta[0] if theta.ndim == 2 else theta
    for k in range(q0.size):
        if 0 <= low["col"][k] < P:
            q0[k] = theta[low["col"][k]]
    for step in range(40):
        q = q0.copy()
        for k in range(q.size):  # move every free parameter: windows shift, shrink and grow
            if 0 <= low["col"][k] < P:
                q[k] = q0[k] * (1.0 + 0.4 * rng.uniform(-1.0, 1.0))
        active = rng.uniform(size=nc) > 0.25 if step % 3 else np.ones(nc, dtype=bool)
        f, r, cost = _run(low, P, q, active, y, w, use_w, J, jlo, jhi)
        Jf = np.zeros((P + 1, N))
        lof = np.zeros(P + 1, dtype=np.int64)
        hif = np.zeros(P + 1, dtype=np.int64)
        f2, r2, cost2 = _run(low, P, q, active, y, w, use_w, Jf, lof, hif)
        assert np.array_equal(jlo[:P], lof[:P]) and np.array_equal(jhi[:P], hif[:P])
        assert np.array_equal(J[:P], Jf[:P]), step
        assert np.array_equal(f, f2) and np.array_equal(r, r2) and cost == cost2
        for j in range(P):  # zero outside the range (what the Gram matrix and the SVD rely on)
            assert not J[j, :max(jlo[j], 0)].any() and not J[j, max(jhi[j], 0):].any()
        assert any(lof[j] > 0 or hif[j] < N for j in range(P)) or name == "powerlaw_lorentzians"


def test_claim_zeroes_the_old_range_outside_the_new():
    """A fresh column (old range [2, 8) kept as -3, -9) claimed for [4, 6)
    by a component that writes its values: zero outside [4, 6), untouched
    inside (the component writes there); an adding component: the whole old
    range zeroed."""
    J = np.arange(1.0, 11.0).reshape(1, 10).copy()
    J[0, :2] = 0.0
    J[0, 8:] = 0.0
    jlo = np.array([-3])
    jhi = np.array([-9])
    _model._claim(J, jlo, jhi, 0, 4, 6, True)
    assert (jlo[0], jhi[0]) == (4, 6)
    np.testing.assert_array_equal(J[0], [0, 0, 0, 0, 5, 6, 0, 0, 0, 0])
    J[0, 2:8] = 7.0
    jlo[0], jhi[0] = -3, -9
    _model._claim(J, jlo, jhi, 0, 4, 6, False)
    assert not J[0].any() and (jlo[0], jhi[0]) == (4, 6)
    _model._claim(J, jlo, jhi, 0, 1, 5, False)  # claimed already: the range widens, nothing zeroed
    assert (jlo[0], jhi[0]) == (1, 6)
