"""Wall and CPU time of the compiled fit (``driver.fit_pixels``) on one and two
threads, per ``multifit`` call of a battery case (issue 16: the fixed cost of
a two-thread call).

    NUMBA_NUM_THREADS=2 SWIFTFIT_COMPILE=inline PYTHONPATH=src \\
        python benchmarks/fit_threads.py multiexp 128

Prints, per thread count and round (60 calls each, a fresh model per call as
the battery times), the minimum and median wall time and the median process
CPU time (all threads) of ``fit_pixels``, in ms. With two free cores the
two-thread wall time is about half the one-thread one plus the fixed cost
of the hand-off; on a loaded machine wall ≈ CPU and the CPU column shows the
fixed cost.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    import battery
    import numba

    import swiftfit as sf
    from swiftfit.engines.numba import driver

    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv else "multiexp"
    pixels = int(argv[1]) if len(argv) > 1 else 128
    data, build, _, _ = battery.CASES[name](pixels, np.random.default_rng(0))
    battery._fit(sf, data[:2], build, False)  # compile / warm
    for _ in range(3):
        battery._fit(sf, data, build, False)
    walls, cpus = [], []
    orig = driver.fit_pixels

    def timed(*args, **kwargs):
        c0, t0 = time.process_time(), time.perf_counter()
        out = orig(*args, **kwargs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        return out

    driver.fit_pixels = timed
    n0 = numba.get_num_threads()
    res: dict = {}
    try:
        for _ in range(3):
            for threads in (1, 2):
                numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
                walls.clear()
                cpus.clear()
                for _ in range(60):
                    m, _v = build(sf, data)
                    m.assign_current_values_to_all()
                    m.multifit()
                res.setdefault(threads, []).append((np.min(walls) * 1e3, np.median(walls) * 1e3,
                                                    np.median(cpus) * 1e3))
    finally:
        driver.fit_pixels = orig
        numba.set_num_threads(n0)
    for threads, rows in res.items():
        cells = " | ".join(f"{a:.2f}/{b:.2f}, {c:.2f}" for a, b, c in rows)
        print(f"{name} {pixels}px threads={threads}: fit_pixels wall min/median, CPU median (ms): {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
