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

Each grab takes a run of consecutive blocks, a share of what is left
(guided self-scheduling, :func:`grab_sizes`): each block handed out costs a
dispatch of the compiled function (~6 µs of unboxing ~40 arguments, with the
GIL held) and its work buffers, and at 128 pixels the 64 blocks of two pixels
cost ~0.5 ms of CPU per call more than one block. Taking ``left // (2 ·
threads)`` blocks at a time makes 15 dispatches of the 64 on two threads,
large ones first, and the last grabs are single blocks, so the threads still
finish within one given block of each other (merging into a few fixed large
blocks would not: a slow pixel's block would hold a thread up).

What each pixel computes does not depend on its block, so the results are
bit-identical to the old scheme's (each pixel is fitted on its own).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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


def grab_sizes(n_blocks: int, threads: int) -> list[int]:
    """How many given blocks each successive grab takes: ``max(1, left // (2 ·
    threads))`` of the ``left`` not yet taken (the order of the grabs, not
    which thread makes them, decides it).

    Examples
    --------
    >>> grab_sizes(64, 2)  # 128 pixels in 64 blocks: 15 dispatches, not 64
    [16, 12, 9, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1]
    >>> grab_sizes(3, 2)
    [1, 1, 1]
    """
    sizes, left = [], n_blocks
    while left > 0:
        take = max(1, left // (2 * max(threads, 1)))
        sizes.append(take)
        left -= take
    return sizes


def run_blocks(block: Callable[[int, int], None], edges: list[int], threads: int) -> None:
    """Call ``block(a, b)`` for runs of consecutive blocks covering
    ``edges[0]:edges[-1]`` once — ``a`` and ``b`` entries of ``edges``, each
    run as :func:`grab_sizes` cuts them — on ``threads`` threads (the
    caller's one included); ``block`` should release the GIL (a ``nogil``
    numba function). An error in any block is raised here.

    Examples
    --------
    >>> done = []
    >>> run_blocks(lambda a, b: done.append((a, b)), [0, 2, 5, 9], 2)
    >>> sorted(done)
    [(0, 2), (2, 5), (5, 9)]
    >>> done = []
    >>> run_blocks(lambda a, b: done.append((a, b)), list(range(0, 161, 5)), 2)
    >>> sorted(done)  # 32 blocks of 5 rows: runs of 8, 6, 4, 3, 2, 2, 1, ... blocks
    [(0, 40), (40, 70), (70, 90), (90, 105), (105, 115), (115, 125), (125, 130), (130, 135), (135, 140), (140, 145), (145, 150), (150, 155), (155, 160)]
    """
    n_blocks = len(edges) - 1
    share = 2 * max(threads, 1)
    lock = threading.Lock()
    left = [0]  # the next block not taken

    def grab():
        with lock:
            i = left[0]
            if i >= n_blocks:
                return None
            left[0] = i + max(1, (n_blocks - i) // share)
            return edges[i], edges[left[0]]

    def work() -> None:
        while (run := grab()) is not None:
            block(*run)

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
