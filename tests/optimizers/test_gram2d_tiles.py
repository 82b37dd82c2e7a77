"""The compiled 2-D Gram matrix over box intersections (engines/numba/model2d.gram).

Truth: ``JᵀJ`` and ``Jᵀr`` by NumPy on the dense Jacobian, whose columns are
zero outside their boxes (as the kernel keeps them); the tiled sums differ only
in the order of summation (relative 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.engines.numba import model2d as m2


def _columns(rng, W, H, groups):
    """A Jacobian of ``groups`` (sizes) of columns, one random box per group
    (some empty, some the whole frame), zero outside the box; the flattened
    ranges as model2d.extend keeps them."""
    P = sum(groups)
    N = W * H
    J = np.zeros((P + 1, N))  # row P: the scratch row of fixed parameters
    jlo = np.zeros(P + 1, dtype=np.int64)
    jhi = np.zeros(P + 1, dtype=np.int64)
    j = 0
    for k, size in enumerate(groups):
        kind = k % 4
        if kind == 0:
            r0, r1, c0, c1 = 0, H, 0, W  # the whole frame
        elif kind == 1 and k > 4:
            r0 = r1 = c0 = c1 = 0  # a component outside the frame: no pixel
        else:
            r0, c0 = int(rng.integers(0, H - 1)), int(rng.integers(0, W - 1))
            r1, c1 = int(rng.integers(r0 + 1, H + 1)), int(rng.integers(c0 + 1, W + 1))
        for _ in range(size):
            if r1 > r0:
                block = rng.normal(size=(r1 - r0, c1 - c0))
                J[j].reshape(H, W)[r0:r1, c0:c1] = block
                jlo[j], jhi[j] = r0 * W + c0, (r1 - 1) * W + c1
            j += 1
    return J, jlo, jhi


@pytest.mark.parametrize("groups", [[4, 4, 4, 4, 1], [1], [3, 5, 2, 1, 6, 4, 4], [2, 2, 9, 1, 1, 3]])
@pytest.mark.parametrize("shape", [(32, 32), (41, 23)])
def test_tiled_gram_equals_dense_products(groups, shape):
    W, H = shape
    rng = np.random.default_rng(sum(groups) * W)
    J, jlo, jhi = _columns(rng, W, H, groups)
    P = sum(groups)
    r = rng.normal(size=W * H)
    grid = np.array([W, H, 0.0, 1.0, 0.0, 1.0, 1.0])
    G = np.full((P, P), np.nan)
    g = np.full(P, np.nan)
    m2.gram(J, jlo, jhi, grid, r, G, g)
    Jp = J[:P]
    scale = np.sqrt(np.outer((Jp**2).sum(1), (Jp**2).sum(1))) + 1e-300
    np.testing.assert_array_less(np.abs(G - Jp @ Jp.T), 1e-12 * scale + 1e-300)
    np.testing.assert_allclose(G, G.T, rtol=0, atol=0)
    gref = Jp @ r
    np.testing.assert_array_less(np.abs(g - gref), 1e-12 * np.sqrt((Jp**2).sum(1) * (r @ r)) + 1e-300)


def test_narrow_is_false_only_for_whole_frames():
    W, H = 8, 6
    grid = np.array([W, H, 0.0, 1.0, 0.0, 1.0, 1.0])
    whole = np.array([0, 0], dtype=np.int64), np.array([W * H, W * H], dtype=np.int64)
    assert not m2.narrow(*whole, grid)
    spot = np.array([0, 9], dtype=np.int64), np.array([W * H, 3 * W + 4], dtype=np.int64)
    assert m2.narrow(*spot, grid)


def test_twinned_spots_on_boxes_equal_numpy_reference():
    """spots2d's layout (32×32 frames, four unrotated Gaussian2D with sigma_y
    twinned to sigma_x, an Offset): the kernel's model, Jacobian and Gram
    matrix on column boxes equal the NumPy path's (to 1e-10), and the fit
    the NumPy reference's minimum (1e-8 relative)."""
    import swiftfit as sf
    from swiftfit.engines.numba import lower as fused

    C2 = sf.model.components2D
    rng = np.random.default_rng(11)
    n = 4
    X, Y = np.meshgrid(np.arange(32.0), np.arange(32.0))
    base = [(8.0, 8.0), (8.0, 24.0), (24.0, 8.0), (24.0, 24.0)]
    lam = np.full((n, 32, 32), 5.0)
    for bx, by in base:
        dx, dy = rng.uniform(-1, 1, (2, n, 1, 1))
        cx, cy = bx + dx, by + dy
        lam = lam + 400 / (2 * np.pi * 1.5**2) * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * 1.5**2))
    data = rng.poisson(lam).astype(float)
    fits = {}
    for kernel in ("numba", "numpy"):
        m = sf.signals.Signal2D(data).create_model()
        gs = [C2.Gaussian2D(A=360.0, sigma_x=1.7, sigma_y=1.7, centre_x=bx + 0.3, centre_y=by - 0.3)
              for bx, by in base]
        m.extend(gs + [C2.Offset(offset=4.0)])
        for g in gs:
            g.sigma_y.twin = g.sigma_x
        m.assign_current_values_to_all()
        if kernel == "numba":
            problem = m._problem(list(np.ndindex(*m._nav_shape)))
            low = fused.lower(problem)
            assert low is not None and low["grid"][6] == 1  # 1,024 pixels: columns kept as boxes
            theta = problem.p0 * rng.uniform(0.95, 1.05, problem.p0.shape)
            F, R, G, g, J, _ = fused.evaluate(problem, theta, low, norms=True)
            ref_J = problem.jacobian(theta)
            np.testing.assert_allclose(F, problem.evaluate(theta), rtol=1e-10, atol=1e-10 * np.abs(F).max())
            for j in range(ref_J.shape[-1]):
                col = ref_J[..., j]
                np.testing.assert_allclose(J[..., j], col, rtol=1e-10, atol=1e-10 * np.abs(col).max())
            ref_G = np.einsum("bnp,bnq->bpq", ref_J, ref_J)
            np.testing.assert_allclose(G, ref_G, rtol=1e-9, atol=1e-10 * np.abs(ref_G).max())
        m.multifit(kernel=kernel)
        assert (m._status > 0).all()
        fits[kernel] = np.stack([g.centre_x.map["values"] for g in gs] + [g.sigma_x.map["values"] for g in gs], -1)
    np.testing.assert_allclose(fits["numba"], fits["numpy"], rtol=1e-8)
