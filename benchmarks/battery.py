"""Benchmark battery: eight model classes users fit, swiftfit against HyperSpy.

Each case simulates data with a known truth (seeded), builds the same model
with the same starting values through both APIs, and fits it: swiftfit every
pixel in one ``multifit``, HyperSpy the first ``--hs-pixels`` pixels with its
multifit loop (its rate is per pixel, so the two rates compare). Both are
timed in the same process, alternately, ``--runs`` times (default 3): the
table gives min/median/max fits/s, the ratio of the medians, the median
absolute error of the case's key parameters on the pixels both fitted, and
the pixels swiftfit fitted outside its compiled kernel
(``multifit_output.slow_path``). swiftfit's first (compiling) fit is a
warm-up on two pixels, excluded and reported.

Cases (``--case``, default all):

==================  ====================================================
``broad3``          three overlapping broad Gaussians (σ 30–35 channels),
                    amplitudes started 20× low, widths 20 % wide
``narrow``          three narrow Gaussians (σ 1.5–2.5 channels)
``powerlaw_lor``    power-law background under two Lorentzian white lines
``voigt``           two Voigts on a sloping background
``multiexp``        a two-exponential decay written as an ``Expression``
``eds20``           an EDS-like spectrum: 20 lines with free centres on a
                    quadratic background (63 free parameters)
``spots2d``         Model2D: 32×32 frames with four Gaussian2D spots
``gpufit5x5``       Gpufit's small-ROI problem: a 2-D Gaussian (one width)
                    plus background on 5×5 pixels
==================  ====================================================

    python benchmarks/battery.py                      # a few minutes
    python benchmarks/battery.py --scale 8 --hs-pixels 64   # bigger
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

CASES = {}


def case(func):
    CASES[func.__name__.removeprefix("case_")] = func
    return func


def _gauss(x, A, c, s):
    return A / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((x - c) / s) ** 2)


def _set(comp, **values):
    for name, v in values.items():
        getattr(comp, name).value = v


@case
def case_broad3(n, rng):
    x = np.arange(512.0)
    peaks = ((220.0, 30.0), (256.0, 35.0), (292.0, 30.0))
    A = rng.uniform(3000, 6000, (n, 3))
    c = np.array([p[0] for p in peaks]) + rng.uniform(-3, 3, (n, 3))
    lam = 20.0 + sum(_gauss(x, A[:, k, None], c[:, k, None], peaks[k][1]) for k in range(3))
    data = rng.poisson(lam).astype(float)

    def build(api, d):
        m = api.signals.Signal1D(d).create_model()
        gs = [api.model.components1D.Gaussian() for _ in peaks]
        for g, (cc, s) in zip(gs, peaks):
            _set(g, A=4500 / 20, sigma=s * 1.2, centre=cc + 4)
        off = api.model.components1D.Offset()
        off.offset.value = 15.0
        m.extend(gs + [off])
        # sorted: two peaks that swapped places are the same fit
        return m, lambda: np.sort(np.stack([g.centre.map["values"] for g in gs], -1), axis=-1)

    return data, build, np.sort(c, axis=-1), "centres, sorted (ch)"


@case
def case_narrow(n, rng):
    x = np.arange(1024.0)
    peaks = ((200.0, 1.5), (500.0, 2.0), (800.0, 2.5))
    A = rng.uniform(500, 1000, (n, 3))
    c = np.array([p[0] for p in peaks]) + rng.uniform(-1, 1, (n, 3))
    lam = 10.0 + sum(_gauss(x, A[:, k, None], c[:, k, None], peaks[k][1]) for k in range(3))
    data = rng.poisson(lam).astype(float)

    def build(api, d):
        m = api.signals.Signal1D(d).create_model()
        gs = [api.model.components1D.Gaussian() for _ in peaks]
        for g, (cc, s) in zip(gs, peaks):
            _set(g, A=700.0, sigma=s * 1.2, centre=cc + 0.5)
        off = api.model.components1D.Offset()
        off.offset.value = 8.0
        m.extend(gs + [off])
        return m, lambda: np.stack([g.centre.map["values"] for g in gs], -1)

    return data, build, c, "centres (ch)"


@case
def case_powerlaw_lor(n, rng):
    x = np.linspace(400.0, 800.0, 800)
    A_pl = rng.uniform(0.8, 1.2, n) * 1000 * 400.0**3
    c = np.array([640.0, 652.0]) + rng.uniform(-1, 1, (n, 2))
    A = np.stack([rng.uniform(1500, 2500, n), rng.uniform(700, 1300, n)], -1)
    lam = A_pl[:, None] * x**-3.0 + sum(A[:, k, None] / np.pi * 2.0 / ((x - c[:, k, None]) ** 2 + 4.0) for k in range(2))
    data = rng.poisson(lam).astype(float)

    def build(api, d):
        s = api.signals.Signal1D(d)
        s.axes_manager[-1].offset = x[0]
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        pl = api.model.components1D.PowerLaw()
        _set(pl, A=1000 * 400.0**3 * 0.7, r=2.8)
        for name in ("origin", "left_cutoff"):
            getattr(pl, name).free = False
        ls = [api.model.components1D.Lorentzian() for _ in range(2)]
        for lo, cc, a in zip(ls, (640.5, 652.5), (1800.0, 900.0)):
            _set(lo, A=a, gamma=3.0, centre=cc)
        m.extend([pl] + ls)
        return m, lambda: np.stack([lo.centre.map["values"] for lo in ls], -1)

    return data, build, c, "centres (eV)"


@case
def case_voigt(n, rng):
    x = np.arange(600.0)
    c = np.array([250.0, 350.0]) + rng.uniform(-2, 2, (n, 2))
    area = rng.uniform(3000, 5000, (n, 2))
    from scipy.special import voigt_profile

    lam = 30.0 + 0.02 * x + sum(area[:, k, None] * voigt_profile(x - c[:, k, None], 6.0, 4.0) for k in range(2))
    data = rng.poisson(lam).astype(float)

    def build(api, d):
        m = api.signals.Signal1D(d).create_model()
        vs = [api.model.components1D.Voigt() for _ in range(2)]
        for v, cc in zip(vs, (251.0, 349.0)):
            _set(v, area=4000.0, centre=cc, sigma=5.0, gamma=5.0)
        bg = api.model.components1D.Polynomial(order=1)
        _set(bg, a0=25.0, a1=0.01)
        m.extend(vs + [bg])
        return m, lambda: np.stack([v.centre.map["values"] for v in vs], -1)

    return data, build, c, "centres (ch)"


@case
def case_multiexp(n, rng):
    x = np.linspace(0.0, 200.0, 400)
    t = np.stack([rng.uniform(8, 12, n), rng.uniform(50, 70, n)], -1)
    lam = 2000 * np.exp(-x / t[:, :1]) + 500 * np.exp(-x / t[:, 1:]) + 20.0
    data = rng.poisson(lam).astype(float)

    def build(api, d):
        s = api.signals.Signal1D(d)
        s.axes_manager[-1].scale = x[1] - x[0]
        m = s.create_model()
        e = api.model.components1D.Expression("A1*exp(-x/t1) + A2*exp(-x/t2) + c", name="decay",
                                              A1=1500.0, t1=13.0, A2=700.0, t2=45.0, c=10.0)
        m.append(e)
        return m, lambda: np.stack([e.t1.map["values"], e.t2.map["values"]], -1)

    return data, build, t, "lifetimes"


@case
def case_eds20(n, rng):
    x = np.arange(2048.0)
    centres = np.linspace(100, 1900, 20) + np.array([0, 30] * 10)
    sig = 2.5 + 0.002 * centres
    A = rng.uniform(200, 3000, (n, 20))
    c = centres + rng.uniform(-1, 1, (n, 20))
    lam = 30.0 - 0.01 * x + 2e-6 * x**2 + sum(_gauss(x, A[:, k, None], c[:, k, None], sig[k]) for k in range(20))
    data = rng.poisson(np.maximum(lam, 0.0)).astype(float)

    def build(api, d):
        m = api.signals.Signal1D(d).create_model()
        bg = api.model.components1D.Polynomial(order=2)
        _set(bg, a0=25.0, a1=-0.005, a2=0.0)
        gs = [api.model.components1D.Gaussian() for _ in range(20)]
        for g, cc, s in zip(gs, centres, sig):
            _set(g, A=1000.0, sigma=s, centre=cc + 0.5)
        m.extend([bg] + gs)
        return m, lambda: np.stack([g.centre.map["values"] for g in gs], -1)

    return data, build, c, "centres (ch)"


def _spots(n, rng, size, spots, width, amp, bg, jitter):
    x = np.arange(size, dtype=float)
    X, Y = np.meshgrid(x, x)
    grid = np.linspace(size * 0.25, size * 0.75, max(1, int(np.sqrt(spots))))
    base = np.array([(a, b) for a in grid for b in grid])[:spots] if spots > 1 else np.array([[size / 2 - 0.5] * 2])
    cen = base + rng.uniform(-jitter, jitter, (n, spots, 2))
    A = rng.uniform(0.8, 1.2, (n, spots)) * amp
    lam = np.full((n, size, size), bg)
    for k in range(spots):
        cx, cy, a = cen[:, k, 0, None, None], cen[:, k, 1, None, None], A[:, k, None, None]
        lam += a / (2 * np.pi * width**2) * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * width**2))
    return rng.poisson(lam).astype(float), base, cen, A


def _build2d(api, d, base, width, amp, bg, spots):
    m = api.signals.Signal2D(d).create_model()
    gs = [api.model.components2D.Gaussian2D() for _ in range(spots)]
    for g, (cx, cy) in zip(gs, base):
        _set(g, A=amp * 0.9, sigma_x=width * 1.15, sigma_y=width * 1.15, centre_x=cx + 0.3, centre_y=cy - 0.3)
        g.sigma_y.twin = g.sigma_x  # one width, as Gpufit's GAUSS_2D
    if hasattr(api.model.components2D, "Offset"):
        off = api.model.components2D.Offset()
        off.offset.value = bg * 0.8
    else:  # HyperSpy has no 2-D offset component
        off = api.model.components2D.Expression("offset + 1e-300 * x * y", name="offset", offset=bg * 0.8)
    m.extend(gs + [off])
    return m, lambda: np.stack([g.centre_x.map["values"] for g in gs], -1)


@case
def case_spots2d(n, rng):
    data, base, cen, _ = _spots(n, rng, 32, 4, 1.5, 400.0, 5.0, 1.0)
    return data, lambda api, d: _build2d(api, d, base, 1.5, 400.0, 5.0, 4), cen[..., 0], "centre_x (px)"


@case
def case_gpufit5x5(n, rng):
    n = n * 8  # small problems: more of them
    data, base, cen, _ = _spots(n, rng, 5, 1, 1.0, 500.0, 10.0, 0.3)
    return data, lambda api, d: _build2d(api, d, base, 1.0, 500.0, 10.0, 1), cen[..., 0], "centre_x (px)"


def _fit(api, data, build, hs):
    m, values = build(api, data)
    m.assign_current_values_to_all()
    t0 = time.perf_counter()
    if hs:
        m.multifit(show_progressbar=False, iterpath="flyback")
    else:
        m.multifit()
    elapsed = time.perf_counter() - t0
    slow = -1 if hs else int(np.asarray(m.multifit_output.slow_path.data).sum())
    return elapsed, values(), slow


def run_case(name, n, hs_pixels, runs, seed=0):
    import swiftfit as sf

    data, build, truth, key = CASES[name](n, np.random.default_rng(seed))
    B = data.shape[0]
    t0 = time.perf_counter()
    _fit(sf, data[:2], build, False)
    warm = time.perf_counter() - t0
    try:
        import hyperspy.api as hs
    except ImportError:
        hs = None
    k = min(hs_pixels, B)
    sf_t, hs_t = [], []
    for _ in range(runs):
        t, fit_sf, slow = _fit(sf, data, build, False)
        sf_t.append(t)
        if hs is not None:
            t, fit_hs, _ = _fit(hs, data[:k], build, True)
            hs_t.append(t)
    err_sf = float(np.median(np.abs(fit_sf[:k] - truth[:k])))
    err_hs = float(np.median(np.abs(fit_hs - truth[:k]))) if hs is not None else np.nan
    rate_sf = B / np.array(sf_t)
    rate_hs = k / np.array(hs_t) if hs is not None else np.full(1, np.nan)
    return dict(case=name, pixels=B, hs_pixels=k if hs is not None else 0, warm=warm, rate_sf=rate_sf,
                rate_hs=rate_hs, ratio=np.median(rate_sf) / np.median(rate_hs), err_sf=err_sf, err_hs=err_hs,
                key=key, slow=slow)


def _num(v):
    return f"{v:,.0f}" if v >= 10 else f"{v:.2g}"


def _mmm(r):
    return f"{_num(np.min(r))} / {_num(np.median(r))} / {_num(np.max(r))}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=(*CASES, "all"), default="all")
    parser.add_argument("--pixels", type=int, default=128, help="pixels (frames) swiftfit fits per case")
    parser.add_argument("--hs-pixels", type=int, default=16, help="pixels HyperSpy fits (its rate is per pixel)")
    parser.add_argument("--scale", type=int, default=1, help="multiply --pixels and --hs-pixels")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    names = list(CASES) if args.case == "all" else [args.case]
    import numba

    import swiftfit as sf

    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, python "
          f"{platform.python_version()}, numba {numba.__version__} ({numba.get_num_threads()} threads), "
          f"swiftfit {getattr(sf, '__version__', '?')}")
    try:
        import hyperspy

        try:
            import numexpr

            with_ne = f"with numexpr {numexpr.__version__}"
        except ImportError:
            with_ne = "without numexpr (slower on its Expression-based components: `pip install numexpr`)"
        print(f"HyperSpy {hyperspy.__version__}, {with_ne}")
    except ImportError:
        print("HyperSpy not installed: swiftfit alone")
    print("\n| case | pixels (sf / HS) | swiftfit fits/s min / median / max | HyperSpy fits/s min / median / max "
          "| median ratio | key parameter | median abs. error sf / HS | slow-path pixels | sf warm-up (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = run_case(name, args.pixels * args.scale, args.hs_pixels * args.scale, args.runs)
        print(f"| {r['case']} | {r['pixels']} / {r['hs_pixels']} | {_mmm(r['rate_sf'])} | {_mmm(r['rate_hs'])} "
              f"| {r['ratio']:.1f}× | {r['key']} | {r['err_sf']:.3g} / {r['err_hs']:.3g} | {r['slow']} "
              f"| {r['warm']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
