"""Molecular dynamics of alanine dipeptide with OpenMM, and mdtraj featurization.

Simulation
----------
:func:`simulate` runs alanine dipeptide (ACE-ALA-NME, 22 atoms) in implicit
solvent: the Amber14 force field (``amber14-all.xml``) with the OBC2
generalized-Born model (``implicit/obc2.xml``), no cutoff, a
``LangevinMiddleIntegrator`` with friction 1/ps, bonds to hydrogen constrained
and hydrogen masses repartitioned to 1.5 amu, so that a 4 fs step is stable.
The starting structure is the PDB file shipped inside the installed
``openmmtools`` package (``openmmtools/data/alanine-dipeptide-gbsa/
alanine-dipeptide.pdb``); nothing is downloaded. The structure is
energy-minimized and given Maxwell–Boltzmann velocities before the first step.

Output directory of one run (``out_dir``)::

    topology.pdb                  the minimized starting structure (topology for the XTC)
    traj.xtc                      frames at t = save_ps, 2 save_ps, ... (ps), compressed (0.001 nm)
    checkpoint-<step>.chk         OpenMM checkpoint (positions, velocities, random-number state)
    progress.json                 the commit record: parameters, frames, XTC byte size, checkpoint name
    .lock                         held (flock) by the process writing the run: one writer at a time

Checkpoint and resume (the commit protocol)
-------------------------------------------
Every ``checkpoint_every_ps`` the new frames are appended to ``traj.xtc`` (XTC
files are a plain concatenation of frame records) and flushed to disk; then the
OpenMM checkpoint is written to a temporary file and renamed
(``os.replace``) to ``checkpoint-<step>.chk``; then ``progress.json`` is
written the same way. ``progress.json`` is the single commit point: it names
the checkpoint and the byte size of ``traj.xtc`` that belong together. When a
run is killed at any moment and :func:`simulate` is called again with the same
``out_dir``, it reads ``progress.json``, cuts ``traj.xtc`` back to the
committed size (removing any frames or half-written bytes written after the
last commit, as GROMACS does with ``-append``), removes stray checkpoint and
temporary files, loads the checkpoint and continues. There are no duplicated
frames and no half-written files after a resume; :func:`load_trajectory` reads
only the committed frames even from a directory whose run was just killed.
``ns`` is the *total* length: calling again with a larger ``ns`` extends a
finished run.

Reproducibility: the seed fixes both the initial velocities and the
integrator's random-number seed. On the CPU platform with the same thread
count, the same seed gives the same trajectory, and a run that is killed and
resumed gives the same frames as one that was never interrupted (the
checkpoint stores the random-number state). Checkpoints are specific to the
OpenMM platform: a run must be resumed on the platform it started on.

Speed: about 1.3 µs/day for a single-thread CPU run in OBC2 on an idle core
(0.6-0.9 µs/day measured on a loaded 2-core machine); two threads on one run
are slower than one, so run one replica per core (:func:`simulate_replicas`,
``--replicas``). ``progress.json`` records the wall time of each run.

Command line::

    python -m mdlstm_utils.md --ns 100 --seed 1 --temperature 300 --out data/raw/rep1
    python -m mdlstm_utils.md --ns 100 --seed 1 --replicas 4 --out data/raw   # rep1..rep4

Featurization
-------------
:func:`phi_psi` (backbone dihedrals, degrees by default), :func:`heavy_atom_distances`
(45 pair distances of the 10 heavy atoms, nm) and :func:`aligned_cartesian`
(coordinates after optimal superposition, nm) take an ``mdtraj.Trajectory``
and return plain NumPy arrays of shape ``(n_frames, n_features)``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import mdtraj as md
import numpy as np
from tqdm.auto import tqdm

from ._checks import check_int as _check_int, check_positive as _check_positive

__all__ = [
    "simulate",
    "simulate_replicas",
    "available_platforms",
    "load_trajectory",
    "alanine_dipeptide_pdb",
    "phi_psi",
    "heavy_atom_distances",
    "aligned_cartesian",
    "BASIN_NAMES",
    "ramachandran_basins",
    "metastable_basins",
    "PHI_CORES",
    "phi_core",
    "phi_flip_cores",
    "count_phi_flips",
    "representative_frames",
    "main",
]

TIMESTEP_PS = 0.004
FRICTION_PER_PS = 1.0
HYDROGEN_MASS_AMU = 1.5
FORCEFIELD_FILES = ("amber14-all.xml", "implicit/obc2.xml")
TRAJ_NAME = "traj.xtc"
TOPOLOGY_NAME = "topology.pdb"
PROGRESS_NAME = "progress.json"
_FORMAT_VERSION = 1
_XTC_MAGIC = (1995).to_bytes(4, "big")


# ----------------------------------------------------------------------------- helpers


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


def _multiple(name: str, value: float, unit: float, unit_name: str) -> int:
    n = round(value / unit)
    if n < 1 or abs(n * unit - value) > 1e-6 * max(unit, value):
        raise ValueError(f"{name}={value!r} must be a positive multiple of {unit_name} ({unit!r})")
    return int(n)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _python_call(out_dir, ns, seed, temperature, save_ps) -> str:
    return (
        f"python -c \"from mdlstm_utils.md import simulate; simulate({str(out_dir)!r}, ns={ns!r}, seed={seed!r}, "
        f"temperature={temperature!r}, save_ps={save_ps!r})\""
    )


def available_platforms() -> list[str]:
    """The OpenMM platforms that load on this machine (``"Reference"``, ``"CPU"``, and ``"CUDA"`` / ``"OpenCL"`` with their plugins)."""
    import openmm

    return [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]


def _build(temperature: float, seed: int, platform: str, threads: int):
    """System, integrator and context of alanine dipeptide; returns (context, integrator, pdb)."""
    import openmm
    from openmm import app, unit

    pdb = app.PDBFile(str(alanine_dipeptide_pdb()))
    forcefield = app.ForceField(*FORCEFIELD_FILES)
    system = forcefield.createSystem(
        pdb.topology,
        nonbondedMethod=app.NoCutoff,
        constraints=app.HBonds,
        hydrogenMass=HYDROGEN_MASS_AMU * unit.amu,
    )
    integrator = openmm.LangevinMiddleIntegrator(
        temperature * unit.kelvin, FRICTION_PER_PS / unit.picosecond, TIMESTEP_PS * unit.picoseconds
    )
    vel_seed, int_seed = _derived_seeds(seed)
    integrator.setRandomNumberSeed(int_seed)
    names = available_platforms()
    if platform not in names:
        raise ValueError(f"platform={platform!r} is not available here; OpenMM has {names}")
    plat = openmm.Platform.getPlatformByName(platform)
    props = {"Threads": str(threads)} if platform == "CPU" else {}
    if platform in ("CUDA", "OpenCL", "HIP"):
        props["Precision"] = "mixed"
    context = openmm.Context(system, integrator, plat, props)
    return context, integrator, pdb, vel_seed


def _derived_seeds(seed: int) -> tuple[int, int]:
    # OpenMM treats a seed of 0 as "pick one at random": derive two non-zero seeds from ``seed``
    rng = np.random.default_rng(seed)
    vel_seed, int_seed = rng.integers(1, 2**31 - 1, size=2)
    return int(vel_seed), int(int_seed)


def _read_progress(out_dir: Path) -> dict | None:
    path = out_dir / PROGRESS_NAME
    if not path.is_file():
        return None
    try:
        prog = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a valid progress record of mdlstm_utils.md.simulate ({exc})") from exc
    if not isinstance(prog, dict) or prog.get("format") != "mdlstm-md" or "n_frames" not in prog:
        raise ValueError(f"{path} is not a progress record written by mdlstm_utils.md.simulate")
    return prog


def _write_progress(out_dir: Path, prog: dict) -> None:
    _atomic_write_bytes(out_dir / PROGRESS_NAME, (json.dumps(prog, indent=2) + "\n").encode())


def _cleanup(out_dir: Path, keep_checkpoint: str | None) -> None:
    for p in out_dir.glob("*.tmp"):
        p.unlink(missing_ok=True)
    for p in out_dir.glob("checkpoint-*.chk"):
        if p.name != keep_checkpoint:
            p.unlink(missing_ok=True)


def _append_frames(xtc: Path, xyz: np.ndarray, steps: np.ndarray) -> int:
    """Append frames to ``xtc`` (write them as a small XTC, then append its bytes); return the new size."""
    part = xtc.with_name(xtc.name + ".part.tmp")
    with md.formats.XTCTrajectoryFile(str(part), "w") as fh:
        fh.write(
            xyz.astype(np.float32),
            time=(steps * TIMESTEP_PS).astype(np.float32),
            step=steps.astype(np.int32),
        )
    data = part.read_bytes()
    part.unlink()
    with open(xtc, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return xtc.stat().st_size


# ----------------------------------------------------------------------------- simulation


def simulate(
    out_dir: str | os.PathLike,
    ns: float,
    seed: int,
    temperature: float = 300.0,
    save_ps: float = 1.0,
    platform: str = "CPU",
    threads: int = 1,
    progress: bool = True,
    checkpoint_every_ps: float = 100.0,
    command: str | None = None,
    progress_position: int | None = None,
) -> Path:
    """Simulate alanine dipeptide in implicit solvent; resume from ``out_dir`` when a run is there.

    Parameters
    ----------
    out_dir
        Directory of the run (created). When it already holds a run of
        :func:`simulate`, that run is continued from its last checkpoint.
    ns
        Total length in nanoseconds (not the length to add): a finished run
        called again with a larger ``ns`` is extended, with a smaller or
        equal one it is left as it is.
    seed
        Non-negative int; fixes the initial velocities and the Langevin
        integrator's random numbers.
    temperature
        Temperature in kelvin (thermostat and initial velocities).
    save_ps
        Saving interval in ps; a multiple of the 4 fs step.
    platform
        OpenMM platform name: ``"CPU"``, ``"CUDA"``, ``"OpenCL"`` or ``"Reference"``.
    threads
        CPU threads (``"CPU"`` platform only). One thread per run is fastest
        for this 22-atom system; run replicas in parallel instead.
    progress
        Show a tqdm progress bar (in ps of simulated time).
    checkpoint_every_ps
        Interval of the commits (frames + checkpoint); a multiple of ``save_ps``.
    command
        The command recorded in ``progress.json`` as the one that produced the
        data (the command line sets it); by default an equivalent Python call.
    progress_position
        tqdm ``position`` (used to stack bars of parallel replicas).

    Returns
    -------
    Path
        The trajectory file ``out_dir/traj.xtc``; its topology is
        ``out_dir/topology.pdb`` (see :func:`load_trajectory`).

    Raises
    ------
    ValueError
        For bad arguments, for an ``out_dir`` holding files that are not a run
        of this function, or for a resume with different ``seed``,
        ``temperature``, ``save_ps`` or ``platform`` than the run was started with.
    RuntimeError
        When another process is writing ``out_dir`` (each run directory has
        one writer at a time, enforced by a lock file ``out_dir/.lock``).
    """
    from openmm import unit

    ns = _check_positive("ns", ns)
    seed = _check_int("seed", seed, 0)
    temperature = _check_positive("temperature", temperature)
    save_ps = _check_positive("save_ps", save_ps)
    checkpoint_every_ps = _check_positive("checkpoint_every_ps", checkpoint_every_ps)
    threads = _check_int("threads", threads, 1)
    if not isinstance(platform, str):
        raise TypeError(f"platform must be a string such as 'CPU' or 'CUDA', got {type(platform).__name__} ({platform!r})")
    steps_per_frame = _multiple("save_ps", save_ps, TIMESTEP_PS, "the 4 fs time step in ps")
    frames_per_commit = _multiple("checkpoint_every_ps", checkpoint_every_ps, save_ps, "save_ps")
    n_target = round(ns * 1000.0 / save_ps)
    if n_target < 1 or abs(n_target * save_ps - ns * 1000.0) > 1e-6 * ns * 1000.0:
        raise ValueError(f"ns={ns!r} must be a positive multiple of save_ps={save_ps!r} ps (= {save_ps / 1000:g} ns)")

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir={str(out_dir)!r} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_run_dir(out_dir)  # one writer per run directory
    try:
        xtc = out_dir / TRAJ_NAME
        params = {
            "seed": seed,
            "temperature_K": temperature,
            "save_ps": save_ps,
            "timestep_ps": TIMESTEP_PS,
            "friction_per_ps": FRICTION_PER_PS,
            "hydrogen_mass_amu": HYDROGEN_MASS_AMU,
            "forcefield": list(FORCEFIELD_FILES),
            "platform": platform,
        }

        prog = _read_progress(out_dir)
        if prog is None:
            if xtc.exists() and xtc.stat().st_size > 0:
                raise ValueError(
                    f"{xtc} exists but {out_dir / PROGRESS_NAME} does not: this directory does not hold a run of "
                    "mdlstm_utils.md.simulate; choose an empty out_dir"
                )
        else:
            diffs = {k: (prog["params"].get(k), v) for k, v in params.items() if prog["params"].get(k) != v}
            if diffs:
                detail = ", ".join(f"{k}: run has {old!r}, asked {new!r}" for k, (old, new) in diffs.items())
                raise ValueError(
                    f"out_dir={str(out_dir)!r} holds a run with other parameters ({detail}); "
                    "use the same parameters to resume it or choose another out_dir"
                )

        context, integrator, pdb, vel_seed = _build(temperature, seed, platform, threads)

        if prog is None:  # fresh start: minimize, velocities, commit frame count 0
            _cleanup(out_dir, None)
            import openmm

            context.setPositions(pdb.positions)
            openmm.LocalEnergyMinimizer.minimize(context)
            context.setVelocitiesToTemperature(temperature * unit.kelvin, vel_seed)
            positions = context.getState(getPositions=True).getPositions()
            from io import StringIO

            from openmm import app

            buf = StringIO()
            app.PDBFile.writeFile(pdb.topology, positions, buf)
            _atomic_write_bytes(out_dir / TOPOLOGY_NAME, buf.getvalue().encode())
            _atomic_write_bytes(xtc, b"")
            prog = {
                "format": "mdlstm-md",
                "version": _FORMAT_VERSION,
                "params": params,
                "command": command or _python_call(out_dir, ns, seed, temperature, save_ps),
                "n_frames": 0,
                "step": 0,
                "xtc_bytes": 0,
                "checkpoint": None,
                "checkpoint_sha256": None,
                "wall_seconds": 0.0,
            }
            chk = context.createCheckpoint()
            _commit(out_dir, prog, chk, step=0, n_frames=0, xtc_bytes=0)
        else:  # resume: cut the trajectory back to the committed size, load the checkpoint
            chk_path = out_dir / str(prog["checkpoint"])
            if not chk_path.is_file():
                raise FileNotFoundError(
                    f"{out_dir / PROGRESS_NAME} names checkpoint {chk_path.name}, which is missing; "
                    f"the run in {out_dir} cannot be resumed (delete the directory to start again)"
                )
            chk = chk_path.read_bytes()
            if _sha256(chk) != prog["checkpoint_sha256"]:
                raise ValueError(f"checkpoint {chk_path} does not match the sha256 recorded in {PROGRESS_NAME}: corrupted")
            size = xtc.stat().st_size if xtc.exists() else -1
            if size < prog["xtc_bytes"]:
                raise ValueError(
                    f"{xtc} has {max(size, 0)} bytes but {prog['xtc_bytes']} were committed: the trajectory was "
                    "truncated or removed; the run cannot be resumed"
                )
            if size > prog["xtc_bytes"]:
                os.truncate(xtc, prog["xtc_bytes"])
            _cleanup(out_dir, chk_path.name)
            context.loadCheckpoint(chk)
            got = context.getState().getStepCount()
            if got != prog["step"]:
                raise ValueError(f"checkpoint {chk_path} is at step {got}, but {PROGRESS_NAME} records step {prog['step']}")

        n_done = int(prog["n_frames"])
        if n_done >= n_target:
            return xtc

        bar = tqdm(
            total=n_target,
            initial=n_done,
            unit="ps",
            unit_scale=save_ps,
            desc=f"MD {out_dir.name} (seed {seed}, {temperature:g} K)",
            disable=not progress,
            position=progress_position,
            leave=progress_position is None,
            dynamic_ncols=True,
        )
        t_start = time.perf_counter()
        frames_run = 0
        try:
            while n_done < n_target:
                k = min(frames_per_commit, n_target - n_done)
                xyz = np.empty((k, context.getSystem().getNumParticles(), 3), dtype=np.float32)
                for i in range(k):
                    integrator.step(steps_per_frame)
                    state = context.getState(getPositions=True)
                    xyz[i] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
                    bar.update(1)
                steps = prog["step"] + steps_per_frame * np.arange(1, k + 1, dtype=np.int64)
                xtc_bytes = _append_frames(xtc, xyz, steps)
                n_done += k
                frames_run += k
                elapsed = time.perf_counter() - t_start
                prog["wall_seconds"] = float(prog.get("wall_seconds", 0.0)) + elapsed
                t_start = time.perf_counter()
                _commit(out_dir, prog, context.createCheckpoint(), step=int(steps[-1]), n_frames=n_done, xtc_bytes=xtc_bytes)
                if prog["wall_seconds"] > 0:
                    bar.set_postfix(ns_per_day=f"{n_done * save_ps / 1000 / prog['wall_seconds'] * 86400:.0f}")
        finally:
            bar.close()
        return xtc
    finally:
        lock.close()


def _commit(out_dir: Path, prog: dict, chk: bytes, *, step: int, n_frames: int, xtc_bytes: int) -> None:
    name = f"checkpoint-{step:012d}.chk"
    _atomic_write_bytes(out_dir / name, chk)
    old = prog.get("checkpoint")
    prog.update(step=step, n_frames=n_frames, xtc_bytes=xtc_bytes, checkpoint=name, checkpoint_sha256=_sha256(chk))
    prog["time_ps"] = round(step * TIMESTEP_PS, 6)
    _write_progress(out_dir, prog)  # the commit point
    if old and old != name:
        (out_dir / old).unlink(missing_ok=True)


def _lock_run_dir(out_dir: Path):
    """Take the run directory's lock (``.lock``, an exclusive ``flock``); return the open file that holds it.

    Two processes writing one run directory would interleave frames (for
    example a replica worker left running after its parent was killed, and a
    new run resuming the same directory). The lock makes the second one fail
    at once; the operating system releases it when its holder exits.
    """
    fh = open(out_dir / ".lock", "a+")
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RuntimeError(
            f"{out_dir} is being written by another process (its .lock is held); wait for it to finish or stop it "
            "(e.g. `pkill -f mdlstm_utils.md`) before resuming"
        ) from None
    return fh


def _exit_with_parent(parent_pid: int) -> None:
    """Replica worker initializer: end this worker when the process that started it is gone."""
    import threading

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def _replica_worker(kwargs: dict) -> str:
    return str(simulate(**kwargs))


def simulate_replicas(
    out_dir: str | os.PathLike,
    ns: float,
    seed: int,
    n_replicas: int,
    temperature: float = 300.0,
    save_ps: float = 1.0,
    platform: str = "CPU",
    max_workers: int | None = None,
    progress: bool = True,
    checkpoint_every_ps: float = 100.0,
    command: str | None = None,
) -> list[Path]:
    """Run ``n_replicas`` independent runs in parallel processes, one CPU thread each.

    Replica ``i`` uses seed ``seed + i`` and writes to ``out_dir/rep{seed + i}``;
    each one resumes on its own when called again (see :func:`simulate`).

    Parameters
    ----------
    max_workers
        Number of processes; by default ``min(n_replicas, os.cpu_count())``.
    Other parameters
        As in :func:`simulate`.

    Returns
    -------
    list of Path
        The trajectory files, in seed order.
    """
    n_replicas = _check_int("n_replicas", n_replicas, 1)
    seed = _check_int("seed", seed, 0)
    if max_workers is None:
        max_workers = min(n_replicas, os.cpu_count() or 1)
    max_workers = _check_int("max_workers", max_workers, 1)
    out_dir = Path(out_dir)
    jobs = [
        dict(
            out_dir=out_dir / f"rep{seed + i}",
            ns=ns,
            seed=seed + i,
            temperature=temperature,
            save_ps=save_ps,
            platform=platform,
            threads=1,
            progress=progress,
            checkpoint_every_ps=checkpoint_every_ps,
            command=f"{command}  # replica seed {seed + i} -> rep{seed + i}" if command else None,
            progress_position=i,
        )
        for i in range(n_replicas)
    ]
    if max_workers == 1:
        return [Path(_replica_worker(j)) for j in jobs]
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=get_context("spawn"),
                             initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
        return [Path(p) for p in pool.map(_replica_worker, jobs)]


def load_trajectory(path: str | os.PathLike) -> md.Trajectory:
    """Read the committed frames of a run of :func:`simulate` as an ``mdtraj.Trajectory``.

    Parameters
    ----------
    path
        The run directory or its ``traj.xtc``. Frames written after the last
        commit of a killed run are not read.

    Raises
    ------
    FileNotFoundError
        When the trajectory or its ``topology.pdb`` is missing.
    ValueError
        When ``traj.xtc`` is not an XTC file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; expected a run directory of mdlstm_utils.md.simulate or its traj.xtc")
    run_dir = path if path.is_dir() else path.parent
    xtc = path if path.suffix == ".xtc" else run_dir / TRAJ_NAME
    top = run_dir / TOPOLOGY_NAME
    for f in (xtc, top):
        if not f.is_file():
            raise FileNotFoundError(f"{f} not found; expected a run directory written by mdlstm_utils.md.simulate")
    prog = _read_progress(run_dir)
    size = xtc.stat().st_size
    if prog is not None and prog["n_frames"] == 0:
        return md.load(str(top))[:0]
    with open(xtc, "rb") as fh:
        if fh.read(4) != _XTC_MAGIC:
            raise ValueError(f"{xtc} is not an XTC trajectory (no XTC magic number at its start)")
    if prog is not None and size > prog["xtc_bytes"]:  # a killed run: read only the committed part
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            cut = Path(tmp) / TRAJ_NAME
            with open(xtc, "rb") as src:
                cut.write_bytes(src.read(prog["xtc_bytes"]))
            return md.load(str(cut), top=str(top))
    return md.load(str(xtc), top=str(top))


