"""Lazy multifit (dask) against the eager batched multifit.

Truth: the eager ``multifit`` on the same data and starting maps. Every pixel
is an independent solve from its own starting values, so the maps must be
equal whatever the blocks and the scheduler; we compare bit for bit (stricter
than the 1e-12 the issue asks). The data have 5 % of pixels started far from
their peak (centre 30 instead of ~128), so that about 48 of them fail the first
pass and are refitted from their neighbours — across block borders, which the
lazy driver handles as a second pass on the driver.
"""

from __future__ import annotations

import os
import signal as _signal

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.errors import InvalidInputError
from swiftfit.model import components1D as c1
from swiftfit.model.lazy_multifit import apply_maps, read_maps

dask = pytest.importorskip("dask")
pytest.importorskip("zarr")

NY, NX, N = 32, 32, 256
CHUNKS = (8, 16, N)  # 8 navigation blocks
ARRAYS = ("_status", "_nfev", "_chisq", "_dof", "_lnl", "_nfree")


def make_data(seed: int = 0):
    """Poisson counts: Gaussian (sigma 5, centre 128 ± 10) on a flat 20."""
    rng = np.random.default_rng(seed)
    x = np.arange(N, dtype=float)
    A = rng.uniform(2000, 6000, (NY, NX))
    cen = 128 + rng.uniform(-10, 10, (NY, NX))
    lam = 20 + A[..., None] / (5 * np.sqrt(2 * np.pi)) * np.exp(-((x - cen[..., None]) ** 2) / 50)
    return rng.poisson(lam).astype(float)


def build(s):
    m = s.create_model()
    g = c1.Gaussian()
    g.A.value, g.sigma.value, g.centre.value = 3000.0, 4.0, 128.0
    o = c1.Offset()
    o.offset.value = 10.0
    m.extend([g, o])
    m.assign_current_values_to_all()
    bad = np.random.default_rng(1).random(m._nav_shape) < 0.05
    g.centre.map["values"][bad] = 30.0  # bad starts: the first pass fails there
    return m


def assert_same(a, b):
    for ca, cb in zip(a, b):
        for p, q in zip(ca.parameters, cb.parameters):
            for field in ("values", "std", "is_set"):
                np.testing.assert_array_equal(p.map[field], q.map[field], err_msg=f"{p.name}.{field}")
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a._multifit_refitted, b._multifit_refitted)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("lazy")
    data = make_data()
    eager = build(sf.signals.Signal1D(data))
    eager.multifit(max_nfev=40)
    path = str(d / "cube.zarr")
    sf.signals.Signal1D(data).as_lazy(chunks=CHUNKS).save(path)
    return {"dir": d, "zarr": path, "eager": eager, "data": data}


def test_lazy_threads_equals_eager(setup):
    s = sf.load(setup["zarr"], lazy=True)
    assert s._lazy and s.data.numblocks == (4, 2, 1)
    m = build(s)
    with dask.config.set(scheduler="threads"):
        m.multifit(max_nfev=40)
    assert_same(setup["eager"], m)
    # the neighbour refit ran and succeeded (eager truth: 48 refitted, none left failing)
    assert m._multifit_refitted.sum() == setup["eager"]._multifit_refitted.sum() > 0
    assert (m._status > 0).all()


def test_lazy_mask_and_fetch_only_fixed_equal_eager(setup):
    mask = np.zeros((NY, NX), bool)
    mask[5:9, 3:20] = True
    eager = build(sf.signals.Signal1D(setup["data"]))
    eager.multifit(mask=mask, fetch_only_fixed=True, refit_failed=False)
    m = build(sf.load(setup["zarr"], lazy=True))
    m.multifit(mask=mask, fetch_only_fixed=True, refit_failed=False)
    assert_same(eager, m)
    assert (m._status[mask] == 0).all()  # masked: never fitted


