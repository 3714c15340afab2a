"""Features of any topology with mdtraj, and trajectories of any format mdtraj reads.

The language models learn kinetics from trajectories of discrete states, and
the states come from clustering features of the frames (k-means, TICA, ...).
This module turns a trajectory of any molecule into such features, plain
``float32`` arrays of shape ``(n_frames, d)``:

* :func:`load_trajectory` reads a run directory of :func:`~mdlstm_utils.data.md.simulate`
  or a user's own file (xtc, dcd, trr, nc, h5, pdb, ...; a topology file for
  the formats without one), with errors that name the file and the problem.
* :func:`featurize` with one of :data:`FEATURES` and :func:`feature_names`
  (one readable name per column):

  ``"torsions"``  sin and cos of every backbone φ, ψ and side-chain χ1: the
                  conformational angles of a peptide or protein, made continuous
                  (an angle jumps at ±180°, its sine and cosine do not).
  ``"distances"`` all heavy-atom pair distances (:func:`heavy_atom_distances`):
                  complete for a small molecule, but ``n (n - 1) / 2`` columns.
  ``"contacts"``  Cα–Cα distances of residues at least 3 apart in sequence: the
                  fold of a protein, in far fewer columns than ``"distances"``.

  All three are invariant under translation and rotation of the whole
  molecule, so no alignment is needed.
* :func:`aligned_cartesian`: coordinates after superposition onto a reference.

Distances are computed without periodic images (as :func:`heavy_atom_distances`
always did): a molecule split across the periodic box must be made whole first
(``traj.image_molecules()`` or ``gmx trjconv -pbc mol``).
"""

from __future__ import annotations

import os
from pathlib import Path

import mdtraj as md
import numpy as np

from mdlstm_utils.data.md.files import TOPOLOGY_NAME, TRAJ_NAME, XTC_MAGIC, read_progress

__all__ = [
    "load_trajectory",
    "FEATURES",
    "featurize",
    "feature_names",
    "heavy_atom_distances",
    "aligned_cartesian",
]

#: The kinds of :func:`featurize`, in the order its docstring explains them.
FEATURES = ("torsions", "distances", "contacts")

#: File formats that hold their own topology: such a file is read without ``top``.
_SELF_CONTAINED = (
    ".pdb", ".pdb.gz", ".h5", ".hdf5", ".lh5", ".gro", ".mol2", ".arc", ".hoomdxml", ".gsd",
    ".pdbx", ".pdbx.gz", ".cif", ".cif.gz", ".mmcif", ".mmcif.gz",
)


def check_traj(traj) -> md.Trajectory:
    if not isinstance(traj, md.Trajectory):
        raise TypeError(f"traj must be an mdtraj.Trajectory, got {type(traj).__name__}; use load_trajectory(path)")
    return traj


# ----------------------------------------------------------------------------- reading trajectories


def _extension(path: Path) -> str:
    """The extension by which mdtraj picks its reader (``.pdb.gz`` counts as one)."""
    stem, ext = os.path.splitext(path.name)
    if ext == ".gz":
        ext = os.path.splitext(stem)[1] + ext
    return ext


def _trajectory_formats() -> str:
    return ", ".join(sorted(md.formats.registry.FormatRegistry.loaders))


def _load_topology(top) -> tuple[md.Topology, str]:
    """``top`` (a file, an ``mdtraj.Topology`` or ``mdtraj.Trajectory``) as a topology, and how to name it in errors."""
    if isinstance(top, md.Trajectory):
        return top.topology, "(the topology of the given Trajectory)"
    if isinstance(top, md.Topology):
        return top, "(the given Topology)"
    path = Path(top)
    if not path.is_file():
        raise FileNotFoundError(f"topology {path} not found")
    try:
        topology = md.load_topology(str(path))
    except ImportError:
        raise
    except Exception as exc:  # mdtraj raises OSError, IndexError, UnicodeDecodeError, ... for a bad file
        raise ValueError(f"topology {path} cannot be read by mdtraj ({type(exc).__name__}: {exc})") from exc
    if topology.n_atoms == 0:
        raise ValueError(f"topology {path} holds no atoms")
    return topology, str(path)


