"""The benchmark battery on the JAX engine (float64 and float32), for a GPU machine.

Runs each case of :mod:`battery` (``benchmarks/battery.py``) through
``multifit(backend="jax", dtype=...)`` on whatever device JAX sees first
(a GPU where one is present and ``jax[cuda]`` is installed, else the CPU),
next to the numba kernel on the same data, and prints one markdown row per
case and engine: frames/s (min / median / max over ``--runs`` runs, the
first compiling call excluded and reported), the median absolute error of
the case's key parameter against the simulated truth, the fraction of
pixels whose fit succeeded (verified), and the largest difference of the
key parameter from the numba kernel's answer.

A case the JAX engine refuses (a component with no JAX form) is printed as
refused, with the reason: nothing is silently run on another engine.

    python benchmarks/gpu.py                         # every case, 1,024 pixels
    python benchmarks/gpu.py --pixels 16384 --case narrow,gpufit5x5
    python benchmarks/gpu.py --dtypes float32        # one dtype

On the device machine: ``pip install -e .[jax] "jax[cuda12]"``, then run it;
``JAX_PLATFORMS=cpu`` forces the CPU for a comparison on the same machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import battery  # noqa: E402  (the cases: data, model builders, truths)


def _fit(sf, data, build, backend, dtype):
    m, values = build(sf, data)
    m.assign_current_values_to_all()
    kwargs = {} if backend == "numba" else {"backend": "jax", "dtype": dtype}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a silent fallback to NumPy is a refusal here
        m.multifit(**kwargs)
    elapsed = time.perf_counter() - t0
    ok = float(np.mean(np.asarray(m.fit_results.success)))
    return elapsed, values(), ok


def run_case(name, n, runs, dtypes, seed=0):
    import swiftfit as sf

    data, build, truth, key = battery.CASES[name](n, np.random.default_rng(seed))
    B = data.shape[0]
    t0 = time.perf_counter()
    _fit(sf, data[:2], build, "numba", None)  # the kernel compiled (or loaded from the cache)
    warm = time.perf_counter() - t0
    ts = []
    for _ in range(runs):
        t, ref, ok = _fit(sf, data, build, "numba", None)
        ts.append(t)
    rows = [dict(engine="numba (CPU)", rate=B / np.array(ts), warm=warm,
                 err=float(np.median(np.abs(ref - truth))), ok=ok, diff=0.0)]
    for dtype in dtypes:
        try:
            t0 = time.perf_counter()
            _fit(sf, data, build, "jax", dtype)  # compiles for this shape and dtype
            warm = time.perf_counter() - t0
            ts = []
            for _ in range(runs):
                t, v, ok = _fit(sf, data, build, "jax", dtype)
                ts.append(t)
        except Exception as exc:  # noqa: BLE001 — reported as the row's verdict
            rows.append(dict(engine=f"JAX {dtype}", refused=f"{type(exc).__name__}: {str(exc)[:120]}"))
            continue
        rows.append(dict(engine=f"JAX {dtype}", rate=B / np.array(ts), warm=warm,
                         err=float(np.median(np.abs(v - truth))), ok=ok,
                         diff=float(np.nanmax(np.abs(v - ref)))))
    return B, key, rows


def _num(v):
    return f"{v:,.0f}" if v >= 10 else f"{v:.2g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="all", help="comma-separated cases of battery.py, or all")
    parser.add_argument("--pixels", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtypes", default="float64,float32")
    args = parser.parse_args(argv)
    os.environ.setdefault("SWIFTFIT_COMPILE", "inline")  # time the kernel, not the cold-start fallback
    names = list(battery.CASES) if args.case == "all" else args.case.split(",")
    for n in names:
        if n not in battery.CASES:
            parser.error(f"--case: {n!r} is not one of {sorted(battery.CASES)}")
    try:
        import jax
    except ImportError:
        print("jax is not installed (pip install -e .[jax]): nothing to run")
        return 0
    jax.config.update("jax_enable_x64", True)
    import swiftfit as sf

    dev = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; JAX {jax.__version__} on "
          f"{dev.platform.upper()} ({getattr(dev, 'device_kind', '?')}); swiftfit {getattr(sf, '__version__', '?')}")
    print("\n| case | pixels | engine | frames/s min / median / max | first call (s) | median abs. error "
          "| verified | max |Δ| vs numba |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        B, key, rows = run_case(name, args.pixels, args.runs, args.dtypes.split(","))
        for r in rows:
            if "refused" in r:
                print(f"| {name} | {B} | {r['engine']} | refused: {r['refused']} | | | | |", flush=True)
                continue
            rate = r["rate"]
            mmm = f"{_num(rate.min())} / {_num(np.median(rate))} / {_num(rate.max())}"
            print(f"| {name} | {B} | {r['engine']} | {mmm} | {r['warm']:.1f} | {r['err']:.3g} ({key}) "
                  f"| {r['ok']:.1%} | {r['diff']:.2g} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
