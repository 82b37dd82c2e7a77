"""``make demo`` / ``swiftfit demo``: the main job on generated data.

Generates a seeded spectrum image (64×64 pixels × 1024 channels: three
Gaussian peaks on a power-law background, Poisson noise), builds the model,
fits one pixel, then every pixel with the batched multifit, prints a
parameter table and the time taken, and writes to ``demo_output/``:

- ``fit.png``: data, model and components at one pixel, with residuals;
- ``maps.png``: fitted peak-centre maps;
- ``results.csv`` and ``results.h5``: every parameter map (values and std).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

TRUTH = {
    "background": {"A": 5.0e6, "r": 2.2},
    "peaks": [  # (name, area, centre, sigma)
        ("Carbon", 3.0e4, 284.0, 6.0),
        ("Nitrogen", 1.5e4, 401.0, 7.0),
        ("Oxygen", 2.5e4, 532.0, 8.0),
    ],
}


def make_data(shape=(64, 64), channels: int = 1024, seed: int = 0):
    """A spectrum image with spatially varying peak areas and a slight
    centre drift, Poisson noise; returns the signal and the true maps.
    """
    import swiftfit as hs

    rng = np.random.default_rng(seed)
    x = 150.0 + 0.5 * np.arange(channels)  # eV, 150..661.5
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx] / max(nx, ny)
    areas = []
    centres = []
    for k, (_, area, centre, _) in enumerate(TRUTH["peaks"]):
        areas.append(area * (0.7 + 0.3 * np.cos(np.pi * (xx + k * yy))))
        centres.append(centre + 1.5 * (xx - 0.5) * (k + 1))
    bg = TRUTH["background"]["A"] * x ** -TRUTH["background"]["r"]
    clean = np.broadcast_to(bg, (ny, nx, channels)).copy()
    for (_, _, _, sigma), a, c in zip(TRUTH["peaks"], areas, centres):
        clean += a[..., None] / (sigma * np.sqrt(2 * np.pi)) * np.exp(
            -((x - c[..., None]) ** 2) / (2 * sigma**2)
        )
    data = rng.poisson(clean).astype(float)
    s = hs.signals.Signal1D(data)
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.name, ax.units = 150.0, 0.5, "Energy", "eV"
    s.metadata.General.title = "demo spectrum image"
    s.estimate_poissonian_noise_variance()
    var = s.metadata.Signal.Noise_properties.variance
    var.data = np.maximum(var.data, 1.0)  # zero counts: variance 1, never 0
    return s, {"areas": areas, "centres": centres}


def build_model(s):
    """The demo's model of ``s``: a power-law background and the Gaussians of ``TRUTH``, started off."""
    import swiftfit as hs

    m = s.create_model()
    bg = hs.model.components1D.PowerLaw()
    bg.name = "background"
    m.append(bg)
    for name, area, centre, sigma in TRUTH["peaks"]:
        g = hs.model.components1D.Gaussian(A=area / 2, centre=centre + 3, sigma=sigma * 1.2)
        g.name = name
        m.append(g)
    return m


def main(argv=None) -> int:
    """Run the demo (``make demo``): fit the generated spectrum image and write the results to ``--out``."""
    parser = argparse.ArgumentParser(prog="swiftfit demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", help="output folder")
    parser.add_argument("--size", type=int, default=64, help="pixels per side")
    parser.add_argument("--channels", type=int, default=1024)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    s, truth = make_data((args.size, args.size), args.channels)
    print(f"data: {s}  (generated in {time.perf_counter() - t0:.2f} s)")
    m = build_model(s)
    bg = m.components.background
    bg.estimate_parameters(s, 150.0, 250.0, only_current=False)

    s.axes_manager.indices = (0, 0)
    t0 = time.perf_counter()
    m.fit()
    t_one = time.perf_counter() - t0
    print(f"\nsingle-pixel fit at (0, 0): {m.fit_output.message} in {t_one * 1e3:.1f} ms, "
          f"reduced chi-square {m.fit_output.red_chisq:.3f}")
    m.print_current_values()

    m.assign_current_values_to_all()
    t0 = time.perf_counter()
    m.multifit()
    t_all = time.perf_counter() - t0
    n = int(np.prod(m._nav_shape))
    ok = np.isin(m.fit_results.status, [1, 2, 3, 4, 5])
    print(f"\nmultifit: {n} pixels in {t_all:.2f} s ({n / t_all:,.0f} fits/s), "
          f"{ok.mean():.1%} converged, median reduced chi-square "
          f"{np.nanmedian(m.red_chisq.data):.3f}")
    print(f"{'peak':>10} | {'median |Δcentre|':>17} | {'median std(centre)':>18}")
    for k, (name, *_rest) in enumerate(TRUTH["peaks"]):
        comp = m[name]
        err = np.abs(comp.centre.map["values"] - truth["centres"][k])
        print(f"{name:>10} | {np.median(err):17.4f} | {np.nanmedian(comp.centre.map['std']):18.4f}")

    _write_tables(m, out)
    _plot(m, s, out)
    print(f"\nwrote {out}/fit.png, {out}/maps.png, {out}/results.csv, {out}/results.h5")
    return 0


def _write_tables(m, out: Path) -> None:
    import h5py

    columns = {}
    for comp in m:
        for p in comp.parameters:
            columns[f"{comp.name}.{p.name}"] = p.map["values"].ravel()
            columns[f"{comp.name}.{p.name}.std"] = p.map["std"].ravel()
    columns["chisq"] = m.fit_results.chisq.ravel()
    columns["status"] = m.fit_results.status.ravel()
    ny, nx = m._nav_shape
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["y", "x", *columns])
        for i in range(ny * nx):
            writer.writerow([i // nx, i % nx, *(f"{v[i]:.10g}" for v in columns.values())])
    with h5py.File(out / "results.h5", "w") as fh:
        for key, values in columns.items():
            fh.create_dataset(key, data=values.reshape(ny, nx))


def _plot(m, s, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s.axes_manager.indices = (0, 0)
    x = m.axis.axis
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(x, s.data[0, 0], ".", ms=2, color="0.5", label="data")
    model = m()
    ax.plot(x, model, "k-", lw=1.2, label="model")
    for comp in m:
        ax.plot(x, m(component_list=[comp]), lw=0.9, label=comp.name)
    ax.set_ylabel("counts")
    ax.set_yscale("log")
    ax.set_ylim(1, 3 * s.data[0, 0].max())
    ax.legend(fontsize=8)
    ax.set_title("swiftfit demo: pixel (0, 0)")
    axr.plot(x, (s.data[0, 0] - model) / np.sqrt(np.maximum(model, 1)), ".", ms=2, color="C3")
    axr.axhline(0, color="k", lw=0.8)
    axr.set_ylabel("pull")
    axr.set_xlabel(f"{m.axis.name} ({m.axis.units})")
    fig.tight_layout()
    fig.savefig(out / "fit.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(TRUTH["peaks"]), figsize=(4 * len(TRUTH["peaks"]), 3.4))
    for a, (name, *_r) in zip(axes, TRUTH["peaks"]):
        values = m[name].centre.map["values"]
        lo, hi = np.nanpercentile(values, [1, 99])
        im = a.imshow(values, cmap="viridis", vmin=lo, vmax=hi)
        a.set_title(f"{name} centre (eV)")
        fig.colorbar(im, ax=a)
    fig.tight_layout()
    fig.savefig(out / "maps.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
