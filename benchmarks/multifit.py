"""multifit benchmark: swiftfit against HyperSpy on the same generated spectrum images.

Cases (``--case``):

``gauss3``  32×32 pixels × 1024 channels, three Gaussians and an offset (10
            free parameters), the case HyperSpy users wait on. swiftfit fits
            every pixel in one batched call of the fused "lm" kernel, and also
            with the NumPy batched path (``kernel="numpy"``, the reference the
            kernel is tested against); HyperSpy fits pixel after pixel (its
            multifit, leastsq), timed on ``--hs-pixels`` pixels. Both start
            every pixel from the same values; accuracy is the median
            |Δcentre| against the generating truth.
``large``   300×300 × 2048 channels, the same model, swiftfit alone: time and
            the peak memory against the data size (target: ≤ 60 s and
            ≤ 2 × data + 1 GB).
``linear``  the EDS-like linear case of ``benchmarks/multifit_linear.py``.
``all``     every case (default).

``--engine jax`` runs the gauss3 case on the JAX engine alone (float64 and
float32): a compiling multifit, then the timed one, whose wall and CPU times
are printed; ``--save-maps FILE.npz`` keeps every fitted map (to compare two
versions of the library on the same data: run it with each on PYTHONPATH).

The numba kernel is compiled once and cached on disk; a warm-up fit of 4
pixels before the timing keeps that one-off cost (reported) out of the rates.

    python benchmarks/multifit.py
    python benchmarks/multifit.py --case gauss3 --hs-pixels 256
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np

PEAKS = ((300.0, 8.0), (500.0, 10.0), (700.0, 12.0))  # (centre, sigma) in channels of 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(size: int, channels: int = 1024, seed: int = 0):
    """Poisson counts of three Gaussians on a flat 20-count background, drawn
    row by row into one float64 array (no full-size temporaries), and the
    truth ``(size, size, 3, [A, sigma, centre])``."""
    rng = np.random.default_rng(seed)
    stretch = channels / 1024
    x = np.arange(channels, dtype=float)
    truth = np.empty((size, size, len(PEAKS), 3))
    for k, (c, w) in enumerate(PEAKS):
        truth[..., k, 0] = rng.uniform(2000, 6000, (size, size)) * stretch
        truth[..., k, 1] = w * stretch
        truth[..., k, 2] = c * stretch + rng.uniform(-3, 3, (size, size))
    data = np.empty((size, size, channels))
    for i in range(size):
        lam = np.full((size, channels), 20.0)
        for k in range(len(PEAKS)):
            A, w, c = truth[i, :, k, 0, None], truth[i, :, k, 1, None], truth[i, :, k, 2, None]
            lam += A / (w * np.sqrt(2 * np.pi)) * np.exp(-((x - c) ** 2) / (2 * w * w))
        data[i] = rng.poisson(lam)
    return data, truth


def _model(api, data, channels):
    stretch = channels / 1024
    s = api.signals.Signal1D(data)
    m = s.create_model()
    gs = [api.model.components1D.Gaussian(A=4000 * stretch, sigma=w * stretch * 1.2, centre=c * stretch + 2)
          for c, w in PEAKS]
    m.extend(gs)
    m.append(api.model.components1D.Offset(offset=15.0))
    m.assign_current_values_to_all()
    return m, gs


def run_swiftfit(data, kernel="auto"):
    import swiftfit as sf

    channels = data.shape[-1]
    t0 = time.perf_counter()
    warm, _ = _model(sf, data[:1, :4], channels)
    warm.multifit(kernel=kernel)
    warmup = time.perf_counter() - t0
    m, gs = _model(sf, data, channels)
    t0 = time.perf_counter()
    m.multifit(kernel=kernel)
    elapsed = time.perf_counter() - t0
    centres = np.stack([g.centre.map["values"] for g in gs], -1)
    return elapsed, centres, np.mean(m._status > 0), warmup


def run_swiftfit_jax(data, dtype="float64"):
    """The JAX engine (``backend="jax"``): a first multifit on the same data
    compiles (one compilation per chunk shape; its time minus a fit's is
    reported as the compile time), the second is timed."""
    import swiftfit as sf

    channels = data.shape[-1]
    warm, _ = _model(sf, data, channels)
    t0 = time.perf_counter()
    warm.multifit(backend="jax", dtype=dtype)
    first = time.perf_counter() - t0
    m, gs = _model(sf, data, channels)
    t0 = time.perf_counter()
    m.multifit(backend="jax", dtype=dtype)
    elapsed = time.perf_counter() - t0
    centres = np.stack([g.centre.map["values"] for g in gs], -1)
    return elapsed, centres, np.mean(m._status > 0), first - elapsed


def run_hyperspy(data):
    import hyperspy.api as hs

    m, gs = _model(hs, data, data.shape[-1])
    t0 = time.perf_counter()
    m.multifit(show_progressbar=False, iterpath="flyback")
    elapsed = time.perf_counter() - t0
    centres = np.stack([g.centre.map["values"] for g in gs], -1)
    return elapsed, centres


def header():
    import numpy

    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"{platform.system()}, python {platform.python_version()}, numpy {numpy.__version__}")
    try:
        import hyperspy
        import numba

        print(f"hyperspy {hyperspy.__version__}, numba {numba.__version__}", end="")
        try:
            import numexpr

            print(f", numexpr {numexpr.__version__}")
        except ImportError:
            print(", numexpr not installed")
    except ImportError:
        print("hyperspy not installed: swiftfit alone")


def case_gauss3(size: int, hs_pixels: int) -> None:
    data, truth = make_data(size)
    n = size * size
    rows = []
    k = min(hs_pixels, n)
    same = []  # swiftfit's accuracy on the pixels HyperSpy fits (the first k, flyback order)
    for label, kernel in (("swiftfit lm (fused kernel)", "auto"), ("swiftfit lm (NumPy batched)", "numpy")):
        t, centres, conv, warm = run_swiftfit(data, kernel)
        rows.append((label, n, t, np.median(np.abs(centres - truth[..., 2])), conv))
        same.append(np.median(np.abs(centres - truth[..., 2]).reshape(n, -1)[:k]))
        if kernel == "auto":
            print(f"(one-off warm-up incl. loading the compiled kernel: {warm:.2f} s)")
    try:
        import jax
    except ImportError:
        print("jax not installed: no JAX rows")
    else:
        for dtype in ("float64", "float32"):
            t, centres, conv, compile_s = run_swiftfit_jax(data, dtype)
            device = jax.devices()[0].platform.upper()
            rows.append((f"swiftfit lm (JAX {dtype}, {device})", n, t, np.median(np.abs(centres - truth[..., 2])), conv))
            print(f"(JAX {dtype} on {device}: compile time, excluded from the rate: {compile_s:.2f} s)")
    try:
        import hyperspy  # noqa: F401
    except ImportError:
        pass
    else:
        flat = data.reshape(n, -1)[:k]
        t, centres = run_hyperspy(flat)
        err = np.median(np.abs(centres - truth.reshape(n, len(PEAKS), 3)[:k, :, 2]))
        rows.append(("HyperSpy (multifit loop)", k, t, err, np.nan))
    print(f"\ngauss3: {size}x{size} pixels x 1024 channels, 3 Gaussians + offset (10 free parameters)")
    print(f"{'tool':<32} | {'pixels':>6} | {'time (s)':>8} | {'fits/s':>8} | {'vs HyperSpy':>11} | "
          f"{'median |Δcentre|':>16} | converged")
    print("-" * 108)
    ref = rows[-1][1] / rows[-1][2] if rows[-1][0].startswith("HyperSpy") else np.nan
    for name, k, t, err, conv in rows:
        rate = k / t
        conv_s = f"{conv:.1%}" if np.isfinite(conv) else "n/a"
        print(f"{name:<32} | {k:>6} | {t:8.3f} | {rate:8.0f} | {rate / ref:10.1f}x | {err:16.4f} | {conv_s}")
    print(f"median |Δcentre| on the {k} pixels HyperSpy fits: swiftfit {same[0]:.4f} (fused), "
          f"{same[1]:.4f} (NumPy)" + (f", HyperSpy {rows[-1][3]:.4f}" if rows[-1][0].startswith("HyperSpy") else ""))
    print(f"peak memory so far: {peak_rss_mb():.0f} MB")


def case_large(size: int, channels: int) -> None:
    base = peak_rss_mb()
    data, truth = make_data(size, channels, seed=1)
    gb = data.nbytes / 2**30
    t, centres, conv, warm = run_swiftfit(data)
    err = np.median(np.abs(centres - truth[..., 2]))
    peak = peak_rss_mb() / 1024
    print(f"\nlarge: {size}x{size} pixels x {channels} channels, 3 Gaussians + offset, swiftfit alone")
    print(f"{'pixels':>7} | {'time (s)':>8} | {'fits/s':>7} | {'data (GB)':>9} | {'peak RSS (GB)':>13} | "
          f"{'limit 2×data+1':>14} | {'median |Δcentre|':>16} | converged")
    print("-" * 110)
    print(f"{size * size:>7} | {t:8.1f} | {size * size / t:7.0f} | {gb:9.2f} | {peak:13.2f} | "
          f"{2 * gb + 1:14.2f} | {err:16.4f} | {conv:.1%}")
    print(f"(process memory before the case: {base / 1024:.2f} GB)")
    del data


def case_jax(size: int, save: str | None) -> None:
    """gauss3 on the JAX engine alone: wall and CPU time of the second
    (compiled) multifit, per dtype; the maps saved to ``save``."""
    import swiftfit as sf

    data, truth = make_data(size)
    maps = {}
    print(f"gauss3 on JAX: {size}x{size} pixels x 1024 channels")
    for dtype in ("float64", "float32"):
        warm, _ = _model(sf, data, data.shape[-1])
        warm.multifit(backend="jax", dtype=dtype)
        m, gs = _model(sf, data, data.shape[-1])
        t0, c0 = time.perf_counter(), time.process_time()
        m.multifit(backend="jax", dtype=dtype)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        err = np.median(np.abs(np.stack([g.centre.map["values"] for g in gs], -1) - truth[..., 2]))
        print(f"JAX {dtype}: wall {wall:.3f} s, CPU {cpu:.3f} s, median |Δcentre| {err:.4f}, "
              f"converged {np.mean(m._status > 0):.1%}")
        for c in m:
            for p in c.parameters:
                maps[f"{dtype}/{c.name}.{p.name}"] = p.map["values"]
    if save:
        np.savez(save, **maps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("gauss3", "large", "linear", "all"), default="all")
    parser.add_argument("--size", type=int, default=32, help="gauss3: pixels per side")
    parser.add_argument("--hs-pixels", type=int, default=128, help="pixels HyperSpy fits (rate per pixel)")
    parser.add_argument("--large-size", type=int, default=300)
    parser.add_argument("--large-channels", type=int, default=2048)
    parser.add_argument("--engine", choices=("all", "jax"), default="all",
                        help="jax: the gauss3 case on the JAX engine alone, with CPU times")
    parser.add_argument("--save-maps", default=None, help="with --engine jax: save the fitted maps (.npz)")
    args = parser.parse_args(argv)
    header()
    if args.engine == "jax":
        case_jax(args.size, args.save_maps)
        return 0
    if args.case in ("large", "all"):  # first: the peak-memory figure is of this case alone
        case_large(args.large_size, args.large_channels)
    if args.case in ("gauss3", "all"):
        case_gauss3(args.size, args.hs_pixels)
    if args.case in ("linear", "all"):
        import multifit_linear

        multifit_linear.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
