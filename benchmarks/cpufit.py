"""swiftfit against Cpufit (the CPU twin of Gpufit) on Gpufit's own problems, per core.

Cpufit is single-threaded C++ in float32; swiftfit runs with one numba thread
(``NUMBA_NUM_THREADS=1``, set before numba is imported) in float64. Same data
(Poisson counts, seeded), same starts; both timed alternately in this process,
``--runs`` times; min/median/max fits/s and the median absolute error of the
centre against the truth.

Problems (Gpufit's model ids GAUSS_2D and GAUSS_1D):

* 2-D Gaussian, 5 parameters (amplitude, x0, y0, one width, offset) on 5×5,
  15×15 and 25×25 pixels — swiftfit: ``Gaussian2D`` (``sigma_y`` twinned to
  ``sigma_x``) plus ``Offset`` in a ``Model2D``;
* 1-D Gaussian plus offset on 25, 100 and 1,000 points — ``Gaussian`` plus ``Offset``.

swiftfit runs twice per repetition: at its defaults (``ftol=1e-12``,
``xtol=1e-10``, then Gauss–Newton polishing) and at Cpufit's stopping rule
(``tolerance=1e-4``: Cpufit's default tolerance on the relative change of χ²).
Accuracy: median |centre − truth| of each, and the median |Δcentre| between
swiftfit at the two tolerances in units of swiftfit's standard error.

Cpufit is built from Gpufit's source when asked (``--build``): a checkout of
github.com/gpufit/Gpufit given by ``--gpufit-src`` (or ``$GPUFIT_SRC``) is
configured with ``cmake -DCMAKE_BUILD_TYPE=Release`` in ``--build-dir``
(default ``/tmp/cpufit-build``; the top-level configure looks for CUDA) and only
the targets ``Cpufit`` and ``PYTHON_PACKAGE_CPUFIT`` are built. Without a
build (or when it fails) the script says so and exits 0 (skipped).

    python benchmarks/cpufit.py --build --gpufit-src ~/src/Gpufit
    python benchmarks/cpufit.py --fits 100000          # bigger, after a build
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # per core: before numba is imported
os.environ.setdefault("SWIFTFIT_COMPILE", "inline")  # timed fits run compiled (engines/numba/warmup.py)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def build(src: Path, build_dir: Path) -> Path | None:
    """Configure and build Cpufit and its Python package; the package folder, or None."""
    if not (src / "CMakeLists.txt").is_file():
        print(f"skipped: no Gpufit source at {str(src)!r} (pass --gpufit-src or set GPUFIT_SRC)")
        return None
    build_dir.mkdir(parents=True, exist_ok=True)
    steps = (["cmake", "-DCMAKE_BUILD_TYPE=Release", str(src.resolve())],
             ["cmake", "--build", ".", "--target", "Cpufit", "PYTHON_PACKAGE_CPUFIT", "-j", "2"])
    for cmd in steps:
        try:
            res = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True)
        except OSError as exc:
            print(f"skipped: {cmd[0]} could not run ({exc})")
            return None
        if res.returncode:
            print(f"skipped: {' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
            return None
    return package_dir(build_dir)


def package_dir(build_dir: Path) -> Path | None:
    hits = sorted(build_dir.rglob("pyCpufit/pycpufit/cpufit.py"))
    return hits[0].parent.parent if hits else None


def gauss2d_problem(n, size, rng):
    """Gpufit's GAUSS_2D: ``a exp(−((x−x0)² + (y−y0)²)/(2w²)) + b``, x the
    column and y the row index. Truth a=500, w=size/5 (1 px on 5×5), b=10,
    centre within ±0.5 px of the middle; starts 20 % off (a, w, b) and up to
    0.3 px off (centre)."""
    w = size / 5.0
    truth = np.empty((n, 5))
    truth[:, 0] = 500.0
    truth[:, 1:3] = (size - 1) / 2 + rng.uniform(-0.5, 0.5, (n, 2))
    truth[:, 3] = w
    truth[:, 4] = 10.0
    x = np.arange(size, dtype=float)
    X, Y = np.meshgrid(x, x)
    lam = truth[:, 0, None, None] * np.exp(-((X - truth[:, 1, None, None]) ** 2 + (Y - truth[:, 2, None, None]) ** 2)
                                           / (2 * truth[:, 3, None, None] ** 2)) + truth[:, 4, None, None]
    data = rng.poisson(lam).astype(float)
    start = truth.copy()
    start[:, [0, 3, 4]] *= rng.uniform(0.8, 1.2, (n, 3))
    start[:, 1:3] += rng.uniform(-0.3, 0.3, (n, 2))
    return data, truth, start


def gauss1d_problem(n, points, rng):
    """Gpufit's GAUSS_1D plus offset: ``a exp(−(x−c)²/(2w²)) + b`` on
    ``points`` samples; truth a=500, c at the middle ±5 %, w=points/20, b=10."""
    truth = np.empty((n, 4))
    truth[:, 0] = 500.0
    truth[:, 1] = (points - 1) / 2 + rng.uniform(-0.05, 0.05, n) * points
    truth[:, 2] = points / 20.0
    truth[:, 3] = 10.0
    x = np.arange(points, dtype=float)
    lam = truth[:, :1] * np.exp(-((x - truth[:, 1:2]) ** 2) / (2 * truth[:, 2:3] ** 2)) + truth[:, 3:]
    data = rng.poisson(lam).astype(float)
    start = truth.copy()
    start[:, [0, 2, 3]] *= rng.uniform(0.8, 1.2, (n, 3))
    start[:, 1] += rng.uniform(-0.05, 0.05, n) * truth[:, 2] * 4
    return data, truth, start


def run_cpufit(cf, model_id, data, start):
    d = np.ascontiguousarray(data.reshape(data.shape[0], -1), dtype=np.float32)
    p0 = np.ascontiguousarray(start, dtype=np.float32)
    t0 = time.perf_counter()
    params, states, chi2, iters, _ = cf.fit(d, None, model_id, p0)
    elapsed = time.perf_counter() - t0
    return elapsed, params.astype(float), states == 0, iters


def run_swiftfit_2d(data, start, **opts):
    import swiftfit as sf

    m = sf.signals.Signal2D(data).create_model()
    g = sf.model.components2D.Gaussian2D()
    off = sf.model.components2D.Offset()
    m.extend([g, off])
    g.sigma_y.twin = g.sigma_x
    # Gaussian2D is normalised: A = a · 2π σx σy
    g.A.map["values"] = start[:, 0] * 2 * np.pi * start[:, 3] ** 2
    g.centre_x.map["values"] = start[:, 1]
    g.centre_y.map["values"] = start[:, 2]
    g.sigma_x.map["values"] = start[:, 3]
    off.offset.map["values"] = start[:, 4]
    for p in (g.A, g.centre_x, g.centre_y, g.sigma_x, off.offset):
        p.map["is_set"] = True
    t0 = time.perf_counter()
    m.multifit(**opts)
    elapsed = time.perf_counter() - t0
    fitted = np.stack([g.centre_x.map["values"], g.centre_y.map["values"]], -1)
    std = np.stack([g.centre_x.map["std"], g.centre_y.map["std"]], -1)
    return elapsed, fitted, m._status > 0, int(np.asarray(m.multifit_output.slow_path.data).sum()), std


def run_swiftfit_1d(data, start, **opts):
    import swiftfit as sf

    m = sf.signals.Signal1D(data).create_model()
    g = sf.model.components1D.Gaussian()
    off = sf.model.components1D.Offset()
    m.extend([g, off])
    g.A.map["values"] = start[:, 0] * np.sqrt(2 * np.pi) * start[:, 2]
    g.centre.map["values"] = start[:, 1]
    g.sigma.map["values"] = start[:, 2]
    off.offset.map["values"] = start[:, 3]
    for p in (g.A, g.centre, g.sigma, off.offset):
        p.map["is_set"] = True
    t0 = time.perf_counter()
    m.multifit(**opts)
    elapsed = time.perf_counter() - t0
    return (elapsed, g.centre.map["values"][:, None], m._status > 0, int(np.asarray(m.multifit_output.slow_path.data).sum()),
            g.centre.map["std"][:, None])


def _mmm(r):
    return f"{np.min(r):,.0f} / {np.median(r):,.0f} / {np.max(r):,.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="build Cpufit from --gpufit-src first")
    parser.add_argument("--gpufit-src", default=os.environ.get("GPUFIT_SRC", ""))
    parser.add_argument("--build-dir", default="/tmp/cpufit-build")
    parser.add_argument("--fits", type=int, default=10000, help="fits per 5×5, 1-D 25 and 100 problem (15×15: a fifth; 25×25, 1-D 1000: a tenth)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="run the problems whose names contain one of these")
    args = parser.parse_args(argv)
    build_dir = Path(args.build_dir)
    pkg = build(Path(args.gpufit_src), build_dir) if args.build else package_dir(build_dir)
    if pkg is None:
        if not args.build:
            print(f"skipped: no Cpufit build in {str(build_dir)!r} (run with --build --gpufit-src PATH)")
        return 0
    sys.path.insert(0, str(pkg))
    try:
        import pycpufit.cpufit as cf
    except OSError as exc:
        print(f"skipped: the Cpufit library does not load ({exc})")
        return 0
    import numba

    print(f"numba threads: {numba.get_num_threads()} (Cpufit: 1 thread, float32, tolerance 1e-4; swiftfit float64)")
    rng = np.random.default_rng(0)
    n = args.fits
    problems = [
        ("2-D Gaussian 5×5", cf.ModelID.GAUSS_2D, gauss2d_problem(n, 5, rng), run_swiftfit_2d),
        ("2-D Gaussian 15×15", cf.ModelID.GAUSS_2D, gauss2d_problem(max(n // 5, 10), 15, rng), run_swiftfit_2d),
        ("2-D Gaussian 25×25", cf.ModelID.GAUSS_2D, gauss2d_problem(max(n // 10, 10), 25, rng), run_swiftfit_2d),
        ("1-D Gaussian + offset, 25 points", cf.ModelID.GAUSS_1D, gauss1d_problem(n, 25, rng), run_swiftfit_1d),
        ("1-D Gaussian + offset, 100 points", cf.ModelID.GAUSS_1D, gauss1d_problem(n, 100, rng), run_swiftfit_1d),
        ("1-D Gaussian + offset, 1000 points", cf.ModelID.GAUSS_1D, gauss1d_problem(max(n // 10, 10), 1000, rng),
         run_swiftfit_1d),
    ]
    if args.only:
        problems = [p for p in problems if any(k in p[0] for k in args.only)]
    matched = {"tolerance": 1e-4}
    print("\n| problem | fits | Cpufit fits/s min / median / max | swiftfit defaults fits/s | ratio | swiftfit "
          "tolerance=1e-4 fits/s | ratio | median \\|Δcentre\\| vs truth Cpufit / sf defaults / sf 1e-4 | "
          "sf 1e-4 vs defaults (median, σ) | converged Cpufit / sf / sf 1e-4 | sf slow-path fits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, model_id, (data, truth, start), run_sf in problems:
        n_fits = data.shape[0]
        run_sf(data[:4], start[:4])  # compile / load the kernel
        cpu, sf_def, sf_tol = [], [], []
        for _ in range(args.runs):
            t, p_cf, ok_cf, _ = run_cpufit(cf, model_id, data, start)
            cpu.append(n_fits / t)
            t, c_def, ok_def, slow, std = run_sf(data, start)
            sf_def.append(n_fits / t)
            t, c_tol, ok_tol, slow_tol, _ = run_sf(data, start, **matched)
            sf_tol.append(n_fits / t)
        centre = truth[:, 1:3] if truth.shape[1] == 5 else truth[:, 1:2]
        e_cf = np.median(np.abs(p_cf[:, 1:1 + centre.shape[1]] - centre))
        e_def = np.median(np.abs(c_def - centre))
        e_tol = np.median(np.abs(c_tol - centre))
        pull = np.median(np.abs(c_tol - c_def) / std)
        r_def = np.median(sf_def) / np.median(cpu)
        r_tol = np.median(sf_tol) / np.median(cpu)
        print(f"| {name} | {n_fits} | {_mmm(cpu)} | {_mmm(sf_def)} | {r_def:.2f} | {_mmm(sf_tol)} | {r_tol:.2f} "
              f"| {e_cf:.4g} / {e_def:.4g} / {e_tol:.4g} | {pull:.2g} | {ok_cf.mean():.1%} / {ok_def.mean():.1%} / "
              f"{ok_tol.mean():.1%} | {slow + slow_tol} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
