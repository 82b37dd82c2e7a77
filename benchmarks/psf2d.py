"""Model2D with a PSF: frames of spots convolved with a Moffat PSF.

swiftfit's compiled kernel (``kernel="numba"``: the PSF convolution runs in
:mod:`swiftfit.engines.numba.psf`) against swiftfit's NumPy path
(``kernel="numpy"``: components on the padded grid, scipy's FFT convolution
per column) on the same frames and starts. HyperSpy is not in the table: its
Model2D has no PSF convolution (HyperSpy 2.5: ``hyperspy/models/model2d.py``
has no convolution; Model1D convolves EELS spectra with a low-loss only), so
it cannot fit this model. AstroPhot is not timed: the script has no driver for
it yet and says whether it is installed.

    python benchmarks/psf2d.py                          # 200 frames, 3 runs
    python benchmarks/psf2d.py --frames 100 --numpy-frames 20 --runs 3

Each run times the two paths alternately (same machine load); the table gives
min / median / max of the rates over the runs and the median |Δcentre|
against the simulated truth. The compiled path is warmed up on two frames.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from model2d import _starts  # benchmarks/ is on sys.path when run as a script

SIZE = 32
SPOTS = 4
PSF_SIZE = 7
NAMES = ("A", "sigma_x", "sigma_y", "centre_x", "centre_y")


def moffat_psf(size=PSF_SIZE, alpha=1.5, beta=3.0):
    r = np.arange(size) - size // 2
    X, Y = np.meshgrid(r, r)
    p = (1 + (X**2 + Y**2) / alpha**2) ** -beta
    return p / p.sum()


def make_stack(n_frames: int, seed: int = 0):
    """Spots on a jittered 2×2 lattice (one 1.5 px from the left edge),
    A 300–600, σ 1.0–1.5 px, offset 5, convolved with the PSF by the NumPy
    path (model/psf.py) frame by frame, Gaussian noise σ = 1. Returns data and
    the truth (n_frames, SPOTS, 5)."""
    rng = np.random.default_rng(seed)
    truth = np.empty((n_frames, SPOTS, 5))
    truth[..., 0] = rng.uniform(300, 600, (n_frames, SPOTS))
    truth[..., 1:3] = rng.uniform(1.0, 1.5, (n_frames, SPOTS, 2))
    truth[..., 3] = np.array([1.5, 22.0, 10.0, 24.0]) + rng.uniform(-1, 1, (n_frames, SPOTS))
    truth[..., 4] = np.array([9.0, 8.0, 23.0, 22.0]) + rng.uniform(-1, 1, (n_frames, SPOTS))
    m, _ = _model(np.zeros((n_frames, SIZE, SIZE)), truth)
    m[-1].offset.map["values"] = 5.0
    clean = m.as_signal().data
    return clean + rng.normal(0, 1.0, clean.shape), truth


def _model(data, values):
    """The spots + offset model with the PSF, its spots' maps set to
    ``values`` (frames, SPOTS, 5); returns the model and its spots."""
    import swiftfit as sf

    m = sf.signals.Signal2D(data).create_model()
    spots = [sf.model.components2D.Gaussian2D() for _ in range(SPOTS)]
    m.extend(spots)
    m.append(sf.model.components2D.Offset(offset=5.0))
    m.set_psf(moffat_psf())
    for k, g in enumerate(spots):
        for i, name in enumerate(NAMES):
            getattr(g, name).map["values"] = values[:, k, i]
    return m, spots


def run_swiftfit(data, start, kernel):
    m, spots = _model(data, start)
    t0 = time.perf_counter()
    m.multifit(kernel=kernel)
    elapsed = time.perf_counter() - t0
    fitted = np.stack([np.stack([getattr(g, n).map["values"] for n in NAMES], -1) for g in spots], 1)
    slow = int(np.asarray(m.multifit_output.slow_path.data).sum())
    return elapsed, fitted, float(np.isin(m._status, [1, 2, 3, 4]).mean()), slow


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--numpy-frames", type=int, default=50, help="frames the NumPy path fits (rate per frame)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    data, truth = make_stack(args.frames)
    start = _starts(truth)
    n = min(args.numpy_frames, args.frames)
    run_swiftfit(data[:2], start[:2], "numba")  # warm-up: numba's kernels
    times = {"numba": [], "numpy": []}
    for _ in range(args.runs):
        t, fit_c, conv_c, slow_c = run_swiftfit(data, start, "numba")
        times["numba"].append(args.frames / t)
        t, fit_n, conv_n, slow_n = run_swiftfit(data[:n], start[:n], "numpy")
        times["numpy"].append(n / t)
    try:
        import astrophot  # noqa: F401
    except ImportError:
        note = "AstroPhot: not installed (not timed)"
    else:
        note = "AstroPhot: installed, but no driver for it here yet (not timed)"
    print(f"\nModel2D + PSF: {SIZE}x{SIZE} frames, {SPOTS} Gaussian2D spots + offset "
          f"({SPOTS * 5 + 1} free parameters), Moffat PSF {PSF_SIZE}x{PSF_SIZE}")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}; runs: {args.runs}")
    print("HyperSpy: its Model2D has no PSF convolution (cannot fit this model); " + note)
    print(f"{'path':<30} | {'frames':>6} | {'frames/s min / median / max':>29} | {'ratio':>7} | "
          f"{'median |Δcentre| (px)':>21} | converged | slow px")
    print("-" * 122)
    ref = np.median(times["numpy"])
    rows = [("swiftfit compiled (numba)", args.frames, times["numba"], fit_c, truth, conv_c, slow_c),
            ("swiftfit NumPy path", n, times["numpy"], fit_n, truth[:n], conv_n, slow_n)]
    for name, frames, rates, fit, tru, conv, slow in rows:
        rates = np.array(rates)
        err = np.median(np.abs(fit[..., 3:5] - tru[..., 3:5]))
        mmm = f"{rates.min():.1f} / {np.median(rates):.1f} / {rates.max():.1f}"
        print(f"{name:<30} | {frames:>6} | {mmm:>29} | {np.median(rates) / ref:6.1f}x | {err:21.4f} | "
              f"{conv:9.1%} | {slow}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
