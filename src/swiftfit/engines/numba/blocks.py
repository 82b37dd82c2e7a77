"""Run a compiled block function over contiguous blocks of pixels on a few
threads that live as long as the process (issue #16, fixed cost per call).

:func:`.kernels.fit_pixels` used to start a ``ThreadPoolExecutor`` per call
and submit one job per block (64 blocks): at 128 pixels that cost more wall
time than the fits themselves (2.5–7 ms against 1.3 ms of kernel time for the
battery's ``multiexp``, on a loaded two-core machine), from starting threads
and from one hand-off per block. Here the worker threads are made once (again
after a ``fork`` or when ``numba.set_num_threads`` changes the count), each
call submits one job per extra thread, and the calling thread works too: every
worker takes the next block index from one shared counter until none is left,
so the balance across blocks is as before (a slow block does not hold up the
others) and a call never waits on a pool that another caller keeps busy (the
caller alone would finish its blocks).

Small calls get fewer, larger blocks (:func:`coarse_edges`): each block
costs a dispatch of the compiled function (~6 µs of unboxing ~40 arguments,
with the GIL held) and its work buffers; at 128 pixels the 64 blocks of two
pixels each cost ~0.5 ms of CPU per call more than one block. Blocks are
merged, never split, to at least :data:`MIN_ROWS` rows while every thread
keeps :data:`BLOCKS_PER_THREAD` of them to balance on.

What each pixel computes does not depend on its block, so the results are
bit-identical to the old scheme's (each pixel is fitted on its own).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MIN_ROWS = 16  # rows (pixels) a block should hold before dispatch costs little
BLOCKS_PER_THREAD = 4  # blocks per thread kept, at least, for the balance

_LOCK = threading.Lock()
_POOL: list = [None, 0, -1]  # executor, its worker count, the pid that made it


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's executor with ``workers`` threads (made on first use)."""
    with _LOCK:
        pool, n, pid = _POOL
        if pool is None or n != workers or pid != os.getpid():
            if pool is not None and pid == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swiftfit-fit")
            _POOL[:] = [pool, workers, os.getpid()]
        return pool


def coarse_edges(edges: list[int], threads: int) -> list[int]:
    """``edges`` with consecutive blocks merged so that each holds about
    :data:`MIN_ROWS` rows or more, keeping at least
    :data:`BLOCKS_PER_THREAD` blocks per thread (no more than given); a
    subset of ``edges`` with the same first and last entries.

    Examples
    --------
    >>> coarse_edges([2 * i for i in range(65)], 2)  # 128 rows in 64 blocks
    [0, 16, 32, 48, 64, 80, 96, 112, 128]
    >>> coarse_edges([0, 64, 128], 2)
    [0, 64, 128]
    """
    n_blocks = len(edges) - 1
    rows = edges[-1] - edges[0] if n_blocks > 0 else 0
    want = max(rows // MIN_ROWS, threads * BLOCKS_PER_THREAD, 1)
    if want >= n_blocks:
        return list(edges)
    step = -(-n_blocks // want)  # ceil: at most `want` blocks
    out = list(edges[::step])
    if out[-1] != edges[-1]:
        out.append(edges[-1])
    return out


def run_blocks(block: Callable[[int, int], None], edges: list[int], threads: int) -> None:
    """Call ``block(a, b)`` for blocks of consecutive rows covering
    ``edges[0]:edges[-1]`` once — the given blocks, or runs of them merged by
    :func:`coarse_edges` — on ``threads`` threads (the caller's one included);
    ``block`` should release the GIL (a ``nogil`` numba function). An error in
    any block is raised here.

    Examples
    --------
    >>> done = []
    >>> run_blocks(lambda a, b: done.append((a, b)), [0, 2, 5, 9], 2)
    >>> sorted(done)
    [(0, 2), (2, 5), (5, 9)]
    >>> done = []
    >>> run_blocks(lambda a, b: done.append((a, b)), list(range(0, 161, 5)), 2)
    >>> sorted(done)  # 32 blocks of 5 rows: 8 of 20
    [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100), (100, 120), (120, 140), (140, 160)]
    """
    edges = coarse_edges(edges, threads)
    n_blocks = len(edges) - 1
    counter = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        for i in counter:
            if i >= n_blocks:
                return
            block(edges[i], edges[i + 1])

    if threads <= 1 or n_blocks <= 1:
        work()
        return
    pool = _pool(threads - 1)
    jobs = [pool.submit(work) for _ in range(min(threads, n_blocks) - 1)]
    try:
        work()
    finally:
        for job in jobs:
            job.result()