def test_lazy_variance_equals_eager(setup):
    eager_s = sf.signals.Signal1D(setup["data"])
    eager_s.estimate_poissonian_noise_variance()
    lazy_s = eager_s.as_lazy(chunks=CHUNKS)
    var = lazy_s.metadata.Signal.Noise_properties.variance
    assert var._lazy
    eager = build(eager_s)
    eager.multifit(refit_failed=False)
    m = build(lazy_s)
    m.multifit(refit_failed=False)
    assert_same(eager, m)


@pytest.mark.parametrize("name", ["maps.zarr", "maps.h5"])
def test_out_store_equals_in_memory(setup, name):
    s = sf.load(setup["zarr"], lazy=True)
    m = build(s)
    start = m[0].centre.map.copy()
    out = str(setup["dir"] / name)
    m.multifit(out=out, max_nfev=40)
    # the model's maps are untouched: the maps went to the store
    for field in ("values", "std", "is_set"):
        np.testing.assert_array_equal(m[0].centre.map[field], start[field])
    maps = read_maps(out)
    eager = setup["eager"]
    for comp in eager:
        for p in comp.parameters:
            for field in ("values", "std", "is_set"):
                np.testing.assert_array_equal(maps[f"{comp.name}/{p.name}/{field}"], p.map[field])
    for n in ARRAYS:
        np.testing.assert_array_equal(maps[n.lstrip("_")], getattr(eager, n))
    np.testing.assert_array_equal(maps["refitted"], eager._multifit_refitted)
    apply_maps(m, out)
    assert_same(eager, m)


def test_lazy_fit_at_one_position_reads_one_spectrum(setup):
    """``m.fit()`` on a lazy model equals the eager fit at that position."""
    eager = build(sf.signals.Signal1D(setup["data"]))
    lazy = build(sf.load(setup["zarr"], lazy=True))
    for m in (eager, lazy):
        m.axes_manager.indices = (7, 3)
        m.fit()
    assert lazy[0].centre.value == eager[0].centre.value
    assert lazy[0].A.std == eager[0].A.std


def test_lazy_refuses_what_it_cannot_do(setup, tmp_path):
    m = build(sf.load(setup["zarr"], lazy=True))
    with pytest.raises(InvalidInputError, match="iterpath"):
        m.multifit(iterpath="serpentine")
    with pytest.raises(InvalidInputError, match="autosave"):
        m.multifit(autosave=True)
    with pytest.raises(InvalidInputError, match="custom `loss_function`"):
        m.multifit(loss_function=lambda *a, **k: 0.0)
    eager = build(sf.signals.Signal1D(setup["data"][:2, :2]))
    with pytest.raises(InvalidInputError, match="`out`"):
        eager.multifit(out=str(tmp_path / "x.zarr"))


# ------------------------------------------------------------- distributed
distributed = pytest.importorskip("distributed")
from distributed.diagnostics.plugin import SchedulerPlugin


