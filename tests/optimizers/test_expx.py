"""``exp(s·x)`` by products on a uniform grid (expression_vm._expx, EXPX).

Truth: ``math.exp`` of the rounded product ``s·x``, within the stated
``(3 max|s·x| + 16)`` ulp on a uniform grid (products used for ``|s·x| ≤ 64``),
and the vector exponential of the rounded product, to the bit, where the
products are not used.
"""

import math

import numpy as np
import pytest
import sympy

pytest.importorskip("numba")
from swiftfit.engines.numba import expression_vm as vm  # noqa: E402
from swiftfit.engines.numba.vexp import exp_into  # noqa: E402

EPS = np.finfo(float).eps


def _expx(s, x):
    out = np.empty(x.size)
    vm._expx(s, x, vm.uniform_step(x), out, np.empty(vm.expx_scratch(x.size)))  # the caller's scratch
    return out


@pytest.mark.parametrize("seed", range(6))
def test_uniform_grids_within_the_stated_ulps(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(64, 3000))
        x = np.linspace(rng.uniform(-300, 300), rng.uniform(-300, 300), n)
        s = rng.uniform(-1, 1) * rng.uniform(0.01, 64) / np.abs(x).max()
        assert vm.uniform_step(x) != 0.0  # linspace: uniform to the rounding of each point
        a = s * x
        got = _expx(s, x)
        ref = np.array([math.exp(v) for v in a])
        rel = np.abs(got - ref) / ref
        assert rel.max() <= (3 * np.abs(a).max() + 16) * EPS


def test_the_battery_decay_within_a_few_ulps_and_uniform():
    x = np.linspace(0.0, 200.0, 400)
    for t in (8.0, 13.0, 45.0, 70.0):
        got = _expx(-1.0 / t, x)
        ref = np.array([math.exp(-v / t) for v in x])
        assert (np.abs(got - ref) / ref).max() <= 40 * EPS


def test_elsewhere_the_vector_exponential_of_the_product():
    rng = np.random.default_rng(3)
    x_uneven = np.sort(rng.uniform(0, 100, 300))
    x_short = np.linspace(0, 10, 40)  # fewer than 2·_LANES points
    x_far = np.linspace(0, 1000, 500)  # |s·x| beyond 64 at one end
    for x, s in ((x_uneven, -0.3), (x_short, 0.7), (x_far, -0.8), (np.linspace(0, 1, 100), np.nan)):
        ref = np.empty(x.size)
        with np.errstate(all="ignore"):
            exp_into(s * x, ref)
        np.testing.assert_array_equal(_expx(s, x), ref)
    assert vm.uniform_step(x_uneven) == 0.0
    x_nan = np.linspace(0, 1, 100)
    x_nan[50] = np.nan
    assert vm.uniform_step(x_nan) == 0.0


def test_the_program_uses_expx_for_exp_of_a_scalar_times_x_only():
    x = vm._X
    A, t, c = sympy.symbols("A t c", real=True)
    params = [A, t, c]
    expr = A * sympy.exp(-x / t) + sympy.exp(x**2 * c)
    ins, isvec, consts, outputs = vm.lower(expr, [sympy.diff(expr, p) for p in params], params)
    codes = list(ins[:, 0])
    assert codes.count(vm.EXPX) == 1  # exp(-x/t): one instruction, no vector product before it
    assert codes.count(vm.EXP) == 1  # exp(c·x²) is not of that form
    # the product x·(−1/t) is not kept: nothing else reads it
    assert not any(row[0] == vm.MUL and 0 in row[1:3] and not isvec[row[1] + row[2]] for row in ins
                   if row[3] in {r[1] for r in ins if r[0] == vm.EXPX})
