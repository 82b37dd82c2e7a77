"""Reading the file formats of RosettaSciIO (``.msa``, ``.dm3``/``.dm4``, ``.emd``, ``.bcf``...).

RosettaSciIO is the library HyperSpy itself reads files with: each reader
returns, per signal, a dict of plain values (``data``, ``axes``,
``metadata``, ``original_metadata``) plus ``mapping`` (original-metadata
keys copied into metadata, some through a converter function of the reader)
and ``post_process`` (steps the reader asks for: for DigitalMicrograph,
squeezing unit axes and turning spectrum images into 1-D signals). Here the
dicts become swiftfit signals as HyperSpy's ``load`` makes its signals: the
axes and metadata as read, ``mapping`` applied, the known ``post_process``
steps done, and the class chosen by ``metadata.Signal.signal_type``
(:func:`~swiftfit.signals.signal_types.specialise`: "EDS_TEM" → EDSTEMSpectrum).

swiftfit's own readers stay in charge of ``.hspy``/``.h5`` (HyperSpy and
swiftfit HDF5 files, models included) and zarr stores: they execute and
unpickle nothing read from a file. RosettaSciIO's readers parse binary
formats into arrays and dicts; the only callables run are the reader's own
(``mapping`` converters, ``post_process``), never anything from the file.

Examples
--------
>>> import swiftfit
>>> s = swiftfit.load("spectrum.msa")           # doctest: +SKIP
>>> s.axes_manager[-1].units                    # doctest: +SKIP
'keV'
"""

from __future__ import annotations

import importlib
import os
import re
import unicodedata
import warnings
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..signals import BaseSignal, Signal1D, Signal2D
from ..signals.signal_types import canonical, specialise

__all__ = ["known_extension", "load_rsciio", "rsciio_reader"]

_AXIS_KEYS = ("size", "scale", "offset", "units", "name", "navigate", "is_binned", "axis")
# readers of files swiftfit reads itself (safely, with their models)
_OWN = {"HSPY", "ZSPY"}


def _plugins() -> list[dict]:
    try:
        import rsciio
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise ImportError("reading this format needs RosettaSciIO: pip install rosettasciio") from exc
    return rsciio.IO_PLUGINS


def known_extension(filename: str | os.PathLike) -> bool:
    """Whether a RosettaSciIO plugin (other than HDF5/zarr ones) reads this extension.

    Examples
    --------
    >>> known_extension("a.dm4"), known_extension("a.npz")
    (True, False)
    """
    ext = os.path.splitext(os.fspath(filename))[1].lstrip(".").lower()
    try:
        plugins = _plugins()
    except ImportError:
        return False
    return bool(ext) and any(ext in [e.lower() for e in p["file_extensions"]]
                             for p in plugins if p["name"] not in _OWN)


def rsciio_reader(filename: str | os.PathLike, reader: str | None = None) -> Any:
    """The RosettaSciIO reader module for ``filename`` (by extension, or the plugin named ``reader``).

    Examples
    --------
    >>> rsciio_reader("x.msa").__name__
    'rsciio.msa'
    """
    ext = os.path.splitext(os.fspath(filename))[1].lstrip(".")
    for plugin in _plugins():
        if plugin["name"] in _OWN:
            continue
        names = [plugin["name"].lower()] + [a.lower() for a in plugin.get("name_aliases", [])]
        if (reader is not None and reader.lower() in names) or \
                (reader is None and ext.lower() in [e.lower() for e in plugin["file_extensions"]]):
            return importlib.import_module(plugin["api"])
    if reader is not None:
        raise InvalidInputError(f"`reader` {reader!r} is not a RosettaSciIO plugin")
    raise InvalidInputError(f"no reader for the extension {ext!r} of {os.fspath(filename)!r}")


def _axis_spec(d: dict) -> dict:
    spec = {k: d[k] for k in _AXIS_KEYS if d.get(k) is not None}
    if "axis" in spec:
        spec["axis"] = np.asarray(spec["axis"], dtype=float)
        spec.pop("scale", None)
        spec.pop("offset", None)
    for key in ("scale", "offset"):
        if key in spec:
            spec[key] = float(spec[key])
    if "units" in spec and not isinstance(spec["units"], str):
        spec["units"] = str(spec["units"])
    return spec


class _PostProcess:
    """The HyperSpy methods RosettaSciIO's ``post_process`` steps call, on a swiftfit signal."""

    def __init__(self, signal: BaseSignal) -> None:
        self.signal = signal

    def squeeze(self) -> "_PostProcess":
        s = self.signal
        keep = [i for i, n in enumerate(s.data.shape) if n != 1]
        if len(keep) == s.data.ndim or not keep:
            return self
        axes = [s.axes_manager._axes[i] for i in keep]
        specs = [{"size": a.size, "scale": a.scale, "offset": a.offset, "units": a.units, "name": a.name,
                  "navigate": a.navigate, "is_binned": a.is_binned} if a.is_uniform else
                 {"axis": a.axis, "units": a.units, "name": a.name, "navigate": a.navigate, "is_binned": a.is_binned}
                 for a in axes]
        n_sig = sum(not a["navigate"] for a in specs)
        cls = {1: Signal1D, 2: Signal2D}.get(n_sig, BaseSignal)
        data = s.data.reshape([s.data.shape[i] for i in keep])
        return _PostProcess(cls(data, axes=specs, metadata=s.metadata.as_dictionary(),
                                original_metadata=s.original_metadata.as_dictionary()))

    def to_signal1D(self, optimize: bool = True) -> "_PostProcess":
        # HyperSpy: the axis first in the array becomes the spectral axis
        axis = next(a for a in self.signal.axes_manager._axes if a.index_in_array == 0)
        return _PostProcess(self.signal.transpose(signal_axes=[axis]))


