"""Run a compiled function once on each of a few threads that live as long as
the process (issue #16, fixed cost per call).

:func:`.driver.fit_pixels` used to start a ``ThreadPoolExecutor`` per call:
at 128 pixels that cost more wall time than the fits themselves. Here the
worker threads are made once (again after a ``fork`` or when
``numba.set_num_threads`` changes the count), each call submits one job per
extra thread, and the calling thread runs the function too, at once. The
function shares out the work itself (:func:`.driver.fit_block` claims pixels
from an atomic counter), so a worker that starts late, or not at all because
another caller keeps the pool busy, only leaves more to the others: a job
that has not started when the caller's own share is done is cancelled, not
waited for.
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


def run_threads(work: Callable[[], None], threads: int) -> None:
    """Call ``work()`` on ``threads`` threads at once (the caller's one
    included), each call taking its share of a common pool of work until none
    is left (``work`` should release the GIL: a ``nogil`` numba function). A
    worker's call that has not started when the caller's returns is
    cancelled: the work is done by then. An error in any call is raised here.

    Examples
    --------
    >>> import itertools
    >>> todo, done, lock = itertools.count(), [], threading.Lock()
    >>> def work():
    ...     while (i := next(todo)) < 5:
    ...         with lock:
    ...             done.append(i)
    >>> run_threads(work, 2)
    >>> sorted(done)
    [0, 1, 2, 3, 4]
    """
    if threads <= 1:
        work()
        return
    pool = _pool(threads - 1)
    jobs = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for job in jobs:
            if not job.cancel():  # started (or finished): its rows are written into the caller's arrays
                job.result()
