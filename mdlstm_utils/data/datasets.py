"""Shipped data by name, each file checked against its sha256 in ``data/MANIFEST``.

The MANIFEST format
-------------------
``data/MANIFEST`` is a UTF-8 text file with one data file per line and five
tab-separated columns::

    # mdlstm data manifest v1 (tab-separated; paths relative to this file's directory)
    # path	sha256	bytes	seed	command
    alanine-dipeptide/rep1/traj.xtc	9f2c…	10234567	1	python -m mdlstm_utils.data.md --ns 100 --seed 1 --out data/alanine-dipeptide/rep1

* ``path``: the file, relative to the directory of the MANIFEST, with ``/`` separators;
* ``sha256``: hex digest of the file's bytes; ``bytes``: its size;
* ``seed``: the random seed that produced it (``-`` when none applies);
* ``command``: the exact shell command that produced it (run from the repository root).

Lines starting with ``#`` and blank lines are ignored. :func:`write_manifest`
adds or replaces entries; ``python -m mdlstm_utils.data.datasets add FILE...`` does
the same from the shell, taking the command and seed from the ``progress.json``
that :func:`mdlstm_utils.data.md.simulate` writes next to its trajectory.

Data sets
---------
A data set is the set of MANIFEST entries under its directory (``alanine-dipeptide/``).
:func:`load` verifies every file (size and sha256) before reading any, and
reads them by kind: ``.xtc`` trajectories (each with the ``.pdb`` topology in
the same directory), ``.pdb`` topologies and ``.npz`` feature arrays.

Where the data are found: ``data_dir`` when given, else the directory in the ``MDLSTM_DATA`` environment
variable, else the ``data/`` of the checkout the package was installed from (an editable install, or running
from the repository). A wheel (``pip install .`` without ``-e``) does not carry 20 MB of trajectories: point
``MDLSTM_DATA`` at a checkout's ``data/`` (or give ``data_dir``); the error says so.

Why not pooch: pooch fetches files from a URL into a cache and checks their hashes. These files ship inside
the repository and have no URL to fetch from; what a user needs beyond the hash is the command and seed that
produce each file again, which a pooch registry does not record. So the manifest is ours, in a format pooch's
``file_hash`` digests agree with (plain sha256 of the bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "ManifestEntry",
    "Dataset",
    "default_data_dir",
    "read_manifest",
    "write_manifest",
    "verify_file",
    "load",
    "main",
]

_HEADER = (
    "# mdlstm data manifest v1 (tab-separated; paths relative to this file's directory)\n"
    "# path\tsha256\tbytes\tseed\tcommand\n"
)
_KINDS = {".xtc": "XTC trajectory", ".pdb": "PDB topology", ".npz": "NumPy .npz feature arrays"}
_XTC_MAGIC = (1995).to_bytes(4, "big")
_PDB_RECORDS = (b"HEADER", b"TITLE", b"REMARK", b"CRYST1", b"MODEL", b"ATOM", b"HETATM", b"COMPND", b"AUTHOR")

DATASETS: dict[str, dict[str, str]] = {
    "alanine-dipeptide": {
        "directory": "alanine-dipeptide",
        "description": (
            "alanine dipeptide in implicit solvent (amber14 + OBC2, HMR 4 fs, Langevin 1/ps) at 500 K, OpenMM, "
            "2 replicas x 60 ns, frames every 1 ps"
        ),
        "produce": (
            "python -m mdlstm_utils.data.md --ns 60 --seed 1 --temperature 500 --replicas 2 --no-progress "
            "--out data/alanine-dipeptide\n"
            "    python -m mdlstm_utils.data.datasets add data/alanine-dipeptide/rep*/traj.xtc "
            "data/alanine-dipeptide/rep*/topology.pdb"
        ),
    },
}


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a MANIFEST: a file, its sha256 and size, and how it was produced."""

    path: str
    sha256: str
    size: int
    seed: int | None
    command: str

    def line(self) -> str:
        seed = "-" if self.seed is None else str(self.seed)
        return f"{self.path}\t{self.sha256}\t{self.size}\t{seed}\t{self.command}\n"


@dataclass
class Dataset:
    """What :func:`load` returns.

    Attributes
    ----------
    name
        The data set's name.
    trajectories
        One ``mdtraj.Trajectory`` per ``.xtc`` file, in MANIFEST (path) order.
    features
        For ``.npz`` files: array name -> list of arrays (one per file, in path order).
    files
        The verified files.
    entries
        Their MANIFEST entries (with the commands that produced them).
    """

    name: str
    trajectories: list = field(default_factory=list)
    features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    entries: list[ManifestEntry] = field(default_factory=list)


#: The environment variable that names the data directory (for a package installed without its checkout).
DATA_ENV = "MDLSTM_DATA"


