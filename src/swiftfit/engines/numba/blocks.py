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

The blocks and what each pixel computes are unchanged, so the results are
bit-identical to the old scheme's (each pixel is fitted on its own).
"""

from __future__ import annotations

import itertools
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


def run_blocks(block: Callable[[int, int], None], edges: list[int], threads: int) -> None:
    """Call ``block(edges[i], edges[i + 1])`` for every block ``i`` on
    ``threads`` threads (the caller's one included); ``block`` should release
    the GIL (a ``nogil`` numba function). An error in any block is raised here.

    Examples
    --------
    >>> done = []
    >>> run_blocks(lambda a, b: done.append((a, b)), [0, 2, 5, 9], 2)
    >>> sorted(done)
    [(0, 2), (2, 5), (5, 9)]
    """
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
