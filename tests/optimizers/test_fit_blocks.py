"""The kernel's threads (engines/numba/blocks.py, driver.py, atomic.py): one
call of the work per thread, errors raised, an atomic counter, every pixel
claimed exactly once, and fits on threads identical to the one-thread fit."""

import threading

import numpy as np
import pytest

pytest.importorskip("numba")

from numba import njit  # noqa: E402

from swiftfit.engines.numba.atomic import fetch_add  # noqa: E402
from swiftfit.engines.numba.blocks import run_threads  # noqa: E402
from swiftfit.engines.numba.driver import claim_starts, next_rows  # noqa: E402


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_work_called_once_per_thread(threads):
    calls = []
    lock = threading.Lock()

    def work():
        with lock:
            calls.append(threading.get_ident())

    run_threads(work, threads)
    # the caller's call always; a worker's call may be cancelled when the caller
    # finished first (the work is shared out by the work itself)
    assert threading.get_ident() in calls and 1 <= len(calls) <= threads


def test_a_started_worker_is_waited_for():
    # the caller returns only after every call that started has finished (it
    # writes into the caller's arrays)
    started, done = threading.Event(), []

    def work():
        if threading.current_thread() is threading.main_thread():
            started.wait(5.0)  # let the worker start first
            return
        started.set()
        threading.Event().wait(0.05)
        done.append(1)

    run_threads(work, 2)
    assert done == [1]


def test_error_in_a_worker_is_raised():
    def work():
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("in the worker")
        threading.Event().wait(0.2)  # the worker starts and fails meanwhile

    with pytest.raises(ValueError, match="in the worker"):
        run_threads(work, 2)


def test_error_in_the_caller_is_raised():
    def work():
        raise ValueError("anywhere")

    with pytest.raises(ValueError, match="anywhere"):
        run_threads(work, 2)


@njit(nogil=True)
def _take(counter, mine):
    for j in range(mine.size):
        mine[j] = fetch_add(counter, 1, 1)