def _atoms_per_frame(path: Path) -> int | None:
    """The number of atoms in the frames of a trajectory file, read without a topology; ``None`` when unknown."""
    try:
        if _extension(path) in _SELF_CONTAINED:
            return md.load_frame(str(path), 0).n_atoms
        with md.open(str(path)) as fh:
            xyz = fh.read(n_frames=1)
        xyz = xyz[0] if isinstance(xyz, tuple) else xyz
        return int(xyz.shape[1])
    except Exception:  # best effort, for the error message only
        return None


def _read_error(traj_file: Path, ext: str, topology, top_name: str, exc: Exception) -> ValueError:
    """The error to raise when mdtraj fails to read ``traj_file``: a topology mismatch, or an unreadable file."""
    if topology is not None:
        n = _atoms_per_frame(traj_file)
        if (n is not None and n != topology.n_atoms) or "same atoms" in str(exc):
            has = f"has {n} atoms per frame" if n is not None else "does not have the same atoms"
            return ValueError(
                f"{traj_file} {has} but topology {top_name} has {topology.n_atoms} atoms: they do not belong "
                "together; pass the topology of this trajectory as top="
            )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ValueError(
        f"{traj_file} cannot be read as a {ext} trajectory: the file is corrupt or not in that format "
        f"(mdtraj: {type(exc).__name__}: {first})"
    )


