"""data/MANIFEST: round trip, sha256 checks, clear errors (no simulation: a tiny trajectory is made from the PDB)."""

import json
import shutil
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from mdlstm_utils.data import datasets
from mdlstm_utils.data.datasets import DATASETS, load, read_manifest, verify_file, write_manifest
from mdlstm_utils.data.md import alanine_dipeptide_pdb

CMD = "python -m mdlstm_utils.data.md --ns 0.005 --seed 1 --out data/alanine-dipeptide/rep1"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A data dir with one 5-frame alanine trajectory, its topology, a feature file and a MANIFEST."""
    root = tmp_path / "data"
    rep = root / "alanine-dipeptide" / "rep1"
    rep.mkdir(parents=True)
    ref = md.load(str(alanine_dipeptide_pdb()))
    rng = np.random.default_rng(0)
    traj = md.Trajectory(ref.xyz + 0.01 * rng.standard_normal((5, 22, 3)).astype(np.float32), ref.topology)
    traj.time = np.arange(1.0, 6.0)
    traj.save_xtc(str(rep / "traj.xtc"))
    ref.save_pdb(str(rep / "topology.pdb"))
    np.savez(rep / "features.npz", phi_psi=rng.uniform(-180, 180, (5, 2)))
    write_manifest([rep / "traj.xtc", rep / "topology.pdb"], CMD, root / "MANIFEST", seeds=1)
    write_manifest([rep / "features.npz"], "python make_features.py", root / "MANIFEST")
    return root


def test_manifest_round_trip_and_load(data_dir):
    entries = read_manifest(data_dir / "MANIFEST")
    assert [e.path for e in entries] == [
        "alanine-dipeptide/rep1/features.npz",
        "alanine-dipeptide/rep1/topology.pdb",
        "alanine-dipeptide/rep1/traj.xtc",
    ]
    xtc = entries[2]
    assert xtc.seed == 1 and xtc.command == CMD and entries[0].seed is None
    assert xtc.size == (data_dir / xtc.path).stat().st_size and len(xtc.sha256) == 64
    text = (data_dir / "MANIFEST").read_text()
    assert text.startswith("# mdlstm data manifest v1") and f"\t1\t{CMD}\n" in text
    ds = load("alanine-dipeptide", data_dir=data_dir)
    assert ds.name == "alanine-dipeptide" and len(ds.trajectories) == 1
    assert ds.trajectories[0].n_frames == 5 and ds.trajectories[0].n_atoms == 22
    np.testing.assert_allclose(ds.trajectories[0].time, np.arange(1.0, 6.0))
    assert ds.features["phi_psi"][0].shape == (5, 2)
    assert len(ds.files) == 3 and ds.entries == entries
    # re-adding a changed file replaces its entry and keeps the others
    np.savez(data_dir / "alanine-dipeptide/rep1/features.npz", phi_psi=np.zeros((3, 2)))
    again = write_manifest([data_dir / "alanine-dipeptide/rep1/features.npz"], "python other.py", data_dir / "MANIFEST")
    assert len(again) == 3 and again[0].command == "python other.py" and again[0].sha256 != entries[0].sha256
    assert load("alanine-dipeptide", data_dir=data_dir).features["phi_psi"][0].shape == (3, 2)


def test_flipped_byte_is_caught_naming_file_and_command(data_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    f = copy / "alanine-dipeptide/rep1/traj.xtc"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"rep1/traj\.xtc is corrupted: sha256 .* does not match") as info:
        load("alanine-dipeptide", data_dir=copy)
    assert CMD in str(info.value)
    load("alanine-dipeptide", data_dir=data_dir)  # the original is untouched
    # a truncated file is caught by its size
    f.write_bytes(bytes(raw[:-10]))
    with pytest.raises(ValueError, match=r"traj\.xtc has \d+ bytes but the MANIFEST records \d+"):
        load("alanine-dipeptide", data_dir=copy)


def test_missing_file_names_file_and_command(data_dir):
    (data_dir / "alanine-dipeptide/rep1/traj.xtc").unlink()
    with pytest.raises(FileNotFoundError, match=r"rep1/traj\.xtc is listed in the MANIFEST but missing") as info:
        load("alanine-dipeptide", data_dir=data_dir)
    assert f"regenerate it (from the repository root) with:\n    {CMD}" in str(info.value)


def test_unknown_name_lists_known_ones(data_dir):
    with pytest.raises(ValueError, match=r"unknown data set 'alanine'; known data sets: \['alanine-dipeptide'\]"):
        load("alanine", data_dir=data_dir)
    with pytest.raises(TypeError, match="name must be a string"):
        load(3, data_dir=data_dir)


def test_no_data_yet_says_how_to_produce_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)MANIFEST does not exist.*python -m mdlstm_utils\.data\.md --ns 60"):
        load("alanine-dipeptide", data_dir=tmp_path)
    (tmp_path / "other.npz").write_bytes(b"")
    write_manifest([tmp_path / "other.npz"], "touch other.npz", tmp_path / "MANIFEST")
    with pytest.raises(FileNotFoundError, match=r"has no entries under alanine-dipeptide/"):
        load("alanine-dipeptide", data_dir=tmp_path)


def test_repository_data_loads_or_says_how_to_produce_it():
    manifest = datasets.default_data_dir() / "MANIFEST"
    shipped = manifest.is_file() and any(e.path.startswith("alanine-dipeptide/") for e in read_manifest(manifest))
    if shipped:
        assert load("alanine-dipeptide").trajectories
    else:
        with pytest.raises(FileNotFoundError, match=r"mdlstm_utils\.data\.md --ns 60 --seed 1 --temperature 500 --replicas 2"):
            load("alanine-dipeptide")


def test_files_of_the_wrong_kind_are_rejected(data_dir):
    rep = data_dir / "alanine-dipeptide/rep1"
    (rep / "traj.xtc").write_text("ATOM  this is text, not an XTC\n")
    (rep / "notes.txt").write_text("hello\n")
    write_manifest([rep / "traj.xtc"], CMD, data_dir / "MANIFEST", seeds=1)
    with pytest.raises(ValueError, match=r"traj\.xtc is not a valid XTC trajectory .*wrong kind"):
        load("alanine-dipeptide", data_dir=data_dir)
    shutil.copy(rep / "features.npz", rep / "traj.xtc")
    write_manifest([rep / "traj.xtc", rep / "notes.txt"], CMD, data_dir / "MANIFEST")
    with pytest.raises(ValueError, match=r"notes\.txt: files of kind '\.txt' cannot be loaded; expected one of"):
        load("alanine-dipeptide", data_dir=data_dir)
    # an xtc without its topology
    lone = data_dir / "alanine-dipeptide/rep2"
    lone.mkdir()
    shutil.copy(data_dir / "alanine-dipeptide/rep1/topology.pdb", lone / "x.pdb")
    (rep / "notes.txt").unlink()
    m = data_dir / "MANIFEST"
    m.write_text("".join(line for line in m.read_text().splitlines(True) if "notes.txt" not in line))
    bad_npz = rep / "features.npz"
    np.savez(bad_npz, obj=np.array([{"a": 1}], dtype=object))
    write_manifest([bad_npz], "python make_features.py", m)
    md.load(str(lone / "x.pdb")).save_xtc(str(rep / "traj.xtc"))
    write_manifest([rep / "traj.xtc"], CMD, m)
    with pytest.raises(ValueError, match=r"features\.npz could not be read as NumPy \.npz arrays"):
        load("alanine-dipeptide", data_dir=data_dir)


def test_xtc_without_topology(data_dir):
    m = data_dir / "MANIFEST"
    m.write_text("".join(line for line in m.read_text().splitlines(True) if "topology.pdb" not in line))
    with pytest.raises(FileNotFoundError, match=r"traj\.xtc has no topology: the MANIFEST lists no \.pdb file"):
        load("alanine-dipeptide", data_dir=data_dir)


def test_malformed_manifest_and_bad_write_arguments(data_dir, tmp_path):
    m = data_dir / "MANIFEST"
    m.write_text(m.read_text() + "just one column\n")
    with pytest.raises(ValueError, match=r"MANIFEST, line 6: expected 5 tab-separated columns"):
        read_manifest(m)
    m.write_text("a.xtc\tnothex\t3\t-\tcmd\n")
    with pytest.raises(ValueError, match=r"line 1: sha256 'nothex' is not 64 lowercase hex digits"):
        read_manifest(m)
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"outside\.npz is not inside .* the directory of the MANIFEST"):
        write_manifest([outside], "cmd", data_dir / "MANIFEST2")
    with pytest.raises(FileNotFoundError, match=r"nope\.xtc not found: cannot add it"):
        write_manifest([data_dir / "nope.xtc"], "cmd", data_dir / "MANIFEST2")
    f = data_dir / "alanine-dipeptide/rep1/traj.xtc"
    with pytest.raises(ValueError, match="commands has 2 entries for 1 files"):
        write_manifest([f], ["a", "b"], data_dir / "MANIFEST2")
    with pytest.raises(ValueError, match="must be one non-empty line without tabs"):
        write_manifest([f], "a\tb", data_dir / "MANIFEST2")
    with pytest.raises(TypeError, match="seed for .* must be an int or None, got str"):
        write_manifest([f], "a", data_dir / "MANIFEST2", seeds=["1"])
    with pytest.raises(FileNotFoundError, match="no MANIFEST at"):
        read_manifest(tmp_path / "MANIFEST")


def test_cli_add_takes_command_and_seed_from_progress_json(data_dir, capsys):
    rep = data_dir / "alanine-dipeptide/rep1"
    (rep / "progress.json").write_text(json.dumps({"command": "python -m mdlstm_utils.data.md --seed 9", "params": {"seed": 9}}))
    assert datasets.main(["add", str(rep / "traj.xtc"), "--manifest", str(data_dir / "MANIFEST")]) == 0
    e = {x.path: x for x in read_manifest(data_dir / "MANIFEST")}["alanine-dipeptide/rep1/traj.xtc"]
    assert e.seed == 9 and e.command == "python -m mdlstm_utils.data.md --seed 9"
    assert datasets.main(["verify", "--data-dir", str(data_dir)]) == 0
    assert "ok alanine-dipeptide/rep1/traj.xtc" in capsys.readouterr().out
    assert verify_file(e, data_dir) == rep / "traj.xtc"
    assert set(DATASETS) == {"alanine-dipeptide"}


def test_data_directory_from_the_environment_for_an_installed_package(data_dir, tmp_path, monkeypatch):
    """A package installed without its checkout finds the data through MDLSTM_DATA; without it, the error says so."""
    monkeypatch.setenv(datasets.DATA_ENV, str(data_dir))
    assert datasets.default_data_dir() == data_dir
    assert load("alanine-dipeptide").trajectories[0].n_frames == 5
    monkeypatch.delenv(datasets.DATA_ENV)
    with pytest.raises(FileNotFoundError, match=r"(?s)set MDLSTM_DATA to a checkout's data/ directory.*--ns 60"):
        load("alanine-dipeptide", data_dir=tmp_path / "empty")
