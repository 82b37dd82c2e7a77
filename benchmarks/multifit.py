"""multifit benchmark: a 32×32×1024 spectrum image, three Gaussians and an offset.

The case HyperSpy users wait on (HyperSpy's own rate on it: about 100 fits/s
on a 2-core machine). swiftfit fits every pixel in one batched solve;
HyperSpy fits pixel after pixel (its multifit). Both start every pixel from
the same values and are scored by the median |Δcentre| against the truth.

    python benchmarks/multifit.py
    python benchmarks/multifit.py --size 64 --hs-pixels 200
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

PEAKS = ((300.0, 8.0), (500.0, 10.0), (700.0, 12.0))  # (centre, sigma) in channels


def make_data(size: int, channels: int = 1024, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.arange(channels, dtype=float)
    truth = np.empty((size, size, len(PEAKS), 3))
    data = np.full((size, size, channels), 20.0)
    for k, (c, w) in enumerate(PEAKS):
        A = rng.uniform(2000, 6000, (size, size))
        centre = c + rng.uniform(-3, 3, (size, size))
        truth[..., k, :] = np.stack([A, np.full_like(A, w), centre], -1)
        data += A[..., None] / (w * np.sqrt(2 * np.pi)) * np.exp(-((x - centre[..., None]) ** 2) / (2 * w * w))
    return rng.poisson(data).astype(float), truth


def run_swiftfit(data):
    import swiftfit as sf

    s = sf.signals.Signal1D(data)
    m = s.create_model()
    gs = [sf.model.components1D.Gaussian(A=4000, sigma=w * 1.2, centre=c + 2) for c, w in PEAKS]
    m.extend(gs)
    m.append(sf.model.components1D.Offset(offset=15.0))
    m.assign_current_values_to_all()
    t0 = time.perf_counter()
    m.multifit()
    elapsed = time.perf_counter() - t0
    centres = np.stack([g.centre.map["values"] for g in gs], -1)
    return elapsed, centres, np.isin(m._status, [1, 2, 3, 4]).mean()


def run_hyperspy(data):
    import hyperspy.api as hs

    s = hs.signals.Signal1D(data)
    m = s.create_model()
    gs = [hs.model.components1D.Gaussian(A=4000, sigma=w * 1.2, centre=c + 2) for c, w in PEAKS]
    m.extend(gs)
    m.append(hs.model.components1D.Offset(offset=15.0))
    m.assign_current_values_to_all()
    t0 = time.perf_counter()
    m.multifit(show_progressbar=False, iterpath="flyback")
    elapsed = time.perf_counter() - t0
    centres = np.stack([g.centre.map["values"] for g in gs], -1)
    return elapsed, centres


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--hs-pixels", type=int, default=128, help="pixels HyperSpy fits (rate per pixel)")
    args = parser.parse_args(argv)
    data, truth = make_data(args.size)
    n = args.size * args.size
    rows = []
    t, centres, conv = run_swiftfit(data)
    rows.append(("swiftfit (batched lm)", n, t, np.median(np.abs(centres - truth[..., 2])), conv))
    try:
        import hyperspy  # noqa: F401
    except ImportError:
        print("(hyperspy not installed: swiftfit alone)")
    else:
        k = min(args.hs_pixels, n)
        flat = data.reshape(n, -1)[:k]
        t, centres = run_hyperspy(flat)
        rows.append(("HyperSpy 2 (multifit loop)", k, t,
                     np.median(np.abs(centres - truth.reshape(n, len(PEAKS), 3)[:k, :, 2])), np.nan))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nmultifit: {args.size}x{args.size} pixels x 1024 channels, 3 Gaussians + offset (10 free parameters)")
    print(f"machine: {platform.machine()}, {platform.system()}, python {platform.python_version()}")
    print(f"{'tool':<28} | {'pixels':>6} | {'time (s)':>8} | {'fits/s':>8} | {'vs HyperSpy':>11} | {'median |Δcentre|':>16} | converged")
    print("-" * 104)
    ref = rows[-1][1] / rows[-1][2] if len(rows) > 1 else np.nan
    for name, k, t, err, conv in rows:
        rate = k / t
        conv_s = f"{conv:.1%}" if np.isfinite(conv) else "n/a"
        print(f"{name:<28} | {k:>6} | {t:8.2f} | {rate:8.0f} | {rate / ref:10.1f}x | {err:16.4f} | {conv_s}")
    print(f"peak memory of this process: {peak:.0f} MB (data: {data.nbytes / 2**20:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
