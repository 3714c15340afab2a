"""The OpenMM runner: molecular dynamics of alanine dipeptide, checkpointed and resumable.

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
frames and no half-written files after a resume; :func:`~mdlstm_utils.data.md.load_trajectory` reads
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

    python -m mdlstm_utils.data.md --ns 100 --seed 1 --temperature 300 --out data/raw/rep1
    python -m mdlstm_utils.data.md --ns 100 --seed 1 --replicas 4 --out data/raw   # rep1..rep4

Trajectories are read back with :func:`~mdlstm_utils.data.md.load_trajectory` (:mod:`mdlstm_utils.data.md.features`);
the system itself (starting structure, basins) is defined in :mod:`mdlstm_utils.data.md.alanine`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from io import StringIO
from multiprocessing import get_context
from pathlib import Path

import mdtraj as md
import numpy as np
from tqdm.auto import tqdm

from mdlstm_utils._checks import check_int as _check_int, check_positive as _check_positive
from mdlstm_utils.data.md.alanine import alanine_dipeptide_pdb
from mdlstm_utils.data.md.files import PROGRESS_NAME, TOPOLOGY_NAME, TRAJ_NAME, read_progress

__all__ = ["simulate", "simulate_replicas", "available_platforms", "main"]

TIMESTEP_PS = 0.004
FRICTION_PER_PS = 1.0
HYDROGEN_MASS_AMU = 1.5
FORCEFIELD_FILES = ("amber14-all.xml", "implicit/obc2.xml")
_FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- helpers


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
        f"python -c \"from mdlstm_utils.data.md import simulate; simulate({str(out_dir)!r}, ns={ns!r}, seed={seed!r}, "
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
        ``out_dir/topology.pdb`` (see :func:`~mdlstm_utils.data.md.load_trajectory`).

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
    plan = _plan_run(ns, seed, temperature, save_ps, checkpoint_every_ps, threads, platform)
    out_dir = _make_run_dir(out_dir)
    lock = _lock_run_dir(out_dir)  # one writer per run directory
    try:
        params = _run_params(plan)
        prog = _committed_run(out_dir, params)
        context, integrator, pdb, vel_seed = _build(plan.temperature, plan.seed, plan.platform, plan.threads)
        if prog is None:
            call = command or _python_call(out_dir, plan.ns, plan.seed, plan.temperature, plan.save_ps)
            prog = _start_run(out_dir, context, pdb, vel_seed, plan.temperature, params, call)
        else:
            _resume_run(out_dir, context, prog)
        if int(prog["n_frames"]) < plan.n_target:
            _produce(out_dir, context, integrator, prog, plan, progress=progress, position=progress_position)
        return out_dir / TRAJ_NAME
    finally:
        lock.close()


@dataclass(frozen=True)
class _Plan:
    """The checked arguments of one :func:`simulate` call, and the counts its loop runs on (steps, frames)."""

    ns: float
    seed: int
    temperature: float
    save_ps: float
    platform: str
    threads: int
    steps_per_frame: int  # integrator steps between saved frames
    frames_per_commit: int  # frames appended per commit (checkpoint_every_ps / save_ps)
    n_target: int  # frames of the whole run (ns / save_ps)


def _plan_run(ns, seed, temperature, save_ps, checkpoint_every_ps, threads, platform) -> _Plan:
    """Check every argument of :func:`simulate` before anything is written, and turn the times into counts.

    The saving and commit intervals must be whole multiples of the 4 fs step and of ``save_ps``, and
    ``ns`` a whole number of frames, so that a resumed run lands on the same frames as an uninterrupted one.
    """
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
    return _Plan(ns, seed, temperature, save_ps, platform, threads, steps_per_frame, frames_per_commit, n_target)


def _make_run_dir(out_dir) -> Path:
    """Create the run directory (a file of that name is an error, not something to write into)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir={str(out_dir)!r} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _run_params(plan: _Plan) -> dict:
    """The parameters that define a run's trajectory, recorded in ``progress.json``: a resume must match them."""
    return {
        "seed": plan.seed,
        "temperature_K": plan.temperature,
        "save_ps": plan.save_ps,
        "timestep_ps": TIMESTEP_PS,
        "friction_per_ps": FRICTION_PER_PS,
        "hydrogen_mass_amu": HYDROGEN_MASS_AMU,
        "forcefield": list(FORCEFIELD_FILES),
        "platform": plan.platform,
    }


