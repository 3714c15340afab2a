"""Alanine dipeptide (ACE-ALA-NME): the system the runner simulates, and its analysis.

* :func:`alanine_dipeptide_pdb`: the starting structure, shipped inside ``openmmtools``.
* :func:`phi_psi`: its two backbone dihedrals, the coordinates in which its kinetics is read.
* :func:`ramachandran_basins`, :func:`metastable_basins` (:data:`BASIN_NAMES`): the three basins
  beta/C7eq, alphaR and alphaL, by boxes in (phi, psi) or on top of a two-state partition.
* :func:`phi_core`, :func:`phi_flip_cores`, :func:`count_phi_flips` (:data:`PHI_CORES`): the slow
  phi flip between the beta/alphaR and alphaL cores, counted with core sets (recrossings removed).
* :func:`representative_frames`: one frame per basin, e.g. to draw its structure.
* :func:`structure_view`: those frames in 3-D in Jupyter (nglview), with the basin of the frame shown.

Generic features of any topology are in :mod:`mdlstm_utils.data.md.features`.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import mdtraj as md
import numpy as np

from mdlstm_utils._checks import check_positive as _check_positive
from mdlstm_utils.data.md.features import check_traj
from mdlstm_utils.states import core_set_labels

__all__ = [
    "alanine_dipeptide_pdb",
    "phi_psi",
    "BASIN_NAMES",
    "ramachandran_basins",
    "metastable_basins",
    "PHI_CORES",
    "phi_core",
    "phi_flip_cores",
    "count_phi_flips",
    "representative_frames",
    "structure_view",
]


def alanine_dipeptide_pdb() -> Path:
    """Path of the alanine-dipeptide PDB file shipped inside the installed ``openmmtools``.

    The package is located without importing it (importing ``openmmtools``
    pulls in numba and pymbar and prints banners).

    Raises
    ------
    FileNotFoundError
        When ``openmmtools`` is not installed or the file is missing from it.
    """
    spec = importlib.util.find_spec("openmmtools")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the alanine-dipeptide starting structure comes from the openmmtools package, which is not "
            "installed; install it with `pip install openmmtools==0.27.0` (listed in requirements.txt)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "alanine-dipeptide-gbsa" / "alanine-dipeptide.pdb"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "openmmtools is installed but has no data/alanine-dipeptide-gbsa/alanine-dipeptide.pdb under "
        f"{list(spec.submodule_search_locations)}; reinstall it with `pip install --force-reinstall openmmtools==0.27.0`"
    )


def phi_psi(traj: md.Trajectory, degrees: bool = True) -> np.ndarray:
    """Backbone dihedrals φ (C-N-CA-C) and ψ (N-CA-C-N) of alanine dipeptide.

    Parameters
    ----------
    traj
        A trajectory with exactly one φ and one ψ (alanine dipeptide).
    degrees
        Degrees in [-180, 180] (default) or radians in [-π, π].

    Returns
    -------
    ndarray, shape (n_frames, 2), float64
        Column 0 is φ, column 1 is ψ.
    """
    traj = check_traj(traj)
    phi_idx, phi = md.compute_phi(traj)
    psi_idx, psi = md.compute_psi(traj)
    if phi.shape[1] != 1 or psi.shape[1] != 1:
        raise ValueError(
            f"traj has {phi.shape[1]} phi and {psi.shape[1]} psi dihedrals; phi_psi expects alanine dipeptide (one each)"
        )
    out = np.concatenate([phi, psi], axis=1).astype(np.float64)
    return np.degrees(out) if degrees else out


# ----------------------------------------------------------------------------- Ramachandran basins and phi flips

#: Names of the basins returned by :func:`ramachandran_basins`, in label order.
BASIN_NAMES = ("beta/C7eq", "alphaR", "alphaL")

#: Core sets of the slow phi flip (degrees): a frame is in the beta/alphaR core
#: when phi < -40 and in the alphaL core when 30 < phi < 90.
PHI_CORES = {"beta/alphaR": (-180.0, -40.0), "alphaL": (30.0, 90.0)}


def _degrees(values, name: str) -> np.ndarray:
    """``values`` as a float array of finite angles in degrees within [-180, 180], else a clear error."""
    a = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    if np.abs(a).max(initial=0.0) > 180.0 + 1e-6:
        raise ValueError(f"{name} must be in degrees within [-180, 180]; got values up to {np.abs(a).max():.3g} (radians?)")
    return a


def _phi_psi_array(phi_psi, name: str = "phi_psi") -> np.ndarray:
    a = np.asarray(phi_psi, dtype=float)
    if a.ndim < 1 or a.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2) (phi, psi in degrees), got {a.shape}")
    return _degrees(a, name)


def ramachandran_basins(phi_psi) -> np.ndarray:
    """The Ramachandran basin of each (phi, psi) point: 0 = beta/C7eq, 1 = alphaR, 2 = alphaL.

    The boxes (degrees): alphaL (with C7ax) is ``0 <= phi < 120`` at any psi;
    elsewhere alphaR is ``-120 <= psi < 50`` and beta/C7eq the rest (extended
    psi, including phi near +-180, which is the same region across the
    periodic boundary). The names are :data:`BASIN_NAMES`.

    Parameters
    ----------
    phi_psi
        Array of shape ``(..., 2)``, phi and psi in degrees (as :func:`phi_psi` returns).

    Returns
    -------
    numpy.ndarray
        ``int64`` labels of shape ``phi_psi.shape[:-1]``.
    """
    a = _phi_psi_array(phi_psi)
    phi, psi = a[..., 0], a[..., 1]
    alpha_l = (phi >= 0.0) & (phi < 120.0)
    alpha_r = (psi >= -120.0) & (psi < 50.0)
    return np.where(alpha_l, 2, np.where(alpha_r, 1, 0)).astype(np.int64)


def metastable_basins(metastable, phi_psi, alpha_l_state: int = 1) -> np.ndarray | list[np.ndarray]:
    """The three basins on top of the two metastable states of the phi flip: 0 = beta/C7eq, 1 = alphaR, 2 = alphaL.

    A frame in metastable state ``alpha_l_state`` is alphaL. Every other frame
    is alphaR when ``-120 <= psi < 50`` (the psi boundary of
    :func:`ramachandran_basins`) and beta/C7eq otherwise. So the slow phi flip
    keeps the metastable labels (core sets: recrossings of the phi barrier are
    not transitions), and only the fast beta <-> alphaR motion is split, by psi.

    Parameters
    ----------
    metastable
        Labels in {0, 1} per frame (e.g. ``states.metastable_space(...).trajs``),
        one array or a list of arrays (one per trajectory).
    phi_psi
        The frames' (phi, psi) in degrees, shape ``(n_frames, 2)``, or a list matching ``metastable``.
    alpha_l_state
        Which metastable label is alphaL (0 or 1).

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        ``int64`` basin labels (names in :data:`BASIN_NAMES`), shaped like ``metastable``.
    """
    if alpha_l_state not in (0, 1) or isinstance(alpha_l_state, bool):
        raise ValueError(f"alpha_l_state must be 0 or 1, got {alpha_l_state!r}")
    if isinstance(metastable, (list, tuple)):
        if not isinstance(phi_psi, (list, tuple)) or len(phi_psi) != len(metastable):
            raise ValueError("metastable is a list of trajectories: phi_psi must be a list of the same length")
        return [metastable_basins(m, p, alpha_l_state) for m, p in zip(metastable, phi_psi)]
    m = np.asarray(metastable)
    a = _phi_psi_array(phi_psi)
    if m.ndim != 1 or a.shape != (m.shape[0], 2):
        raise ValueError(f"metastable must be 1-D and phi_psi of shape (n_frames, 2) with the same frames; "
                         f"got {m.shape} and {a.shape}")
    if m.size and not np.isin(m, (0, 1)).all():
        raise ValueError(f"metastable labels must be 0 or 1, got values {np.unique(m)[:10].tolist()}")
    alpha_r = (a[:, 1] >= -120.0) & (a[:, 1] < 50.0)
    return np.where(m == alpha_l_state, 2, np.where(alpha_r, 1, 0)).astype(np.int64)


def phi_core(phi) -> np.ndarray:
    """The phi-flip core of each angle: 0 = beta/alphaR core, 1 = alphaL core, -1 = between (:data:`PHI_CORES`).

    Works on any array of phi values in degrees (frames, or grid-bin centres
    to find the states that make up each core).
    """
    p = _degrees(phi, "phi")
    (blo, bhi), (llo, lhi) = PHI_CORES["beta/alphaR"], PHI_CORES["alphaL"]
    return np.where((p >= blo) & (p < bhi), 0, np.where((p > llo) & (p < lhi), 1, -1)).astype(np.int64)


def phi_flip_cores(phi) -> np.ndarray | list[np.ndarray]:
    """Core-set labels of the slow phi flip: 0 = beta/alphaR core, 1 = alphaL core (:data:`PHI_CORES`).

    A frame between the cores keeps the label of the core visited last
    (recrossing removed; :func:`mdlstm_utils.states.core_set_labels`); frames
    before the first core visit are ``-1``.

    Parameters
    ----------
    phi
        Phi in degrees: one 1-D trajectory, a 2-D array (one per row) or a list of 1-D arrays.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        ``int64`` core labels, shaped like the input.
    """

    def raw(p):  # 0 / 1 in a core, 2 between the cores
        c = phi_core(p)
        return np.where(c >= 0, c, 2)

    labels = [raw(p) for p in phi] if isinstance(phi, (list, tuple)) else raw(phi)
    return core_set_labels(labels, [[0], [1]], n_states=3)  # same layout as the input; checks the shapes


def count_phi_flips(phi) -> dict:
    """Count the slow phi flips with core sets (:func:`phi_flip_cores`).

    Returns
    -------
    dict
        ``to_alphaL`` (beta/alphaR core -> alphaL core transitions),
        ``from_alphaL`` (back), ``round_trips`` (the smaller of the two) and
        ``n_frames`` (all frames counted).
    """
    cores = phi_flip_cores(phi)
    trajs = cores if isinstance(cores, list) else list(np.atleast_2d(cores))
    to_l = back = 0
    for c in trajs:
        c = c[c >= 0]
        to_l += int(np.sum((c[:-1] == 0) & (c[1:] == 1)))
        back += int(np.sum((c[:-1] == 1) & (c[1:] == 0)))
    n = int(sum(len(c) for c in trajs))
    return {"to_alphaL": to_l, "from_alphaL": back, "round_trips": min(to_l, back), "n_frames": n}


def representative_frames(phi_psi, basins=None, bin_deg: float = 10.0) -> np.ndarray:
    """One representative frame per Ramachandran basin: the frame nearest the basin's most populated (phi, psi) bin.

    Parameters
    ----------
    phi_psi
        Shape ``(n_frames, 2)``, degrees (a single trajectory, or frames concatenated).
    basins
        Basin label per frame; default :func:`ramachandran_basins`.
    bin_deg
        Width of the square (phi, psi) bins used to find the density peak.

    Returns
    -------
    numpy.ndarray
        Frame index per basin label ``0 .. max label``; ``-1`` for a basin without frames.
    """
    a = _phi_psi_array(phi_psi)
    if a.ndim != 2:
        raise ValueError(f"phi_psi must have shape (n_frames, 2), got {a.shape}")
    b = ramachandran_basins(a) if basins is None else np.asarray(basins)
    if b.shape != a.shape[:1]:
        raise ValueError(f"basins has shape {b.shape}, expected ({len(a)},) (one label per frame)")
    bin_deg = _check_positive("bin_deg", bin_deg)
    n_basins = max(len(BASIN_NAMES), int(b.max(initial=-1)) + 1)
    out = np.full(n_basins, -1, dtype=np.int64)
    cells = np.floor((a + 180.0) / bin_deg).astype(np.int64)
    for k in range(n_basins):
        idx = np.flatnonzero(b == k)
        if len(idx) == 0:
            continue
        keys, counts = np.unique(cells[idx], axis=0, return_counts=True)
        centre = (keys[np.argmax(counts)] + 0.5) * bin_deg - 180.0
        d = (a[idx] - centre + 180.0) % 360.0 - 180.0  # periodic difference
        out[k] = idx[np.argmin((d**2).sum(axis=1))]
    return out


# ----------------------------------------------------------------------------- 3-D view in Jupyter


def _import_nglview():
    """``nglview``, imported without the one warning its import always gives.

    nglview 3.1.4 (the version that displays in JupyterLab) imports
    ``pkg_resources``, which setuptools >= 80 marks with ``UserWarning:
    pkg_resources is deprecated as an API``; only that message is ignored,
    every other warning of the import is shown.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            import nglview
    except ImportError as exc:
        raise ImportError(
            f"structure_view needs nglview ({exc}); install it with `pip install nglview==3.1.4` (listed in "
            "requirements.txt), or draw the frames with mdlstm_utils.report.plots.plot_structure"
        ) from exc
    return nglview


