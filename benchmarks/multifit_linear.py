"""Linear multifit benchmark: an EDS-like spectrum image fitted in closed form.

Model: ``Polynomial(order=2)`` background + 20 ``Gaussian`` lines whose
centres and widths are fixed (only the areas ``A`` and the three polynomial
coefficients are free: 23 linear parameters), the data Poisson noise on the
truth (seeded). Two cases:

(a) ``constant``: the fixed centres are the same at every pixel. HyperSpy fits
    the whole dataset with one ``np.linalg.lstsq`` (its vectorised path).
(b) ``varying``: the fixed centres carry a per-pixel calibration shift (set
    per pixel in the parameter maps, as after an energy-drift correction).
    HyperSpy then fits pixel by pixel, so it is timed on ``hs_pixels`` pixels
    only and its per-pixel rate is reported.

swiftfit: ``m.multifit(optimizer="lstsq", calculate_errors=...)``, one batched
solve in both cases. HyperSpy: ``m.multifit(optimizer="lstsq",
calculate_errors=False, show_progressbar=False)``.

Columns: fits/s (pixels per second of wall time in ``multifit``), the ratio
to HyperSpy's fits/s in the same case, the process's peak resident memory so
far (``ru_maxrss``; cumulative, so it only grows down the table), and the
accuracy: the median relative error of the fitted areas against the truth,
and for swiftfit the largest relative difference to HyperSpy's areas on the
pixels both fitted; "solved" is the share of pixels swiftfit reports solved
(status 5).

    python benchmarks/multifit_linear.py
    python benchmarks/multifit_linear.py --size 32 --hs-pixels 32
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import warnings

import numpy as np

N_LINES = 20
OFFSET, SCALE = 0.1, 0.01  # keV: channel i sits at OFFSET + i·SCALE
BACKGROUND = (30.0, -1.0, 0.03)  # a0, a1, a2 (counts; x in keV)


def lines(channels: int):
    """(centre, sigma) of the 20 lines, spread over the spectrum, widths growing with energy."""
    top = OFFSET + SCALE * (channels - 1)
    centres = np.linspace(OFFSET + 0.05 * (top - OFFSET), OFFSET + 0.93 * (top - OFFSET), N_LINES)
    sigmas = 3 * SCALE + 0.004 * centres
    return centres, sigmas


def make_data(size: int, channels: int, varying: bool, seed: int = 0):
    """Counts ``(size, size, channels)``, true areas ``(size, size, 20)`` and
    the per-pixel centres ``(size, size, 20)``."""
    rng = np.random.default_rng(seed)
    x = OFFSET + SCALE * np.arange(channels)
    centres, sigmas = lines(channels)
    A = rng.uniform(2.0, 20.0, (size, size, N_LINES))
    shift = rng.uniform(-1.5, 1.5, (size, size, 1)) * SCALE if varying else np.zeros((size, size, 1))
    cen = centres + shift
    a0, a1, a2 = BACKGROUND
    truth = np.broadcast_to(a0 + a1 * x + a2 * x * x, (size, size, channels)).copy()
    for k in range(N_LINES):
        s = sigmas[k]
        truth += (A[..., k, None] / (s * np.sqrt(2 * np.pi))
                  * np.exp(-((x - cen[..., k, None]) ** 2) / (2 * s * s)))
    return rng.poisson(truth).astype(float), A, cen


def _setup(api, data, cen, channels):
    """The same model in swiftfit or HyperSpy: polynomial + 20 Gaussians, shapes fixed."""
    s = api.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale = OFFSET, SCALE
    m = s.create_model()
    poly = api.model.components1D.Polynomial(order=2)
    m.append(poly)
    centres, sigmas = lines(channels)
    gs = []
    for k in range(N_LINES):
        g = api.model.components1D.Gaussian(A=1.0, sigma=sigmas[k], centre=centres[k])
        g.name = f"line{k}"
        m.append(g)
        g.centre.free = g.sigma.free = False
        gs.append(g)
    m.assign_current_values_to_all()
    if cen is not None:
        for k, g in enumerate(gs):
            g.centre.map["values"][...] = cen[..., k]
            g.centre.map["is_set"][...] = True
    return m, gs


def _areas(gs):
    return np.stack([np.asarray(g.A.map["values"], dtype=float) for g in gs], -1)


def _rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _row(tool, case, n, elapsed, A, truth):
    rel = np.abs(A - truth) / np.abs(truth)
    return {"tool": tool, "case": case, "pixels": n, "time_s": elapsed, "fits_per_s": n / elapsed,
            "peak_rss_mb": _rss_mb(), "median_rel_err_A": float(np.nanmedian(rel))}


def _warm_up(api, data, cen, **kw):
    """One untimed multifit on two pixels: imports and first-call costs out of the timings."""
    m, _ = _setup(api, data[:1, :2], None if cen is None else cen[:1, :2], data.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.multifit(optimizer="lstsq", **kw)


def run_swiftfit(data, cen, truth, case, calculate_errors):
    import swiftfit as sf

    _warm_up(sf, data, cen, calculate_errors=calculate_errors)
    m, gs = _setup(sf, data, cen, data.shape[-1])
    t0 = time.perf_counter()
    m.multifit(optimizer="lstsq", calculate_errors=calculate_errors)
    elapsed = time.perf_counter() - t0
    A = _areas(gs)
    ok = float(np.mean(m._status == 5))
    tool = f"swiftfit lstsq (errors={'yes' if calculate_errors else 'no'})"
    row = _row(tool, case, data.shape[0] * data.shape[1], elapsed, A, truth)
    row["solved"] = ok
    return row, A


def run_hyperspy(data, cen, truth, case, hs_pixels):
    import logging

    import hyperspy.api as hs

    logging.getLogger("hyperspy").setLevel(logging.ERROR)  # "numexpr is not installed" per component
    _warm_up(hs, data, cen, calculate_errors=False, show_progressbar=False)

    if case == "varying":
        # HyperSpy loops pixel by pixel here: fit the first hs_pixels pixels only
        flat = data.reshape(-1, data.shape[-1])[:hs_pixels]
        cen = cen.reshape(-1, N_LINES)[:hs_pixels]
        truth = truth.reshape(-1, N_LINES)[:hs_pixels]
        data = flat
    m, gs = _setup(hs, data, cen, data.shape[-1])
    n = int(np.prod(data.shape[:-1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its "fitting proceeds by iterating" warning
        t0 = time.perf_counter()
        m.multifit(optimizer="lstsq", calculate_errors=False, show_progressbar=False)
        elapsed = time.perf_counter() - t0
    A = _areas(gs)
    return _row("HyperSpy lstsq", case, n, elapsed, A, truth), A


def run(size: int = 64, channels: int = 2048, hs_pixels: int = 64) -> list[dict]:
    """Time both tools on both cases; one dict per table row."""
    rows = []
    for case in ("constant", "varying"):
        data, truth, cen = make_data(size, channels, varying=case == "varying")
        hs_row, hs_A = None, None
        try:
            import hyperspy  # noqa: F401
        except ImportError:
            pass
        else:
            hs_row, hs_A = run_hyperspy(data, cen if case == "varying" else None, truth, case, hs_pixels)
        case_rows = []
        for errors in (False, True):
            row, A = run_swiftfit(data, cen if case == "varying" else None, truth, case, errors)
            if hs_A is not None:
                common = A.reshape(-1, N_LINES)[: hs_A.reshape(-1, N_LINES).shape[0]]
                ref = hs_A.reshape(-1, N_LINES)
                row["max_rel_diff_vs_hyperspy"] = float(np.max(np.abs(common - ref) / np.abs(ref)))
            case_rows.append(row)
        if hs_row is not None:
            case_rows.append(hs_row)
            for row in case_rows:
                row["ratio_vs_hyperspy"] = row["fits_per_s"] / hs_row["fits_per_s"]
        rows.extend(case_rows)
        del data
    return rows


def _fmt(rows) -> str:
    head = (f"{'tool':32s} {'case':9s} {'pixels':>7s} {'time s':>8s} {'fits/s':>10s} {'× HS':>7s} "
            f"{'peak MB':>8s} {'med rel|ΔA|':>12s} {'max rel vs HS':>14s} {'solved':>7s}")
    lines_ = [head, "-" * len(head)]
    for r in rows:
        ratio = r.get("ratio_vs_hyperspy")
        vs = r.get("max_rel_diff_vs_hyperspy")
        solved = r.get("solved")
        lines_.append(
            f"{r['tool']:32s} {r['case']:9s} {r['pixels']:7d} {r['time_s']:8.3f} {r['fits_per_s']:10.0f} "
            f"{'' if ratio is None else f'{ratio:7.1f}':>7s} {r['peak_rss_mb']:8.0f} "
            f"{r['median_rel_err_A']:12.2e} {'' if vs is None else f'{vs:14.1e}':>14s} "
            f"{'' if solved is None else f'{100 * solved:6.1f}%':>7s}"
        )
    return "\n".join(lines_)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="the image is size × size pixels")
    parser.add_argument("--channels", type=int, default=2048)
    parser.add_argument("--hs-pixels", type=int, default=64, help="pixels HyperSpy fits in the varying case")
    args = parser.parse_args(argv)
    rows = run(args.size, args.channels, args.hs_pixels)
    print(f"{platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"{args.size}×{args.size} pixels × {args.channels} channels, 23 linear parameters")
    print(_fmt(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
