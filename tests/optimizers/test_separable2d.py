"""The factored 2-D Gram matrix (engines/numba/separable2d).

Truth: the NumPy path's Jacobian (``Problem.jacobian``) at the same
parameters, and ``JᵀJ`` / ``Jᵀr`` as dense products of it. The factored sums
are the same products summed in another order: agreement to 1e-12 of
``sqrt(G_ii G_jj)`` (the kernel's 9σ boxes leave out terms below 1e-17 of a
spot's peak, far below that).
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import lower as fused
from swiftfit.engines.numba import separable2d as sep

C2 = sf.model.components2D


def _frames(rng, n, W, H, spots, sigma=1.5):
    X, Y = np.meshgrid(np.arange(float(W)), np.arange(float(H)))
    lam = np.full((n, H, W), 5.0)
    for cx, cy in spots:
        lam = lam + 400 / (2 * np.pi * sigma**2) * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * sigma**2))
    return rng.poisson(lam).astype(float)


def _model(data, spots, sigma=1.7, tie=None, fixed=(), offset_free=True, weights=False, rotation=False):
    s = sf.signals.Signal2D(data)
    if weights:
        s.metadata.set_item("Signal.Noise_properties.variance", data + 1.0)
    m = s.create_model()
    gs = [C2.Gaussian2D(A=360.0, sigma_x=sigma, sigma_y=sigma * 1.1, centre_x=cx + 0.3, centre_y=cy - 0.2,
                        add_rotation=rotation) for cx, cy in spots]
    off = C2.Offset(offset=4.0)
    m.extend(gs + [off])
    if tie == "own":
        for g in gs:
            g.sigma_y.twin = g.sigma_x
    elif tie == "shared":  # every spot's widths follow the first spot's sigma_x
        for g in gs:
            g.sigma_y.twin = gs[0].sigma_x
            if g is not gs[0]:
                g.sigma_x.twin = gs[0].sigma_x
    for k, name in fixed:
        getattr(gs[k], name).free = False
    off.offset.free = offset_free
    m.assign_current_values_to_all()
    return m


def _problem(m):
    problem = m._problem(list(np.ndindex(*m._nav_shape)))
    low = fused.lower(problem)
    assert low is not None
    return problem, low


def _factored(low, theta, P):
    q = low["fixed"][0].copy()
    for k in range(q.size):
        if 0 <= low["col"][k] < P:
            q[k] = theta[low["col"][k]]
    return sep.plan(low["kinds"], low["qoff"], low["nq"], low["active"][0], low["col"], q, low["grid"], low["bs"], P)


CASES = {
    "spots2d": dict(W=32, H=32, spots=[(8, 8), (8, 24), (24, 8), (24, 24)], tie="own"),
    "untied, wide frame": dict(W=48, H=32, spots=[(6, 10), (20, 12), (40, 22)]),
    "one shared width": dict(W=32, H=40, spots=[(10, 10), (22, 30)], tie="shared"),
    "fixed parameters": dict(W=32, H=32, spots=[(8, 9), (23, 20)], fixed=[(0, "centre_y"), (1, "A")],
                             offset_free=False),
    "spots at and beyond the edges": dict(W=32, H=32, spots=[(0.5, 31.0), (-3.0, 12.0), (16, 16)]),
    "a spot wholly outside": dict(W=32, H=32, spots=[(16, 16), (80.0, -60.0)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_factored_gram_equals_dense_products(name):
    c = dict(CASES[name])
    W, H, spots = c.pop("W"), c.pop("H"), c.pop("spots")
    rng = np.random.default_rng(len(name))
    m = _model(_frames(rng, 3, W, H, spots), spots, **c)
    problem, low = _problem(m)
    theta = problem.p0 * rng.uniform(0.97, 1.03, problem.p0.shape)
    assert _factored(low, theta[0], problem.P) > 0  # the factored path is the one under test
    F, R, G, g, J, _ = fused.evaluate(problem, theta, low, norms=True)
    ref_J = problem.jacobian(theta)
    for j in range(ref_J.shape[-1]):
        col = ref_J[..., j]
        np.testing.assert_allclose(J[..., j], col, rtol=1e-10, atol=1e-10 * np.abs(col).max() + 1e-300)
    np.testing.assert_allclose(F, problem.evaluate(theta), rtol=1e-10, atol=1e-10 * np.abs(F).max())
    ref_G = np.einsum("bnp,bnq->bpq", J, J)
    d = np.sqrt(np.einsum("bpp->bp", ref_G))
    scale = d[:, :, None] * d[:, None, :] + 1e-300
    assert np.all(np.abs(G - ref_G) <= 1e-12 * scale)
    np.testing.assert_array_equal(G, np.swapaxes(G, 1, 2))
    ref_g = np.einsum("bnp,bn->bp", J, R)
    assert np.all(np.abs(g - ref_g) <= 1e-12 * d * np.sqrt((R**2).sum(1))[:, None] + 1e-300)


@pytest.mark.parametrize("why", ["weights", "rotation"])
def test_other_frames_keep_the_tiled_gram(why):
    """Weights (not a product of a column and a row factor) and a rotation
    angle leave the factored path; the tiled Gram still equals the dense one."""
    spots = [(9, 9), (22, 20)]
    rng = np.random.default_rng(5)
    m = _model(_frames(rng, 2, 32, 32, spots), spots, weights=why == "weights", rotation=why == "rotation")
    problem, low = _problem(m)
    theta = problem.p0.copy()
    if why == "rotation":
        assert _factored(low, theta[0], problem.P) < 0
    F, R, G, g, J, _ = fused.evaluate(problem, theta, low, norms=True)
    ref_G = np.einsum("bnp,bnq->bpq", J, J)
    d = np.sqrt(np.einsum("bpp->bp", ref_G))
    assert np.all(np.abs(G - ref_G) <= 1e-12 * (d[:, :, None] * d[:, None, :]) + 1e-300)


def test_factored_fit_reaches_the_numpy_minimum():
    """One shared width for three spots (a twin across components) on 40×32
    frames: the compiled fit (factored Gram) and the NumPy reference end at
    the same minimum (1e-7 relative) with the same status class."""
    spots = [(8, 9), (20, 22), (31, 12)]
    rng = np.random.default_rng(21)
    data = _frames(rng, 3, 40, 32, spots)
    fits = {}
    for kernel in ("numba", "numpy"):
        m = _model(data, spots, tie="shared")
        m.multifit(kernel=kernel)
        assert (m._status > 0).all()
        gs = m[:3]
        fits[kernel] = np.stack([g.centre_x.map["values"] for g in gs] + [g.centre_y.map["values"] for g in gs]
                                + [gs[0].sigma_x.map["values"]], -1)
    np.testing.assert_allclose(fits["numba"], fits["numpy"], rtol=1e-7)


def test_layouts_changing_from_pixel_to_pixel():
    """A spot switched off on some frames (``active_is_multidimensional``)
    changes the number of terms stored in row P from one pixel to the next;
    ``checks`` runs every pixel through one reused Jacobian buffer, so a
    stale term of the previous pixel would show in its ``JᵀJ``. Truth: the
    dense products of each pixel's own Jacobian (a fresh buffer per pixel)."""
    spots = [(8, 8), (8, 24), (24, 8), (24, 24)]
    rng = np.random.default_rng(3)
    m = _model(_frames(rng, 4, 32, 32, spots), spots, tie="own")
    last = m[3]
    last.active_is_multidimensional = True
    last._active_array[...] = np.array([[True, False], [True, False]]).reshape(last._active_array.shape)
    problem, low = _problem(m)
    assert not low["active"][:, 3].all() and low["active"][:, 3].any()
    theta = problem.p0 * rng.uniform(0.97, 1.03, problem.p0.shape)
    for b in range(theta.shape[0]):
        q = low["fixed"][b].copy()
        for k in range(q.size):
            if 0 <= low["col"][k] < problem.P:
                q[k] = theta[b, low["col"][k]]
        assert sep.plan(low["kinds"], low["qoff"], low["nq"], low["active"][b], low["col"], q, low["grid"],
                        low["bs"], problem.P) > 0
    G = fused.checks(problem, theta, low)["gram"]
    _, _, _, _, J, _ = fused.evaluate(problem, theta, low, norms=True)
    ref_G = np.einsum("bnp,bnq->bpq", J, J)
    d = np.sqrt(np.einsum("bpp->bp", ref_G))
    assert np.all(np.abs(G - ref_G) <= 1e-12 * (d[:, :, None] * d[:, None, :]) + 1e-300)
