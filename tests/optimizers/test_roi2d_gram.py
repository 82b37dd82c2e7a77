"""The small-ROI Gaussian2D's Gram matrix summed in its evaluation (roi2d.evaluate_gram, issue 16, Cpufit 5×5).

Truths:
* ``f``, ``J`` and the residuals ``r``: :func:`.roi2d.evaluate_residuals`, the
  evaluation the kernel made before (itself bit for bit the general path's,
  ``test_roi2d.py``), bit for bit;
* ``G = JᵀJ`` and ``g = Jᵀr``: NumPy's ``J.T @ J`` and ``J.T @ r`` of those rows,
  each entry within ``2Nε·Σ|products|`` (a reassociated sum of ``N`` products);
  ``Σr²`` and the noise sum likewise within ``2Nε`` of their own value;
* the kernel: at each pixel's answer it reports the Gram matrix it used
  (``gram`` of :func:`.driver.fit_pixels`); on the Cpufit problem that matrix
  is bit for bit the fused one at the final parameters, not the pairwise
  :func:`.gram.gram_grid` one (which differs in its last bits on some pixels,
  checked), so the kernel takes the path.
"""

from __future__ import annotations

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.engines.numba import driver as k
from swiftfit.engines.numba import roi2d
from swiftfit.engines.numba.gram import gram_grid

EPS = np.finfo(float).eps


def _capture(monkeypatch, twin=True, offset=True, tie_centres=False, frames=4, seed=3):
    """The kernel's arguments for a Gaussian2D (+ Offset) fit on 5×5 frames (Cpufit's GAUSS_2D)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:5, :5].astype(float)
    c = 2 + rng.uniform(-0.4, 0.4, (frames, 2, 1, 1))
    data = rng.poisson(500 * np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 2) + 10).astype(float)
    m = sf.signals.Signal2D(data).create_model()
    g = sf.model.components2D.Gaussian2D(A=500 * 2 * np.pi, sigma_x=1.1, sigma_y=0.9, centre_x=2.2, centre_y=1.9)
    m.append(g)
    if offset:
        m.append(sf.model.components2D.Offset(offset=8.0))
    if twin:
        g.sigma_y.twin = g.sigma_x
    if tie_centres:
        g.centre_y.twin = g.centre_x
    calls = []
    real = k.fit_pixels

    def spy(*args, **kwargs):
        calls.append(([a.copy() if isinstance(a, np.ndarray) else a for a in args], kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(k, "fit_pixels", spy)
    m.multifit()
    assert calls, "the fit did not reach the compiled kernel"
    return calls[0]


def _q(args, theta):
    FIXED, col = args[13], args[14]
    q = FIXED[0].copy()
    for i in range(q.size):
        if 0 <= col[i] < theta.size:
            q[i] = theta[col[i]]
    return q


def _both(args, theta, use_w=False, seed=0, frame=0):
    """(evaluate_residuals' f, r, J, cost, noise), (evaluate_gram's f, r, J, cost, noise, G, g, summed)."""
    x, xy, grid, _, _, bs, Y, W, _, kinds, qoff, nq, ACTIVE, _, col, THETA = args[:16]
    n_reg = args[21]
    P = THETA.shape[1]
    N = Y.shape[1]
    q = _q(args, theta)
    w = np.random.default_rng(seed).uniform(0.5, 2.0, N) if use_w else W[0]
    assert roi2d.fits(kinds, qoff, nq, ACTIVE[frame], col, grid, P, N)  # the kernel's per-pixel test
    assert roi2d.covers(q, qoff, grid, N)  # and its per-evaluation one
    outs = []
    for fused in (False, True):
        f = np.full(N, 7.0)
        r = np.full(N, np.nan)
        J = np.full((P + 1, N), np.nan)  # stale rows; the scratch row must not be read
        jlo = np.zeros(P + 1, dtype=np.int64)
        jhi = np.zeros(P + 1, dtype=np.int64)
        R = np.empty((n_reg, N))
        G = np.full((P, P), -1.0)
        g = np.full(P, -1.0)
        if fused:
            cost, noise, summed = roi2d.evaluate_gram(kinds, qoff, q, col, x, xy, grid, bs, Y[frame], w, use_w, f, J,
                                                      jlo, jhi, r, R, P, G, g)
            outs.append((f, r, J[:P].copy(), cost, noise, G, g, summed))
        else:
            cost, noise = roi2d.evaluate_residuals(kinds, qoff, q, col, x, xy, grid, bs, Y[frame], w, use_w, f, J,
                                                   jlo, jhi, r, R, P)
            outs.append((f, r, J[:P].copy(), cost, noise))
    return outs


def _check_sums(J, r, y, w, use_w, cost, noise, G, g):
    N = r.size
    tol = 2 * N * EPS
    np.testing.assert_array_equal(G, G.T)  # exactly symmetric
    assert np.all(np.abs(G - J @ J.T) <= tol * (np.abs(J) @ np.abs(J).T))
    assert np.all(np.abs(g - J @ r) <= tol * (np.abs(J) @ np.abs(r)))
    assert abs(cost - r @ r) <= tol * (r @ r)
    yw = np.abs(y * w) if use_w else np.abs(y)
    t = r * (2 * yw + np.abs(r))
    assert abs(noise - t @ t) <= tol * (t @ t)


@pytest.mark.parametrize("twin, offset", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("use_w", [False, True])
def test_fused_gram_equals_numpy(monkeypatch, twin, offset, use_w):
    """P = 5/6 (Offset) or 4/5 (widths twinned), weighted or not, at the start
    and at three perturbed points: f, J, r bit for bit; G, g, Σr², noise to rounding."""
    args, _ = _capture(monkeypatch, twin=twin, offset=offset)
    P = args[15].shape[1]
    assert P == 4 + (not twin) + offset
    theta0 = args[15][0]
    rng = np.random.default_rng(11)
    for t in range(4):
        theta = theta0 * (1 + (0.05 * rng.normal(size=theta0.size) if t else 0.0))
        (f0, r0, J0, c0, n0), (f1, r1, J1, c1, n1, G, g, summed) = _both(args, theta, use_w=use_w, seed=t)
        assert summed
        np.testing.assert_array_equal(f1, f0)
        np.testing.assert_array_equal(J1, J0)
        np.testing.assert_array_equal(r1, r0)
        w = np.random.default_rng(t).uniform(0.5, 2.0, r0.size) if use_w else None
        _check_sums(J0, r0, args[6][0], w, use_w, c1, n1, G, g)
        # Σr² and the noise sum: the same as the unfused pass's to rounding
        assert abs(c1 - c0) <= 2 * r0.size * EPS * c0 and abs(n1 - n0) <= 2 * r0.size * EPS * n0


def test_shared_column_is_not_summed(monkeypatch):
    """Two parameters other than the widths on one column (centre_y twinned to
    centre_x): no Gram matrix (G, g untouched), the residuals and sums exactly
    evaluate_residuals'."""
    args, _ = _capture(monkeypatch, tie_centres=True)
    (f0, r0, J0, c0, n0), (f1, r1, J1, c1, n1, G, g, summed) = _both(args, args[15][0])
    assert not summed
    assert (G == -1.0).all() and (g == -1.0).all()
    np.testing.assert_array_equal(f1, f0)
    np.testing.assert_array_equal(J1, J0)
    np.testing.assert_array_equal(r1, r0)
    assert c1 == c0 and n1 == n0


