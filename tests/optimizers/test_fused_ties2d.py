"""Ties in a 2-D problem in the compiled kernel: a twin through a function
and ``expr`` ties (one through another), as the 1-D kernel runs them
(tests/optimizers/test_fused_components.py::test_ties_run_in_the_kernel_and_equal_numpy).

Truth: the NumPy path (``kernel="numpy"``). Model, Jacobian and Gram matrix
to 1e-10 relative; fitted maps, standard errors and χ² to 1e-8, 1e-8 and
1e-10 relative (tests/optimizers/test_fused_2d.py's tolerances), no slow-path
pixel; and the simulated truth, where the ties hold exactly, is recovered.
On a frame of ≥ 1024 pixels the Jacobian columns are boxes: a tie folded
into its source's column widens that box to the bounding box of both (the
tied spot sits below and left of its source, where the union of flat ranges
would miss columns of both).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as _fused

pytest.importorskip("numba")
C2 = sf.model.components2D


def _truth(size):
    H, W = size
    # "one" wide, upper right; "two" narrow, lower left: two.sigma_x = 0.6·one.sigma_x
    # (a twin through a function), two.A = one.A / 2 and two.sigma_y = sqrt(one.sigma_y·two.sigma_x) (expr)
    one = (400.0, 1.8, 1.5, W - 9.3, 6.4)
    sx2 = 0.6 * one[1]
    two = (one[0] / 2, sx2, np.sqrt(one[2] * sx2), 9.0 if W > 20 else 3.5, H - 6.2)
    return one, two


def _data(nav, size, seed):
    H, W = size
    X, Y = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    rng = np.random.default_rng(seed)
    out = np.full(nav + size, 3.0)
    for A, sx, sy, cx, cy in _truth(size):
        cxs = cx + rng.uniform(-0.3, 0.3, nav + (1, 1))
        out += A * np.exp(-0.5 * (((X - cxs) / sx) ** 2 + ((Y - cy) / sy) ** 2)) / (2 * np.pi * sx * sy)
    return out + rng.normal(0, 0.3, out.shape)


def _model(data):
    size = data.shape[-2:]
    one, two = _truth(size)
    m = sf.signals.Signal2D(data).create_model()
    g1 = C2.Gaussian2D(A=360, sigma_x=1.7, sigma_y=1.6, centre_x=one[3] + 0.2, centre_y=one[4] - 0.1)
    g1.name = "one"
    g2 = C2.Gaussian2D(A=180, sigma_x=1.0, sigma_y=1.3, centre_x=two[3] - 0.2, centre_y=two[4] + 0.1)
    g2.name = "two"
    m.extend([g1, g2, C2.Offset(offset=2.5)])
    g2.sigma_x.twin_function_expr = "0.6 * x"  # a twin through a function
    g2.sigma_x.twin = g1.sigma_x
    g2.A.expr = "one.A / 2"  # expr ties, the second through the twin
    g2.sigma_y.expr = "sqrt(one.sigma_y * two.sigma_x)"
    m.assign_current_values_to_all()
    return m


@pytest.mark.parametrize("size", [(14, 16), (36, 40)])
def test_2d_ties_kernel_evaluation_equals_numpy(size):
    m = _model(_data((3,), size, 1))
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = _fused.lower(problem)
    assert low is not None, _fused.why_not(problem)
    assert low["ex"][7].shape[0] == 3  # three tied parameters, each with its Jacobian row
    assert low["grid"][6] == (1 if size[0] * size[1] >= 1024 else 0)
    theta = problem.p0 * np.random.default_rng(2).uniform(0.95, 1.05, problem.p0.shape)
    F, R, G, g, J = _fused.evaluate(problem, theta, low)
    ref_f, ref_J = problem.evaluate(theta), problem.jacobian(theta)
    np.testing.assert_allclose(F, ref_f, rtol=1e-10, atol=1e-10 * np.abs(ref_f).max())
    for j in range(ref_J.shape[-1]):
        col = ref_J[..., j]
        np.testing.assert_allclose(J[..., j], col, rtol=1e-10, atol=1e-10 * np.abs(col).max(), err_msg=f"column {j}")
    ref_G = np.einsum("bnp,bnq->bpq", ref_J, ref_J)
    np.testing.assert_allclose(G, ref_G, rtol=1e-9, atol=1e-10 * np.abs(ref_G).max())
    np.testing.assert_allclose(g, np.einsum("bnp,bn->bp", ref_J, problem.residuals(theta)), rtol=1e-9,
                               atol=1e-10 * np.abs(ref_G).max())


@pytest.mark.parametrize("size", [(14, 16), (36, 40)])
def test_2d_ties_multifit_compiled_equals_numpy(size):
    data = _data((2, 2), size, 3)
    out = {}
    for kernel in ("numba", "numpy"):
        m = _model(data)
        m.multifit(kernel=kernel)  # "numba" raises when the problem is not lowered
        maps = [np.stack([p.map[f] for c in m for p in c.parameters if p.free], -1) for f in ("values", "std")]
        out[kernel] = (*maps, m._status.copy(), m._chisq.copy(),
                       np.stack([m[1].A.map["values"], m[1].sigma_x.map["values"]], -1))
        if kernel == "numba":
            assert int(np.asarray(m.multifit_output.slow_path.data).sum()) == 0
    fast, ref = out["numba"], out["numpy"]
    assert (fast[2] > 0).all() and (ref[2] > 0).all()
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-8)
    np.testing.assert_allclose(fast[1], ref[1], rtol=1e-8)
    np.testing.assert_allclose(fast[3], ref[3], rtol=1e-10)
    np.testing.assert_allclose(fast[4], ref[4], rtol=1e-8)  # the tied values written back
    one, two = _truth(size)
    np.testing.assert_allclose(fast[4][..., 1], two[1], rtol=0.05)  # two.sigma_x through the twin
