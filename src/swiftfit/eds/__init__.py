"""Energy-dispersive X-ray spectroscopy (EDS): signals, the X-ray line table, models.

``set_signal_type("EDS_TEM")`` (or ``"EDS_SEM"``) gives a spectrum the class
:class:`EDSTEMSpectrum` (:class:`EDSSEMSpectrum`), whose ``create_model()``
is an :class:`EDSModel`; see the README's "EDS" section.

Examples
--------
>>> from swiftfit.eds import line_energy
>>> line_energy("Cu_Ka")
8.0478
"""

from .database import SOURCE, fwhm_at_energy, line_energy, line_weight
from .model import EDSModel
from .quantification import cliff_lorimer
from .signal import EDSSEMSpectrum, EDSSpectrum, EDSTEMSpectrum

__all__ = [
    "EDSModel",
    "EDSSEMSpectrum",
    "EDSSpectrum",
    "EDSTEMSpectrum",
    "SOURCE",
    "cliff_lorimer",
    "fwhm_at_energy",
    "line_energy",
    "line_weight",
]
