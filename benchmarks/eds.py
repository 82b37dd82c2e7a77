"""EDS benchmark: the seed's example, swiftfit against exspy in the same run.

    s = EDS_TEM_FePt_nanoparticles() * nav      # nav: a size × size weight map
    m = s.create_model()
    m.multifit(optimizer="lstsq")

Every pixel is the FePt spectrum times its weight, so every fitted line area
(A map) must equal the weight map × the single-spectrum area; the script
checks that (relative error) for both packages and prints one table:
seconds for ``create_model`` and for ``multifit``, speed-up, worst relative
error of the A maps. Timings are wall-clock on a shared machine: compare the
two columns of one run, not runs on different days.

Run::

    python benchmarks/eds.py            # 300 × 300 (the seed's size)
    python benchmarks/eds.py --size 64  # quick
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np


def _fept_path() -> str:
    import exspy

    return os.path.join(os.path.dirname(exspy.__file__), "data", "EDS_TEM_FePt_nanoparticles.hspy")


def run_swiftfit(weights: np.ndarray) -> dict:
    import swiftfit

    single = swiftfit.load(_fept_path())
    m1 = single.create_model()
    m1.fit(optimizer="lstsq")
    ref = {c.name: c.A.value for c in m1.xray_lines}
    nav = swiftfit.signals.BaseSignal(weights).T
    s = single * nav
    t0 = time.perf_counter()
    m = s.create_model()
    t1 = time.perf_counter()
    m.multifit(optimizer="lstsq")
    t2 = time.perf_counter()
    err = max(float(np.max(np.abs(c.A.map["values"] / (weights * ref[c.name]) - 1))) for c in m.xray_lines)
    return {"create": t1 - t0, "multifit": t2 - t1, "err": err, "class": type(s).__name__}


def run_exspy(weights: np.ndarray) -> dict:
    import exspy
    import hyperspy.api as hs

    single = exspy.data.EDS_TEM_FePt_nanoparticles()
    m1 = single.create_model()
    m1.fit(optimizer="lstsq")
    ref = {c.name: c.A.value for c in m1.xray_lines}
    nav = hs.signals.BaseSignal(weights).T
    s = single * nav
    t0 = time.perf_counter()
    m = s.create_model()
    t1 = time.perf_counter()
    m.multifit(optimizer="lstsq", show_progressbar=False)
    t2 = time.perf_counter()
    err = max(float(np.max(np.abs(c.A.map["values"] / (weights * ref[c.name]) - 1))) for c in m.xray_lines)
    return {"create": t1 - t0, "multifit": t2 - t1, "err": err, "class": type(s).__name__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300, help="navigation size (size × size pixels)")
    parser.add_argument("--skip-exspy", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 1.5, size=(args.size, args.size))
    rows = [("swiftfit", run_swiftfit(weights))]
    if not args.skip_exspy:
        rows.append(("exspy 0.3.2", run_exspy(weights)))
    base = rows[-1][1]["create"] + rows[-1][1]["multifit"]
    print(f"FePt × weight map, {args.size}×{args.size} pixels × 992 channels, multifit(optimizer='lstsq')")
    print("| package | signal class | create_model (s) | multifit (s) | total (s) | speed-up | max rel. err. of A maps |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        total = r["create"] + r["multifit"]
        print(f"| {name} | {r['class']} | {r['create']:.2f} | {r['multifit']:.2f} | {total:.2f} | "
              f"{base / total:.1f}× | {r['err']:.1e} |")


if __name__ == "__main__":
    main()
