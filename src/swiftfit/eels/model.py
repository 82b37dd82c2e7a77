"""EELSModel: a power-law background plus one edge per subshell, optionally
convolved with the low-loss spectrum of each pixel.

Component names and order: "PowerLaw" first, then the edges named by their
subshell ("O_K", "Mn_L3", ...) in increasing onset energy (ties by name) —
exspy's names, in an order that does not depend on Python's hash seed.
With the hydrogenic GOS only K and L3 edges are added (the hydrogenic L3
edge models the whole L shell, as in exspy); with a tabulated GOS the other
subshells of a shell are twinned to its first edge (``intensity`` equal,
``onset_energy`` shifted by the tabulated difference).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..components.background import PowerLaw
from ..errors import InvalidInputError
from ..model.model1d import Model1D
from .convolution import ConvolvedProblem, LowLossOperator
from .edge import EELSCLEdge

__all__ = ["EELSModel"]


class EELSModel(Model1D):
    """Model of an :class:`~swiftfit.eels.signal.EELSSpectrum`; see
    :meth:`EELSSpectrum.create_model` for the arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from swiftfit.eels import EELSSpectrum
    >>> x = np.arange(250.0, 450.0)
    >>> s = EELSSpectrum(1e9 * x ** -3.0, axes=[{"offset": 250.0, "scale": 1.0, "units": "eV"}])
    >>> s.add_elements(["C"]); s.set_microscope_parameters(beam_energy=200, collection_angle=20)
    >>> m = s.create_model()
    >>> [c.name for c in m]
    ['PowerLaw', 'C_K']
    """

    def __init__(self, spectrum, low_loss=None, auto_background=True, auto_add_edges=True,
                 GOS="hydrogenic", gos_file_path=None):
        super().__init__(spectrum)
        self.prefer_varpro = True
        self.GOS = GOS
        self.gos_file_path = gos_file_path
        self.low_loss = None
        if low_loss is not None:
            self._set_low_loss(low_loss)
        self._background_components = []
        if auto_background:
            bg = PowerLaw()
            bg.convolved = False
            self.append(bg)
            self._background_components.append(bg)
        if auto_add_edges:
            self._add_edges_from_subshells_names()
        if auto_background and self.edges:
            self.two_area_background_estimation()

    # ------------------------------------------------------------ edges
    @property
    def edges(self) -> list[EELSCLEdge]:
        """The edge components, in model order."""
        return [c for c in self if isinstance(c, EELSCLEdge)]

    @property
    def background_components(self) -> list:
        """Components that are not edges (the power law)."""
        return [c for c in self if not isinstance(c, EELSCLEdge)]

    def _add_edges_from_subshells_names(self, e_shells=None) -> None:
        from .database import onset_energy
        names = sorted(self.signal.subshells if e_shells is None else e_shells,
                       key=lambda n: (onset_energy(n), n))
        if self.GOS == "hydrogenic":
            keep = [n for n in names if n.split("_", 1)[1] in ("K", "L3")]
            skipped = [n for n in names if n.split("_", 1)[1] not in ("K", "L3", "L2", "L1")]
            if skipped:
                warnings.warn(f"the hydrogenic GOS covers K and L shells only; not adding {skipped}",
                              stacklevel=3)
            names = keep
        masters: dict = {}
        for name in names:
            edge = EELSCLEdge(name, GOS=self.GOS, gos_file_path=self.gos_file_path)
            self.append(edge)
            key = (edge.element, edge.subshell[:1])
            master = masters.get(key)
            if master is None:
                masters[key] = edge
                continue
            edge.intensity.twin = master.intensity
            shift = edge.GOS.onset_energy - master.GOS.onset_energy
            edge.onset_energy.twin = master.onset_energy
            edge.onset_energy.twin_function_expr = f"x + {shift!r}"

    def append(self, component) -> None:
        super().append(component)
        if not hasattr(component, "convolved"):
            component.convolved = True

    # --------------------------------------------------------- low loss
    def _set_low_loss(self, low_loss) -> None:
        ll_nav = tuple(low_loss.axes_manager._navigation_shape_in_array)
        if ll_nav and ll_nav != self._nav_shape:
            raise InvalidInputError(
                f"`low_loss` must have the navigation shape {self._nav_shape} of the core-loss "
                f"spectrum (or none), got {ll_nav}"
            )
        if len(low_loss.axes_manager.signal_axes) != 1:
            raise InvalidInputError("`low_loss` must be a one-dimensional spectrum (EELSSpectrum)")
        if not self.axis.is_uniform:
            raise InvalidInputError("convolution with `low_loss` needs a uniform energy axis")
        self.low_loss = low_loss

    @property
    def convolved(self) -> bool:
        """Whether the edges are convolved with a low-loss spectrum."""
        return self.low_loss is not None

    def _operator(self, pixels) -> LowLossOperator:
        ll = self.low_loss
        data = np.asarray(ll.data, dtype=float)
        if data.ndim == 1:
            rows = data[None]
        else:
            rows = np.stack([data[p] for p in pixels])
        return LowLossOperator(np.asarray(self.axis.axis, dtype=float),
                               np.asarray(ll.axes_manager.signal_axes[0].axis, dtype=float),
                               rows, self._channel_switches, scale=self.axis.scale,
                               ll_scale=ll.axes_manager.signal_axes[0].scale)

    def _default_chunk_size(self) -> int:
        """Pixels per batched solve: where variable projection runs (no free onset, no
        fine structure) no (pixels × points × parameters) Jacobian is formed, only a few
        arrays of (pixels × points): chunks near 192 MB of those, so that the fixed cost
        of a chunk (the edge columns, the checks of the separable form) is paid a few
        times per image rather than tens. Results do not depend on it.
        """
        if not self.prefer_varpro or any(e.onset_energy.free for e in self.edges if e.active):
            return super()._default_chunk_size()
        n = max(int(self._channel_switches.sum()), 1)
        # with fine structure: the pixel's columns (one per coefficient) when convolved
        n_cols = 6 + sum(len(e.fine_structure_coeff) for e in self.edges if e.active and e.fine_structure_active)
        return int(np.clip(192e6 // (8 * n * n_cols), 16, 4096))

    def _problem(self, pixels, *, grad="auto", fd_scheme="2-point", check=True):
        base = super()._problem(pixels, grad=grad, fd_scheme=fd_scheme, check=check)
        # linear in A and the intensities: "lm" runs variable projection when it
        # applies (swiftfit.optimizers.varpro); kernel="numpy" insists on plain LM
        # (not with free onsets: the edge's onset derivative is a half-channel
        # difference of a discontinuous model, left to plain LM as before)
        base.prefer_varpro = bool(self.prefer_varpro) and not any(
            e.onset_energy.free for e in self.edges if e.active)
        if base.prefer_varpro and any(e.fine_structure_active for e in self.edges if e.active):
            # linear in the intensities × coefficients: variable projection there too
            from .fine_varpro import solve

            base.separable_solver = solve
        if self.low_loss is None:
            return base
        convolved = [bool(getattr(c, "convolved", True)) for c in base.components]
        return ConvolvedProblem.from_problem(base, self._operator(list(pixels)), convolved)

    def __call__(self, non_convolved: bool = False, onlyactive: bool = False, component_list=None, binned=None):
        """The model at the current position over the signal range (convolved unless
        ``non_convolved``).
        """
        if self.low_loss is None or non_convolved:
            return super().__call__(non_convolved=non_convolved, onlyactive=onlyactive,
                                    component_list=component_list, binned=binned)
        comps = self._component_list(component_list)
        if onlyactive:
            comps = [c for c in comps if c.active]
        pixel = tuple(self.axes_manager._array_indices)
        op = self._operator([pixel])
        x = self._coordinates()
        direct = np.zeros(x[0].size)
        conv = np.zeros(op.ext_axis.size)
        for comp in comps:
            vals = [np.array([[p.value]]) for p in comp.parameters]
            if getattr(comp, "convolved", True):
                conv += comp._function_nd((op.ext_axis,), vals)[0]
            else:
                direct += comp._function_nd(x, vals)[0]
        total = direct + op(conv[None])[0]
        use_binned = self._is_binned if binned is None else binned
        return total * (self._binscale() if use_binned else 1.0)

    # ------------------------------------------------------- background
    def _first_onset(self) -> float | None:
        onsets = [e.onset_energy.value for e in self.edges if e.active]
        return min(onsets) if onsets else None

    def two_area_background_estimation(self, E1=None, E2=None, powerlaw=None, only_current=False) -> None:
        """Estimate the power law by the two-area method between ``E1`` and ``E2``
        (default: the start of the signal range and 5 eV before the first edge),
        for every pixel (``only_current=False``) or the current one.
        """
        powerlaw = powerlaw or next((c for c in self if isinstance(c, PowerLaw)), None)
        if powerlaw is None:
            raise InvalidInputError("the model has no PowerLaw; pass `powerlaw=`")
        x = np.asarray(self.axis.axis, dtype=float)[self._channel_switches]
        if E1 is None:
            E1 = float(x[0])
        if E2 is None:
            first = self._first_onset()
            E2 = float(x[-1]) if first is None else first - 5.0
        if E2 - E1 < 3 * float(self.axis.scale):
            E2 = min(float(x[-1]), E1 + 10 * float(self.axis.scale))
        powerlaw.estimate_parameters(self.signal, E1, E2, only_current=only_current)

    def fit_background(self, start_energy=None, only_current=True, **kwargs) -> None:
        """Fit the background components alone, below the first edge."""
        edges = [e for e in self.edges if e.active]
        first = self._first_onset()
        saved = self._channel_switches.copy()
        for e in edges:
            e.active = False
        try:
            self.set_signal_range(start_energy, None if first is None else first - float(self.axis.scale))
            self._set_switches(self._channel_switches & saved)
            if only_current:
                self.fit(**kwargs)
            else:
                self.multifit(**kwargs)
        finally:
            for e in edges:
                e.active = True
            self._set_switches(saved)

    def smart_fit(self, start_energy=None, **kwargs) -> None:
        """Background below the first edge, then each edge's intensity with the
        others fixed, then everything together (exspy's ``fit(kind="smart")``).
        """
        self.fit_background(start_energy=start_energy, **kwargs)
        edges = [e for e in self.edges if e.active]
        saved_free = {id(p): p.free for c in self for p in c.parameters}
        try:
            for c in self.background_components:
                c.set_parameters_not_free()
            for i, edge in enumerate(edges):
                for other in edges:
                    other.set_parameters_not_free()
                if edge.intensity.twin is None:
                    edge.intensity.free = True
                    self.fit(**kwargs)
        finally:
            for c in self:
                for p in c.parameters:
                    if p.twin is None and p._expr_sympy is None:
                        p.free = saved_free.get(id(p), p.free)
        self.fit(**kwargs)

    # --------------------------------------------------------- switches
    def _edges_of(self, edges_list):
        edges = self.edges if edges_list is None else list(edges_list)
        for e in edges:
            if not isinstance(e, EELSCLEdge):
                raise InvalidInputError(f"`edges_list` must hold EELSCLEdge components, got {e!r}")
        return edges

    def enable_fine_structure(self, edges_list=None) -> None:
        """Fit the fine structure of the edges (default: all), each limited so
        that it ends 2 eV before the next edge of the model.
        """
        self.resolve_fine_structure()
        for e in self._edges_of(edges_list):
            e.fine_structure_active = True

    def disable_fine_structure(self, edges_list=None) -> None:
        for e in self._edges_of(edges_list):
            e.fine_structure_active = False

    def resolve_fine_structure(self, preedge_safe_window_width: float = 2.0) -> None:
        """Shorten fine-structure regions that would overlap the next edge."""
        onsets = sorted(e.onset_energy.value for e in self.edges if e.active)
        for e in self.edges:
            later = [o for o in onsets if o > e.onset_energy.value]
            if later:
                width = later[0] - e.onset_energy.value - preedge_safe_window_width
                e.fine_structure_width = float(min(e.fine_structure_width, max(width, 0.0)))

    def enable_free_onset_energy(self, edges_list=None) -> None:
        """Free the onsets of the (untwinned) edges."""
        for e in self._edges_of(edges_list):
            if e.onset_energy.twin is None:
                e.onset_energy.free = True

    def disable_free_onset_energy(self, edges_list=None) -> None:
        for e in self._edges_of(edges_list):
            e.onset_energy.free = False

    def fix_edges(self, edges_list=None) -> None:
        for e in self._edges_of(edges_list):
            if e.intensity.twin is None:
                e.intensity.free = False

    def free_edges(self, edges_list=None) -> None:
        for e in self._edges_of(edges_list):
            if e.intensity.twin is None:
                e.intensity.free = True

    def set_all_edges_intensities_positive(self) -> None:
        for e in self.edges:
            e.intensity.bmin = 0.0

    # ------------------------------------------------------ quantify
    def quantify(self, show_errors: bool = False) -> dict:
        """Print the edge intensities as exspy does ("Absolute quantification");
        ``show_errors`` adds each intensity's standard error from the fit
        covariance. Returns ``{element: (intensity, std)}``.
        """
        lines = ["", "Absolute quantification:", "Elem.\tIntensity" + ("\tStd" if show_errors else "")]
        out = {}
        for e in self.edges:
            if e.intensity.twin is not None:
                continue
            value, std = e.intensity.value, e.intensity.std
            out[e.element] = (value, std)
            line = f"{e.element}\t{value:f}"
            if show_errors:
                line += f"\t{std:f}" if std is not None else "\tnan"
            lines.append(line)
        print("\n".join(lines))
        return out
