"""EELS spectrum-image fit: swiftfit's batched multifit against exspy's pixel loop.

A ``size x size`` core-loss spectrum image on the axis of exspy's
``coreloss_spectrum.msa`` (2048 channels, 360-770 eV, 300 kV, Mn and O), made
by the model itself — power law + hydrogenic O K and Mn L3 edges, each pixel
with its own background height and edge intensities (uniform x0.7-1.3), and
for the convolved cases its own low-loss spectrum (exspy's
``lowloss_spectrum.msa`` scaled by x0.8-1.2) — with Poisson noise (seed 0).

Cases: (1) power law + two edges; (2) the same convolved with the low loss;
(3) convolved, with both fine structures free (2 x 49 spline coefficients).
swiftfit fits every pixel with ``m.multifit()``; exspy fits the first
``--exspy-pixels`` pixels with its ``multifit`` (a loop of single fits) and
its rate is extrapolated to the whole image (stated in the table). Both start
from the same values (the model's estimate at creation). BLAS runs on one
thread for both (``OPENBLAS_NUM_THREADS=1``): on this shared 2-core machine
threaded BLAS made every small product slower, for both tools.

Each case runs ``--repeat`` times (default 3), swiftfit then exspy in the
same run, and the table gives min / median / max of both times and of the
per-run speed-up, and the CPU-seconds of both (all threads: on a loaded
machine wall time measures the load as much as the code); the column "pixels
by varpro" says how many pixels variable projection finished
(:mod:`swiftfit.optimizers.varpro`, with fine structure
:mod:`swiftfit.eels.fine_varpro`; the others ran Levenberg–Marquardt).
swiftfit's compiled varpro kernel runs pixels on numba's threads (all cores
unless ``NUMBA_NUM_THREADS`` says otherwise) and the convolutions' FFTs on
every core; exspy's loop is single-threaded. OpenMP workers sleep between
kernels (``OMP_WAIT_POLICY=passive``) rather than spin.

Run: ``python benchmarks/eels.py [--size 100] [--exspy-pixels 40] [--repeat 3]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# numba's OpenMP workers (swiftfit's compiled varpro runs pixels in parallel) sleep
# between kernels instead of spinning: on a shared machine spinning costs CPU others need
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore")
logging.getLogger("hyperspy").setLevel(logging.ERROR)


def _reference():
    import exspy
    from rsciio.msa import file_reader
    d = Path(exspy.__file__).parent / "tests" / "components"
    cl = file_reader(str(d / "coreloss_spectrum.msa"))[0]
    ll = file_reader(str(d / "lowloss_spectrum.msa"))[0]
    return cl, ll


def _axes(record, nav):
    ax = record["axes"][0]
    return [{} for _ in range(nav)] + [{"offset": ax["offset"], "scale": ax["scale"], "units": "eV"}]


def make_data(size: int, low_loss: bool, seed: int = 0):
    """Counts, low-loss spectra and the true parameters of every pixel."""
    from swiftfit.eels import EELSSpectrum
    cl, ll = _reference()
    one = EELSSpectrum(np.asarray(cl["data"], float), axes=_axes(cl, 0))
    one.add_elements(("Mn", "O"))
    one.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    llone = EELSSpectrum(np.asarray(ll["data"], float), axes=_axes(ll, 0)) if low_loss else None
    m = one.create_model(low_loss=llone)
    m.fit()
    base = [m["PowerLaw"].A.value, m["O_K"].intensity.value, m["Mn_L3"].intensity.value]
    rng = np.random.default_rng(seed)
    factors = rng.uniform(0.7, 1.3, size=(size, size, 3))
    ll_factor = rng.uniform(0.8, 1.2, size=(size, size))
    n = one.data.size
    # the model is linear in A and the intensities (r fixed): three shapes, combined per pixel
    params = (m["PowerLaw"].A, m["O_K"].intensity, m["Mn_L3"].intensity)
    shapes = []
    for k in range(3):
        for i, p in enumerate(params):
            p.value = base[i] if i == k else 0.0
        shapes.append(m())
    shapes = np.array(shapes)  # (3, n): the model is linear in A and the intensities (r fixed)
    weights = factors.copy()
    if low_loss:  # the convolved edges scale with the pixel's low-loss intensity
        weights[..., 1:] *= ll_factor[..., None]
    mean = np.einsum("ijk,kn->ijn", weights, shapes)
    counts = rng.poisson(np.clip(mean, 0, None)).astype(float)
    lls = None
    if low_loss:
        lls = ll_factor[..., None] * np.asarray(ll["data"], float)[None, None, :]
    truth = factors * np.array(base)  # intensities per unit low loss: its factor is in the spectrum
    return counts, lls, truth, cl, ll, n


def fit_swiftfit(counts, lls, cl, ll, fine):
    from swiftfit.eels import EELSSpectrum
    s = EELSSpectrum(counts, axes=_axes(cl, 2))
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    low = EELSSpectrum(lls, axes=_axes(ll, 2)) if lls is not None else None
    t0, c0 = time.perf_counter(), time.process_time()
    m = s.create_model(low_loss=low)
    if fine:
        m.enable_fine_structure()
    m.multifit()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    ok = float(np.mean(m.multifit_output.success.data))
    return m, dt, ok, cpu


def fit_exspy(counts, lls, cl, ll, fine, n_pixels):
    import hyperspy.api as hs
    flat = counts.reshape(-1, counts.shape[-1])[:n_pixels]
    s = hs.signals.Signal1D(flat)
    s.set_signal_type("EELS")
    ax = cl["axes"][0]
    s.axes_manager[-1].offset, s.axes_manager[-1].scale, s.axes_manager[-1].units = ax["offset"], ax["scale"], "eV"
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    low = None
    if lls is not None:
        low = hs.signals.Signal1D(lls.reshape(-1, lls.shape[-1])[:n_pixels])
        low.set_signal_type("EELS")
        lax = ll["axes"][0]
        low.axes_manager[-1].offset, low.axes_manager[-1].scale = lax["offset"], lax["scale"]
    t0, c0 = time.perf_counter(), time.process_time()
    m = s.create_model(low_loss=low, GOS="hydrogenic")
    if fine:
        m.enable_fine_structure()
    m.multifit(show_progressbar=False)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return m, dt, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--exspy-pixels", type=int, default=40)
    parser.add_argument("--cases", default="plain,ll,ll+fs")
    parser.add_argument("--fs-size", type=int, default=10, help="image side for the fine-structure case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case, swiftfit and exspy alternately")
    args = parser.parse_args()
    rows = []
    for case in args.cases.split(","):
        low_loss, fine = "ll" in case, "fs" in case
        size = args.fs_size if fine else args.size
        counts, lls, truth, cl, ll, n = make_data(size, low_loss)
        n_px = size * size
        k = min(args.exspy_pixels if not fine else max(args.exspy_pixels // 10, 4), n_px)
        t_ours, t_ref, ratios, c_ours, c_ref = [], [], [], [], []
        for run in range(args.repeat):
            m, t, ok, c = fit_swiftfit(counts, lls, cl, ll, fine)
            xm, tr, cr = fit_exspy(counts, lls, cl, ll, fine, k)
            t_ours.append(t)
            t_ref.append(tr)
            c_ours.append(c)
            c_ref.append(cr)
            ratios.append((n_px / t) / (k / tr))
            print(f"{case} run {run + 1}: swiftfit {n_px} px in {t:.2f} s ({c:.2f} CPU-s); exspy {k} px in {tr:.2f} s "
                  f"({cr:.2f} CPU-s); ratio {ratios[-1]:.1f} (CPU-s: {(n_px / c) / (k / cr):.1f})", flush=True)
        ours = np.stack([m["O_K"].intensity.map["values"].ravel()[:k], m["Mn_L3"].intensity.map["values"].ravel()[:k]])
        ref = np.stack([xm["O_K"].intensity.map["values"].ravel(), xm["Mn_L3"].intensity.map["values"].ravel()])
        rel = np.abs(ours - ref) / np.abs(ref)
        true_o = truth[..., 1].ravel()
        err_o = np.median(np.abs(m["O_K"].intensity.map["values"].ravel() - true_o) / true_o)
        varpro = float(np.mean(m.multifit_output.varpro.data))
        rows.append((case, n_px, t_ours, k, t_ref, ratios, float(np.median(rel)), float(np.max(rel)), err_o, ok,
                     varpro, c_ours, c_ref))
    import numba
    print(f"\nnumba threads: {numba.get_num_threads()} ({numba.threading_layer()} layer); load average at the end: "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("| case | swiftfit pixels | swiftfit time (s), min / median / max | fits/s (median) | exspy pixels | "
          "exspy time (s), min / median / max | exspy fits/s (median) | speed-up per run, min / median / max | "
          "median / max rel. diff. of intensities to exspy | median rel. error of O K intensity to truth | "
          "converged | pixels by varpro | CPU-s per 1000 pixels, swiftfit / exspy (median) | speed-up in CPU-s (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def mmm(v, f):
        return " / ".join(format(x, f) for x in (np.min(v), np.median(v), np.max(v)))

    for case, n_px, to, k, tr, ra, med, mx, err, ok, vp, co, cr in rows:
        per_o, per_r = 1000 * np.median(co) / n_px, 1000 * np.median(cr) / k
        print(f"| {case} | {n_px} | {mmm(to, '.2f')} | {n_px / np.median(to):.0f} | {k} | {mmm(tr, '.2f')} | "
              f"{k / np.median(tr):.1f} | {mmm(ra, '.0f')}x | {med:.1e} / {mx:.1e} | {err:.2%} | {ok:.0%} | {vp:.0%} | "
              f"{per_o:.3g} / {per_r:.3g} | {per_r / per_o:.0f}x |")


if __name__ == "__main__":
    main()