# ----------------------------------------------------------------------------- featurization


def _check_traj(traj) -> md.Trajectory:
    if not isinstance(traj, md.Trajectory):
        raise TypeError(f"traj must be an mdtraj.Trajectory, got {type(traj).__name__}; use load_trajectory(path)")
    return traj


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
    traj = _check_traj(traj)
    phi_idx, phi = md.compute_phi(traj)
    psi_idx, psi = md.compute_psi(traj)
    if phi.shape[1] != 1 or psi.shape[1] != 1:
        raise ValueError(
            f"traj has {phi.shape[1]} phi and {psi.shape[1]} psi dihedrals; phi_psi expects alanine dipeptide (one each)"
        )
    out = np.concatenate([phi, psi], axis=1).astype(np.float64)
    return np.degrees(out) if degrees else out


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
    traj = _check_traj(traj)
    idx = _heavy_atoms(traj)
    i, j = np.triu_indices(len(idx), k=1)
    pairs = np.stack([idx[i], idx[j]], axis=1)
    return md.compute_distances(traj, pairs, periodic=False)


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
    traj = _check_traj(traj)
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
        Labels in {0, 1} per frame (e.g. ``experiment.metastable_partition(...).labels``),
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
    from .states import core_set_labels

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


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mdlstm_utils.md --ns 100 --seed 1 --out data/raw/rep1``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m mdlstm_utils.md",
        description="Alanine dipeptide in implicit solvent (amber14 + OBC2, 4 fs HMR, Langevin 1/ps) with OpenMM; "
        "resumes from its checkpoint when run again with the same --out.",
    )
    p.add_argument("--ns", type=float, required=True, help="total simulated time in ns (per replica)")
    p.add_argument("--seed", type=int, default=1, help="random seed (replica i uses seed + i)")
    p.add_argument("--temperature", type=float, default=300.0, help="temperature in K (default 300)")
    p.add_argument("--save-ps", type=float, default=1.0, help="saving interval in ps (default 1)")
    p.add_argument("--checkpoint-every-ps", type=float, default=100.0, help="commit interval in ps (default 100)")
    p.add_argument("--out", required=True, help="run directory; with --replicas N the parent of rep{seed}")
    p.add_argument("--platform", default="CPU", help="OpenMM platform: CPU, CUDA, OpenCL, Reference")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for a single run (default 1)")
    p.add_argument("--replicas", type=int, default=1, help="independent runs in parallel processes, one thread each")
    p.add_argument("--workers", type=int, default=None, help="processes for --replicas (default min(N, CPUs))")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    command = "python -m mdlstm_utils.md " + shlex.join(argv)
    try:
        if args.replicas > 1:
            paths = simulate_replicas(
                args.out, args.ns, args.seed, args.replicas, temperature=args.temperature, save_ps=args.save_ps,
                platform=args.platform, max_workers=args.workers, progress=not args.no_progress,
                checkpoint_every_ps=args.checkpoint_every_ps, command=command,
            )
        else:
            paths = [
                simulate(
                    args.out, args.ns, args.seed, temperature=args.temperature, save_ps=args.save_ps,
                    platform=args.platform, threads=args.threads, progress=not args.no_progress,
                    checkpoint_every_ps=args.checkpoint_every_ps, command=command,
                )
            ]
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        p.error(str(exc))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