def _committed_run(out_dir: Path, params: dict) -> dict | None:
    """The commit record of the run already in ``out_dir``, or ``None`` for a fresh directory.

    Refuses a directory whose trajectory has no commit record (not a run of :func:`simulate`, so not ours
    to overwrite) and a run started with other parameters (continuing it would splice two trajectories).
    """
    xtc = out_dir / TRAJ_NAME
    prog = read_progress(out_dir)
    if prog is None:
        if xtc.exists() and xtc.stat().st_size > 0:
            raise ValueError(
                f"{xtc} exists but {out_dir / PROGRESS_NAME} does not: this directory does not hold a run of "
                "mdlstm_utils.data.md.simulate; choose an empty out_dir"
            )
        return None
    diffs = {k: (prog["params"].get(k), v) for k, v in params.items() if prog["params"].get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: run has {old!r}, asked {new!r}" for k, (old, new) in diffs.items())
        raise ValueError(
            f"out_dir={str(out_dir)!r} holds a run with other parameters ({detail}); "
            "use the same parameters to resume it or choose another out_dir"
        )
    return prog


def _start_run(out_dir: Path, context, pdb, vel_seed: int, temperature: float, params: dict, command: str) -> dict:
    """Start a fresh run: minimize, draw velocities, write the topology and an empty trajectory, commit frame 0.

    The first commit (step 0, no frames) makes the directory a resumable run from the start; the topology is
    the minimized structure, which the XTC frames are read against. Returns the commit record.
    """
    import openmm
    from openmm import app, unit

    _cleanup(out_dir, None)
    context.setPositions(pdb.positions)
    openmm.LocalEnergyMinimizer.minimize(context)
    context.setVelocitiesToTemperature(temperature * unit.kelvin, vel_seed)
    positions = context.getState(getPositions=True).getPositions()
    buf = StringIO()
    app.PDBFile.writeFile(pdb.topology, positions, buf)
    _atomic_write_bytes(out_dir / TOPOLOGY_NAME, buf.getvalue().encode())
    _atomic_write_bytes(out_dir / TRAJ_NAME, b"")
    prog = {
        "format": "mdlstm-md",
        "version": _FORMAT_VERSION,
        "params": params,
        "command": command,
        "n_frames": 0,
        "step": 0,
        "xtc_bytes": 0,
        "checkpoint": None,
        "checkpoint_sha256": None,
        "wall_seconds": 0.0,
    }
    _commit(out_dir, prog, context.createCheckpoint(), step=0, n_frames=0, xtc_bytes=0)
    return prog


def _resume_run(out_dir: Path, context, prog: dict) -> None:
    """Bring the run back to its last commit: cut the trajectory to the committed size, load the checkpoint.

    Frames or half-written bytes after the commit belong to no checkpoint and are dropped, as GROMACS does
    with ``-append``; a missing or altered checkpoint, or a trajectory shorter than committed, cannot be
    resumed without gaps and is refused.
    """
    xtc = out_dir / TRAJ_NAME
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


def _produce(out_dir: Path, context, integrator, prog: dict, plan: _Plan, *, progress: bool,
             position: int | None) -> None:
    """The production loop: run ``frames_per_commit`` frames at a time and commit each block.

    Each block is appended to the trajectory and then committed with a checkpoint (:func:`_commit`), so a
    kill at any moment loses at most one block. The wall time of the run is added to ``progress.json``.
    """
    n_done = int(prog["n_frames"])
    bar = tqdm(
        total=plan.n_target,
        initial=n_done,
        unit="ps",
        unit_scale=plan.save_ps,
        desc=f"MD {out_dir.name} (seed {plan.seed}, {plan.temperature:g} K)",
        disable=not progress,
        position=position,
        leave=position is None,
        dynamic_ncols=True,
    )
    t_start = time.perf_counter()
    try:
        while n_done < plan.n_target:
            k = min(plan.frames_per_commit, plan.n_target - n_done)
            xyz = _run_frames(context, integrator, k, plan.steps_per_frame, bar)
            steps = prog["step"] + plan.steps_per_frame * np.arange(1, k + 1, dtype=np.int64)
            xtc_bytes = _append_frames(out_dir / TRAJ_NAME, xyz, steps)
            n_done += k
            elapsed = time.perf_counter() - t_start
            prog["wall_seconds"] = float(prog.get("wall_seconds", 0.0)) + elapsed
            t_start = time.perf_counter()
            _commit(out_dir, prog, context.createCheckpoint(), step=int(steps[-1]), n_frames=n_done, xtc_bytes=xtc_bytes)
            if prog["wall_seconds"] > 0:
                bar.set_postfix(ns_per_day=f"{n_done * plan.save_ps / 1000 / prog['wall_seconds'] * 86400:.0f}")
    finally:
        bar.close()


def _run_frames(context, integrator, k: int, steps_per_frame: int, bar) -> np.ndarray:
    """Integrate ``k`` frames of ``steps_per_frame`` steps each; their positions in nm, ``(k, atoms, 3)`` float32."""
    from openmm import unit

    xyz = np.empty((k, context.getSystem().getNumParticles(), 3), dtype=np.float32)
    for i in range(k):
        integrator.step(steps_per_frame)
        state = context.getState(getPositions=True)
        xyz[i] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        bar.update(1)
    return xyz


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
            "(e.g. `pkill -f mdlstm_utils.data.md`) before resuming"
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


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mdlstm_utils.data.md --ns 100 --seed 1 --out data/raw/rep1``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        prog="python -m mdlstm_utils.data.md",
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
    command = "python -m mdlstm_utils.data.md " + shlex.join(argv)
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

