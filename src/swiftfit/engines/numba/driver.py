"""The compiled fit's driver (issue #16, fixed cost per call): every thread
calls :func:`fit_block` once and claims runs of pixels from a shared counter.

:func:`fit_pixels` used to cut the pixels into 64 blocks and hand runs of
them to the threads through a Python lock (guided self-scheduling in
``blocks.run_blocks``): at the battery's 128 pixels that was 15 dispatches
of :func:`fit_block` per call, each ~6 µs of unboxing ~40 arguments with the
GIL held and each allocating its work buffers. Now each thread dispatches
once, allocates its buffers once, and takes its next run of pixels with an
atomic fetch-and-add (:mod:`.atomic`) without the GIL; a worker that starts
late finds fewer runs left (the calling thread starts at once).

The runs are guided (:func:`claim_starts`): each takes ``1/(4·threads)`` of
the pixels left, the last ones single pixels. Why not one pixel per claim:
each claim is a call of :func:`.kernels._fit_rows`, whose set-up costs ~1 µs
(one thread: +4.6 % of ``multiexp``'s kernel time at 128 pixels, +11 % of
``gpufit5x5``'s at 1,024, against +1 % and +0.5 % guided). The balance stays
nearly per pixel: a slow pixel keeps at most the rest of its run (1/8 of the
pixels on two threads, in the first run only) from the other thread.

What each pixel computes does not depend on the thread or the order
(:func:`.kernels._fit_rows` resets every work array per pixel), so the
results are bit-identical to one thread's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from .atomic import fetch_add as _fetch_add
from .endcheck import _work
from .kernels import _fit_rows

SHARE = 4  # each claim takes 1/(SHARE·threads) of the pixels left


@lru_cache(maxsize=64)
def claim_starts(n_rows: int, threads: int) -> np.ndarray:
    """Where each claim's run of rows starts, and ``n_rows`` at the end: the
    ``k``-th claim (in the order the threads make them) takes rows
    ``starts[k]:starts[k + 1]``, ``max(1, left // (SHARE · threads))`` of the
    ``left`` not yet taken (one run of all of them on one thread).

    Examples
    --------
    >>> claim_starts(10, 1).tolist()
    [0, 10]
    >>> np.diff(claim_starts(128, 2)).tolist()[:6]  # large runs first
    [16, 14, 12, 10, 9, 8]
    >>> np.diff(claim_starts(128, 2)).tolist()[-8:]  # single pixels last
    [1, 1, 1, 1, 1, 1, 1, 1]
    """
    starts, left = [0], n_rows
    while left > 0:
        left -= n_rows if threads <= 1 else max(1, left // (SHARE * threads))
        starts.append(n_rows - left)
    out = np.array(starts, dtype=np.int64)
    out.flags.writeable = False  # shared by every call with these sizes
    return out


@njit(cache=True, nogil=True)
def next_rows(claim, starts):
    """Claim the next run of rows: ``(b0, b1)`` from ``starts`` (see
    :func:`claim_starts`) at the index ``claim[0]``, incremented atomically;
    ``b0 == b1`` when none is left.
    """
    k = _fetch_add(claim, 0, 1)
    last = starts.size - 1
    if k >= last:
        return starts[last], starts[last]
    return starts[k], starts[k + 1]


@njit(cache=True, nogil=True, error_model="numpy")
def fit_block(claim, starts, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
              ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi, status, nfev, njev, nit, cost, cov, nsvd, gram,
              check, bounded, linear, lin_tau):
    """Fit rows of ``Y`` into the output arrays until none is left, with one
    set of work buffers: each thread of :func:`fit_pixels` calls it once,
    without the GIL, and claims the next run of rows (:func:`next_rows`) from
    the counter ``claim[0]`` that all share, so a slow pixel holds up only its
    own thread while the others take the rest.
    """
    P = THETA.shape[1]
    N = Y.shape[1]
    T = ex[7].shape[0]  # tied parameters' Jacobian rows (see model._ties)
    fb = np.empty((2, N))
    Jb = np.zeros((2, P + 1 + T, N))
    jlob = np.zeros((2, P + 1 + T), dtype=np.int64)
    jhib = np.zeros((2, P + 1 + T), dtype=np.int64)
    rb = np.empty((2, N))
    R = np.empty((n_reg, N))
    wk = _work(P, FIXED.shape[1], N)
    while True:
        b0, b1 = next_rows(claim, starts)
        if b0 >= b1:
            return
        _fit_rows(b0, b1, x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED,
                  col, THETA, ftol, xtol, max_nfev, radius0, cov, fb, Jb, jlob, jhib, rb, ex, R, wk, lo, hi, gram,
                  check, bounded, linear, lin_tau, status, nfev, njev, nit, cost, nsvd)


def fit_pixels(x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
               ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi, bounded=False, linear=None, lin_tau=np.inf):
    """Fit every row of ``Y`` (B, N); ``THETA`` (B, P) holds the starts and
    receives the results. Returns status, nfev, njev, nit, χ², covariance,
    the number of SVD factorisations per pixel, and what the verification
    takes from the final point: ``JwᵀJw`` (B, P, P) and ``(Σ (w·model)², Newton
    gap)`` (B, 2), NaN where the fit ended on non-finite values. ``lo``,
    ``hi`` (P): the bounds the Newton check holds parameters at, and with
    ``bounded`` the box the fit keeps to (see :func:`.kernels._fit_rows`);
    ``linear`` (P bool, default none) and ``lin_tau``: the linear projection
    (see :func:`.kernels._fit_rows`; off by default here, :func:`.lower.fused_lm`
    turns it on).

    ``numba.get_num_threads()`` Python threads (the caller's and one made
    once per process per extra thread, :mod:`.blocks`) each call
    :func:`fit_block` once, without the GIL, and claim runs of pixels from a
    shared counter (:func:`claim_starts`; one thread: one run of all the rows). Why not
    ``prange``: the parallel (parfor) wrapper alone took as long to compile
    as the whole LM kernel (15 of 32 CPU-seconds of the first multifit on a
    fresh install), and threads claiming pixels give the same speed-up.
    """
    import numba

    B, N = Y.shape
    P = THETA.shape[1]
    linear = np.zeros(P, dtype=np.bool_) if linear is None else np.ascontiguousarray(linear, dtype=np.bool_)
    lin_tau = float(lin_tau)
    status = np.zeros(B, dtype=np.int64)
    nfev = np.zeros(B, dtype=np.int64)
    njev = np.zeros(B, dtype=np.int64)
    nit = np.zeros(B, dtype=np.int64)
    nsvd = np.zeros(B, dtype=np.int64)
    cost = np.empty(B)
    cov = np.empty((B, P, P))
    gram = np.empty((B, P, P))
    check = np.empty((B, 2))
    out = (status, nfev, njev, nit, cost, cov, nsvd, gram, check)
    args = (x, xy, grid, ascending, dx, bs, Y, W, use_w, kinds, qoff, nq, ACTIVE, FIXED, col, THETA,
            ftol, xtol, max_nfev, radius0, ex, n_reg, lo, hi)
    threads = min(numba.get_num_threads(), B)
    claim = np.zeros(1, dtype=np.int64)  # the next claim's index, shared by the threads
    starts = claim_starts(B, threads)
    if threads <= 1:
        fit_block(claim, starts, *args, *out, bounded, linear, lin_tau)
        return out
    from .blocks import run_threads  # threads made once per process (issue #16: fixed cost per call)

    run_threads(lambda: fit_block(claim, starts, *args, *out, bounded, linear, lin_tau), threads)
    return out