def default_data_dir() -> Path:
    """The data directory: ``$MDLSTM_DATA`` when set, else the repository's ``data/`` (next to the
    ``mdlstm_utils`` package of a checkout or an editable install)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """Parse a MANIFEST file (format in the module docstring).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For a malformed line (the message gives the line number and what is expected).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MANIFEST at {path}")
    entries = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        cols = raw.split("\t", 4)
        where = f"{path}, line {n}"
        if len(cols) != 5:
            raise ValueError(f"{where}: expected 5 tab-separated columns (path, sha256, bytes, seed, command), got {len(cols)}")
        p, sha, size, seed, command = cols
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"{where}: sha256 {sha!r} is not 64 lowercase hex digits")
        if not size.isdigit():
            raise ValueError(f"{where}: bytes {size!r} is not a non-negative integer")
        if seed != "-" and not seed.lstrip("-").isdigit():
            raise ValueError(f"{where}: seed {seed!r} is not an integer or '-'")
        entries.append(ManifestEntry(p, sha, int(size), None if seed == "-" else int(seed), command.strip()))
    return entries


def write_manifest(
    files,
    commands,
    path: str | os.PathLike,
    seeds=None,
) -> list[ManifestEntry]:
    """Add (or replace) MANIFEST entries for ``files``; write the MANIFEST atomically.

    Parameters
    ----------
    files
        Paths of existing files inside the MANIFEST's directory (or below it).
    commands
        The command that produced them: one string for all, or one per file.
    path
        The MANIFEST file (created if missing; existing entries for other
        files are kept, entries for the same files are replaced).
    seeds
        The seed(s): ``None``, one int for all, or one (int or None) per file.

    Returns
    -------
    list of ManifestEntry
        All entries of the written MANIFEST, sorted by path.

    Raises
    ------
    FileNotFoundError
        For a file that does not exist.
    ValueError
        For a file outside the MANIFEST's directory, a count mismatch, or a
        command with a tab or line break.
    TypeError
        For commands or seeds of the wrong type.
    """
    path = Path(path)
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    files = [Path(f) for f in files]
    if isinstance(commands, str):
        commands = [commands] * len(files)
    elif not isinstance(commands, (list, tuple)) or not all(isinstance(c, str) for c in commands):
        raise TypeError(f"commands must be a string or a list of strings, got {type(commands).__name__} ({commands!r})")
    if len(commands) != len(files):
        raise ValueError(f"commands has {len(commands)} entries for {len(files)} files; give one command or one per file")
    if seeds is None or isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = [seeds] * len(files)
    elif not isinstance(seeds, (list, tuple)):
        raise TypeError(f"seeds must be None, an int or a list, got {type(seeds).__name__} ({seeds!r})")
    if len(seeds) != len(files):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(files)} files; give one seed or one per file")
    root = path.parent.resolve()
    existing = {e.path: e for e in read_manifest(path)} if path.is_file() else {}
    for f, cmd, seed in zip(files, commands, seeds):
        if not f.is_file():
            raise FileNotFoundError(f"{f} not found: cannot add it to {path}")
        if "\t" in cmd or "\n" in cmd or "\r" in cmd or not cmd.strip():
            raise ValueError(f"command for {f} must be one non-empty line without tabs, got {cmd!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed for {f} must be an int or None, got {type(seed).__name__} ({seed!r})")
        try:
            rel = f.resolve().relative_to(root).as_posix()
        except ValueError:
            raise ValueError(f"{f} is not inside {root}, the directory of the MANIFEST {path}") from None
        existing[rel] = ManifestEntry(rel, _sha256_file(f), f.stat().st_size, None if seed is None else int(seed), cmd.strip())
    entries = sorted(existing.values(), key=lambda e: e.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_HEADER + "".join(e.line() for e in entries), encoding="utf-8")
    os.replace(tmp, path)
    return entries


def verify_file(entry: ManifestEntry, data_dir: str | os.PathLike) -> Path:
    """Check that ``entry``'s file exists with the recorded size and sha256; return its path.

    Raises
    ------
    FileNotFoundError
        When the file is missing (the message gives the command that produces it).
    ValueError
        When its size or sha256 differ from the MANIFEST (corrupted or replaced).
    """
    f = Path(data_dir) / entry.path
    regen = f"regenerate it (from the repository root) with:\n    {entry.command}"
    if not f.is_file():
        raise FileNotFoundError(f"{f} is listed in the MANIFEST but missing; {regen}")
    size = f.stat().st_size
    if size != entry.size:
        raise ValueError(f"{f} has {size} bytes but the MANIFEST records {entry.size}: corrupted or replaced; {regen}")
    sha = _sha256_file(f)
    if sha != entry.sha256:
        raise ValueError(
            f"{f} is corrupted: sha256 {sha[:12]}… does not match {entry.sha256[:12]}… in the MANIFEST; {regen}"
        )
    return f


def _check_kind(f: Path) -> str:
    suffix = f.suffix.lower()
    if suffix not in _KINDS:
        raise ValueError(f"{f}: files of kind {suffix or '(no suffix)'!r} cannot be loaded; expected one of {sorted(_KINDS)}")
    with open(f, "rb") as fh:
        head = fh.read(8)
    ok = {
        ".xtc": head[:4] == _XTC_MAGIC,
        ".npz": head[:4] == b"PK\x03\x04" and zipfile.is_zipfile(f),
        ".pdb": head.lstrip().upper().startswith(_PDB_RECORDS),
    }[suffix]
    if not ok:
        raise ValueError(f"{f} is not a valid {_KINDS[suffix]} (its first bytes are {head!r}); the file has the wrong kind")
    return suffix