class KillOneWorker(SchedulerPlugin):
    """Scheduler plugin: when the first block's result arrives, SIGKILL the
    process of a worker that is still processing blocks (its nanny restarts
    it; dask reschedules the lost tasks)."""

    name = "kill-one-worker"

    def __init__(self, scheduler):
        self.killed_pid = None
        self.lost_tasks = 0
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs):
        if self.killed_pid is not None or finish != "memory" or "_fit_block" not in str(key):
            return
        busy = [ws for ws in self.scheduler.workers.values() if ws.processing]
        if busy:
            ws = max(busy, key=lambda w: len(w.processing))
            self.lost_tasks = len(ws.processing)
            self.killed_pid = ws.pid
            os.kill(ws.pid, _signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as lc:
        yield lc


def test_distributed_equals_threads_and_survives_a_killed_worker(setup, cluster):
    from distributed import Client

    threaded = build(sf.load(setup["zarr"], lazy=True))
    with dask.config.set(scheduler="threads"):
        threaded.multifit(max_nfev=40)
    # small blocks: 64 tasks, so that plenty are in flight when a worker dies
    with Client(cluster) as client:
        m = build(sf.load(setup["zarr"], lazy=True, chunks=(4, 4, N)))
        m.multifit(max_nfev=40)
        assert_same(threaded, m)

        plugin = KillOneWorker(cluster.scheduler)
        cluster.scheduler.add_plugin(plugin)  # the LocalCluster's scheduler runs in this process
        pids = set(client.run(os.getpid).values())
        m2 = build(sf.load(setup["zarr"], lazy=True, chunks=(4, 4, N)))
        m2.multifit(max_nfev=40)
        cluster.scheduler.remove_plugin(name=plugin.name)
        assert plugin.killed_pid in pids and plugin.lost_tasks >= 1
        assert_same(threaded, m2)
        client.wait_for_workers(2, timeout=30)  # the nanny brought the worker back
        assert plugin.killed_pid not in set(client.run(os.getpid).values())


def test_full_size_cube_lazy_equals_eager_threads_and_cluster(tmp_path, cluster):
    """256×256×1024 (512 MiB) zarr cube: the lazy multifit on threads and on a
    2-worker LocalCluster give the eager maps bit for bit (benchmarks/lazy.py
    measures the time and the driver's memory on the same case)."""
    import dask.array as da
    from distributed import Client

    from swiftfit.signals.lazy import LazySignal1D

    size, channels = 256, 1024

    def counts(b, block_info=None):
        (y0, y1), (x0, x1), _ = block_info[None]["array-location"]
        rng = np.random.default_rng([0, y0, x0])
        A = rng.uniform(2000, 6000, (y1 - y0, x1 - x0))
        c = 500 + rng.uniform(-20, 20, (y1 - y0, x1 - x0))
        x = np.arange(channels, dtype=float)
        return rng.poisson(20 + A[..., None] / (10 * np.sqrt(2 * np.pi))
                           * np.exp(-((x - c[..., None]) ** 2) / 200)).astype(float)

    path = str(tmp_path / "big.zarr")
    data = da.zeros((size, size, channels), chunks=(8, size, channels)).map_blocks(counts, dtype=float)
    LazySignal1D(data).save(path)

    def fit(s):
        m = s.create_model()
        g = c1.Gaussian()
        g.A.value, g.sigma.value, g.centre.value = 3000.0, 8.0, 500.0
        o = c1.Offset()
        o.offset.value = 10.0
        m.extend([g, o])
        m.assign_current_values_to_all()
        m.multifit()
        return m

    eager = fit(sf.load(path).compute())
    with dask.config.set(scheduler="threads"):
        threaded = fit(sf.load(path, lazy=True))
    assert_same(eager, threaded)
    with Client(cluster):
        distributed_run = fit(sf.load(path, lazy=True))
    assert_same(threaded, distributed_run)


@pytest.mark.parametrize("name", ["maps.zarr", "maps.h5"])
def test_out_store_is_replaced_only_when_the_run_completes(setup, name, monkeypatch):
    """Issue 19 (every write atomic): a run that fails part-way leaves an existing
    ``out=`` store exactly as it was and no temporary behind; a complete run replaces it."""
    from swiftfit.model import lazy_multifit as lm

    s = sf.load(setup["zarr"], lazy=True)
    out = setup["dir"] / f"atomic_{name}"
    build(s).multifit(out=str(out), max_nfev=40)
    before = read_maps(str(out))
    calls = {"n": 0}
    real = lm._fit_block

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the third block: some blocks have already written their region
            raise RuntimeError("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(lm, "_fit_block", failing)
    m = build(s)
    m[0].A.map["values"][:] = 1.0  # a run that would write other maps
    with dask.config.set(scheduler="synchronous"), pytest.raises(RuntimeError, match="interrupted"):
        m.multifit(out=str(out), max_nfev=40)
    after = read_maps(str(out))
    assert sorted(after) == sorted(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert not [p for p in os.listdir(setup["dir"]) if "swiftfit-tmp" in p]
    monkeypatch.setattr(lm, "_fit_block", real)
    m.multifit(out=str(out), max_nfev=40)  # completes: the store now holds the new run
    assert not np.array_equal(read_maps(str(out))["Gaussian/A/values"], before["Gaussian/A/values"])
