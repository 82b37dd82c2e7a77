"""Lazy (out-of-core) multifit benchmark: a 256×256×1024 zarr cube on disk.

The data (Poisson counts of one Gaussian on a flat background, seeded per
block, float64: 512 MiB) are generated block by block straight into a zarr
store, never whole in memory. Then, each in its own process:

``eager``    ``swiftfit.load(path).compute()`` and the batched ``multifit`` (the truth);
``threads``  the lazy multifit on dask's threads;
``cluster``  the lazy multifit through a 2-worker ``dask.distributed.LocalCluster``
             (processes, 1 thread each); the driver's memory is measured.

Each run saves its maps; the table gives the time, the driver's peak RSS
(``getrusage``) against the data size, and the largest difference of every
map from the eager one (0 = bit-identical). Bounded memory is shown by a
second cube twice as large: the lazy driver's peak RSS stays where it was,
while the eager one grows with the data. (A hard limit
such as ``RLIMIT_DATA`` is no test here: it counts the address space that
numba's OpenMP threads and glibc's arenas reserve, not the memory used.)

    python benchmarks/lazy.py                 # 256×256×1024
    python benchmarks/lazy.py --size 64       # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

CHANNELS = 1024


def block(seed, block_info=None):
    """Counts of one navigation block: Gaussian (A 2000–6000, sigma 10,
    centre 500 ± 20) on a background of 20, seeded by the block's position."""
    info = block_info[None]
    (y0, y1), (x0, x1), _ = info["array-location"]
    rng = np.random.default_rng([seed, y0, x0])
    shape = (y1 - y0, x1 - x0)
    A = rng.uniform(2000, 6000, shape)
    c = 500 + rng.uniform(-20, 20, shape)
    x = np.arange(CHANNELS, dtype=float)
    lam = 20 + A[..., None] / (10 * np.sqrt(2 * np.pi)) * np.exp(-((x - c[..., None]) ** 2) / 200)
    return rng.poisson(lam).astype(float)


def generate(path: str, ny: int, nx: int, seed: int = 0) -> None:
    import dask.array as da

    from swiftfit.signals.lazy import LazySignal1D

    chunks = (8, nx, CHANNELS)
    empty = da.zeros((ny, nx, CHANNELS), chunks=chunks)
    data = empty.map_blocks(lambda b, block_info=None: block(seed, block_info), dtype=float)
    s = LazySignal1D(data, axes=[{"name": "y"}, {"name": "x"}, {"name": "E", "units": "channel"}])
    s.save(path)


def model(s):
    from swiftfit.model import components1D as c1

    m = s.create_model()
    g = c1.Gaussian()
    g.A.value, g.sigma.value, g.centre.value = 3000.0, 8.0, 500.0
    o = c1.Offset()
    o.offset.value = 10.0
    m.extend([g, o])
    m.assign_current_values_to_all()
    return m


def maps(m) -> dict:
    out = {f"{c.name}.{p.name}.{f}": p.map[f] for c in m for p in c.parameters for f in ("values", "std")}
    out.update({n: getattr(m, n) for n in ("_status", "_chisq", "_nfev", "_dof", "_lnl")})
    return out


def worker(mode: str, path: str, out: str) -> None:
    """One run, in its own process."""
    import dask

    import swiftfit as sf

    t0 = time.perf_counter()
    if mode == "eager":
        s = sf.load(path).compute()
        m = model(s)
        m.multifit()
    elif mode == "threads":
        s = sf.load(path, lazy=True)
        m = model(s)
        with dask.config.set(scheduler="threads"):
            m.multifit()
    else:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster):
            t0 = time.perf_counter()  # the cluster's start is not the fit's time
            s = sf.load(path, lazy=True)
            m = model(s)
            m.multifit()
    elapsed = time.perf_counter() - t0
    np.savez(out, **maps(m))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"time": elapsed, "rss_mb": rss, "ok": int((m._status > 0).sum()),
                      "pixels": int(m._status.size)}))


def run(mode: str, path: str, out: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", mode, "--path", path, "--out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # a failed run is reported
    if proc.returncode:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--worker")
    ap.add_argument("--path")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.path, args.out)
        return
    tmp = tempfile.mkdtemp(prefix="swiftfit-lazy-")
    cases = [("eager", args.size), ("threads", args.size), ("cluster", args.size), ("eager", 2 * args.size),
             ("threads", 2 * args.size), ("cluster", 2 * args.size)]
    paths, results = {}, []
    for mode, ny in cases:
        if ny not in paths:
            paths[ny] = os.path.join(tmp, f"cube{ny}.zarr")
            t0 = time.perf_counter()
            generate(paths[ny], ny, args.size)
            print(f"data: {ny}×{args.size}×{CHANNELS} float64 = {ny * args.size * CHANNELS * 8 / 2**20:.0f} MiB "
                  f"in {paths[ny]} (written in {time.perf_counter() - t0:.1f} s)")
        out = os.path.join(tmp, f"{mode}{ny}.npz")
        r = run(mode, paths[ny], out)
        r.update(mode=mode, ny=ny, maps=out)
        results.append(r)
    truths = {r["ny"]: np.load(r["maps"]) for r in results if r["mode"] == "eager" and "error" not in r}
    print()
    print(f"{'run':<10}{'data (MiB)':>12}{'time (s)':>10}{'driver peak RSS (MiB)':>24}{'RSS / data':>12}"
          f"{'converged':>16}{'  max |Δ| vs eager'}")
    for r in results:
        data_mb = r["ny"] * args.size * CHANNELS * 8 / 2**20
        if "error" in r:
            print(f"{r['mode']:<10}{data_mb:>12.0f} failed: {r['error']}")
            continue
        diff = "(no eager run)"
        truth = truths.get(r["ny"])
        if truth is not None:
            got = np.load(r["maps"])
            worst = max(float(np.nanmax(np.abs(got[k] - truth[k]))) if np.isfinite(truth[k]).any() else 0.0
                        for k in truth.files)
            same = all(np.array_equal(got[k], truth[k], equal_nan=True) for k in truth.files)
            diff = f"{worst:.1e}" + (" (bit-identical)" if same else "")
        conv = f"{r['ok']}/{r['pixels']}"
        print(f"{r['mode']:<10}{data_mb:>12.0f}{r['time']:>10.1f}{r['rss_mb']:>24.0f}{r['rss_mb'] / data_mb:>12.2f}"
              f"{conv:>16}  {diff}")


if __name__ == "__main__":
    main()
