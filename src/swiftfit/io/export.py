"""``m.export_results``: the parameter maps of a model as files.

Formats
-------
``"hdf5"`` / ``"h5"``
    One swiftfit HDF5 file per parameter, ``<Component>_<parameter>.<format>``
    holding ``parameter.as_signal()`` (read back with :func:`swiftfit.load`);
    with ``save_std`` also ``<Component>_<parameter>_std.<format>``. This is
    HyperSpy's layout (one file per parameter).
``"csv"``
    One table, ``results.csv``: a row per navigation position (array order,
    the first navigation axis - ``x`` - varying fastest), the columns
    ``index_0, index_1, ...`` (navigation indices in natural order: x, y, ...)
    then ``<Component>.<parameter>`` and ``<Component>.<parameter>_std`` for
    each exported parameter (std always written; ``save_std`` is ignored).
    Numbers are written with ``repr`` so they read back bit-exact.
``"png"``, ``"tif"``, ``"tiff"``
    One image per parameter of a model with a 2-D navigation space (rows: y,
    columns: x). PNG (matplotlib's ``imsave``) is a gray-scale picture from
    the map's minimum (black) to its maximum (white), NaN transparent: for
    looking at, not for the numbers. TIFF (needs Pillow) stores the values as
    32-bit floats. A 0-D or 1-D navigation space has no image to draw, so
    these formats raise ``InvalidInputError`` there (use "csv" or "hdf5");
    so does a navigation space of more than two dimensions.

Existing files of the same name are overwritten (HyperSpy appends a number
instead). File names keep letters, digits, ``_``, ``-`` and ``.``; anything
else in a component or parameter name becomes ``_``.
"""

from __future__ import annotations

import csv
import os
import re
from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["FORMATS", "export_results"]

FORMATS = ("hdf5", "h5", "csv", "png", "tif", "tiff")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _selected(model: Any, only_free: bool, only_active: bool) -> list:
    """(component, parameter) pairs to export, as HyperSpy: ``plot_results``'
    selection, twins never.
    """
    from ..plotting.maps import selected_parameters

    return [(p.component, p) for p in selected_parameters(model, only_free, only_active) if p.twin is None]


def _image_module(fmt: str) -> Any:
    if fmt == "png":
        import matplotlib.image

        return matplotlib.image
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            f"format={fmt!r} needs Pillow, which is not installed: pip install pillow"
        ) from None
    return Image


def _write_image(module: Any, fmt: str, target: str, data: np.ndarray) -> None:
    from .safety import atomic_target

    with atomic_target(target) as path:
        _write_image_to(module, fmt, path, data)


def _write_image_to(module: Any, fmt: str, path: str, data: np.ndarray) -> None:
    if fmt == "png":
        finite = data[np.isfinite(data)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        module.imsave(path, data, cmap="gray", vmin=lo, vmax=hi, format="png")
    else:
        module.fromarray(np.ascontiguousarray(data, dtype=np.float32)).save(path, format="TIFF")


def _write_csv(model: Any, pairs: list, path: str) -> None:
    nav_shape = tuple(model._nav_shape)
    ndim = len(nav_shape)
    header = [f"index_{i}" for i in range(ndim)]
    columns = []
    for comp, p in pairs:
        header += [f"{comp.name}.{p.name}", f"{comp.name}.{p.name}_std"]
        columns += [np.asarray(p._map["values"], float), np.asarray(p._map["std"], float)]
    from .safety import atomic_target

    with atomic_target(path) as tmp, open(tmp, "x", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for idx in np.ndindex(nav_shape):  # C order: the last array axis (x) fastest
            row = [str(i) for i in reversed(idx)]  # natural order: x first
            row += [repr(float(col[idx])) for col in columns]
            writer.writerow(row)


def export_results(model: Any, folder: str | os.PathLike | None = None, format: str = "hdf5",
                   save_std: bool = False, only_free: bool = True, only_active: bool = True) -> list[str]:
    """Write the parameter maps of ``model`` to ``folder`` (see the module docstring).

    Parameters
    ----------
    folder : str or path, optional
        Where to write (created when missing); default the current folder.
    format : {"hdf5", "h5", "csv", "png", "tif", "tiff"}
    save_std : bool
        Also write the standard deviations (hdf5 and image formats).
    only_free : bool
        Only free parameters (HyperSpy's default). Twinned ones never.
    only_active : bool
        Only active components (HyperSpy's default).

    Returns
    -------
    list of str
        The paths written.

    Examples
    --------
    >>> export_results(m, "out", format="csv")          # doctest: +SKIP
    ['out/results.csv']
    """
    if not isinstance(format, str):
        raise InvalidTypeError(f"`format` must be a str, got {type(format).__name__}")
    fmt = format.lower()
    if fmt not in FORMATS:
        raise InvalidInputError(f"`format` must be one of {list(FORMATS)}, got {format!r}")
    folder = os.getcwd() if folder is None else os.fspath(folder)
    pairs = _selected(model, bool(only_free), bool(only_active))
    module = None
    if fmt in ("png", "tif", "tiff"):
        nav = tuple(model._nav_shape)
        if len(nav) != 2:
            raise InvalidInputError(
                f"`format` {format!r} writes images of 2-D navigation maps; this model's navigation "
                f"is {len(nav)}-D (shape {nav}); use format='csv' or 'hdf5'"
            )
        module = _image_module(fmt)
    os.makedirs(folder, exist_ok=True)
    written = []
    if fmt == "csv":
        path = os.path.join(folder, "results.csv")
        _write_csv(model, pairs, path)
        return [path]
    fields = ("values", "std") if save_std else ("values",)
    for comp, p in pairs:
        stem = _safe(f"{comp.name}_{p.name}")
        for field in fields:
            path = os.path.join(folder, f"{stem}{'_std' if field == 'std' else ''}.{fmt}")
            if module is None:
                from .hdf5 import save_signal

                save_signal(p.as_signal(field), path)
            else:
                _write_image(module, fmt, path, np.asarray(p._map[field], dtype=float))
            written.append(path)
    return written
