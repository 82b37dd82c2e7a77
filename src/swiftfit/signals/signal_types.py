"""Specialised signal classes chosen by ``metadata.Signal.signal_type``.

HyperSpy picks a signal's class from its signal type ("EELS", "EDS_TEM", ...)
and its signal dimension; swiftfit does the same through this one table, used
by ``BaseSignal.set_signal_type`` and by every loader (:func:`specialise`).
Classes are named by import path so that this module imports none of them
(the EELS and EDS packages import the signals, not the other way round).

Examples
--------
>>> import numpy as np
>>> from swiftfit.signals import Signal1D
>>> s = Signal1D(np.ones(4))
>>> type(specialise(s)).__name__
'Signal1D'
"""

from __future__ import annotations

import importlib
from typing import Any

# (signal_type, signal dimension) -> "module:Class"; aliases as HyperSpy's.
_TABLE: dict[tuple[str, int], str] = {
    ("EELS", 1): "swiftfit.eels.signal:EELSSpectrum",
    ("EDS_TEM", 1): "swiftfit.eds.signal:EDSTEMSpectrum",
    ("EDS_SEM", 1): "swiftfit.eds.signal:EDSSEMSpectrum",
}
_ALIASES = {"TEM EELS": "EELS", "EDS_TEM": "EDS_TEM", "EDS_SEM": "EDS_SEM"}


def canonical(signal_type: str) -> str:
    """HyperSpy's name for ``signal_type`` (aliases resolved)."""
    return _ALIASES.get(signal_type, signal_type)


def register(signal_type: str, signal_dimension: int, path: str) -> None:
    """Register the class at ``path`` ("module:Class") for a signal type."""
    _TABLE[(signal_type, int(signal_dimension))] = path


def class_for(signal_type: str, signal_dimension: int, default: type) -> type:
    """The class for ``signal_type`` and dimension, or ``default``.

    A registered class whose package is not importable falls back to
    ``default`` (the signal stays usable, only the specialised methods go).
    """
    path = _TABLE.get((canonical(signal_type), int(signal_dimension)))
    if path is None:
        return default
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return default


def base_class(signal: Any) -> type:
    """The generic class (Signal1D, Signal2D or BaseSignal) under ``signal``'s class."""
    from .base import BaseSignal
    from .signal1d import Signal1D
    from .signal2d import Signal2D
    for cls in (Signal1D, Signal2D):
        if isinstance(signal, cls):
            return cls
    return BaseSignal


def specialise(signal: Any) -> Any:
    """Give ``signal`` the class its signal type and dimension call for (in place).

    Lazy signals keep their class: the specialised classes are eager.
    """
    from .lazy import LazySignal
    if isinstance(signal, LazySignal):
        return signal
    n_sig = len(signal.axes_manager.signal_axes)
    generic = base_class(signal)
    cls = class_for(signal.metadata.Signal.signal_type, n_sig, generic)
    if cls is not type(signal):
        signal.__class__ = cls
        init = getattr(cls, "_init_signal_type", None)
        if init is not None:
            init(signal)
    return signal
