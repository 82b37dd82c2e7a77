"""EELS: the EELSSpectrum signal, the edge table, GOS, the EELSCLEdge component
and the EELSModel (power law + edges, convolved with the low-loss spectrum).
"""

from .edge import EELSCLEdge
from .model import EELSModel
from .signal import EELSSpectrum

__all__ = ["EELSSpectrum", "EELSCLEdge", "EELSModel"]
