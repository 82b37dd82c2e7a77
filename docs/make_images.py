"""Regenerate the README's plot images (``docs/images/*.png``) from seeded,
generated data: ``.venv/bin/python docs/make_images.py``.

Uses the demo's spectrum image (three Gaussian peaks on a power law, Poisson
noise), smaller, and a stack of three 2-D Gaussian images.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never opens a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import swiftfit as hs  # noqa: E402
from swiftfit.demo import build_model, make_data  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"
DPI = 80


def save(fig, name: str) -> None:
    path = OUT / name
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"{path.relative_to(OUT.parent.parent)}: {path.stat().st_size / 1024:.0f} KB")


def spectrum_image():
    s, _truth = make_data(shape=(16, 16), channels=1024, seed=0)
    m = build_model(s)
    m.components.background.estimate_parameters(s, 150.0, 250.0, only_current=False)
    s.axes_manager.indices = (0, 0)
    m.fit()
    m.assign_current_values_to_all()
    m.multifit()
    return m


def image_stack():
    rng = np.random.default_rng(1)
    x = np.linspace(-5, 5, 40)
    X, Y = np.meshgrid(x, x)
    C2 = hs.model.components2D
    frames = [C2.Gaussian2D(A=60, centre_x=cx, centre_y=-0.5, sigma_x=1.0, sigma_y=1.4).function(X, Y)
              + 0.2 + rng.normal(0, 0.08, X.shape) for cx in (-1.0, 0.0, 1.0)]
    st = hs.signals.Signal2D(np.array(frames))
    st.metadata.General.title = "image stack"
    for i in (1, 2):
        ax = st.axes_manager[i]
        ax.scale, ax.offset, ax.units = x[1] - x[0], x[0], "µm"
    m = st.create_model()
    m.extend([C2.Gaussian2D(A=40, centre_x=0, centre_y=0, sigma_x=1, sigma_y=1), C2.Offset(offset=0.0)])
    m.multifit()
    return m


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    m = spectrum_image()
    m.axes_manager.indices = (3, 5)
    save(m.plot(plot_components=True, log_y=True, residual="pull"), "fit1d.png")
    save(m.plot_results(max_columns=4), "results.png")
    save(m.plot_chisq(reduced=True), "chisq.png")
    save(m["Carbon"].centre.plot(), "parameter.png")
    save(m["Oxygen"].plot(), "component.png")
    m2 = image_stack()
    m2.axes_manager.indices = (1,)
    save(m2.plot(), "fit2d.png")


if __name__ == "__main__":
    main()
