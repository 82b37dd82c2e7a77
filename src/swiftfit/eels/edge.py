r"""EELSCLEdge: an ionisation edge, intensity × the differential cross-section.

.. math::

    f(E) = I \cdot \frac{d\sigma}{dE}(E;\ E_\mathrm{onset}, \beta_\mathrm{eff}, E_0)

with the cross-section of :mod:`swiftfit.eels.gos` (barn / eV). Optionally
the first ``fine_structure_width`` eV above the onset are replaced by a cubic
B-spline (knots every ``scale / fine_structure_smoothing`` eV) whose
coefficients are the parameters ``fine_structure_coeff_0 ...``, also scaled by
the intensity — exspy's fine-structure model, with one scalar parameter per
coefficient instead of one vector parameter.

The component is batched: ``_function_nd`` evaluates every pixel at once.
The cross-section is computed once per distinct (onset, effective angle)
pair and cached, so a fixed onset costs nothing per pixel. Derivatives: the
intensity and the fine-structure coefficients analytically, the onset by a
central difference of half a channel (see ``_onset_gradient``), the effective
angle (fixed by default) by the engine's finite differences.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from scipy.interpolate import BSpline

from ..component import Component
from ..errors import InvalidInputError
from ..parameters import Parameter
from .database import split_subshell
from .gos import GOS_KINDS, HydrogenicGOS, TabulatedGOS, effective_angle

__all__ = ["EELSCLEdge"]

_BASE = ("intensity", "effective_angle", "onset_energy")


class EELSCLEdge(Component):
    """Core-loss ionisation edge of one subshell.

    Parameters
    ----------
    element_subshell : str
        ``"C_K"``, ``"Cr_L3"``, ... (see :func:`swiftfit.eels.database.edge_table`).
    GOS : {"hydrogenic", "gosh", "dft", "dirac", "Hartree-Slater"}
        Hydrogenic is computed here (K and L shells); the tabulated kinds are
        read from ``gos_file_path``, a file you download (swiftfit downloads
        nothing, so the default is "hydrogenic", where exspy's is "dft").
    gos_file_path : str or Path, optional
        The tabulated GOS file (GOSH HDF5) or directory (Hartree–Slater).

    Attributes
    ----------
    E0, collection_angle, convergence_angle : float
        Beam energy (keV) and semi-angles (mrad); the model sets them from the
        signal's metadata (:meth:`set_microscope_parameters`).
    fine_structure_width : float
        Width (eV) of the fine-structure region above the onset (30).
    fine_structure_smoothing : float
        Knots per channel of the fine-structure spline (0.3).
    convolved : bool
        Whether a model with a low-loss spectrum convolves this edge (True).

    Examples
    --------
    >>> import numpy as np
    >>> edge = EELSCLEdge("C_K")
    >>> edge.set_microscope_parameters(E0=200, alpha=10, beta=20, energy_scale=0.5)
    >>> round(edge.effective_angle.value, 4)
    18.6881
    >>> y = edge.function(np.array([280.0, 300.0]))
    >>> bool(y[0] == 0.0 and y[1] > 0.0)
    True
    """

    _position = "onset_energy"

    def __init__(self, element_subshell: str, GOS: str = "hydrogenic", gos_file_path=None):
        element, subshell = split_subshell(element_subshell)
        if GOS not in GOS_KINDS:
            raise InvalidInputError(f"`GOS` must be one of {GOS_KINDS}, got {GOS!r}")
        super().__init__(_BASE, ("intensity",), name=element_subshell)
        self.element, self.subshell = element, subshell
        self.GOS_kind = GOS
        self.gos_file_path = gos_file_path
        self.GOS = HydrogenicGOS(element_subshell) if GOS == "hydrogenic" else \
            TabulatedGOS(element_subshell, GOS, gos_file_path)
        self.intensity.value = 1.0
        self.intensity.bmin = 0.0
        self.onset_energy.value = self.GOS.onset_energy
        self.onset_energy.free = False
        self.effective_angle.free = False
        self.onset_energy.bmin = self.GOS.onset_energy - 10.0
        self.onset_energy.bmax = self.GOS.onset_energy + 10.0
        self.E0 = 100.0
        self.collection_angle = 10.0
        self.convergence_angle = 0.0
        self.energy_scale = 1.0
        self.fine_structure_width = 30.0
        self.fine_structure_smoothing = 0.3
        self._fine_structure_active = False
        self.convolved = True
        self._cache: OrderedDict = OrderedDict()
        self._values: OrderedDict = OrderedDict()  # (cross-section or basis key, x) -> values
        self._update_effective_angle()

    # ------------------------------------------------------- microscope
    def set_microscope_parameters(self, E0=None, alpha=None, beta=None, energy_scale=None) -> None:
        """Beam energy ``E0`` (keV), convergence ``alpha`` and collection ``beta``
        semi-angles (mrad), channel width ``energy_scale`` (eV); the effective
        angle follows (Kohl's formula).
        """
        for name, value in (("E0", E0), ("alpha", alpha), ("beta", beta), ("energy_scale", energy_scale)):
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise InvalidInputError(f"`{name}` must be a finite number >= 0, got {value!r}")
        if E0 is not None:
            self.E0 = float(E0)
        if alpha is not None:
            self.convergence_angle = float(alpha)
        if beta is not None:
            self.collection_angle = float(beta)
        if energy_scale is not None:
            self.energy_scale = float(energy_scale)
            if self._fine_structure_active:
                self._resize_fine_structure()
        self._update_effective_angle()

    def _update_effective_angle(self) -> None:
        self.effective_angle.value = effective_angle(
            self.E0, self.GOS.onset_energy, self.convergence_angle, self.collection_angle)
        if self.model is not None:  # the microscope is the same at every pixel
            self.effective_angle.assign_current_value_to_all()
        self._cache.clear()
        self._values.clear()

    def _on_model_attach(self, model) -> None:
        tem = model.signal.metadata
        E0 = tem.get_item("Acquisition_instrument.TEM.beam_energy", None)
        alpha = tem.get_item("Acquisition_instrument.TEM.convergence_angle", None)
        beta = tem.get_item("Acquisition_instrument.TEM.Detector.EELS.collection_angle", None)
        self.set_microscope_parameters(E0=E0, alpha=alpha, beta=beta, energy_scale=float(model.axis.scale))

    # --------------------------------------------------- fine structure
    @property
    def fine_structure_active(self) -> bool:
        """Replace the first ``fine_structure_width`` eV by a free spline."""
        return self._fine_structure_active

    @fine_structure_active.setter
    def fine_structure_active(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidInputError(f"`fine_structure_active` must be True or False, got {value!r}")
        self._fine_structure_active = bool(value)
        if value:
            self._resize_fine_structure()
            self._set_fine_structure_free(True)
        else:
            self._set_fine_structure_free(False)

    @property
    def fine_structure_coeff(self) -> list[Parameter]:
        """The spline coefficient parameters (empty until fine structure is enabled)."""
        return list(self.parameters[len(_BASE):])

    def _n_fine_structure(self) -> int:
        return int(self.fine_structure_width / self.energy_scale * self.fine_structure_smoothing) + 4

    def _resize_fine_structure(self) -> None:
        n = self._n_fine_structure()
        if len(self.fine_structure_coeff) == n:
            return
        for p in self.fine_structure_coeff:
            delattr(self, p.name)
        params = list(self.parameters[: len(_BASE)])
        for k in range(n):
            p = Parameter(f"fine_structure_coeff_{k}")
            p.component = self
            object.__setattr__(self, p.name, p)
            params.append(p)
            if self.model is not None:
                p._create_array(self.model.axes_manager._navigation_shape_in_array)
        self.parameters = tuple(params)

    def _set_fine_structure_free(self, free: bool) -> None:
        for p in self.fine_structure_coeff:
            p.free = free

    def _knots(self, onset: float) -> np.ndarray:
        n = self._n_fine_structure()
        inner = np.linspace(onset, onset + self.fine_structure_width, n)[2:-2]
        return np.r_[[onset] * 4, inner, [onset + self.fine_structure_width] * 4]

    def _basis(self, x: np.ndarray, onset: float) -> tuple[np.ndarray, np.ndarray]:
        """Mask of the fine-structure region and the B-spline basis there ``(n_in, n)``."""
        key = ("basis", float(onset), self.fine_structure_width, self.fine_structure_smoothing, self.energy_scale)
        return self._remember(key, x, lambda: self._basis_values(x, onset))

    def _basis_values(self, x, onset):
        region = (x >= onset) & (x < onset + self.fine_structure_width)
        knots = self._knots(onset)
        xs = x[region]
        basis = BSpline.design_matrix(np.clip(xs, knots[0], knots[-1]), knots, 3).toarray() if xs.size else \
            np.zeros((0, len(knots) - 4))
        return region, basis

    def _remember(self, key, x, compute):
        """``compute()`` for ``key`` at the energies ``x``, kept (read-only) for the next
        call with the same key and energies: every chunk of a multifit evaluates the
        same fixed-onset edge on the same axis several times.
        """
        full = (key, x.shape, x.tobytes())
        out = self._values.get(full)
        if out is None:
            out = compute()
            for a in out if isinstance(out, tuple) else (out,):
                a.setflags(write=False)
            self._values[full] = out
            if len(self._values) > 64:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(full)
        return out

    # ------------------------------------------------------- evaluation
    def _sigma(self, x: np.ndarray, onset: float, angle: float) -> np.ndarray:
        key = (float(onset), float(angle), self.E0)
        xs = self._cache.get(key)
        if xs is None:
            xs = self.GOS.cross_section_function(float(onset), float(angle) * 1e-3, self.E0)
            self._cache[key] = xs
            if len(self._cache) > 256:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return self._remember(key, x, lambda: np.asarray(xs(x), dtype=float))

    def _shape_nd(self, x, onset, angle, coeffs) -> np.ndarray:
        """``(B, N)`` cross-section (with the fine structure) per pixel, before the intensity."""
        B = max(onset.shape[0], angle.shape[0], max((c.shape[0] for c in coeffs), default=1))
        onset = np.broadcast_to(onset.reshape(-1), (B,))
        angle = np.broadcast_to(angle.reshape(-1), (B,))
        pairs = np.stack([onset, angle], axis=1)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        rows = np.stack([self._sigma(x, o, a) for o, a in uniq])
        out = rows[inverse] if len(uniq) > 1 else np.broadcast_to(rows[0], (B, x.size)).copy()
        if self._fine_structure_active and coeffs:
            C = np.broadcast_to(np.concatenate([np.reshape(c, (-1, 1)) for c in coeffs], axis=1),
                                (B, len(coeffs)))
            for u, o in enumerate(np.unique(onset)):
                region, basis = self._basis(x, o)
                sel = onset == o
                block = out[sel]
                block[:, region] = C[sel] @ basis.T
                out[sel] = block
        return out

    def _function_nd(self, coords, values):
        x = np.asarray(coords[0], dtype=float)
        intensity, angle, onset, *coeffs = [np.real(np.asarray(v, dtype=float)) for v in values]
        shape = self._shape_nd(x, onset, angle, coeffs)
        return intensity.reshape(-1, 1) * shape

    @property
    def _has_gradients(self) -> bool:
        return True

    def _gradients_nd(self, coords, values):
        x = np.asarray(coords[0], dtype=float)
        intensity, angle, onset, *coeffs = [np.asarray(v, dtype=float) for v in values]
        shape = self._shape_nd(x, onset, angle, coeffs)
        B = shape.shape[0]
        grads: list = [shape, None, self._onset_gradient(x, intensity, angle, onset, coeffs)]
        if coeffs:
            inten = np.broadcast_to(intensity.reshape(-1), (B,))
            on = np.broadcast_to(onset.reshape(-1), (B,))
            G = np.zeros((len(coeffs), B, x.size))
            if self._fine_structure_active:
                for o in np.unique(on):
                    region, basis = self._basis(x, o)
                    sel = on == o
                    idx = np.flatnonzero(region)
                    G[:, np.flatnonzero(sel)[:, None], idx[None, :]] = (
                        inten[sel][None, :, None] * basis.T[:, None, :])
            grads.extend(list(G))
        return grads

    def _onset_gradient(self, x, intensity, angle, onset, coeffs):
        """D f / d onset by a central difference of half a channel each way.

        The edge jumps at its onset; on a binned axis moving the jump by
        ``delta`` changes the channel holding it by ``jump * delta / width``,
        so a step of half a channel gives that slope, where a tiny step
        (the default finite difference) sees either nothing or a spike.
        """
        if not self.onset_energy.free and not self._onset_is_driven():
            return None  # unused: a fixed onset has no column in the Jacobian
        h = 0.5 * self.energy_scale
        up = self._shape_nd(x, onset + h, angle, coeffs)
        dn = self._shape_nd(x, onset - h, angle, coeffs)
        return intensity.reshape(-1, 1) * (up - dn) / (2 * h)

    def _onset_is_driven(self) -> bool:
        return self.onset_energy.twin is not None or self.onset_energy._expr_sympy is not None

    def function(self, x):
        """The edge at the current parameter values over energies ``x`` (eV)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        vals = [np.array([[p.value]]) for p in self.parameters]
        return self._function_nd((x,), vals)[0]

    # ---------------------------------------------------- conveniences
    def free_onset_energy(self) -> None:
        """Let the onset energy vary in the fit (within ±10 eV of the table)."""
        self.onset_energy.free = True

    def fix_onset_energy(self) -> None:
        self.onset_energy.free = False

    def estimate_parameters(self, signal, x1, x2, only_current=False) -> bool:
        return False
