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

Before each call the workers are kept off the CPU the caller runs on
(:func:`_keep_away`, Linux only): after the process has idled for a few
milliseconds (as between two multifits), the scheduler tends to wake the
worker on the caller's CPU, and the two threads then share one CPU for much
of the call. Measured on this 2-core machine (``multiexp``, 128 pixels, two
threads, a fresh model per call, medians of 15 calls, three alternating
pairs of processes while the machine was otherwise idle): 3.2–4.6 ms in
``fit_pixels`` after a 20 ms pause without it, 2.4–2.8 ms with it; back to
back 2.4–3.1 against 2.4–2.5 ms.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_LOCK = threading.Lock()
_POOL: list = [None, 0, -1, []]  # executor, its worker count, the pid that made it, its workers' thread ids
KEEP_AWAY = True  # _keep_away on (a switch for timing it)
_AWAY: list = [None]  # (the CPU the workers were last kept off, how many workers)


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's executor with ``workers`` threads (made on first use)."""
    with _LOCK:
        pool, n, pid, _ = _POOL
        if pool is None or n != workers or pid != os.getpid():
            if pool is not None and pid == os.getpid():
                pool.shutdown(wait=False)
            ids: list = []
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swiftfit-fit",
                                      initializer=lambda: ids.append(threading.get_native_id()))
            _POOL[:] = [pool, workers, os.getpid(), ids]
            _AWAY[0] = None
        return pool


def _getcpu() -> Callable[[], int] | None:
    """The C library's ``sched_getcpu`` (None where there is none)."""
    try:
        import ctypes

        f = ctypes.CDLL(None, use_errno=True).sched_getcpu
        f.restype = ctypes.c_int
        return f
    except (OSError, AttributeError):
        return None


_GETCPU = _getcpu() if hasattr(os, "sched_setaffinity") else None


def _keep_away() -> None:
    """Let the workers run on every CPU the process may use but the one the
    caller runs on now (an affinity mask, set again only when the caller has
    moved). The scheduler otherwise tends to wake a worker on the caller's
    CPU after an idle spell, where the two share one CPU. Best effort: no-op
    where there is no ``sched_getcpu`` or only one CPU.
    """
    if _GETCPU is None:
        return
    here = _GETCPU()
    ids = list(_POOL[3])  # the workers started so far (a pool starts them on its first submits)
    if here < 0 or (here, len(ids)) == _AWAY[0]:
        return
    try:
        others = os.sched_getaffinity(0) - {here}  # (read again: the caller may have been restricted since)
        if not others:
            return
        for tid in ids:
            os.sched_setaffinity(tid, others)
        _AWAY[0] = (here, len(ids))
    except OSError:  # a worker gone, or affinity not ours to set: run as the scheduler decides
        return


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
    if KEEP_AWAY:
        _keep_away()
    jobs = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for job in jobs:
            if not job.cancel():  # started (or finished): its rows are written into the caller's arrays
                job.result()