def load(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a shipped data set by name after checking every file against the MANIFEST.

    Parameters
    ----------
    name
        One of :data:`DATASETS` (``"alanine-dipeptide"``).
    data_dir
        Directory holding ``MANIFEST`` and the data; default the repository's ``data/``.

    Returns
    -------
    Dataset
        Trajectories (``.xtc`` with their ``.pdb`` topology), feature arrays
        (``.npz``), and the files and MANIFEST entries they came from.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones), a corrupted
        file, or a file of the wrong kind.
    FileNotFoundError
        When the data set has no MANIFEST entries yet (the message says how
        to produce it) or a listed file is missing (the message gives the command).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {sorted(DATASETS)}; got {type(name).__name__} ({name!r})")
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: {sorted(DATASETS)}")
    spec = DATASETS[name]
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    manifest = data_dir / "MANIFEST"
    prefix = spec["directory"].rstrip("/") + "/"
    entries = [e for e in read_manifest(manifest) if e.path.startswith(prefix)] if manifest.is_file() else []
    if not entries:
        where = ("" if manifest.is_file() or os.environ.get(DATA_ENV) else
                 f" If mdlstm_utils was installed without its repository (pip install . rather than -e), set "
                 f"{DATA_ENV} to a checkout's data/ directory, or pass data_dir.")
        raise FileNotFoundError(
            f"data set {name!r} ({spec['description']}) is not in {data_dir}: "
            f"{manifest} {'has no entries under ' + prefix if manifest.is_file() else 'does not exist'}.{where} "
            f"Produce it from the repository root with:\n    {spec['produce']}"
        )
    files = [verify_file(e, data_dir) for e in entries]  # verify everything before reading anything
    kinds = [_check_kind(f) for f in files]
    ds = Dataset(name=name, files=files, entries=entries)
    import mdtraj as md

    tops = {f.parent: f for f, k in zip(files, kinds) if k == ".pdb"}
    for f, kind in zip(files, kinds):
        if kind == ".xtc":
            top = tops.get(f.parent)
            if top is None:
                raise FileNotFoundError(
                    f"{f} has no topology: the MANIFEST lists no .pdb file in {f.parent}; add its topology.pdb with "
                    "`python -m mdlstm_utils.data.datasets add <dir>/topology.pdb`"
                )
            try:
                ds.trajectories.append(md.load(str(f), top=str(top)))
            except Exception as exc:  # mdtraj raises several kinds for unreadable files
                raise ValueError(f"{f} could not be read as an XTC trajectory with topology {top}: {exc}") from exc
        elif kind == ".npz":
            try:
                with np.load(f, allow_pickle=False) as z:
                    for key in z.files:
                        ds.features.setdefault(key, []).append(z[key])
            except ValueError as exc:
                raise ValueError(f"{f} could not be read as NumPy .npz arrays (pickled objects are refused): {exc}") from exc
    return ds


# ----------------------------------------------------------------------------- command line


def _provenance(f: Path) -> tuple[str | None, int | None]:
    prog = f.parent / "progress.json"
    if prog.is_file():
        try:
            rec = json.loads(prog.read_text())
            return rec.get("command"), rec.get("params", {}).get("seed")
        except (json.JSONDecodeError, AttributeError):
            pass
    return None, None


def main(argv: list[str] | None = None) -> int:
    """The command line of this module: add files to the MANIFEST, or verify the shipped files.

    ``python -m mdlstm_utils.data.datasets add FILE [FILE ...]`` or
    ``python -m mdlstm_utils.data.datasets verify``; returns the exit status.
    """
    p = argparse.ArgumentParser(prog="python -m mdlstm_utils.data.datasets", description="Maintain and check data/MANIFEST.")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add", help="add or update MANIFEST entries for files")
    a.add_argument("files", nargs="+")
    a.add_argument("--command", help="the command that produced the files (default: from progress.json beside each file)")
    a.add_argument("--seed", type=int, default=None, help="their seed (default: from progress.json)")
    a.add_argument("--manifest", default=str(default_data_dir() / "MANIFEST"))
    v = sub.add_parser("verify", help="check every file of the MANIFEST (size and sha256)")
    v.add_argument("--data-dir", default=str(default_data_dir()))
    args = p.parse_args(argv)
    try:
        if args.cmd == "add":
            commands, seeds = [], []
            for f in args.files:
                cmd, seed = _provenance(Path(f))
                cmd = args.command or cmd
                if cmd is None:
                    p.error(f"no --command given and no progress.json beside {f} to take it from")
                commands.append(cmd)
                seeds.append(args.seed if args.seed is not None else seed)
            for e in write_manifest(args.files, commands, args.manifest, seeds=seeds):
                print(e.path, e.sha256[:12], e.size)
        else:
            for e in read_manifest(Path(args.data_dir) / "MANIFEST"):
                verify_file(e, args.data_dir)
                print("ok", e.path)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        p.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
