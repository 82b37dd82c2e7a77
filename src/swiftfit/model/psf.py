"""PSF convolution and pixel oversampling of a 2-D model.

Both are linear operators applied to the sum of the components, so the
Jacobian goes through the same operator column by column and the problem
stays exact:

1. the components are evaluated on an *extended* grid (the image plus half
   the PSF on each side, so that light from outside the field is convolved
   in) with ``oversampling × oversampling`` sub-pixels per pixel;
2. sub-pixels are averaged back to pixels (the flux of an undersampled peak
   is integrated, not sampled at the centre);
3. the result is convolved with the PSF by FFT (``valid`` mode over the
   extended grid gives exactly the image).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from ..errors import InvalidInputError

__all__ = ["ImageOperator", "MaskedImage"]


class ImageOperator:
    """Oversampled evaluation grid plus PSF convolution for an image model.

    Parameters
    ----------
    x, y : ndarray
        Pixel-centre coordinates of the image's horizontal and vertical axes
        (uniform).
    psf : ndarray (ky, kx), optional
        The PSF sampled on the image's pixels; normalised to unit sum here.
    oversampling : int
        Sub-pixels per pixel along each axis (1: none).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, psf: np.ndarray | None = None, oversampling: int = 1):
        if not isinstance(oversampling, (int, np.integer)) or oversampling < 1:
            raise InvalidInputError(f"`oversampling` must be a positive integer, got {oversampling!r}")
        self.oversampling = int(oversampling)
        if psf is not None:
            psf = np.asarray(psf, dtype=float)
            if psf.ndim != 2 or not np.isfinite(psf).all() or psf.sum() <= 0:
                raise InvalidInputError(
                    f"`psf` must be a finite 2-D image with a positive sum, got shape {psf.shape}"
                )
            psf = psf / psf.sum()
        self.psf = psf
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)  # the image's pixel centres
        self.nx, self.ny = len(x), len(y)
        dx = float(x[1] - x[0]) if len(x) > 1 else 1.0
        dy = float(y[1] - y[0]) if len(y) > 1 else 1.0
        ky, kx = (1, 1) if psf is None else psf.shape
        self.pad_y0, self.pad_y1 = ky // 2, ky - 1 - ky // 2
        self.pad_x0, self.pad_x1 = kx // 2, kx - 1 - kx // 2
        xe = x[0] + dx * np.arange(-self.pad_x0, self.nx + self.pad_x1)
        ye = y[0] + dy * np.arange(-self.pad_y0, self.ny + self.pad_y1)
        k = self.oversampling
        sub = (np.arange(k) + 0.5) / k - 0.5  # sub-pixel centres in pixel units
        xs = (xe[:, None] + dx * sub[None, :]).ravel()
        ys = (ye[:, None] + dy * sub[None, :]).ravel()
        X, Y = np.meshgrid(xs, ys)
        self.coords = (X.ravel(), Y.ravel())
        self.ext_shape = (len(ye), len(xe))

    @property
    def M(self) -> int:
        return self.coords[0].size

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``(K, M)`` values on the evaluation grid → ``(K, ny·nx)`` image pixels."""
        K = values.shape[0]
        k = self.oversampling
        eh, ew = self.ext_shape
        img = values.reshape(K, eh, k, ew, k).mean(axis=(2, 4)) if k > 1 else values.reshape(K, eh, ew)
        if self.psf is not None:
            img = fftconvolve(img, self.psf[None], mode="valid", axes=(1, 2))
        return img.reshape(K, self.ny * self.nx)


class MaskedImage:
    """Model2D's transform: :meth:`ImageOperator.apply`, then the pixels the
    model fits (``mask``, the flattened channel switches, row after row).

    A named callable rather than a closure so the compiled kernel can read the
    operator (:mod:`swiftfit.engines.numba.psf` runs the same convolution).

    >>> op = ImageOperator(np.arange(4.0), np.arange(3.0), np.ones((3, 3)))
    >>> t = MaskedImage(op, np.ones(12, dtype=bool))
    >>> t(np.ones((1, op.M))).round(12).tolist() == [[1.0] * 12]
    True
    """

    compiled_operator = "image"  # what engines/numba/lower.py looks for (it imports no model class)

    def __init__(self, op: ImageOperator, mask: np.ndarray):
        self.op = op
        self.mask = np.asarray(mask, dtype=bool)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.op.apply(values)[:, self.mask]
