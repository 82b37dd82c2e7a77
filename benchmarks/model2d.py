"""Model2D benchmark: a stack of frames of 64×64 pixels, 10 Gaussian2D spots each.

The workload HyperSpy users report in hyperspy#488. swiftfit fits all frames
in one batched solve; HyperSpy fits frame after frame (its multifit), so it
runs on the first ``--hs-frames`` frames and its rate is per frame.

    python benchmarks/model2d.py                # 1000 frames, 3 runs
    python benchmarks/model2d.py --frames 200 --hs-frames 10 --runs 3

Each run times swiftfit and then HyperSpy on the same data (alternately, so
both see the same machine load); the table gives min / median / max of the
rates over the runs, and the ratio of the medians. swiftfit is warmed up
(numba's kernels loaded or compiled) on two frames first.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

SIZE = 64
SPOTS = 10


def make_stack(n_frames: int, seed: int = 0):
    """Spots on a jittered 5×2 lattice, amplitudes 200–400, σ 1.2–1.8 px,
    offset 5, Gaussian noise σ = 1. Returns data and the true parameters
    (n_frames, SPOTS, 5) = (A, sigma_x, sigma_y, centre_x, centre_y)."""
    rng = np.random.default_rng(seed)
    x = np.arange(SIZE, dtype=float)
    X, Y = np.meshgrid(x, x)
    base_x = np.repeat(np.linspace(8, 56, 5), 2)
    base_y = np.tile([20.0, 44.0], 5)
    truth = np.empty((n_frames, SPOTS, 5))
    truth[..., 0] = rng.uniform(200, 400, (n_frames, SPOTS))
    truth[..., 1] = rng.uniform(1.2, 1.8, (n_frames, SPOTS))
    truth[..., 2] = rng.uniform(1.2, 1.8, (n_frames, SPOTS))
    truth[..., 3] = base_x + rng.uniform(-2, 2, (n_frames, SPOTS))
    truth[..., 4] = base_y + rng.uniform(-2, 2, (n_frames, SPOTS))
    data = np.full((n_frames, SIZE, SIZE), 5.0)
    for k in range(SPOTS):
        A, sx, sy, cx, cy = (truth[:, k, i][:, None, None] for i in range(5))
        data += A / (2 * np.pi * sx * sy) * np.exp(-((X - cx) ** 2) / (2 * sx**2) - ((Y - cy) ** 2) / (2 * sy**2))
    data += rng.normal(0, 1.0, data.shape)
    return data, truth


def _starts(truth, seed=1):
    """Starting values: the truth moved by up to 0.5 px and 20 % in A and σ."""
    rng = np.random.default_rng(seed)
    start = truth.copy()
    start[..., 0] *= rng.uniform(0.8, 1.2, truth.shape[:2])
    start[..., 1:3] *= rng.uniform(0.8, 1.2, truth.shape[:2] + (2,))
    start[..., 3:5] += rng.uniform(-0.5, 0.5, truth.shape[:2] + (2,))
    return start


NAMES = ("A", "sigma_x", "sigma_y", "centre_x", "centre_y")


def run_swiftfit(data, start):
    import swiftfit as sf

    s = sf.signals.Signal2D(data)
    m = s.create_model()
    spots = [sf.model.components2D.Gaussian2D() for _ in range(SPOTS)]
    m.extend(spots)
    m.append(sf.model.components2D.Offset(offset=5.0))
    for k, g in enumerate(spots):
        for i, name in enumerate(NAMES):
            getattr(g, name).map["values"] = start[:, k, i]
    t0 = time.perf_counter()
    m.multifit()
    elapsed = time.perf_counter() - t0
    fitted = np.stack([np.stack([getattr(g, n).map["values"] for n in NAMES], -1) for g in spots], 1)
    ok = np.isin(m._status, [1, 2, 3, 4])
    return elapsed, fitted, ok.mean()


def run_hyperspy(data, start):
    import hyperspy.api as hs

    s = hs.signals.Signal2D(data)
    m = s.create_model()
    spots = [hs.model.components2D.Gaussian2D() for _ in range(SPOTS)]
    m.extend(spots)
    # HyperSpy has no 2-D offset; an Expression needs x and y to stay 2-D
    m.append(hs.model.components2D.Expression("offset + 1e-300 * x * y", name="offset", offset=5.0))
    for k, g in enumerate(spots):
        for i, name in enumerate(NAMES):
            getattr(g, name).map["values"][:] = start[:, k, i]
            getattr(g, name).map["is_set"][:] = True
    t0 = time.perf_counter()
    m.multifit(show_progressbar=False)
    elapsed = time.perf_counter() - t0
    fitted = np.stack([np.stack([getattr(g, n).map["values"] for n in NAMES], -1) for g in spots], 1)
    return elapsed, fitted, np.nan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--hs-frames", type=int, default=20, help="frames HyperSpy fits (its rate is per frame)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (min / median / max)")
    args = parser.parse_args(argv)
    data, truth = make_stack(args.frames)
    start = _starts(truth)
    try:
        import hyperspy  # noqa: F401
    except ImportError:
        print("(hyperspy not installed: swiftfit alone)")
        have_hs = False
    else:
        have_hs = True
    run_swiftfit(data[:2], start[:2])  # warm-up: numba's kernels
    n = min(args.hs_frames, args.frames)
    sf_t, hs_t = [], []
    for _ in range(args.runs):
        t, fitted, conv = run_swiftfit(data, start)
        sf_t.append(t)
        sf_err = np.median(np.abs(fitted[..., 3:5] - truth[..., 3:5]))
        if have_hs:
            t, hs_fit, _ = run_hyperspy(data[:n], start[:n])
            hs_t.append(t)
            hs_err = np.median(np.abs(hs_fit[..., 3:5] - truth[:n, ..., 3:5]))
    rows = [("swiftfit (batched lm)", args.frames, sf_t, sf_err, conv)]
    if have_hs:
        rows.append(("HyperSpy 2 (multifit loop)", n, hs_t, hs_err, np.nan))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nModel2D: {SIZE}x{SIZE} frames, {SPOTS} Gaussian2D spots + offset ({SPOTS * 5 + 1} free parameters)")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, python {platform.python_version()}")
    print(f"runs: {args.runs}, rates min / median / max")
    print(f"{'tool':<28} | {'frames':>6} | {'frames/s min / median / max':>29} | {'vs HyperSpy':>11} | "
          f"{'median |Δcentre| (px)':>21} | converged")
    print("-" * 124)
    ref = np.median(rows[-1][1] / np.array(rows[-1][2])) if len(rows) > 1 else np.nan
    for name, n, times, err, conv in rows:
        rates = n / np.array(times)
        ratio = np.median(rates) / ref if np.isfinite(ref) else np.nan
        mmm = f"{rates.min():.2f} / {np.median(rates):.2f} / {rates.max():.2f}"
        print(f"{name:<28} | {n:>6} | {mmm:>29} | {ratio:10.1f}x | {err:21.4f} | "
              + (f"{conv:.1%}" if np.isfinite(conv) else "n/a"))
    print(f"peak memory of this process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