def test_fetch_add_is_atomic_across_threads():
    # two threads without the GIL take a million tickets each from one counter:
    # every ticket exactly once (a plain read-then-write, tried here, loses ~5 %
    # of the increments and hands some tickets out twice)
    n = 1_000_000
    counter = np.array([7, 0], dtype=np.int64)  # element 1 is the counter
    _take(np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.int64))  # compile first
    mine = [np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    go = threading.Barrier(2)

    def take(i):
        go.wait()
        _take(counter, mine[i])

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.tolist() == [7, 2 * n]
    np.testing.assert_array_equal(np.sort(np.concatenate(mine)), np.arange(2 * n))


@pytest.mark.parametrize("rows, threads", [(1, 2), (5, 2), (128, 2), (1024, 2), (128, 8), (3, 1), (5000, 1)])
def test_claims_cover_every_row_once_large_runs_first(rows, threads):
    starts = claim_starts(rows, threads)
    runs = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == rows and (runs >= 1).all()
    assert (runs[:-1] >= runs[1:]).all()  # large first
    if threads == 1:
        assert starts.tolist() == [0, rows]  # one run: one call of the fit's loop
    else:
        # the last claims are single pixels (the threads end within one pixel of each
        # other) and no run is more than 1/(4·threads) of the pixels: a slow pixel
        # keeps at most that many others on its thread
        assert runs[-threads:].tolist() == [1] * min(threads, runs.size)
        assert runs.max() <= max(1, rows // (4 * threads))
    assert not starts.flags.writeable  # shared between calls


def test_claim_counts_at_the_battery_sizes():
    # 32 claims at 128 pixels on two threads (a claim costs ~1 µs: one pixel each
    # would be 128), 48 at 1024
    assert claim_starts(128, 2).size - 1 == 32
    assert claim_starts(1024, 2).size - 1 == 48


@njit(nogil=True)
def _claim_all(claim, starts, owner, me):
    while True:
        b0, b1 = next_rows(claim, starts)
        if b0 >= b1:
            return
        for b in range(b0, b1):
            owner[b] += me


def test_threads_claim_every_row_exactly_once():
    rows = 100_000
    starts = np.arange(0, rows + 1, dtype=np.int64)  # one row a claim: the most contention
    claim = np.zeros(1, dtype=np.int64)
    owner = np.zeros(rows, dtype=np.int64)
    _claim_all(np.zeros(1, dtype=np.int64), starts[:2].copy(), owner[:1].copy(), 1)  # compile first
    ids = iter([1, 2])
    run_threads(lambda: _claim_all(claim, starts, owner, next(ids)), 2)
    # each row taken by one thread (1 or 2), never by both (3) or none (0)
    assert set(np.unique(owner).tolist()) <= {1, 2} and (owner > 0).all()


def test_threads_give_the_one_thread_maps_bit_for_bit():
    # truth: each pixel is fitted on its own, so the number of threads (and the
    # order rows are claimed in) cannot change a bit of any map
    import numba

    import swiftfit as sf

    rng = np.random.default_rng(3)
    x = np.arange(200.0)
    c = 100 + rng.uniform(-3, 3, 70)
    data = rng.poisson(20 + 500 * np.exp(-0.5 * ((x - c[:, None]) / 6.0) ** 2)).astype(float)
    data[5] = rng.poisson(20.0, x.size)  # a pixel that takes many more evaluations than the others
    if numba.config.NUMBA_NUM_THREADS < 2:  # one thread against one thread could not fail
        pytest.skip("numba allows one thread here: nothing to compare the one-thread maps with")
    maps = []
    n0 = numba.get_num_threads()
    for threads in (1, 2, 1, 2):
        numba.set_num_threads(threads)
        try:
            m = sf.signals.Signal1D(data).create_model()
            g = sf.model.components1D.Gaussian()
            g.A.value, g.centre.value, g.sigma.value = 1000.0, 98.0, 5.0
            m.extend([g, sf.model.components1D.Offset()])
            m.multifit()
        finally:
            numba.set_num_threads(n0)
        maps.append(np.stack([p.map["values"] for comp in m for p in comp.parameters]
                             + [np.asarray(m.multifit_output.nfev.data, dtype=float)]))
        centres = g.centre.map["values"]
    for other in maps[1:]:
        np.testing.assert_array_equal(maps[0], other)
    keep = np.arange(c.size) != 5
    assert np.median(np.abs(centres - c)[keep]) < 0.2  # the fits are real (σ 6, ~3000 counts: ~0.1 ch)


def test_two_multifits_at_once_on_two_threads():
    # two callers share the process's worker: each gets its own pixels' results
    import numba

    import swiftfit as sf

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba allows one thread here")
    rng = np.random.default_rng(4)
    x = np.arange(150.0)
    datas = [rng.poisson(10 + 400 * np.exp(-0.5 * ((x - c) / 5.0) ** 2)).astype(float)
             for c in (60 + rng.uniform(-2, 2, (40, 1)), 90 + rng.uniform(-2, 2, (40, 1)))]

    def fit(d):
        m = sf.signals.Signal1D(d).create_model()
        g = sf.model.components1D.Gaussian()
        g.A.value, g.centre.value, g.sigma.value = 2000.0, d.argmax(1).mean(), 4.0
        m.extend([g, sf.model.components1D.Offset()])
        m.multifit()
        return g.centre.map["values"].copy()

    alone = [fit(d) for d in datas]
    n0 = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        got = [None, None]
        ts = [threading.Thread(target=lambda i=i: got.__setitem__(i, fit(datas[i]))) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        numba.set_num_threads(n0)
    for a, b in zip(alone, got):
        np.testing.assert_array_equal(a, b)


def _in_child(q):
    done = []
    run_threads(lambda: done.append(1), 2)
    q.put(len(done) >= 1)


def test_threads_after_a_fork():
    # the parent's worker thread does not exist in a forked child: the pool is
    # made again there (a submit to the parent's would never run)
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork here")
    run_threads(lambda: None, 2)  # the parent's pool exists
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_in_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0 and q.get(timeout=5)


def test_threads_after_set_num_threads_changes():
    counts = []
    for threads in (2, 3, 2):
        seen = []
        lock = threading.Lock()
        gate = threading.Barrier(threads, timeout=10)

        def work(seen=seen, lock=lock, gate=gate):
            gate.wait()  # every thread's call runs at once: the pool has threads - 1 workers
            with lock:
                seen.append(threading.get_ident())

        run_threads(work, threads)
        counts.append(len(set(seen)))
    assert counts == [2, 3, 2]


def test_workers_kept_off_the_callers_cpu():
    # after a call on two threads the worker may run anywhere the process may but
    # on the CPU the caller ran on at the call (where the scheduler would otherwise
    # wake it after an idle spell: the two threads would share one CPU)
    import os

    from swiftfit.engines.numba import blocks

    if blocks._GETCPU is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("no sched_getcpu, or one CPU: nothing to keep away from")
    for _ in range(3):  # the first call starts the worker; the next ones set its mask
        run_threads(lambda: None, 2)
    (here, workers), ids = blocks._AWAY[0], blocks._POOL[3]
    assert workers == len(ids) == 1
    assert os.sched_getaffinity(ids[0]) == os.sched_getaffinity(0) - {here}


def test_keep_away_is_a_no_op_on_one_cpu():
    import os

    from swiftfit.engines.numba import blocks

    if blocks._GETCPU is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("no sched_getcpu here")
    allowed = os.sched_getaffinity(0)
    result = []

    def on_one_cpu():
        os.sched_setaffinity(0, {min(allowed)})  # this thread only
        try:
            blocks._AWAY[0] = None
            run_threads(lambda: None, 2)
            run_threads(lambda: None, 2)
            result.append(blocks._AWAY[0])
        finally:
            os.sched_setaffinity(0, allowed)

    t = threading.Thread(target=on_one_cpu)
    t.start()
    t.join()
    assert result == [None]  # nothing set: the worker keeps the CPUs it had
