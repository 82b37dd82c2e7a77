"""PSF convolution (and pixel oversampling) of a 2-D model in the fused kernel.

The compiled twin of :class:`swiftfit.model.psf.ImageOperator` (Model2D's
``set_psf``): the components are evaluated — model and unweighted Jacobian,
ties folded — on the operator's *extended* grid (the image padded by the
PSF's half-widths, ``oversampling²`` sub-pixels per pixel; a raster whose
Jacobian columns are kept as boxes, see :mod:`.model2d`), sub-pixels are
averaged back to pixels, and the model and each Jacobian column are convolved
with the PSF in ``valid`` mode, which over the extended grid gives exactly the
image (the NumPy path's boundary convention: light from just outside the
field is convolved in, nothing is assumed beyond the padding). The bin width
and the weights multiply the convolved Jacobian per data point, as
:meth:`swiftfit.problem.problem.Segment.finish` and ``Problem.residuals`` do.

The convolution is direct, not by FFT: a column's box on the extended grid
(a spot's ±9σ) widened by the PSF's half-widths is its box on the image, and
only that box is convolved — ``box · ky · kx`` multiply-adds per column, with
the tap loop outermost so the innermost loop runs along a row and vectorises.
For the PSFs of spot fitting (3×3 to 15×15) that beats an FFT of the frame
per column; an FFT would only pay for PSFs comparable to the frame.

:func:`convolved` has :func:`.model.evaluate`'s signature; the kernels
(:mod:`.kernels`, :mod:`.newton_loss`) call it where ``len(ex) >
PLAIN_TABLES`` and :func:`.model.evaluate` itself otherwise, at each call site:
the length of the ``ex`` tuple is a constant of the compiled signature, so the
branch not taken is folded away. A problem without a PSF passes the 10
tables of :func:`.lower.lower` and runs :func:`.model.evaluate`'s call
exactly as before this module existed; a PSF problem passes an 11th,
``ex[10]``, one float array (:func:`tables`): ``[ky, kx, oversampling, nx,
ny, M, npix, 0]``, the extended grid's raster (``model2d`` ``grid``, 7), the
normalised PSF (``ky·kx``, row-major), the extended grid's coordinates ``xe``
and ``ye`` (``M`` each) and ``pix``, the image pixel of each data point
(``npix``: none when every pixel is fitted). A PSF problem so has its own
compiled signature of the kernels, which the background compile of
:mod:`.warmup` compiles too (its ``"psf"`` variant).

Why not an overload choosing between the two at one call (what this module
did at stop 24): numba inlines an overload's body at the IR level, and its
arguments become new variables, each array among them increfed before the
call and decrefed after it — ~140 more ``NRT_incref``/``NRT_decref`` calls
in ``kernels._fit_rows`` (439 ``call`` instructions against 301 with the
direct call; 45.4 against 43.4 kB of machine code), ~5–8 % of a 5×5 fit.
With the branch at the call site the plain kernels' machine code is the
direct call's (same size, same calls). And not a ``from . import psf`` at the
end of ``model.py`` with the choice inside ``model.evaluate``: loading the
PSF kernels from numba's cache then crashed.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from . import model2d as _m2
from .gram import _residuals
from .model import evaluate as _evaluate
from .warmup import PLAIN_TABLES

__all__ = ["convolved", "tables", "no_tables", "PLAIN_TABLES"]


def no_tables():
    """What a problem without a PSF operator adds to ``ex``: nothing."""
    return ()


def tables(transform, N: int):
    """``ex[10]`` for Model2D's transform (a
    :class:`swiftfit.model.psf.MaskedImage`), and the image coordinates
    ``(x, y)`` of the ``N`` data points; or a string saying why not.
    """
    from .lower_tables import _raster

    op, mask = transform.op, transform.mask
    if mask.size != op.nx * op.ny or int(mask.sum()) != N:
        return f"a PSF operator whose mask ({mask.size} pixels, {int(mask.sum())} kept) does not match {N} data points"
    kern = np.ones((1, 1)) if op.psf is None else np.asarray(op.psf, dtype=float)
    xe = np.asarray(op.coords[0], dtype=float)
    ye = np.asarray(op.coords[1], dtype=float)
    ge = _raster(xe, ye)
    eh, ew = op.ext_shape
    k = op.oversampling
    if ge[0] != ew * k or ge[1] != eh * k:
        return "a PSF operator's extended grid that is not a raster"
    ge[6] = 1.0  # boxes: each column's box on the extended grid is what gets convolved
    X, Y = np.meshgrid(op.x, op.y)
    x = np.ascontiguousarray(X.ravel()[mask])
    y = np.ascontiguousarray(Y.ravel()[mask])
    pix = np.zeros(0) if mask.all() else np.flatnonzero(mask).astype(float)
    head = [kern.shape[0], kern.shape[1], k, op.nx, op.ny, xe.size, pix.size, 0]
    return (np.concatenate([head, ge, kern.ravel(), xe, ye, pix]),), x, y


def convolved(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex,
              R):
    """:func:`.model.evaluate` through the PSF operator ``ex[PLAIN_TABLES]``
    (compiled code only: see :func:`_convolved_typed`).
    """
    raise NotImplementedError("engines.numba.psf.convolved runs inside compiled kernels only")


@overload(convolved, inline="never")
def _convolved_typed(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi,
                     ex, R):
    """Typed when the kernels are compiled, by the length of ``ex``: with a
    PSF table, :func:`_convolved`; without one, a stub (the kernels' branch on
    ``len(ex)`` never reaches it, and the compiler drops it) that only has to
    type. ``inline="never"``: an inlined overload adds reference counting of
    every array argument around the call (module docstring).
    """
    if len(ex) <= PLAIN_TABLES:
        def unreachable(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo,
                        jhi, ex, R):
            return np.nan, np.nan
        return unreachable

    def through_psf(x, xy, grid, ascending, dx, bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi,
                    ex, R):
        return _convolved(bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex, R)
    return through_psf


@njit(cache=True, error_model="numpy")
def _average(src, k, Ws, R0, R1, C0, C1, We, Z0, Z1, img):
    """Sub-pixels → pixels: ``img[R·We + C]`` the mean of the ``k × k``
    sub-pixels of ``src`` (a raster ``Ws`` wide) over pixel rows ``[R0, R1)``,
    columns ``[C0, C1)``; the rest of rows ``[Z0, Z1)`` zero (where the
    convolution reads).
    """
    img[Z0 * We:Z1 * We] = 0.0
    scale = 1.0 / (k * k)
    for R in range(R0, R1):
        for s in range(k):
            row = (R * k + s) * Ws
            for C in range(C0, C1):
                acc = 0.0
                for t in range(k):
                    acc += src[row + C * k + t]
                img[R * We + C] += acc
        for C in range(C0, C1):
            img[R * We + C] *= scale


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz"})
def _convolve(img, We, i0, i1, j0, j1, kern, ob):
    """``ob[i·We + j] = Σ_ab img[(i+a)·We + j+b] · kern[ky−1−a, kx−1−b]``
    (``valid`` convolution) for the output box ``[i0, i1) × [j0, j1)``, with
    ``img`` zero outside its values' box in the rows read. The output keeps
    the padded grid's row stride ``We``, so each tap is one loop over the
    flattened range from the box's first to its last pixel (the pixels in
    between are computed and not used): long runs that vectorise.
    """
    ky, kx = kern.shape
    t0 = i0 * We + j0
    t1 = (i1 - 1) * We + j1
    o = ob[t0:t1]
    for n in range(o.size):
        o[n] = 0.0
    for a in range(ky):
        for b in range(kx):
            wgt = kern[ky - 1 - a, kx - 1 - b]
            src = img[t0 + a * We + b:t1 + a * We + b]
            for n in range(o.size):
                o[n] += wgt * src[n]


@njit(cache=True, error_model="numpy")
def _convolved(bs, y, w, use_w, kinds, qoff, nq, active, q, col, f, r, J, jlo, jhi, ex, R):
    tab = ex[10]  # PLAIN_TABLES (a tuple index must be a literal)
    ky, kx, k, nx, ny, M, npix = int(tab[0]), int(tab[1]), int(tab[2]), int(tab[3]), int(tab[4]), int(tab[5]), int(tab[6])
    ge = tab[8:15]
    o = 15 + ky * kx
    kern = tab[15:o].reshape((ky, kx))
    xe = tab[o:o + M]
    ye = tab[o + M:o + 2 * M]
    pix = np.empty(npix, dtype=np.int64)
    for n in range(npix):
        pix[n] = int(tab[o + 2 * M + n])
    We = nx + kx - 1
    He = ny + ky - 1
    Ws = int(ge[0])
    N = f.size
    rows = J.shape[0]
    P = rows - 1 - ex[7].shape[0]
    # the components on the extended grid: no bin width, no weights (applied per data point below);
    # each column is zero outside its box there (ge[6] = 1: boxes)
    fe = np.empty(M)
    Je = np.zeros((rows, M))
    jloe = np.zeros(rows, dtype=np.int64)
    jhie = np.zeros(rows, dtype=np.int64)
    ones = np.ones(M)
    _evaluate(xe, ye, ge, False, 0.0, ones, ones, ones, False, kinds, qoff, nq, active, q, col, fe, np.empty(M),
              Je, jloe, jhie, ex, np.empty((R.shape[0], M)))
    img = np.empty(We * He) if k > 1 else fe
    ob = np.empty(We * He)
    if k > 1:
        _average(fe, k, Ws, 0, He, 0, We, We, 0, He, img)
    _convolve(img, We, 0, ny, 0, nx, kern, ob)
    for n in range(N):
        f[n] = ob[(pix[n] // nx) * We + pix[n] % nx] if pix.size > 0 else ob[(n // nx) * We + n % nx]
    for j in range(P):
        Jj = J[j, max(jlo[j], 0):max(jhi[j], 0)]
        for n in range(Jj.size):
            Jj[n] = 0.0
        jlo[j] = N
        jhi[j] = 0
        if jhie[j] <= jloe[j]:
            continue
        r0, r1, c0, c1 = _m2._decode(jloe[j], jhie[j], Ws)
        R0, R1, C0, C1 = r0 // k, (r1 - 1) // k + 1, c0 // k, (c1 - 1) // k + 1
        i0, i1 = max(R0 - ky + 1, 0), min(R1, ny)
        j0, j1 = max(C0 - kx + 1, 0), min(C1, nx)
        if i1 <= i0 or j1 <= j0:
            continue
        src = Je[j]
        if k > 1:
            _average(src, k, Ws, R0, R1, C0, C1, We, i0, min(i1 + ky - 1, He), img)
            src = img
        _convolve(src, We, i0, i1, j0, j1, kern, ob)
        if pix.size == 0:
            for i in range(i0, i1):
                for jj in range(j0, j1):
                    n = i * nx + jj
                    J[j, n] = ob[i * We + jj] * bs[n] * (w[n] if use_w else 1.0)
            # the box's range: a box on a large raster (model2d.gram), else a
            # flat range whose pixels outside the box are zero
            jlo[j], jhi[j] = i0 * nx + j0, (i1 - 1) * nx + j1
            continue
        lo = np.searchsorted(pix, i0 * nx + j0)
        hi = np.searchsorted(pix, (i1 - 1) * nx + j1)
        for n in range(lo, hi):
            i = pix[n] // nx
            jj = pix[n] - i * nx
            if j0 <= jj < j1:
                J[j, n] = ob[i * We + jj] * bs[n] * (w[n] if use_w else 1.0)
        if hi > lo:
            jlo[j], jhi[j] = lo, hi
    if J.shape[1] > 0:
        J[P, 0] = 0.0  # row P holds no 1-D factors here: the Gram reads the convolved columns (.separable2d.MARK)
    return _residuals(y, f, bs, w, use_w, r)
