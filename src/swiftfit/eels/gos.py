r"""Generalised oscillator strengths (GOS) and the cross-sections they give.

Two sources of GOS:

* :class:`HydrogenicGOS` — K and L shells on Egerton's hydrogenic model
  (R. F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron
  Microscope*, 3rd ed., Springer 2011, §3.6 and Appendix B, programs SIGMAK3
  and SIGMAL3): a hydrogen-like atom of screened charge
  :math:`Z_s = Z - 0.5` (K) or :math:`Z_s = Z - 0.35\cdot 7 - 1.7` (L), with
  Egerton's empirical onset correction for the L shell. The formulas are
  written here from the book; Egerton's numerical constants (R = 13.606 eV,
  m c² = 511.06 keV, 3.5166e8 barn) are kept so that the numbers are his.
* :class:`TabulatedGOS` — a GOS tabulated on an (energy, q) grid, read from a
  file the user downloads: GOSH (``"gosh"``, ``"dft"``, ``"dirac"``: HDF5 with
  ``/<El>/<table>/{data, q, free_energies}`` and ``/metadata/edges_info``)
  or Hartree–Slater (a directory of ``<El>.<table>`` text files: Rez's
  tables as distributed by Gatan; header tokens 2, 3, 5 give the q grid,
  6, 7, 8 the energy grid, then R·df/dE row by row).

The energy-differential cross-section (barn / eV) of an edge is

.. math::

    \frac{d\sigma}{dE} = 4\pi a_0^2\,\frac{R}{E}\,\frac{R}{T}
        \int_{\ln (q a_0)^2_{\min}}^{\ln (q a_0)^2_{\max}}
        \frac{df}{dE}(E, q)\; d\ln (q a_0)^2

(Egerton eq. 3.145), with :math:`T = m_0 v^2 / 2` and the momentum limits
set by the collection angle. It is computed on a logarithmic energy grid
above the onset and interpolated linearly (as exspy does); beyond the grid it
continues as the power law through its last two points.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import integrate

from ..errors import InvalidInputError
from .database import atomic_number, edge_table, onset_energy, split_subshell

__all__ = ["HydrogenicGOS", "TabulatedGOS", "effective_angle", "energy_grid", "GOS_KINDS"]

GOS_KINDS = ("hydrogenic", "gosh", "dft", "dirac", "Hartree-Slater")

_R = 13.606          # Rydberg energy, eV (Egerton's value)
_MC2 = 511060.0      # electron rest energy, eV (Egerton's value)
_SIGMA0 = 3.5166e8   # 4 pi a0^2 in barn (Egerton's value)
# CODATA Rydberg energy: exspy uses it (not 13.606) in the prefactor R^2/(E T)
# and the momentum limits, Egerton's 13.606 inside the GOS formulas
_R_CODATA = 13.605693122990

# Egerton's empirical exponent u of the L-shell onset correction
# ((E - E_L3 + 0.1) / (1.8 Z^2))^u. exspy 0.3.2 reads entry Z - 13 of this
# table for Z = 13 .. 34 and applies no correction outside that range (nor
# Egerton's "no correction within 20 eV of the onset" for Z near 23); we do
# the same so that cross-sections equal exspy's, and flag it in the README.
_L_CORRECTION = (0.52, 0.42, 0.30, 0.29, 0.22, 0.30, 0.22, 0.16, 0.12, 0.13, 0.13, 0.14,
                 0.16, 0.18, 0.19, 0.22, 0.14, 0.11, 0.12, 0.12, 0.12, 0.10, 0.10, 0.10)


def energy_grid(n: int = 50, step: float = 0.06, scale: float = 50.0) -> np.ndarray:
    """Energies above the onset (eV) where the cross-section is computed:
    ``scale * (exp(step * i) - 1)``, dense near the onset, sparse in the tail.
    """
    return scale * (np.exp(step * np.arange(n)) - 1.0)


def effective_angle(E0: float, E: float, alpha: float, beta: float) -> float:
    r"""Effective collection semi-angle (mrad) for a convergent probe.

    Kohl's formula (H. Kohl, *Ultramicroscopy* 16 (1985) 265; Egerton 3rd ed.
    eq. 4.71 ff.) for a uniform illumination of semi-angle ``alpha`` and a
    collection aperture ``beta`` at energy loss ``E`` (eV) and beam energy
    ``E0`` (keV). ``alpha == 0`` returns ``beta``.

    Examples
    --------
    >>> round(effective_angle(200.0, 284.0, 0.0, 20.0), 6)
    20.0
    """
    if alpha == 0:
        return float(beta)
    # Egerton's CONCOR2: angles in mrad, theta_E = E / (E0 (1 + E0/1022) / (1 + E0/511))
    theta_e = E / (E0 * (1.0 + E0 / 1022.0) / (1.0 + E0 / 511.0))
    a2, b2, t2 = alpha ** 2, beta ** 2, theta_e ** 2
    eta1 = math.sqrt((a2 + b2 + t2) ** 2 - 4.0 * a2 * b2) - a2 - b2 - t2
    eta2 = 2.0 * b2 * math.log(0.5 / t2 * (math.sqrt((a2 + t2 - b2) ** 2 + 4.0 * b2 * t2) + a2 + t2 - b2))
    eta3 = 2.0 * a2 * math.log(0.5 / t2 * (math.sqrt((b2 + t2 - a2) ** 2 + 4.0 * a2 * t2) + b2 + t2 - a2))
    f1 = (eta1 + eta2 + eta3) / (2.0 * a2 * math.log(1.0 + b2 / t2))
    f2 = f1 * a2 / b2 if alpha > beta else f1
    return theta_e * math.sqrt(math.exp(f2 * math.log(1.0 + b2 / t2)) - 1.0)


def _kinematics(E0_keV: float):
    """gamma, T (eV) and (p0 a0)^2 of the incident electron, Egerton's constants."""
    gamma = 1.0 + E0_keV / 511.06
    T = _MC2 * (1.0 - 1.0 / gamma ** 2) / 2.0
    p02 = T / (_R_CODATA * (1.0 - 2.0 * T / _MC2))
    return gamma, T, p02