def structure_view(traj: md.Trajectory, names, *, width: str = "500px", height: str = "400px"):
    """An interactive 3-D view of the frames of ``traj`` (nglview, ball and stick) that names the frame shown.

    The frames are superposed on the first one (heavy atoms, on a copy), so
    stepping through them with the viewer's frame slider shows how the
    conformations differ rather than how the molecule tumbled. Above the
    viewer a label gives ``names[frame]`` (e.g. the basin of each
    :func:`representative_frames` frame) and follows the slider.

    Parameters
    ----------
    traj
        The frames to show (any topology).
    names
        One name per frame.
    width, height
        Size of the viewer (CSS lengths); the molecule is centred to fill it.

    Returns
    -------
    ipywidgets.VBox
        The label and the ``nglview.NGLWidget`` (``children[1]``; its ``frame`` is the frame shown).

    Raises
    ------
    ImportError
        When nglview is not installed (a notebook can catch it and show static pictures instead).
    """
    traj = check_traj(traj)
    names = [str(n) for n in names]
    if len(names) != traj.n_frames:
        raise ValueError(f"names has {len(names)} entries but traj has {traj.n_frames} frames (one name per frame)")
    nglview = _import_nglview()
    import ipywidgets

    frames = traj.slice(np.arange(traj.n_frames), copy=True)
    heavy = traj.topology.select("element != H")
    frames.superpose(frames, 0, atom_indices=heavy if len(heavy) >= 3 else None)
    view = nglview.show_mdtraj(frames)
    view.clear_representations()
    view.add_representation("ball+stick")
    # nglview sends each layout change to the canvas as setSize(w, h) with the other side empty: the width goes
    # first, so the height is the one that sticks and the canvas (width unset) fills the widget's width
    view.layout.width = width
    view.layout.height = height
    view.center()  # fit the molecule to the canvas

    def title(frame: int) -> str:
        frame = min(max(int(frame), 0), len(names) - 1)
        return f"{names[frame]}  (frame {frame} of {len(names) - 1})"

    label = ipywidgets.Label(title(view.frame), style={"font_size": "14px", "font_weight": "bold"})

    def follow(change):
        label.value = title(change["new"])

    view.observe(follow, names="frame")
    return ipywidgets.VBox([label, view])
