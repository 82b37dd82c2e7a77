"""The Expression's outputs placed by ``forms1d._expression`` (issue 16, multiexp).

A derivative that owns its Jacobian column is computed in that row
(``expression_vm.run_mapped``) and scaled there; other outputs are stored or
added from their registers; ``(s∘a)∘b`` is one instruction (ADD3/MUL3). Truth:
the NumPy problem's model and Jacobian (sympy's derivatives), to 1e-12 of each
column's largest entry, over every case that picks a different branch: unit
and non-unit bin scales, weights, a column shared by two components (a twin),
a derivative that is the value itself, two parameters with one derivative
register, a fixed parameter. The fused program's registers equal the unfused
one's bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from check_problems import assert_kernel_equals_numpy

import swiftfit as sf
from swiftfit.engines.numba import expression_vm as vm
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D
X = np.linspace(0.0, 200.0, 400)


def _problem(components, binned=False, fixed=(), twin=None, variance=False):
    rng = np.random.default_rng(3)
    s = sf.signals.Signal1D(rng.uniform(50, 100, (3, X.size)))
    s.axes_manager[-1].scale = X[1] - X[0]
    if binned:
        s.axes_manager[-1].is_binned = True
    if variance:
        s.metadata.set_item("Signal.Noise_properties.variance", sf.signals.Signal1D(rng.uniform(1, 9, (3, X.size))))
    m = s.create_model()
    m.extend(components)
    for comp, name in fixed:
        getattr(comp, name).free = False
    if twin is not None:
        twin[0].twin = twin[1]
    m.assign_current_values_to_all()
    return m, m._problem(list(np.ndindex(3)))


def _decay(name="d", **kw):
    start = dict(A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0) | kw
    return C.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c", name=name, **start)


CASES = {
    "one component": lambda: ([_decay()], {}),
    "binned (bin scale ≠ 1)": lambda: ([_decay()], {"binned": True}),
    "fixed t2": lambda: ((c := [_decay()]), {"fixed": [(c[0], "t2")]}),
    "with an Offset": lambda: ([_decay(), C.Offset(offset=3.0)], {}),
    "value = a derivative": lambda: ([C.Expression("exp(b + x/a)", name="e", a=-40.0, b=2.0)], {}),
    "one derivative, two parameters": lambda: ([C.Expression("(a + b)*exp(-x/t) + a*x/100", name="e",
                                                              a=3.0, b=5.0, t=30.0)], {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_expression_outputs_equal_numpy(case):
    comps, kw = CASES[case]()
    m, problem = _problem(comps, **kw)
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    theta = problem.p0 * np.array([[1.0], [1.02], [0.97]])
    assert_kernel_equals_numpy(problem, theta, low, label=f"{case}: ")


def test_shared_column_is_added_not_stored():
    # a twin: d2.A1 follows d1.A1, so column A1 gets both components' derivatives
    d1, d2 = _decay("d1"), _decay("d2", t1=20.0, t2=70.0)
    m, problem = _problem([d1, d2], twin=(d2.A1, d1.A1))
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    col = low["col"]
    assert np.sum(col == col[0]) == 2  # one column, two slots
    theta = problem.p0 * np.array([[1.0], [1.02], [0.97]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_weighted_jacobian_equals_numpy():
    m, problem = _problem([_decay()], binned=True, variance=True)
    low = _fused.lower(problem)
    assert problem.weights is not None
    theta = problem.p0 * np.array([[1.0], [1.02], [0.97]])
    _, _, _, _, J = _fused.evaluate(problem, theta, low)
    ref = problem.jacobian(theta) * problem.weights[..., None]
    for j in range(ref.shape[-1]):
        np.testing.assert_allclose(J[..., j], ref[..., j], rtol=0, atol=1e-12 * np.abs(ref[..., j]).max())


def test_fused_program_equals_unfused_bit_for_bit(monkeypatch):
    x = vm._X
    A1, t1, A2, t2, c = sympy.symbols("A1 t1 A2 t2 c", real=True)
    expr = A1 * sympy.exp(-x / t1) + A2 * sympy.exp(-x / t2) + c
    params = [A1, t1, A2, t2, c]
    grads = [sympy.diff(expr, p) for p in params]
    fused = vm.lower(expr, grads, params)
    monkeypatch.setattr(vm, "_fuse", lambda ins, vec, outputs: ins)
    plain = vm.lower(expr, grads, params)
    assert sum(r[0] in (vm.ADD3, vm.MUL3) for r in fused[0]) == 3
    assert not any(r[0] in (vm.ADD3, vm.MUL3, vm.ARG) for r in plain[0])
    got = []
    for ins, isvec, consts, outs in (fused, plain):
        R = np.full((isvec.size + 1, X.size), np.nan)
        vm.run(ins, isvec, np.array([r for r, _ in consts], dtype=np.int64), np.array([v for _, v in consts]),
               np.array([1500.0, 13.0, 700.0, 45.0, 10.0]), X, np.empty(0), 0, X.size, R)
        got.append([R[o] if isvec[o] else np.full(X.size, R[o, 0]) for o in outs])
    assert fused[3] == plain[3]
    np.testing.assert_array_equal(np.array(got[0]), np.array(got[1]))
