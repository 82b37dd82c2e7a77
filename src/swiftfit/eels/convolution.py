"""Convolution of the core-loss edges with each pixel's low-loss spectrum.

A Problem whose *convolved* components (the edges) are evaluated on an
extended energy axis and convolved, pixel by pixel, with that pixel's
low-loss spectrum, while the others (the power-law background) are evaluated
on the data channels as usual — HyperSpy's and exspy's convolution, but
batched: every pixel's FFT in one call, and the Jacobian's columns go through
the same linear operator (``(B, P)`` columns at once), so ``multifit`` stays
batched.

The extended axis has ``N + L - 1`` channels (``N`` the full signal axis,
``L`` the low-loss axis), starting ``scale * (L - 1 - i0)`` below the signal
axis, where ``i0`` is the low-loss channel of zero loss; the ``valid`` part of
the linear convolution is exactly the ``N`` channels of the signal.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ..errors import InvalidInputError

# batched FFTs of a chunk run on every core (pocketfft's threads; a pixel's transform
# does not depend on them)
_WORKERS = -1
from ..problem.problem import Problem

__all__ = ["LowLossOperator", "ConvolvedProblem"]


class LowLossOperator:
    """The low-loss kernels of some pixels and the extended axis.

    Parameters
    ----------
    axis : ndarray (N,)
        The core-loss signal axis (uniform), full length.
    ll_axis : ndarray (L,)
        The low-loss axis (uniform, same scale).
    ll_rows : ndarray (B, L) or (1, L)
        The low-loss spectra of the pixels (one row broadcasts).
    switches : ndarray of bool (N,)
        The channels in the signal range.
    scale, ll_scale : float, optional
        The axes' exact scales (differences of axis values carry rounding,
        which would move the extended axis off exspy's by 1e-14 eV and flip
        channels that sit exactly on an onset).
    """

    def __init__(self, axis, ll_axis, ll_rows, switches, scale=None, ll_scale=None):
        axis = np.asarray(axis, dtype=float)
        ll_axis = np.asarray(ll_axis, dtype=float)
        scale = axis[1] - axis[0] if scale is None else float(scale)
        ll_scale = ll_axis[1] - ll_axis[0] if ll_scale is None else float(ll_scale)
        if not np.isclose(scale, ll_scale, rtol=1e-6):
            raise InvalidInputError(
                f"`low_loss` must have the core-loss energy scale {scale}, got {ll_scale}"
            )
        L, N = ll_axis.size, axis.size
        i0 = int(np.argmin(np.abs(ll_axis)))  # the zero-loss channel
        knot = L - i0 - 1
        self.ext_axis = axis[0] + scale * (np.arange(N + L - 1) - knot)
        self.L, self.N = L, N
        self.nfft = sfft.next_fast_len(N + L - 1, real=True)
        rows = np.asarray(ll_rows, dtype=float)
        self.kernels = sfft.rfft(rows, self.nfft, axis=-1)  # (B or 1, nfft//2+1)
        self.switches = np.asarray(switches, dtype=bool)

    def take(self, rows) -> LowLossOperator:
        new = object.__new__(LowLossOperator)
        new.__dict__.update(self.__dict__)
        if self.kernels.shape[0] > 1:
            new.kernels = self.kernels[np.asarray(rows)]
        return new

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``(K, N + L - 1)`` on the extended axis → ``(K, n_range)``; K a multiple of
        the number of pixels (rows ``b * K/B + j`` belong to pixel ``b``), or 1: one
        row shared by every pixel (→ ``(B, n_range)``).
        """
        K, M = values.shape
        B = self.kernels.shape[0]
        if B > 1 and (K == 1 or (K == B and (values == values[:1]).all())):
            # one row for every pixel (an edge at the same onset): one forward FFT
            spec = sfft.rfft(values[0], self.nfft) * self.kernels
            full = sfft.irfft(spec, self.nfft, axis=-1, workers=_WORKERS)[:, self.L - 1:self.L - 1 + self.N]
            return full if self.switches.all() else full[:, self.switches]
        spec = sfft.rfft(values, self.nfft, axis=-1, workers=_WORKERS)
        if B == 1:
            spec *= self.kernels
        else:
            spec = (spec.reshape(B, K // B, -1) * self.kernels[:, None, :]).reshape(K, -1)
        full = sfft.irfft(spec, self.nfft, axis=-1, workers=_WORKERS)[:, self.L - 1:self.L - 1 + self.N]
        return full[:, self.switches]


class ConvolvedProblem(Problem):
    """A :class:`Problem` whose convolved components go through a :class:`LowLossOperator`."""

    @classmethod
    def from_problem(cls, base: Problem, operator: LowLossOperator, convolved) -> ConvolvedProblem:
        new = object.__new__(cls)
        new.__dict__.update(base.__dict__)
        new.operator = operator
        new.convolved = np.asarray(convolved, dtype=bool)
        new.ext_coords = (operator.ext_axis,)
        # not None: the fused numba kernel and the shared-design linear path
        # know nothing of per-pixel convolution and must leave this problem alone
        new.transform = operator
        return new

    def take(self, rows) -> ConvolvedProblem:
        new = super().take(rows)
        new.__class__ = type(self)  # Problem.take builds a plain Problem
        new.operator = self.operator.take(rows)
        new.transform = new.operator
        return new

    def _parts(self, theta, shared=False):
        """``(c, f)`` per active component, ``f`` (B, M) on its axis; with ``shared`` a
        convolved component active everywhere with the same values at every pixel
        (an edge's column at a fixed onset) gives one row (1, M): the operator
        convolves it with every pixel's kernel without B copies of it.
        """
        values = self.parameter_values(theta)
        B = theta.shape[0]
        for c, comp in enumerate(self.components):
            if not self.active[:, c].any():
                continue
            coords = self.ext_coords if self.convolved[c] else self.coords
            vals = self._component_values(values, c)
            if shared and B > 1 and self.convolved[c] and self.active[:, c].all() and \
                    all((v == v[:1]).all() for v in vals):
                f = comp._function_nd(coords, [v[:1] for v in vals])
                yield c, np.broadcast_to(f, (1, coords[0].size))
                continue
            f = comp._function_nd(coords, vals)
            yield c, np.broadcast_to(f, (B, coords[0].size)) * self.active[:, c, None]

    def _finish(self, direct, convolved):
        if convolved is None:
            return direct * self.binscale
        out = self.operator(convolved)  # a fresh array (the inverse FFT's)
        if out.shape[0] != direct.shape[0]:  # one shared row and one kernel for all pixels
            out = out + direct
        else:
            out += direct
        out *= self.binscale
        return out

    def _evaluate(self, theta):
        B = theta.shape[0]
        direct = np.zeros((B, self.N))
        conv = None
        for c, f in self._parts(theta, shared=True):
            if self.convolved[c]:
                conv = f.copy() if conv is None else conv + f
            else:
                direct = direct + f
        return self._finish(direct, conv)

    def evaluate_components(self, theta):
        out = [None] * len(self.components)
        with np.errstate(all="ignore"):
            for c, f in self._parts(np.asarray(theta)):
                out[c] = self._finish(np.zeros((f.shape[0], self.N)), f) if self.convolved[c] \
                    else self._finish(f, None)
        B = np.shape(theta)[0]
        return [np.zeros((B, self.N)) if o is None else o for o in out]

    def _jacobian(self, theta):
        if self.grad == "fd":
            return self._fd_jacobian(theta)
        values, dvals = self.parameter_values(theta, derivatives=True)
        B, P = theta.shape
        Jd = np.zeros((B, P, self.N))
        Jc = np.zeros((B, P, self.ext_coords[0].size))
        any_conv = False
        for c, comp in enumerate(self.components):
            act = self.active[:, c]
            slots = self.slots[c]
            if not act.any() or not any(dvals[i] is not None for i in slots):
                continue
            coords = self.ext_coords if self.convolved[c] else self.coords
            target = Jc if self.convolved[c] else Jd
            any_conv |= bool(self.convolved[c])
            cvals = self._component_values(values, c)
            grads = comp._gradients_nd(coords, cvals) if comp._has_gradients else [None] * len(slots)
            for k, i in enumerate(slots):
                if dvals[i] is None:
                    continue
                g = grads[k]
                if g is None:
                    g = self._component_fd(comp, cvals, k, coords)
                gact = np.broadcast_to(g, (B, coords[0].size)) * act[:, None]
                d = dvals[i]
                cols = np.flatnonzero(np.any(d != 0, axis=0))
                if cols.size == 1 and np.all(d[:, cols[0]] == 1):
                    target[:, cols[0], :] += gact
                else:
                    target[:, cols, :] += d[:, cols, None] * gact[:, None, :]
        if any_conv:
            # only the columns the convolved components reach go through the FFTs
            cols = np.flatnonzero(np.any(Jc != 0, axis=(0, 2)))
            for col in cols:  # one column at a time: the operator can share a row's FFT
                Jd[:, col, :] += self.operator(Jc[:, col, :])
        Jd *= self.binscale
        return Jd.transpose(0, 2, 1)