def test_kernel_takes_the_fused_path(monkeypatch):
    """Cpufit's 5×5 problem (Gaussian2D, widths twinned, + Offset), 64 frames:
    the Gram matrix the kernel reports at each answer is bit for bit
    evaluate_gram's at the final parameters; on some frames it differs from
    gram_grid's pairwise sums, so the assertion tells the two paths apart."""
    args, kwargs = _capture(monkeypatch, frames=64, seed=5)
    theta = args[15].copy()
    run = list(args)
    run[15] = theta
    status, _, _, _, _, _, _, gram, _ = k.fit_pixels(*run, **kwargs)
    x, xy, grid, _, _, bs, Y, W, use_w, kinds, qoff, _, _, _, col = args[:15]
    P = theta.shape[1]
    N = Y.shape[1]
    differs = 0
    for b in range(theta.shape[0]):
        assert status[b] > 0
        q = _q(args, theta[b])
        f, r = np.empty(N), np.empty(N)
        J = np.zeros((P + 1, N))
        jlo = np.zeros(P + 1, dtype=np.int64)
        jhi = np.zeros(P + 1, dtype=np.int64)
        R = np.empty((args[21], N))
        G, g = np.empty((P, P)), np.empty(P)
        _, _, summed = roi2d.evaluate_gram(kinds, qoff, q, col, x, xy, grid, bs, Y[b], W[0], use_w, f, J, jlo, jhi, r,
                                           R, P, G, g)
        assert summed
        np.testing.assert_array_equal(gram[b], G)
        Gp, gp = np.empty((P, P)), np.empty(P)
        gram_grid(J, jlo, jhi, grid, r, Gp, gp)
        differs += not np.array_equal(Gp, G)
    assert differs > 0


def _shared_before(c, off):
    """The distinct-column test as evaluate_gram wrote it before stop 28 (a loop over a tuple)."""
    twin = c[1] == c[2]
    for a in range(6):
        for b in range(a):
            if (a < 5 or off) and not (a == 2 and twin) and not (b == 2 and twin) and c[a] == c[b]:
                return True
    return False


@pytest.mark.parametrize("offset", [True, False])
def test_distinct_column_test_as_before(monkeypatch, offset):
    """evaluate_gram's written-out test of shared columns (stop 28) decides as
    the former loop on every assignment of the six (five) parameters to
    columns 0 … P−1, twinned widths included: summed exactly where no two
    parameters but the widths share a column."""
    import itertools

    args, _ = _capture(monkeypatch, twin=False, offset=offset)
    x, xy, grid, _, _, bs, Y, W, _, kinds, qoff, nq, ACTIVE, _, col, THETA = args[:16]
    P = THETA.shape[1]
    N = Y.shape[1]
    q = _q(args, THETA[0])
    k0 = qoff[0]
    slots = [k0 + i for i in range(5)] + ([qoff[1]] if offset else [])
    seen = {True: 0, False: 0}
    for cols in itertools.product(range(P), repeat=len(slots)):
        c = col.copy()
        for s, j in zip(slots, cols):
            c[s] = j
        G = np.zeros((P, P))
        g = np.zeros(P)
        J = np.zeros((P + 1, N))
        _, _, summed = roi2d.evaluate_gram(kinds, qoff, q, c, x, xy, grid, bs, Y[0], W[0], False, np.zeros(N), J,
                                           np.zeros(P + 1, dtype=np.int64), np.zeros(P + 1, dtype=np.int64),
                                           np.zeros(N), np.empty((args[21], N)), P, G, g)
        full = list(cols) + ([cols[0]] if not offset else [])
        assert summed == (not _shared_before(full, offset)), cols
        seen[summed] += 1
    assert seen[True] and seen[False]
