"""``save_standard_plots``: the two figures a batch fit writes to disk."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidTypeError


def save_standard_plots(model, directory: str | os.PathLike, *, dpi: int = 100) -> list[Path]:
    """Write ``fit.png`` and ``maps.png`` for ``model`` into ``directory``.

    ``fit.png`` is ``model.plot(plot_components=True)`` at the current
    navigation position (data, model, components, residuals); ``maps.png`` is
    ``model.plot_results()`` (every free parameter map and the reduced χ²
    map). The figures never enter pyplot, so this is safe in scripts, threads
    and under any backend.

    Parameters
    ----------
    model : Model1D or Model2D
        A (usually fitted) model.
    directory : str or os.PathLike
        Where to write; created (with its parents) if missing.
    dpi : int
        Resolution of the PNG files.

    Returns
    -------
    list of pathlib.Path
        ``[directory / "fit.png", directory / "maps.png"]``.

    Examples
    --------
    >>> from swiftfit.plotting import save_standard_plots
    >>> m.multifit()                                   # doctest: +SKIP
    >>> save_standard_plots(m, "plots")                # doctest: +SKIP
    [PosixPath('plots/fit.png'), PosixPath('plots/maps.png')]
    """
    from .maps import plot_results
    from .model_plots import plot_model

    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidTypeError(f"`directory` must be a path (str or os.PathLike), got {type(directory).__name__}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 10:
        raise InvalidTypeError(f"`dpi` must be an integer >= 10, got {dpi!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    fit = plot_model(model, plot_components=True, plot_residual=True, managed=False)
    written.append(out / "fit.png")
    fit.savefig(written[-1], dpi=dpi)
    only_free = any(p.free for c in model if c.active for p in c.parameters)
    # a model with nothing free (all fixed) still gets its parameter maps
    maps = plot_results(model, only_free=only_free, managed=False)
    written.append(out / "maps.png")
    maps.savefig(written[-1], dpi=dpi)
    return written
