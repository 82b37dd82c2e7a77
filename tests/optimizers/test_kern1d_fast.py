"""The vectorised 1-D evaluation of the compiled kernel (issue 16, kern1d).

Truths: ``math.exp`` for the vector exponential (:mod:`swiftfit.engines.numba.vexp`,
within 1 ulp, measured 1.0); the NumPy components (``function``/``gradients``)
for the kernel's values and Jacobians of what was rewritten (PowerLaw through
its table and without, Lorentzian, Gaussian, Polynomial, Expression programs
of every operand layout), to 1e-12 of each column's largest entry; the NumPy
Levenberg–Marquardt (``kernel="numpy"``) for fitted maps of the battery's
multi-exponential and power-law + Lorentzian models, to 1e-8 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from check_problems import assert_kernel_equals_numpy

import swiftfit as sf
from swiftfit.engines.numba import expression_vm as vm
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C = sf.model.components1D


def test_vector_exp_within_one_ulp_of_math_exp():
    from swiftfit.engines.numba.vexp import exp_into

    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(-700, 700, 200_000), rng.uniform(-1, 1, 50_000), [0.0, -708.0, 709.0]])
    out = np.empty_like(a)
    exp_into(a, out)
    ref = np.array([math.exp(v) for v in a])
    ulp = np.abs(out - ref) / np.spacing(ref)
    assert ulp.max() <= 1.0
    # outside [-708, 709] (subnormal, overflow) and non-finite: math.exp itself
    edge = np.array([-745.0, -720.0, -800.0, 710.0, np.inf, -np.inf, np.nan, -708.5, 709.5])
    got = np.empty_like(edge)
    exp_into(edge, got)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(edge))


def _problem(components, x, nav=3, fixed=(), jitter=None):
    s = sf.signals.Signal1D(np.ones((nav, x.size)), axes=[{"size": nav}, {"axis": x}])
    m = s.create_model()
    m.extend(components)
    for comp, name in fixed:
        getattr(comp, name).free = False
    m.assign_current_values_to_all()
    if jitter is not None:
        jitter(m)
    return m, m._problem(list(np.ndindex(nav)))


X = np.linspace(400.0, 800.0, 500)


def _powerlaw_lorentzians(origin=300.0):
    pl = C.PowerLaw(A=1e10, r=3.0, origin=origin, left_cutoff=450.0)
    return [pl, C.Lorentzian(A=2000, gamma=2.0, centre=640), C.Lorentzian(A=900, gamma=3.0, centre=652)]


def test_powerlaw_with_its_log_table_equals_numpy():
    comps = _powerlaw_lorentzians()
    m, problem = _problem(comps, X, fixed=[(comps[0], "origin"), (comps[0], "left_cutoff")])
    low = _fused.lower(problem)
    assert low["ex"][6][0] >= 0  # one fixed origin in every pixel: the table is built
    theta = problem.p0 * np.array([[1.0], [1.03], [0.97]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_powerlaw_without_table_equals_numpy():
    # origins that differ per pixel: no table, log d per channel
    comps = _powerlaw_lorentzians()

    def jitter(m):
        comps[0].origin.map["values"] = [300.0, 310.0, 395.0]

    m, problem = _problem(comps, X, fixed=[(comps[0], "origin"), (comps[0], "left_cutoff")], jitter=jitter)
    low = _fused.lower(problem)
    assert low["ex"][6][0] == -1
    theta = problem.p0 * np.array([[1.0], [1.03], [0.97]])
    assert_kernel_equals_numpy(problem, theta, low)
    # a free origin moved off the value the table was made for: the kernel checks and computes its own
    comps = _powerlaw_lorentzians()
    m, problem = _problem(comps, X, fixed=[(comps[0], "left_cutoff")])
    low = _fused.lower(problem)
    theta = problem.p0 * np.array([[1.0], [1.01], [0.99]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_gaussians_and_polynomial_equal_numpy():
    x = np.arange(1024.0)
    comps = [C.Gaussian(A=500, sigma=2.0, centre=200.3), C.Gaussian(A=800, sigma=3.5, centre=3.0),
             C.Gaussian(A=300, sigma=1.2, centre=1020.0), C.Polynomial(order=2, a0=30, a1=-0.01, a2=2e-6),
             C.Offset(offset=4.0)]
    m, problem = _problem(comps, x, fixed=[(comps[4], "offset")])
    low = _fused.lower(problem)
    theta = problem.p0 * np.array([[1.0], [1.02], [0.98]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_expression_programs_of_every_operand_layout_equal_numpy():
    # vector·scalar and scalar·vector products, sums with a scalar, squares,
    # reciprocals, exponentials of vectors and of scalars, a generic op (log)
    x = np.linspace(0.5, 200.0, 300)
    e = C.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c + k/(x + d)**2 + exp(g)*x + log(x*s)", name="e",
                     A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0, k=50.0, d=3.0, g=-4.0, s=1.5)
    m, problem = _problem([e], x)
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    theta = problem.p0 * np.array([[1.0], [1.02], [0.97]])
    assert_kernel_equals_numpy(problem, theta, low)


def test_register_program_has_no_repeated_instruction():
    x = vm._X
    A1, t1, A2, t2, c = sympy.symbols("A1 t1 A2 t2 c", real=True)
    expr = A1 * sympy.exp(-x / t1) + A2 * sympy.exp(-x / t2) + c
    params = [A1, t1, A2, t2, c]
    ins, isvec, consts, outputs = vm.lower(expr, [sympy.diff(expr, p) for p in params], params)
    keys = [tuple(row[:3]) for row in ins]
    assert len(keys) == len(set(keys))
    # vector instructions: 14 with -1·x twice, 13 with it once, 12 with the scalars of each
    # product folded first (x·(−1/t1): one vector product per exponential argument), 10 with
    # exp(s·x) as one instruction (EXPX: no vector product before the exponential), 7 with
    # (s·a)·b and (s + a) + b as one pass each (MUL3, ADD3: A1/t1²·(A1·e₁)·x, (c + A1·e₁) + A2·e₂;
    # each followed by an ARG row naming its scalar, no operation of its own)
    assert sum(1 for row in ins if isvec[row[3]] and row[0] != vm.ARG) == 7
    assert sum(1 for row in ins if row[0] == vm.EXPX) == 2
    assert sum(1 for row in ins if row[0] in (vm.ADD3, vm.MUL3)) == 3
    assert all(ins[t + 1][0] == vm.ARG for t in range(len(ins)) if ins[t][0] in (vm.ADD3, vm.MUL3))


@pytest.mark.parametrize("case", ["multiexp", "powerlaw_lor"])
def test_battery_models_fit_as_numpy(case):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "battery.py"
    spec = importlib.util.spec_from_file_location("_battery_k1", path)
    battery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(battery)
    data, build, truth, _ = battery.CASES[case](8, np.random.default_rng(0))
    out = {}
    for kernel in ("numba", "numpy"):
        m, values = build(sf, data)
        m.assign_current_values_to_all()
        m.multifit(kernel=kernel)
        out[kernel] = values()
        if kernel == "numba":
            assert int(m.multifit_output.slow_path.data.sum()) == 0
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-8)
    assert np.median(np.abs(out["numba"] - truth)) < (1.0 if case == "multiexp" else 0.2)
