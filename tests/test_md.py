"""OpenMM alanine dipeptide: tiny runs (a few ps, one CPU thread), resume after a kill, featurization."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from mdlstm_utils.data.md import (
    aligned_cartesian,
    alanine_dipeptide_pdb,
    heavy_atom_distances,
    load_trajectory,
    phi_psi,
    simulate,
    simulate_replicas,
)

SEED = 7


@pytest.fixture(scope="module")
def run4(tmp_path_factory) -> Path:
    """A 4 ps run committed every 2 ps."""
    out = tmp_path_factory.mktemp("md") / "run4"
    simulate(out, ns=0.004, seed=SEED, checkpoint_every_ps=2.0, progress=False)
    return out


def test_tiny_run_writes_a_readable_trajectory(run4):
    files = sorted(p.name for p in run4.iterdir())
    assert files[0] == ".lock" and files[1].startswith("checkpoint-")
    assert files[2:] == ["progress.json", "topology.pdb", "traj.xtc"]
    traj = md.load(str(run4 / "traj.xtc"), top=str(run4 / "topology.pdb"))
    assert traj.n_frames == 4 and traj.n_atoms == 22
    np.testing.assert_allclose(traj.time, [1.0, 2.0, 3.0, 4.0])
    assert np.isfinite(traj.xyz).all() and np.abs(traj.xyz).max() < 10.0
    prog = json.loads((run4 / "progress.json").read_text())
    assert prog["n_frames"] == 4 and prog["step"] == 1000 and prog["params"]["seed"] == SEED
    assert prog["command"].startswith("python -c") and "seed=7" in prog["command"]
    assert load_trajectory(run4).n_frames == 4
    # bonded geometry is sane after 4 ps: the C-N bond length of the peptide stays near 0.13 nm
    top = traj.topology
    c = top.select("resname ACE and name C")[0]
    n = top.select("resname ALA and name N")[0]
    d = md.compute_distances(traj, [[c, n]])
    assert np.all((d > 0.12) & (d < 0.15))


def test_same_seed_same_frames_other_seed_differs(run4, tmp_path):
    # OpenMM's CPU platform is deterministic for a given thread count (here 1)
    simulate(tmp_path / "again", ns=0.002, seed=SEED, progress=False)
    simulate(tmp_path / "other", ns=0.002, seed=SEED + 1, progress=False)
    ref = load_trajectory(run4).xyz
    np.testing.assert_array_equal(load_trajectory(tmp_path / "again").xyz, ref[:2])
    assert np.abs(load_trajectory(tmp_path / "other").xyz - ref[:2]).max() > 1e-3


def test_kill_and_resume_continues_without_duplicates(run4, tmp_path):
    out = tmp_path / "killed"
    ps = 30
    cmd = [sys.executable, "-m", "mdlstm_utils.data.md", "--ns", str(ps / 1000), "--seed", str(SEED),
           "--checkpoint-every-ps", "2", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 45
    committed = 0
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                committed = json.loads((out / "progress.json").read_text())["n_frames"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                committed = 0
            if committed >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed; raise ps"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    prog = json.loads((out / "progress.json").read_text())
    assert 4 <= prog["n_frames"] < ps
    # simulate a half-written tail and a stray temporary file, as a kill at the wrong moment leaves them
    with open(out / "traj.xtc", "ab") as fh:
        fh.write(b"\x00\x00\x07\xcbhalf-a-frame")
    (out / "progress.json.tmp").write_text("{")
    assert load_trajectory(out).n_frames == prog["n_frames"]  # only committed frames are read
    assert "--seed 7" in prog["command"]

    simulate(out, ns=ps / 1000, seed=SEED, checkpoint_every_ps=2.0, progress=False)
    traj = load_trajectory(out)
    assert traj.n_frames == ps
    np.testing.assert_allclose(traj.time, np.arange(1, ps + 1))  # no duplicated or missing time stamps
    assert not list(out.glob("*.tmp")) and len(list(out.glob("checkpoint-*.chk"))) == 1
    # the resumed run is the uninterrupted one: same seed gives the same frames as run4 ...
    np.testing.assert_array_equal(traj.xyz[:4], load_trajectory(run4).xyz)
    # ... and extending a finished run continues the same trajectory
    ext = tmp_path / "extended"
    simulate(ext, ns=0.004, seed=SEED, checkpoint_every_ps=2.0, progress=False)
    simulate(ext, ns=0.008, seed=SEED, checkpoint_every_ps=2.0, progress=False)
    np.testing.assert_array_equal(load_trajectory(ext).xyz, traj.xyz[:8])
    # asking for less than is there leaves the run alone
    simulate(ext, ns=0.002, seed=SEED, progress=False)
    assert load_trajectory(ext).n_frames == 8


def test_resume_with_other_parameters_is_refused(run4, tmp_path):
    with pytest.raises(ValueError, match=r"temperature_K: run has 300.0, asked 350.0"):
        simulate(run4, ns=0.006, seed=SEED, temperature=350, progress=False)
    with pytest.raises(ValueError, match=r"seed: run has 7, asked 8"):
        simulate(run4, ns=0.006, seed=SEED + 1, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "traj.xtc").write_bytes(b"not mine")
    with pytest.raises(ValueError, match="does not hold a run"):
        simulate(foreign, ns=0.001, seed=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(ns=0.001, seed=1, save_ps=0.005), ValueError, r"save_ps=0.005 must be a positive multiple of the 4 fs"),
        (dict(ns=0.001, seed=-1), ValueError, r"seed must be >= 0, got -1"),
        (dict(ns=0.001, seed=1.5), TypeError, r"seed must be an int, got float"),
        (dict(ns=0.0, seed=1), ValueError, r"ns must be a finite number > 0"),
        (dict(ns=0.0015, seed=1), ValueError, r"ns=0.0015 must be a positive multiple of save_ps"),
        (dict(ns=0.001, seed=1, checkpoint_every_ps=1.5), ValueError, r"checkpoint_every_ps=1.5 must be a positive multiple of save_ps"),
        (dict(ns=0.001, seed=1, threads=0), ValueError, r"threads must be >= 1"),
        (dict(ns=0.001, seed=1, platform="Quantum"), ValueError, r"platform='Quantum' is not available here; OpenMM has \[.*'CPU'"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        simulate(tmp_path / "bad", progress=False, **kwargs)


def test_replicas_run_in_parallel_processes(tmp_path):
    paths = simulate_replicas(tmp_path, ns=0.002, seed=3, n_replicas=2, max_workers=2, progress=False)
    assert paths == [tmp_path / "rep3" / "traj.xtc", tmp_path / "rep4" / "traj.xtc"]
    a, b = (load_trajectory(p) for p in paths)
    assert a.n_frames == b.n_frames == 2
    assert np.abs(a.xyz - b.xyz).max() > 1e-3
    assert json.loads((tmp_path / "rep4" / "progress.json").read_text())["params"]["seed"] == 4


def test_featurization_shapes_and_ranges(run4):
    traj = load_trajectory(run4)
    pp = phi_psi(traj)
    assert pp.shape == (4, 2) and np.all(np.abs(pp) <= 180.0)
    np.testing.assert_allclose(np.radians(pp), phi_psi(traj, degrees=False))
    d = heavy_atom_distances(traj)
    assert d.shape == (4, 45) and np.all(d > 0.1) and np.all(d < 1.5)
    x = aligned_cartesian(traj)
    assert x.shape == (4, 30) and x.dtype == np.float32
    assert aligned_cartesian(traj, atoms="all").shape == (4, 66)
    # aligning a rigidly moved copy gives the same features
    moved = traj[:]
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    moved.xyz = moved.xyz @ rot.T + np.float32(3.0)
    np.testing.assert_allclose(aligned_cartesian(moved, reference=traj), aligned_cartesian(traj), atol=1e-4)
    # distances are invariant under the same motion
    np.testing.assert_allclose(heavy_atom_distances(moved), d, atol=1e-5)


def test_featurization_errors(run4):
    traj = load_trajectory(run4)
    with pytest.raises(TypeError, match="traj must be an mdtraj.Trajectory, got ndarray"):
        phi_psi(traj.xyz)
    with pytest.raises(ValueError, match="atoms='backbone' is not one of 'heavy', 'all'"):
        aligned_cartesian(traj, atoms="backbone")
    with pytest.raises(ValueError, match="reference has 10 atoms but traj has 22"):
        aligned_cartesian(traj, reference=traj.atom_slice(range(10)))
    with pytest.raises(FileNotFoundError, match="nothing-here not found; expected a run directory"):
        load_trajectory(run4.parent / "nothing-here")
    (run4.parent / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty/traj.xtc not found"):
        load_trajectory(run4.parent / "empty")


def test_starting_structure_is_installed_not_downloaded():
    pdb = alanine_dipeptide_pdb()
    assert pdb.is_file() and pdb.name == "alanine-dipeptide.pdb" and "openmmtools" in pdb.parts
    assert md.load(str(pdb)).n_atoms == 22


def test_a_run_directory_has_one_writer(run4):
    import fcntl

    with open(run4 / ".lock", "a+") as held:  # another process (here: another open file) holds the lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RuntimeError, match=r"run4 is being written by another process"):
            simulate(run4, ns=0.006, seed=SEED, progress=False)
    simulate(run4, ns=0.004, seed=SEED, progress=False)  # released: the run is usable again


def test_killing_the_parent_of_replicas_ends_its_workers(tmp_path):
    """A killed ``--replicas`` run must not leave workers writing on (they would collide with a resumed run)."""
    import fcntl

    cmd = [sys.executable, "-m", "mdlstm_utils.data.md", "--ns", "2", "--seed", "1", "--replicas", "2",
           "--checkpoint-every-ps", "2", "--out", str(tmp_path), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                if all(json.loads((tmp_path / r / "progress.json").read_text())["n_frames"] >= 2 for r in ("rep1", "rep2")):
                    break
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed; raise --ns"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    free = set()
    deadline = time.time() + 20
    while time.time() < deadline and len(free) < 2:
        for r in ("rep1", "rep2"):
            with open(tmp_path / r / ".lock", "a+") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    free.add(r)
                except OSError:
                    pass
        time.sleep(0.2)
    assert free == {"rep1", "rep2"}, "replica workers kept running after their parent was killed"
    n = [json.loads((tmp_path / r / "progress.json").read_text())["n_frames"] for r in ("rep1", "rep2")]
    time.sleep(1.0)
    assert n == [json.loads((tmp_path / r / "progress.json").read_text())["n_frames"] for r in ("rep1", "rep2")]



def test_available_platforms_lists_the_platforms_simulate_checks_against():
    from mdlstm_utils.data.md import available_platforms

    assert {"Reference", "CPU"} <= set(available_platforms())  # the bad-platform case above names them in its error


def test_the_replica_worker_and_its_initializer_pickle_by_the_runner_module():
    """Spawned workers find the functions by module name: that must be the runner module, not ``__main__``."""
    import pickle

    from mdlstm_utils.data.md import runner

    for f in (runner._replica_worker, runner._exit_with_parent):
        assert f.__module__ == "mdlstm_utils.data.md.runner"
        assert pickle.loads(pickle.dumps(f)) is f