def _slug(key: Any) -> str:
    """A key as HyperSpy's metadata browser names it: ASCII, punctuation
    dropped, runs of spaces and hyphens as one underscore ("Exposure (s)" →
    "Exposure_s").
    """
    text = unicodedata.normalize("NFKD", str(key)).encode("ascii", "ignore").decode()
    text = re.sub(r"[-\s]+", "_", re.sub(r"[^\w\s-]", "", text).strip())
    return text if text[:1].isalpha() else f"Number_{text}"


class _Tree:
    """A read-only view of an original-metadata subtree for the readers'
    converters, which expect HyperSpy's browser: keys by their own name or
    their HyperSpy name (``keys()`` lists the latter), ``get_item`` by path.
    """

    def __init__(self, tree: dict) -> None:
        self._tree = tree

    def keys(self) -> list[str]:
        return [_slug(k) for k in self._tree]

    def __contains__(self, key: Any) -> bool:
        return _lookup(self._tree, str(key))[0]

    def __getitem__(self, key: Any) -> Any:
        found, value = _lookup(self._tree, str(key))
        if not found:
            raise KeyError(key)
        return value

    def get_item(self, path: str, default: Any = None) -> Any:
        found, value = _lookup(self._tree, path)
        return value if found else default

    def has_item(self, path: str) -> bool:
        return _lookup(self._tree, path)[0]


def _lookup(tree: dict, path: str) -> tuple[bool, Any]:
    """The value at the dotted ``path`` of a plain dict tree. As HyperSpy's
    metadata browser, a segment also matches a key of the same HyperSpy name:
    "Detector_Info" finds "Detector Info".
    """
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict):
            return False, None
        if part in node:
            node = node[part]
            continue
        match = [k for k in node if _slug(k) == _slug(part)]
        if not match:
            return False, None
        node = node[match[0]]
    return True, _Tree(node) if isinstance(node, dict) else node


def _to_signal(d: dict) -> BaseSignal:
    data = np.asarray(d["data"])
    metadata = d.get("metadata") or {}
    metadata = {k: v for k, v in metadata.items()}
    sig_md = dict(metadata.get("Signal", {}))
    record_by = sig_md.pop("record_by", None)
    binned = sig_md.pop("binned", None)  # files older than HyperSpy 1.7 keep it here
    metadata["Signal"] = sig_md
    axes = [dict(a) for a in d.get("axes", [])]
    if axes and all("navigate" in a for a in axes):
        n_sig = sum(not a["navigate"] for a in axes)
    elif record_by in ("spectrum", "image"):
        n_sig = 1 if record_by == "spectrum" else 2
        for i, a in enumerate(axes):
            a["navigate"] = i < len(axes) - n_sig
    else:
        n_sig = data.ndim
        for a in axes:
            a["navigate"] = False
    axes.sort(key=lambda a: a.get("index_in_array", 0))
    specs = [_axis_spec(a) for a in axes] if axes else None
    if binned is not None and specs:
        for spec in specs:
            if not spec.get("navigate", False):
                spec["is_binned"] = bool(binned)
    cls = {1: Signal1D, 2: Signal2D}.get(n_sig, BaseSignal)
    signal = cls(data, axes=specs, metadata=metadata, original_metadata=d.get("original_metadata") or {})
    for step in d.get("post_process", []) or []:
        try:
            signal = step(_PostProcess(signal)).signal
        except AttributeError as exc:
            warnings.warn(f"a post-processing step of the reader was skipped ({exc})", UserWarning, stacklevel=3)
    original = d.get("original_metadata") or {}
    for source, (target, function) in (d.get("mapping") or {}).items():
        found, value = _lookup(original, source)
        if found:
            if function is not None:
                value = function(value)
            if value is not None:
                signal.metadata.set_item(target, value)
    signal_type = signal.metadata.get_item("Signal.signal_type", "")
    if isinstance(signal_type, str):
        signal.metadata.Signal.signal_type = canonical(signal_type)
    return specialise(signal)


def load_rsciio(filename: str | os.PathLike, reader: str | None = None, signal_type: str | None = None,
                **kwargs: Any) -> BaseSignal | list[BaseSignal]:
    """Read ``filename`` with RosettaSciIO; one signal, or a list when the file holds several.

    Parameters
    ----------
    filename : str or os.PathLike
    reader : str, optional
        A RosettaSciIO plugin name (``"MSA"``, ``"DigitalMicrograph"``,
        ``"EMD"``...), default: chosen by the extension.
    signal_type : str, optional
        Overrides the file's ``metadata.Signal.signal_type`` (as HyperSpy's ``load``).
    **kwargs
        Passed to the reader's ``file_reader``.

    Examples
    --------
    >>> s = load_rsciio("spectrum.dm3")      # doctest: +SKIP
    """
    if not os.path.exists(os.fspath(filename)):
        raise FileNotFoundError(f"no such file: {os.fspath(filename)!r}")
    module = rsciio_reader(filename, reader)
    dicts = module.file_reader(os.fspath(filename), **kwargs)
    signals = []
    for d in dicts:
        if "metadata" not in d:  # a stand-alone model (HyperSpy files only)
            continue
        if signal_type is not None:
            d["metadata"].setdefault("Signal", {})["signal_type"] = signal_type
        signals.append(_to_signal(d))
    if not signals:
        raise InvalidInputError(f"{os.fspath(filename)!r} holds no signal")
    return signals[0] if len(signals) == 1 else signals