def load_trajectory(path: str | os.PathLike, top=None) -> md.Trajectory:
    """Read a trajectory: a run of :func:`~mdlstm_utils.data.md.simulate`, or any file mdtraj reads.

    Parameters
    ----------
    path
        A run directory of :func:`~mdlstm_utils.data.md.simulate` (its ``traj.xtc``
        and ``topology.pdb`` are read), or a trajectory file in any format
        mdtraj reads, chosen by its extension: xtc, dcd, trr, nc, h5, pdb, gro, ...
        Of a run's ``traj.xtc`` only the committed frames are read: frames
        written after the last commit of a killed run are left out.
    top
        The topology: any file mdtraj reads a topology from (pdb, prmtop, psf,
        gro, h5, ...), or an ``mdtraj.Topology`` / ``mdtraj.Trajectory``.
        ``None`` (default): a file that holds its own topology (pdb, h5, gro,
        ...) uses it, and a coordinate-only file (xtc, dcd, trr, nc) uses the
        ``topology.pdb`` next to it, as a run of :func:`~mdlstm_utils.data.md.simulate` has.

    Returns
    -------
    mdtraj.Trajectory
        At least one frame.

    Raises
    ------
    FileNotFoundError
        When ``path`` or the topology is missing, or ``top`` is ``None`` for a
        coordinate-only file with no ``topology.pdb`` next to it.
    ValueError
        When a file is empty, corrupt or not in the format its extension
        says; when the topology's atom count does not match the trajectory's;
        when the trajectory holds no frames. The message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; expected a run directory of mdlstm_utils.data.md.simulate or a trajectory file "
            f"({_trajectory_formats()})"
        )
    run_dir = path.is_dir()
    traj_file = path / TRAJ_NAME if run_dir else path
    if run_dir and not traj_file.is_file():
        raise FileNotFoundError(f"{traj_file} not found; expected a run directory written by mdlstm_utils.data.md.simulate")
    ext = _extension(traj_file)
    if ext not in md.formats.registry.FormatRegistry.loaders:
        raise ValueError(f"{traj_file}: mdtraj reads no {ext or 'extension-less'} files; it reads {_trajectory_formats()}")

    if top is None and ext not in _SELF_CONTAINED:
        top = traj_file.parent / TOPOLOGY_NAME
        if not top.is_file():
            if run_dir:
                raise FileNotFoundError(f"{top} not found; expected a run directory written by mdlstm_utils.data.md.simulate")
            raise FileNotFoundError(
                f"{traj_file}: a {ext} file holds coordinates only and needs a topology, but none was given and "
                f"{top} is not there; pass top= a topology file (.pdb, .prmtop, .psf, .gro, ...)"
            )
    topology, top_name = (None, "") if top is None else _load_topology(top)

    size = traj_file.stat().st_size
    prog = read_progress(traj_file.parent) if traj_file.name == TRAJ_NAME else None
    if prog is not None and prog["n_frames"] == 0:
        raise ValueError(f"{traj_file} holds no frames yet: the run in {traj_file.parent} has committed none")
    if size == 0:
        raise ValueError(f"{traj_file} is empty (0 bytes): it holds no frames")
    if ext == ".xtc":
        with open(traj_file, "rb") as fh:
            if fh.read(4) != XTC_MAGIC:
                raise ValueError(
                    f"{traj_file} is not an XTC trajectory (no XTC magic number at its start): corrupt or another format"
                )

    kwargs = {} if topology is None else {"top": topology}
    try:
        if prog is not None and size > prog["xtc_bytes"]:  # a killed run: read only the committed part
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                cut = Path(tmp) / TRAJ_NAME
                with open(traj_file, "rb") as src:
                    cut.write_bytes(src.read(prog["xtc_bytes"]))
                traj = md.load(str(cut), **kwargs)
        else:
            traj = md.load(str(traj_file), **kwargs)
    except ImportError as exc:  # e.g. PyTables for .h5
        raise ImportError(f"reading {traj_file} needs a package that is not installed: {exc}") from exc
    except Exception as exc:  # mdtraj raises OSError, RuntimeError, ValueError, IndexError, ... for a bad file
        raise _read_error(traj_file, ext, topology, top_name, exc) from exc
    if topology is not None and traj.n_atoms != topology.n_atoms:  # formats that ignore top (h5, mol2)
        raise ValueError(
            f"{traj_file} has {traj.n_atoms} atoms per frame but topology {top_name} has {topology.n_atoms} atoms: "
            "they do not belong together"
        )
    if traj.n_frames == 0:
        raise ValueError(f"{traj_file} holds no frames")
    return traj


# ----------------------------------------------------------------------------- features


def _pairs(idx: np.ndarray) -> np.ndarray:
    """All pairs of ``idx`` (``itertools.combinations`` order), shape ``(n_pairs, 2)``."""
    i, j = np.triu_indices(len(idx), k=1)
    return np.stack([idx[i], idx[j]], axis=1)


def _heavy_atoms(traj: md.Trajectory) -> np.ndarray:
    idx = np.array([a.index for a in traj.topology.atoms if a.element is not None and a.element.symbol != "H"])
    if len(idx) < 2:
        raise ValueError(f"traj has {len(idx)} heavy atoms; at least 2 are needed")
    return idx


def heavy_atom_distances(traj: md.Trajectory) -> np.ndarray:
    """All pair distances between heavy (non-hydrogen) atoms, in nm.

    For alanine dipeptide the 10 heavy atoms give 45 distances, ordered as
    ``itertools.combinations`` of the heavy atoms in topology order.

    Returns
    -------
    ndarray, shape (n_frames, n_heavy * (n_heavy - 1) / 2), float32
    """
    traj = check_traj(traj)
    return md.compute_distances(traj, _pairs(_heavy_atoms(traj)), periodic=False)


def aligned_cartesian(traj: md.Trajectory, reference: md.Trajectory | None = None, atoms: str = "heavy") -> np.ndarray:
    """Cartesian coordinates after optimal superposition (translation + rotation) onto a reference, in nm.

    Parameters
    ----------
    traj
        The trajectory (not modified; a copy is aligned).
    reference
        A trajectory whose first frame is the reference (same topology);
        ``None`` uses the first frame of ``traj``.
    atoms
        ``"heavy"`` (default: 10 atoms, 30 features for alanine dipeptide) or
        ``"all"`` (22 atoms, 66 features). The superposition uses the same atoms.

    Returns
    -------
    ndarray, shape (n_frames, 3 * n_atoms), float32
        Rows are ``x1, y1, z1, x2, ...``.
    """
    traj = check_traj(traj)
    if atoms == "heavy":
        idx = _heavy_atoms(traj)
    elif atoms == "all":
        idx = np.arange(traj.n_atoms)
    else:
        raise ValueError(f"atoms={atoms!r} is not one of 'heavy', 'all'")
    if reference is None:
        reference = traj[0]
    elif not isinstance(reference, md.Trajectory):
        raise TypeError(f"reference must be an mdtraj.Trajectory or None, got {type(reference).__name__}")
    if reference.n_atoms != traj.n_atoms:
        raise ValueError(f"reference has {reference.n_atoms} atoms but traj has {traj.n_atoms}; they must match")
    if traj.n_frames == 0:
        return np.zeros((0, 3 * len(idx)), dtype=np.float32)
    sub = traj.atom_slice(idx)
    sub.superpose(reference.atom_slice(idx), frame=0)
    return sub.xyz.reshape(sub.n_frames, -1).astype(np.float32)


def _residue_label(residue) -> str:
    """``ALA2``; with the chain (``ALA2:B``) when the topology has several chains."""
    if residue.chain.topology.n_chains > 1:
        return f"{residue}:{getattr(residue.chain, 'chain_id', None) or residue.chain.index}"
    return str(residue)


def _atom_label(atom) -> str:
    return f"{_residue_label(atom.residue)}-{atom.name}"


#: The dihedrals of "torsions", in column order, with the position of the atom whose residue names the angle
#: (the CA: phi is C(i-1)-N-CA-C, psi N-CA-C-N(i+1), chi1 N-CA-CB-XG).
_TORSIONS = (("φ", md.compute_phi, 2), ("ψ", md.compute_psi, 1), ("χ1", md.compute_chi1, 1))


def _ca_atoms(topology: md.Topology) -> np.ndarray:
    """Atoms named CA that are not calcium ions (which PDB files also name CA)."""
    return np.array(
        [a.index for a in topology.atoms if a.name == "CA" and not (a.element is not None and a.element.symbol == "Ca")],
        dtype=int,
    )


def _columns(traj: md.Trajectory, kind) -> tuple[np.ndarray, list]:
    """The atoms of each feature of ``kind``: ``(indices, labels)``.

    ``torsions``: indices ``(n_dihedrals, 4)`` and labels ``(symbol, residue)``;
    ``distances`` / ``contacts``: atom pairs ``(n_pairs, 2)`` and no labels (names are built on demand).
    """
    if not isinstance(kind, str) or kind not in FEATURES:
        raise ValueError(f"kind={kind!r} is not a feature kind; choose one of {FEATURES}")
    top = traj.topology
    if kind == "torsions":
        head = traj[:1]  # the dihedrals depend on the topology only
        quads, labels = [], []
        for symbol, compute, at in _TORSIONS:
            idx, _ = compute(head)
            quads.extend(idx)
            labels.extend((symbol, top.atom(int(q[at])).residue) for q in idx)
        if not quads:
            names = ", ".join(str(r) for r in list(top.residues)[:5]) + (", ..." if top.n_residues > 5 else "")
            raise ValueError(
                f"kind='torsions' yields no feature: mdtraj finds no backbone φ/ψ or side-chain χ1 dihedral in this "
                f"topology ({top.n_residues} residues: {names}); use kind='distances'"
            )
        return np.array(quads, dtype=int).reshape(-1, 4), labels
    if kind == "distances":
        try:
            return _pairs(_heavy_atoms(traj)), []
        except ValueError as exc:
            raise ValueError(f"kind='distances' yields no feature: {exc}") from exc
    ca = _ca_atoms(top)
    if len(ca) < 2:
        raise ValueError(
            f"kind='contacts' yields no feature: the topology has {len(ca)} Cα atom(s) (atoms named CA), and "
            "Cα-Cα distances need at least 2 residues with one; use kind='torsions' or 'distances'"
        )
    residue = np.array([top.atom(int(a)).residue.index for a in ca])
    chain = np.array([top.atom(int(a)).residue.chain.index for a in ca])
    i, j = np.triu_indices(len(ca), k=1)
    far = (chain[i] != chain[j]) | (np.abs(residue[i] - residue[j]) >= 3)
    if far.any():
        i, j = i[far], j[far]
    return np.stack([ca[i], ca[j]], axis=1), []


def featurize(traj: md.Trajectory, kind: str = "torsions") -> np.ndarray:
    """Features of every frame of a trajectory of any topology, for clustering into states.

    Parameters
    ----------
    traj
        The trajectory (e.g. from :func:`load_trajectory`).
    kind
        One of :data:`FEATURES`:

        ``"torsions"`` (default)
            ``sin`` and ``cos`` of every backbone φ, ψ and side-chain χ1 that
            mdtraj finds (``mdtraj.compute_phi`` / ``compute_psi`` / ``compute_chi1``):
            all φ first, then all ψ, then all χ1, each as the two columns
            ``sin, cos``. Why sine and cosine: an angle is periodic, and -179°
            and 179° are neighbours; as points on the unit circle they are
            close, as numbers they are not. ``numpy.arctan2(sin, cos)`` gives
            the angle back (radians).
        ``"distances"``
            All heavy-atom pair distances in nm, as :func:`heavy_atom_distances`:
            every internal coordinate of a small molecule, but
            ``n_heavy (n_heavy - 1) / 2`` columns.
        ``"contacts"``
            Cα–Cα distances in nm of residues at least 3 apart in the same
            chain (and all pairs across chains): the fold of a protein,
            without the fixed distances of neighbours. When no pair is 3
            residues apart (a chain of 3 or fewer residues), all Cα pairs.

    Returns
    -------
    numpy.ndarray, shape (n_frames, d), float32
        Column names: :func:`feature_names`.

    Raises
    ------
    TypeError
        When ``traj`` is not an ``mdtraj.Trajectory``.
    ValueError
        For an unknown ``kind``, and when ``kind`` yields no feature for this
        topology (no dihedral, fewer than 2 heavy atoms, fewer than 2 Cα).
    """
    traj = check_traj(traj)
    idx, _ = _columns(traj, kind)
    if kind == "torsions":
        angles = md.compute_dihedrals(traj, idx)  # radians, as compute_phi / psi / chi1 (periodic, the same call)
        out = np.empty((traj.n_frames, 2 * idx.shape[0]), dtype=np.float32)
        out[:, 0::2] = np.sin(angles)
        out[:, 1::2] = np.cos(angles)
        return out
    return md.compute_distances(traj, idx, periodic=False).astype(np.float32, copy=False)


def feature_names(traj: md.Trajectory, kind: str = "torsions") -> list[str]:
    """One readable name per column of :func:`featurize` ``(traj, kind)``, in the same order.

    ``"torsions"``: ``"sin φ ALA2"``, ``"cos φ ALA2"``, ``"sin ψ ALA2"``, ... (the
    residue of the dihedral's CA); ``"distances"`` and ``"contacts"``:
    ``"d(ACE1-CH3,ALA2-N)"``, ``"d(ALA2-CA,GLY5-CA)"`` (residue name and number,
    then atom name, as mdtraj prints atoms). With several chains each residue
    carries its chain (``ALA2:B``). Only the topology is read, not the frames.
    """
    traj = check_traj(traj)
    idx, labels = _columns(traj, kind)
    if kind == "torsions":
        return [f"{f} {symbol} {_residue_label(res)}" for symbol, res in labels for f in ("sin", "cos")]
    top = traj.topology
    return [f"d({_atom_label(top.atom(int(i)))},{_atom_label(top.atom(int(j)))})" for i, j in idx]
