"""The one-pass small-ROI evaluation (engines/numba/roi2d.py, issue 16) against the general path.

Truth: :func:`swiftfit.engines.numba.model.evaluate` (the general evaluation the
kernel took before) on the same lowered problem and the same parameter vector.
The one-pass branch is meant as an exact rewrite, so model, Jacobian rows, their
ranges, residuals, cost and noise sum must be equal bit for bit (the kernel's
call, :func:`.roi2d.evaluate_residuals`, after :func:`.roi2d.fits` and
:func:`.roi2d.covers`, which together are :func:`.roi2d.plan`); and
:func:`.roi2d.plan` must refuse the frames it does not cover.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import driver as k
from swiftfit.engines.numba import model as nm
from swiftfit.engines.numba import roi2d


def _capture(monkeypatch, twin=True, sigma=1.0, fix=None, size=5):
    """The kernel's arguments for a 4-frame Gaussian2D + Offset fit (Cpufit's GAUSS_2D)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size].astype(float)
    c = size // 2 + rng.uniform(-0.4, 0.4, (4, 1, 1))
    data = rng.poisson(500 * np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (2 * sigma ** 2)) + 10).astype(float)
    m = sf.signals.Signal2D(data).create_model()
    g = sf.model.components2D.Gaussian2D(A=500 * 2 * np.pi * sigma ** 2, sigma_x=1.1 * sigma, sigma_y=0.9 * sigma,
                                         centre_x=size // 2 + 0.2, centre_y=size // 2 - 0.1)
    m.extend([g, sf.model.components2D.Offset(offset=8.0)])
    if twin:
        g.sigma_y.twin = g.sigma_x
    if fix is not None:
        getattr(g, fix).free = False
    calls = []
    real = k.fit_pixels

    def spy(*args, **kwargs):
        calls.append([a.copy() if isinstance(a, np.ndarray) else a for a in args])
        return real(*args, **kwargs)

    monkeypatch.setattr(k, "fit_pixels", spy)
    m.multifit()
    assert calls, "the fit did not reach the compiled kernel"
    return calls[0]


def _both(args, theta, use_w=False, seed=0):
    """(general path's outputs, one-pass outputs) at ``theta`` for frame 0, or None if plan refuses."""
    x, xy, grid, ascending, dx, bs, Y, W, _, kinds, qoff, nq, ACTIVE, FIXED, col, THETA = args[:16]
    ex, n_reg = args[20], args[21]
    P = THETA.shape[1]
    N = Y.shape[1]
    q = FIXED[0].copy()
    for i in range(q.size):
        if 0 <= col[i] < P:
            q[i] = theta[col[i]]
    w = np.random.default_rng(seed).uniform(0.5, 2.0, N) if use_w else W[0]
    if not roi2d.plan(kinds, qoff, nq, ACTIVE[0], col, q, grid, P, N):
        return None
    outs = []
    for which in ("general", "roi"):
        f = np.full(N, 7.0)
        r = np.empty(N)
        J = np.zeros((P + 1, N))
        jlo = np.zeros(P + 1, dtype=np.int64)
        jhi = np.zeros(P + 1, dtype=np.int64)
        R = np.empty((n_reg, N))
        if which == "general":
            cost, noise = nm.evaluate(x, xy, grid, ascending, dx, bs, Y[0], w, use_w, kinds, qoff, nq, ACTIVE[0], q,
                                      col, f, r, J, jlo, jhi, ex, R)
        else:
            # what the kernel calls: the structure once per pixel, the box per evaluation
            assert roi2d.fits(kinds, qoff, nq, ACTIVE[0], col, grid, P, N)
            assert roi2d.covers(q, qoff, grid, N)
            cost, noise = roi2d.evaluate_residuals(kinds, qoff, q, col, x, xy, grid, bs, Y[0], w, use_w, f, J, jlo,
                                                   jhi, r, R, P)
        outs.append((f, r, J[:P], jlo[:P], jhi[:P], cost, noise))
    return outs


@pytest.mark.parametrize("twin", [True, False])
@pytest.mark.parametrize("use_w", [False, True])
def test_one_pass_equals_the_general_evaluation_bit_for_bit(monkeypatch, twin, use_w):
    """Gaussian2D (widths twinned or not) + Offset on 5×5, at the start and at
    three perturbed points, with and without weights: every output identical."""
    args = _capture(monkeypatch, twin=twin)
    theta0 = args[15][0]
    rng = np.random.default_rng(11)
    for t in range(4):
        theta = theta0 * (1 + (0.05 * rng.normal(size=theta0.size) if t else 0.0))
        outs = _both(args, theta, use_w=use_w, seed=t)
        assert outs is not None, "plan refused a 5×5 Gaussian2D + Offset with every parameter free"
        (f0, r0, J0, lo0, hi0, c0, n0), (f1, r1, J1, lo1, hi1, c1, n1) = outs
        np.testing.assert_array_equal(f1, f0)
        np.testing.assert_array_equal(r1, r0)
        np.testing.assert_array_equal(J1, J0)
        np.testing.assert_array_equal(lo1, lo0)
        np.testing.assert_array_equal(hi1, hi0)
        assert c1 == c0 and n1 == n0
        assert (lo1 == 0).all() and (hi1 == f0.size).all()


def test_plan_refuses_what_it_does_not_cover(monkeypatch):
    """A fixed parameter, and a Gaussian whose box (9 widths) leaves part of
    the frame out, go to the general path (plan is False)."""
    args = _capture(monkeypatch, fix="centre_y")
    assert _both(args, args[15][0]) is None
    args = _capture(monkeypatch, size=25, sigma=1.0)
    # widths 1.1 and 0.9 px: the box reaches 9.9 px from the centre, not the edges of a 25×25 frame
    assert _both(args, args[15][0]) is None
