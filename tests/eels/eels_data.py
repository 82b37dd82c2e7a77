"""exspy's real spectra (shipped in its wheel) loaded into swiftfit signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

exspy = pytest.importorskip("exspy")
EXSPY = Path(exspy.__file__).parent
CORELOSS = EXSPY / "tests" / "components" / "coreloss_spectrum.msa"
LOWLOSS = EXSPY / "tests" / "components" / "lowloss_spectrum.msa"
CR_CL = EXSPY / "tests" / "drawing" / "data" / "Cr_L_cl.hspy"
CR_LL = EXSPY / "tests" / "drawing" / "data" / "Cr_L_ll.hspy"


def load_msa(path):
    """An EELSSpectrum from an EMSA file, read by rosettasciio's msa reader."""
    from rsciio.msa import file_reader

    from swiftfit.eels import EELSSpectrum
    record = file_reader(str(path))[0]
    ax = record["axes"][0]
    return EELSSpectrum(np.asarray(record["data"], dtype=float),
                        axes=[{"offset": ax["offset"], "scale": ax["scale"], "units": ax.get("units", "eV")}])


def mno(low_loss=False):
    """exspy's test set-up: the Mn/O core-loss spectrum at 300 kV."""
    s = load_msa(CORELOSS)
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    return s, (load_msa(LOWLOSS) if low_loss else None)


def exspy_mno(low_loss=False):
    import hyperspy.api as hs
    s = hs.load(CORELOSS, signal_type="EELS")
    s.add_elements(("Mn", "O"))
    s.set_microscope_parameters(beam_energy=300, convergence_angle=24.6, collection_angle=13.6)
    ll = hs.load(LOWLOSS, signal_type="EELS") if low_loss else None
    return s, ll