def _q_limits(E: float, angle: float, E0_keV: float) -> tuple[float, float]:
    """(q a0)^2 at zero scattering angle and at ``angle`` (rad), Egerton eq. 3.146 ff."""
    gamma, T, p02 = _kinematics(E0_keV)
    qmin = E ** 2 / (4.0 * _R_CODATA * T) + E ** 3 / (8.0 * gamma ** 3 * _R_CODATA * T ** 2)
    pp2 = p02 - E / _R_CODATA * (gamma - E / (2 * _MC2))
    qmax = qmin + 4.0 * math.sqrt(p02 * pp2) * math.sin(angle / 2.0) ** 2
    return qmin, qmax


class _GOS:
    """Shared machinery: cross-section on the grid, spline and power-law tail."""

    onset_energy: float
    energy_axis: np.ndarray  # absolute energies of the grid (eV), at zero shift
    subshell_factor: float = 1.0

    def gos(self, E: float, qa02: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def cross_section_grid(self, onset: float, angle: float, E0: float) -> tuple[np.ndarray, np.ndarray]:
        """The differential cross-section (barn/eV) at ``energy_axis`` shifted to
        ``onset``, for collection semi-angle ``angle`` (rad) and ``E0`` (keV).
        """
        shift = onset - self.onset_energy
        energies = self.energy_axis + shift
        _, T, _ = _kinematics(E0)
        out = np.empty(energies.shape)
        for i, E in enumerate(energies):
            qmin, qmax = _q_limits(E, angle, E0)
            val = integrate.quad(lambda t: self.gos(E, math.exp(t)), math.log(qmin), math.log(qmax))[0]
            out[i] = _SIGMA0 * (_R_CODATA / T) * (_R_CODATA / E) * val * self.subshell_factor
        return energies, out

    def cross_section_function(self, onset: float, angle: float, E0: float) -> "CrossSection":
        """A callable ``sigma(E)`` (barn/eV), zero below ``onset``."""
        energies, values = self.cross_section_grid(onset, angle, E0)
        return CrossSection(energies, values)


class CrossSection:
    """Linear interpolation on the grid, power law past its end, zero below the onset."""

    def __init__(self, energies: np.ndarray, values: np.ndarray):
        self.energies = energies
        self.values = values
        E1, E2 = energies[-2], energies[-1]
        y1, y2 = values[-2], values[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.r = math.log(y1 / y2) / math.log(E2 / E1) if y1 > 0 and y2 > 0 else 0.0
        self.A = y2 * E2 ** self.r

    def __call__(self, E: np.ndarray) -> np.ndarray:
        E = np.asarray(E, dtype=float)
        out = np.zeros(E.shape)
        inside = (E >= self.energies[0]) & (E <= self.energies[-1])
        tail = E > self.energies[-1]
        out[inside] = np.interp(E[inside], self.energies, self.values)
        out[tail] = self.A * E[tail] ** (-self.r)
        return out


class HydrogenicGOS(_GOS):
    """Egerton's hydrogenic GOS of a K or L subshell.

    Parameters
    ----------
    element_subshell : str
        ``"C_K"``, ``"Cr_L3"``, ... For an L shell the L3 edge stands for the
        whole L shell (2s + 2p, the 2s term added above the L1 onset), as in
        Egerton's SIGMAL: L2 and L1 need no edges of their own.

    Examples
    --------
    >>> g = HydrogenicGOS("C_K")
    >>> sigma = g.cross_section_function(284.0, 0.02, 200.0)
    >>> bool(sigma(np.array([280.0]))[0] == 0.0 and sigma(np.array([300.0]))[0] > 0)
    True
    """

    def __init__(self, element_subshell: str):
        element, subshell = split_subshell(element_subshell)
        self.element, self.subshell = element, subshell
        self.Z = atomic_number(element)
        self.onset_energy = onset_energy(element_subshell)
        grid = energy_grid()
        if subshell == "K":
            self.gos = self._gos_k
            self.energy_axis = grid + self.onset_energy
        elif subshell[:1] == "L":
            edges = edge_table()[element]["edges"]
            if "L3" not in edges or "L1" not in edges:
                raise InvalidInputError(
                    f"`element_subshell` {element_subshell!r}: the hydrogenic L-shell GOS needs the "
                    f"L3 and L1 onsets of {element}, and the table has only {', '.join(edges)}"
                )
            self.onset_L3 = float(edges["L3"]["onset_energy"])
            self.onset_L1 = float(edges["L1"]["onset_energy"])
            self.onset_energy = self.onset_L3
            gap = self.onset_L1 - self.onset_L3
            # the 2s term switches on at L1: the grid restarts there
            rel = np.concatenate([grid[grid < gap], grid + gap])
            self.energy_axis = rel + self.onset_energy
            self.gos = self._gos_l
        else:
            raise InvalidInputError(
                f"`element_subshell` {element_subshell!r}: the hydrogenic GOS covers K and L shells "
                "only; use a tabulated GOS (GOS='gosh' with gos_file_path=...) for other shells"
            )

    # K shell: a hydrogen-like 1s with Z_s = Z - 0.5 (Egerton eq. 3.126 ff.)
    def _gos_k(self, E: float, qa02: float) -> float:
        if self.Z == 1:
            zs, electrons = 1.0, 1.0
        else:
            zs, electrons = self.Z - 0.5, 2.0
        q = qa02 / zs ** 2
        kh2 = E / (_R * zs ** 2) - 1.0
        akh = math.sqrt(abs(kh2)) or 1e-300  # the limit kh2 -> 0 is finite
        if kh2 >= 0.0:
            d = 1.0 - math.exp(-2.0 * math.pi / akh)
            bp = math.atan(2.0 * akh / (q - kh2 + 1.0))
            if bp < 0:
                bp += math.pi
            c = math.exp(-2.0 / akh * bp)
        else:
            d = 1.0
            c = math.exp(-1.0 / akh * math.log((q + 1.0 - kh2 + 2.0 * akh) / (q + 1.0 - kh2 - 2.0 * akh)))
        a = ((q - kh2 + 1.0) ** 2 + 4.0 * kh2) ** 3
        return 128.0 * electrons * E / (_R * _R * zs ** 4) * c / d * (q + kh2 / 3.0 + 1.0 / 3.0) / a

    # L shell: Z_s = Z - 0.35*7 - 1.7, 2p below the L1 onset, 2s + 2p above
    def _gos_l(self, E: float, qa02: float) -> float:
        Z = self.Z
        zs = Z - 0.35 * 7 - 1.7
        k = Z - 13  # exspy's alignment of the table with Z (see _L_CORRECTION)
        u = _L_CORRECTION[k] if 0 <= k <= 21 else 0.0
        q = qa02 / zs ** 2
        kh2 = E / (_R * zs ** 2) - 0.25
        akh = math.sqrt(abs(kh2)) or 1e-300
        if kh2 >= 0.0:
            d = 1.0 - math.exp(-2.0 * math.pi / akh)
            bp = math.atan(akh / (q - kh2 + 0.25))
            if bp < 0:
                bp += math.pi
            c = math.exp(-2.0 / akh * bp)
        else:
            d = 1.0
            c = math.exp(-1.0 / akh * math.log((q + 0.25 - kh2 + akh) / (q + 0.25 - kh2 - akh)))
        if E - self.onset_L1 <= 0:
            g = (2.25 * q ** 4 - (0.75 + 3.0 * kh2) * q ** 3
                 + (0.59375 - 0.75 * kh2 - 0.5 * kh2 ** 2) * q ** 2
                 + (0.11146 + 0.85417 * kh2 + 1.8833 * kh2 ** 2 + kh2 ** 3) * q
                 + 0.0035807 + kh2 / 21.333 + kh2 ** 2 / 4.5714 + kh2 ** 3 / 2.4 + kh2 ** 4 / 4.0)
            a = ((q - kh2 + 0.25) ** 2 + kh2) ** 5
        else:
            g = (q ** 3 - (5.0 / 3.0 * kh2 + 11.0 / 12.0) * q ** 2
                 + (kh2 ** 2 / 3.0 + 1.5 * kh2 + 65.0 / 48.0) * q
                 + kh2 ** 3 / 3.0 + 0.75 * kh2 ** 2 + 23.0 / 48.0 * kh2 + 5.0 / 64.0)
            a = ((q - kh2 + 0.25) ** 2 + kh2) ** 4
        rf = ((E + 0.1 - self.onset_L3) / 1.8 / Z / Z) ** u if u else 1.0
        return rf * 32.0 * g * c / a / d * E / _R / _R / zs ** 4


class TabulatedGOS(_GOS):
    """A GOS tabulated on an (energy, q) grid, read from a user-supplied file.

    Parameters
    ----------
    element_subshell : str
        ``"O_K"``, ``"Mn_L3"``, ...
    kind : {"gosh", "dft", "dirac", "Hartree-Slater"}
        The file format: the GOSH HDF5 layout (``"dft"`` and ``"dirac"`` are
        GOSH files computed by those methods) or Hartree–Slater text files.
    gos_file_path : str or Path
        The ``.gosh``/HDF5 file, or the directory of Hartree–Slater files.

    Notes
    -----
    GOSH layout: ``/metadata/edges_info/<subshell>`` with attributes ``table``
    (the group holding the data) and ``occupancy_ratio``; ``/<El>/<table>/data``
    the GOS ``(n_energies, n_q)`` (a trailing axis of length 1 allowed),
    ``q`` (1/m) and ``free_energies`` (eV above the onset, up to a constant).
    The cross-section integrates df/dE over ln q² between the kinematic
    limits, q being interpolated linearly in the table (zero outside it).
    """

    def __init__(self, element_subshell: str, kind: str, gos_file_path):
        if kind not in GOS_KINDS[1:]:
            raise InvalidInputError(f"`GOS` must be one of {GOS_KINDS}, got {kind!r}")
        if gos_file_path is None:
            raise InvalidInputError(
                f"GOS={kind!r} reads a file you download yourself: give `gos_file_path` "
                "(swiftfit downloads nothing), or use GOS='hydrogenic'"
            )
        element, subshell = split_subshell(element_subshell)
        self.element, self.subshell = element, subshell
        self.Z = atomic_number(element)
        self.onset_energy = onset_energy(element_subshell)
        path = Path(gos_file_path)
        if kind == "Hartree-Slater":
            self._read_hartree_slater(path)
        else:
            self._read_gosh(path)
        self.energy_axis = self.rel_energy_axis + self.onset_energy

    def _read_gosh(self, path: Path) -> None:
        import h5py
        if not path.is_file():
            raise InvalidInputError(f"`gos_file_path` {str(path)!r} is not a file")
        with h5py.File(path, "r") as h:
            info = h["metadata/edges_info"]
            if self.subshell not in info:
                raise InvalidInputError(
                    f"`gos_file_path` {str(path)!r} has no entry for the {self.subshell} subshell"
                )
            table = info[self.subshell].attrs["table"]
            self.subshell_factor = float(info[self.subshell].attrs["occupancy_ratio"])
            stem = f"/{self.element}/{table}"
            if stem not in h:
                raise InvalidInputError(f"`gos_file_path` {str(path)!r} has no group {stem}")
            group = h[stem]
            gos = np.asarray(group["data"][:], dtype=float)
            q = np.asarray(group["q"][:], dtype=float)
            free = np.asarray(group["free_energies"][:], dtype=float)
        gos = gos.reshape(gos.shape[0], -1) if gos.shape[0] == free.size else gos.T.reshape(free.size, -1)
        self.gos_array = gos  # (n_energies, n_q)
        self.qaxis = q
        self.rel_energy_axis = free - free.min()

    # Rez's Hartree-Slater tables (as distributed by Gatan): one file per shell
    # table, named "<El>.<table>"; the subshell takes its share of the electrons
    _HS_TABLES = {"K": ("K1", 1.0), "L1": ("L1", 1.0), "L2": ("L3", 1 / 3), "L3": ("L3", 2 / 3),
                  "M1": ("M1", 1.0), "M2": ("M3", 1 / 3), "M3": ("M3", 2 / 3),
                  "M4": ("M5", 2 / 5), "M5": ("M5", 3 / 5)}

    def _read_hartree_slater(self, path: Path) -> None:
        if self.subshell not in self._HS_TABLES:
            raise InvalidInputError(
                f"the Hartree-Slater tables cover {sorted(self._HS_TABLES)}, not {self.subshell!r}")
        table, self.subshell_factor = self._HS_TABLES[self.subshell]
        found = path / f"{self.element}.{table}"
        if not found.is_file():
            raise InvalidInputError(
                f"`gos_file_path` {str(path)!r} must be the directory of the Hartree-Slater files; "
                f"it has no {found.name}")
        tokens = found.read_text().split()
        try:
            q1, q2, n_q = float(tokens[2]), float(tokens[3]), int(float(tokens[5]))
            e1, e2, n_e = float(tokens[6]), float(tokens[7]), int(float(tokens[8]))
            values = np.array(tokens[9:9 + n_q * n_e], dtype=float)
        except (IndexError, ValueError) as exc:
            raise InvalidInputError(f"{found} is not a Hartree-Slater GOS table: {exc}") from None
        if values.size != n_q * n_e:
            raise InvalidInputError(f"{found}: expected {n_e} x {n_q} values, found {values.size}")
        # the tables hold R * df/dE (Rydberg energy units)
        self.gos_array = values.reshape(n_e, n_q) / _R_CODATA
        self.qaxis = q1 * (np.exp(np.arange(n_q) * q2) - 1.0) * 1e10  # 1/m
        self.rel_energy_axis = e1 * (np.exp(np.arange(n_e) * e2 / e1) - 1.0)

    def cross_section_grid(self, onset, angle, E0):
        """As for the hydrogenic GOS, but each energy's row of the table is
        integrated exactly as tabulated: the trapezoid rule in ln q² over the
        table's q points between the kinematic limits (the row interpolated
        linearly in q at the limits; zero beyond the table).
        """
        shift = onset - self.onset_energy
        energies = self.energy_axis + shift
        _, T, _ = _kinematics(E0)
        a0 = 5.29177210544e-11
        out = np.empty(energies.shape)
        for i, E in enumerate(energies):
            qmin, qmax = (math.sqrt(v) / a0 for v in _q_limits(E, angle, E0))
            row = self.gos_array[i]
            inside = (self.qaxis > qmin) & (self.qaxis < qmax)
            q = np.r_[qmin, self.qaxis[inside], qmax]
            f = np.interp(q, self.qaxis, row, left=0.0, right=0.0)
            f[1:-1] = row[inside]
            val = np.trapezoid(f, np.log(q ** 2)) if q[-1] > q[0] else 0.0
            out[i] = _SIGMA0 * (_R_CODATA / T) * (_R_CODATA / E) * val * self.subshell_factor
        return energies, out
