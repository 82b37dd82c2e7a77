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
