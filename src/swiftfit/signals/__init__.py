"""Signal containers with calibrated axes and metadata (HyperSpy-like API).

Examples
--------
>>> import numpy as np
>>> from swiftfit.signals import Signal1D
>>> s = Signal1D(np.arange(100).reshape(10, 10))
>>> s.inav[:3].isig[-5:]
<Signal1D, title: , dimensions: (3|5)>
"""

from .axes import AxesManager, DataAxis
from .base import BaseSignal
from .lazy import LazyBaseSignal, LazySignal1D, LazySignal2D
from .metadata import Metadata
from .signal1d import Signal1D
from .signal2d import Signal2D

__all__ = ["BaseSignal", "Signal1D", "Signal2D", "LazyBaseSignal", "LazySignal1D", "LazySignal2D", "AxesManager",
           "DataAxis", "Metadata"]
