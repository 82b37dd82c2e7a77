"""Synthetic example signals, as HyperSpy 2.5's ``hs.data``.

The signals are made from the parameters HyperSpy documents for them (sizes,
calibrations, peak shapes), with seeded noise, so scripts and tests written
against ``hs.data`` run here. The noise is drawn as HyperSpy 2.5 draws it
(NumPy's ``default_rng`` with the same seed), so the signals equal HyperSpy's
(tests/test_data_examples.py compares them when HyperSpy is installed).

* :func:`two_gaussians` - a 32 x 32 map of 1024-channel spectra, the sum of a
  wide and a narrow ``GaussianHF`` whose centres and heights vary over the
  map, Poisson noise;
* :func:`luminescence_signal` - a luminescence peak (a Gaussian of A = 5000,
  centre 375 nm, sigma 25 nm) on HyperSpy's 1024-channel wavelength axis, or
  on the non-uniform energy axis E = hc / lambda with the Jacobian applied;
* :func:`wave_image` - a sine-wave image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidInputError, InvalidTypeError

__all__ = ["luminescence_signal", "two_gaussians", "wave_image"]

_HC = 1239.84198  # nm eV


def _rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise InvalidTypeError(f"`random_state` must be None, an int or a numpy Generator, got {random_state!r}")


def two_gaussians(add_noise: bool = True, return_model: bool = False):
    """Two Gaussians (a wide and a narrow ``GaussianHF``) over a 32 x 32 map.

    Each pixel's spectrum has 1024 channels, 0.1 eV apart from 0. The wide
    peak has FWHM 60 and centre ``50 - sin(3 pi x / 32) cos(4 pi y / 32)``,
    the narrow one FWHM 6 and centre ``50 + 10 sin(3 pi x / 32) cos(4 pi y /
    32)`` (x, y the pixel offsets from the map centre); their heights fall
    off from the centre. The ground-truth model is stored in the signal as
    ``s.models.ground_truth`` (HyperSpy's name "ground truth" is not an
    identifier, which swiftfit's stored-model names must be).

    Parameters
    ----------
    add_noise : bool
        Replace the data by Poisson draws (seeded: the same every call) of
        the model, as integers. HyperSpy always adds the noise.
    return_model : bool
        Also return the ground-truth model.

    Returns
    -------
    Signal1D or (Signal1D, Model1D)

    Examples
    --------
    >>> s = hs.data.two_gaussians()
    >>> s.data.shape, s.axes_manager[-1].scale
    ((32, 32, 1024), 0.1)
    >>> m = s.models.ground_truth.restore()
    >>> float(m["narrow"].fwhm.map["values"][0, 0])
    6.0
    """
    from .components.components1d import GaussianHF
    from .signals import Signal1D

    domain, hfactor = 32, 600
    half = domain // 2
    y, x = np.ogrid[-half:domain - half, -half:domain - half]
    envelope = np.exp(-(x**2 / 2 / 20**2 + y**2 / 2 / 10**2))
    wave = np.sin(3 * np.pi * x / domain) * np.cos(4 * np.pi * y / domain)
    r = np.sqrt(x**2 + y**2)
    peaks = {"wide": (60.0, 50 - wave, (0.5 + np.cos(r) ** 2) * envelope * hfactor),
             "narrow": (6.0, 50 + 10 * wave, 0.5 * (0.5 + np.sin(r) ** 2) * envelope * hfactor)}

    s = Signal1D(np.ones((domain, domain, 1024)), axes=[
        {"name": "y", "units": "nm", "size": domain}, {"name": "x", "units": "nm", "size": domain},
        {"name": "Energy", "units": "eV", "scale": 0.1, "size": 1024}])
    s.metadata.General.title = "Two Gaussians"
    m = s.create_model()
    for name, (fwhm, centre, height) in peaks.items():
        g = GaussianHF()
        g.name = name
        m.append(g)
        for p, value in ((g.fwhm, fwhm), (g.centre, centre), (g.height, height)):
            p.map["values"][:] = value
            p.map["is_set"][:] = True
    s.data = m.as_signal().data
    if add_noise:
        s.change_dtype(np.int64)
        s.add_poissonian_noise(random_state=0)
    m.store("ground_truth")
    return (s, m) if return_model else s


def luminescence_signal(navigation_dimension: int = 0, uniform: bool = False, add_baseline: bool = False,
                        add_noise: bool = True, random_state: Any = None):
    """An artificial luminescence spectrum (or a map of them).

    A Gaussian (A = 5000, centre = 375 nm, sigma = 25 nm) on a 1024-channel
    wavelength axis (offset 222.495 nm, scale 0.54 nm), navigation axes of 10
    points 2.1 um apart. ``uniform=False`` gives the spectrum on the energy
    axis E = hc / lambda (non-uniform, increasing) with the Jacobian hc / E^2
    applied to the counts.

    Parameters
    ----------
    navigation_dimension : int
        0 for one spectrum, 1 for a line scan, 2 for a map, ...
    uniform : bool
        Wavelength axis (True) or energy axis (False).
    add_baseline : bool
        Add a constant 350 (in wavelength; a 1/E^2 background in energy).
    add_noise : bool
        Add uniform noise in [-0.7, 0.7).
    random_state : None, int or numpy.random.Generator
        The noise seed.

    Returns
    -------
    Signal1D

    Examples
    --------
    >>> s = hs.data.luminescence_signal(uniform=True, add_noise=False)
    >>> s.axes_manager[-1].units, round(float(s.data.max()), 1)
    ('nm', 79.8)
    >>> e = hs.data.luminescence_signal(random_state=1)
    >>> e.axes_manager[-1].units, e.axes_manager[-1].is_uniform
    ('eV', False)
    """
    from .signals import Signal1D

    if isinstance(navigation_dimension, bool) or not isinstance(navigation_dimension, (int, np.integer)) \
            or navigation_dimension < 0:
        raise InvalidInputError(f"`navigation_dimension` must be an int >= 0, got {navigation_dimension!r}")
    rng = _rng(random_state)
    wavelength = 222.495 + 0.54 * np.arange(1024)
    peak = 5000 / (25 * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((wavelength - 375) / 25) ** 2)
    data = np.ones((10,) * navigation_dimension + (1024,)) * peak
    if add_noise:
        data = data + (rng.uniform(size=data.shape) - 0.5) * 1.4
    if add_baseline:
        data = data + 350.0
    nav = [{"name": f"X{i}", "units": "um", "scale": 2.1, "size": 10} for i in range(navigation_dimension)][::-1]
    if uniform:
        axis = {"name": "Wavelength", "units": "nm", "scale": 0.54, "offset": 222.495, "size": 1024}
    else:
        energy = _HC / wavelength[::-1]
        data = data[..., ::-1] * _HC / energy**2
        axis = {"name": "Energy", "units": "eV", "axis": energy}
    s = Signal1D(np.ascontiguousarray(data), axes=[*nav, axis])
    s.metadata.General.title = f"{navigation_dimension:d}d-map Artificial Luminescence Signal"
    return s


def wave_image(angle: float = 45, wavelength: float = 10, shape: tuple = (256, 256), add_noise: bool = True,
               random_state: Any = None):
    """A sine wave image: ``sin(2 pi (x cos a + y sin a) / wavelength)``, pixels of 1.

    Parameters
    ----------
    angle : float
        Direction of the wave vector, degrees.
    wavelength : float
        Wavelength in pixels.
    shape : tuple of int
        Image shape (rows, columns).
    add_noise : bool
        Add Gaussian noise of standard deviation 0.1.
    random_state : None, int or numpy.random.Generator
        The noise seed.

    Returns
    -------
    Signal2D

    Examples
    --------
    >>> im = hs.data.wave_image(shape=(64, 32), add_noise=False)
    >>> im.data.shape, float(im.data[0, 0])
    ((64, 32), 0.0)
    """
    from .signals import Signal2D

    if not wavelength or not np.isfinite(wavelength):
        raise InvalidInputError(f"`wavelength` must be a finite non-zero number, got {wavelength!r}")
    rows, cols = (int(n) for n in shape)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(float)
    a = np.deg2rad(angle)
    data = np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / wavelength)
    if add_noise:
        data = data + _rng(random_state).normal(0.0, 0.1, size=data.shape)
    s = Signal2D(data)
    s.metadata.General.title = "Wave image"
    return s
