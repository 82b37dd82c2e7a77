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

    python benchmarks/eds.py              # 300 × 300 (the seed's size)
    python benchmarks/eds.py --size 64    # quick
    python benchmarks/eds.py --repeat 3   # alternately, 3 times each: min/median/max
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
    parser.add_argument("--repeat", type=int, default=1, help="runs of each package, alternately")
    parser.add_argument("--skip-exspy", action="store_true")
    args = parser.parse_args()
    if args.size < 1 or args.repeat < 1:
        raise SystemExit(f"--size and --repeat must be >= 1, got {args.size} and {args.repeat}")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 1.5, size=(args.size, args.size))
    runs: dict = {"swiftfit": [], "exspy 0.3.2": []}
    for _ in range(args.repeat):  # alternately, so both see the same machine load
        runs["swiftfit"].append(run_swiftfit(weights))
        if not args.skip_exspy:
            runs["exspy 0.3.2"].append(run_exspy(weights))
    rows = [(name, r) for name, r in runs.items() if r]
    totals = {name: np.array([x["create"] + x["multifit"] for x in r]) for name, r in rows}
    base = float(np.median(totals[rows[-1][0]]))
    print(f"FePt × weight map, {args.size}×{args.size} pixels × 992 channels, multifit(optimizer='lstsq'), "
          f"{args.repeat} run(s) each (median; total min/median/max)")
    print("| package | signal class | create_model (s) | multifit (s) | total (s) | speed-up | max rel. err. of A maps |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        t = totals[name]
        create = float(np.median([x["create"] for x in r]))
        fit = float(np.median([x["multifit"] for x in r]))
        total = f"{t.min():.2f} / {np.median(t):.2f} / {t.max():.2f}" if len(t) > 1 else f"{t[0]:.2f}"
        err = max(x["err"] for x in r)
        print(f"| {name} | {r[0]['class']} | {create:.2f} | {fit:.2f} | {total} | "
              f"{base / float(np.median(t)):.1f}× | {err:.1e} |")


if __name__ == "__main__":
    main()
