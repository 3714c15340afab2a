"""Features of any topology (torsions, distances, contacts) and load_trajectory on users' own files and bad input."""

import json
import shutil

import mdtraj
import numpy as np
import pytest

from mdlstm_utils.data import datasets, md

REP1 = datasets.default_data_dir() / "alanine-dipeptide" / "rep1"
N = 500  # frames of the shipped run used where a slice is enough


@pytest.fixture(scope="module")
def alanine() -> mdtraj.Trajectory:
    if not (REP1 / "traj.xtc").is_file() or not (REP1 / "topology.pdb").is_file():
        pytest.skip("no alanine dipeptide data shipped in data/")
    return md.load_trajectory(REP1)


@pytest.fixture(scope="module")
def head(alanine) -> mdtraj.Trajectory:
    return alanine[:N]


def _ca_chain(n_residues: int, n_frames: int = 3, chains: int = 1, calcium: bool = False) -> mdtraj.Trajectory:
    """A Cα-only peptide of ``n_residues`` residues (split evenly into ``chains``), random coordinates."""
    top = mdtraj.Topology()
    per = n_residues // chains
    for c in range(chains):
        chain = top.add_chain()
        for i in range(per):
            res = top.add_residue("ALA", chain, resSeq=c * per + i + 1)
            top.add_atom("CA", mdtraj.element.carbon, res)
    if calcium:  # an ion that PDB files also name CA: not a Cα
        res = top.add_residue("CA", chain, resSeq=n_residues + 1)
        top.add_atom("CA", mdtraj.element.calcium, res)
    xyz = np.random.default_rng(0).normal(size=(n_frames, top.n_atoms, 3)).astype(np.float32)
    return mdtraj.Trajectory(xyz, top)


# ----------------------------------------------------------------------------- load_trajectory on good input


def test_load_trajectory_reads_a_run_directory_its_xtc_and_other_formats(alanine, head, tmp_path):
    assert alanine.n_atoms == 22 and alanine.n_frames >= 50_000
    ref = mdtraj.load(str(REP1 / "traj.xtc"), top=str(REP1 / "topology.pdb"))
    np.testing.assert_array_equal(alanine.xyz, ref.xyz)
    # the xtc itself (topology.pdb next to it) and with an explicit topology file or object
    np.testing.assert_array_equal(md.load_trajectory(REP1 / "traj.xtc").xyz, ref.xyz)
    np.testing.assert_array_equal(md.load_trajectory(REP1 / "traj.xtc", top=REP1 / "topology.pdb").xyz, ref.xyz)
    np.testing.assert_array_equal(md.load_trajectory(str(REP1 / "traj.xtc"), top=head.topology).xyz, ref.xyz)
    # other formats mdtraj writes: coordinate-only ones with top=, the pdb with its own topology
    for ext, atol in (("dcd", 1e-6), ("trr", 1e-6), ("nc", 1e-6), ("pdb", 1e-4)):
        f = tmp_path / f"head.{ext}"
        head.save(str(f))
        got = md.load_trajectory(f) if ext == "pdb" else md.load_trajectory(f, top=REP1 / "topology.pdb")
        assert got.n_frames == N and got.n_atoms == 22, ext
        np.testing.assert_allclose(got.xyz, head.xyz, atol=atol, err_msg=ext)
        assert [str(a) for a in got.topology.atoms] == [str(a) for a in head.topology.atoms]
    # a coordinate-only file with topology.pdb next to it needs no top=
    shutil.copy(REP1 / "topology.pdb", tmp_path / "topology.pdb")
    np.testing.assert_allclose(md.load_trajectory(tmp_path / "head.dcd").xyz, head.xyz, atol=1e-6)


# ----------------------------------------------------------------------------- featurize / feature_names


def test_torsions_of_alanine_dipeptide_are_sin_cos_of_phi_and_psi(alanine):
    x = md.featurize(alanine, "torsions")
    assert md.featurize(alanine).shape == x.shape  # torsions is the default
    # one phi and one psi (of ALA2), and no chi1: alanine's side chain is a methyl group
    assert mdtraj.compute_chi1(alanine[:1])[0].shape == (0, 4)
    assert x.shape == (alanine.n_frames, 4) and x.dtype == np.float32
    assert md.feature_names(alanine, "torsions") == ["sin φ ALA2", "cos φ ALA2", "sin ψ ALA2", "cos ψ ALA2"]
    np.testing.assert_allclose(x[:, 0::2] ** 2 + x[:, 1::2] ** 2, 1.0, atol=1e-6)
    angles = np.degrees(np.arctan2(x[:, 0::2].astype(np.float64), x[:, 1::2].astype(np.float64)))
    diff = (angles - md.phi_psi(alanine) + 180.0) % 360.0 - 180.0  # periodic: -180 and 180 are the same angle
    assert np.abs(diff).max() < 1e-3
    # the data visit both phi signs (the slow flip), so the check covers the whole circle
    assert (angles[:, 0] > 0).any() and (angles[:, 0] < 0).any()


def test_torsions_of_a_tripeptide_include_chi1_in_column_order():
    # GLY1-LEU2-GLY3 with random coordinates: phi of LEU2 and GLY3, psi of GLY1 and LEU2, chi1 of LEU2
    top = mdtraj.Topology()
    chain = top.add_chain()
    atoms = {}
    for k, (name, names) in enumerate([("GLY", "N CA C"), ("LEU", "N CA CB CG C"), ("GLY", "N CA C")], start=1):
        res = top.add_residue(name, chain, resSeq=k)
        for a in names.split():
            atoms[(k, a)] = top.add_atom(a, mdtraj.element.get_by_symbol(a[0]), res).index
    traj = mdtraj.Trajectory(np.random.default_rng(2).normal(size=(5, top.n_atoms, 3)).astype(np.float32), top)
    assert md.feature_names(traj, "torsions") == [
        f"{f} {angle}" for angle in ("φ LEU2", "φ GLY3", "ψ GLY1", "ψ LEU2", "χ1 LEU2") for f in ("sin", "cos")
    ]
    x = md.featurize(traj, "torsions")
    chi1 = mdtraj.compute_dihedrals(traj, [[atoms[(2, a)] for a in ("N", "CA", "CB", "CG")]])[:, 0]
    np.testing.assert_allclose(x[:, 8:10], np.c_[np.sin(chi1), np.cos(chi1)], atol=1e-6)
    phi_leu = mdtraj.compute_dihedrals(traj, [[atoms[(1, "C")], atoms[(2, "N")], atoms[(2, "CA")], atoms[(2, "C")]]])[:, 0]
    np.testing.assert_allclose(x[:, 0:2], np.c_[np.sin(phi_leu), np.cos(phi_leu)], atol=1e-6)


def test_distances_are_the_heavy_atom_distances(head):
    x = md.featurize(head, "distances")
    assert x.dtype == np.float32 and x.shape == (N, 45)
    np.testing.assert_array_equal(x, md.heavy_atom_distances(head))
    names = md.feature_names(head, "distances")
    assert len(names) == 45 == len(set(names))
    assert names[0] == "d(ACE1-CH3,ACE1-C)" and names[-1] == "d(NME3-N,NME3-C)"
    # the named atoms are the measured ones
    top = head.topology
    a, b = top.select("resname ACE and name CH3")[0], top.select("resname NME and name C")[0]
    k = names.index("d(ACE1-CH3,NME3-C)")
    np.testing.assert_allclose(x[:, k], mdtraj.compute_distances(head, [[a, b]], periodic=False)[:, 0])


def test_alanine_dipeptide_has_one_calpha_so_no_contacts(head):
    # ACE and NME caps have no CA atom (their carbons are CH3 and C): only ALA2 has one
    assert [str(head.topology.atom(i)) for i in head.topology.select("name CA")] == ["ALA2-CA"]
    with pytest.raises(ValueError, match=r"kind='contacts' yields no feature: the topology has 1 Cα atom"):
        md.featurize(head, "contacts")
    with pytest.raises(ValueError, match=r"kind='contacts' yields no feature"):
        md.feature_names(head, "contacts")


def test_contacts_keep_residues_three_apart():
    traj = _ca_chain(6, calcium=True)  # 6 Cα, and a calcium ion named CA that must not count
    x = md.featurize(traj, "contacts")
    names = md.feature_names(traj, "contacts")
    pairs = [(0, 3), (0, 4), (0, 5), (1, 4), (1, 5), (2, 5)]
    assert x.shape == (3, len(pairs)) and x.dtype == np.float32
    expected = np.stack([np.linalg.norm(traj.xyz[:, i] - traj.xyz[:, j], axis=-1) for i, j in pairs], axis=1)
    np.testing.assert_allclose(x, expected, rtol=1e-5)
    assert names == [f"d(ALA{i + 1}-CA,ALA{j + 1}-CA)" for i, j in pairs]
    # 3 residues: no pair is 3 apart, so all pairs
    short = _ca_chain(3)
    assert md.feature_names(short, "contacts") == ["d(ALA1-CA,ALA2-CA)", "d(ALA1-CA,ALA3-CA)", "d(ALA2-CA,ALA3-CA)"]
    assert md.featurize(short, "contacts").shape == (3, 3)
    # two chains of 2: the pairs across the chains (sequence separation does not apply), named with their chain
    two = _ca_chain(4, chains=2)
    names = md.feature_names(two, "contacts")
    assert names == ["d(ALA1:0-CA,ALA3:1-CA)", "d(ALA1:0-CA,ALA4:1-CA)", "d(ALA2:0-CA,ALA3:1-CA)", "d(ALA2:0-CA,ALA4:1-CA)"]
    assert md.featurize(two, "contacts").shape == (3, 4)


def test_kinds_without_features_and_unknown_kinds_are_refused(head):
    ca = _ca_chain(6)
    with pytest.raises(ValueError, match=r"kind='torsions' yields no feature: mdtraj finds no backbone"):
        md.featurize(ca, "torsions")
    assert md.featurize(ca, "distances").shape == (3, 15)  # 6 carbons are heavy atoms
    one = _ca_chain(1)
    with pytest.raises(ValueError, match=r"kind='distances' yields no feature: traj has 1 heavy atoms"):
        md.featurize(one, "distances")
    with pytest.raises(ValueError, match=r"kind='contacts' yields no feature: the topology has 1 Cα"):
        md.featurize(one, "contacts")
    unknown = r"kind='angles' is not a feature kind; choose one of \('torsions', 'distances', 'contacts'\)"
    for f in (md.featurize, md.feature_names):
        with pytest.raises(ValueError, match=unknown):
            f(head, "angles")
        with pytest.raises(TypeError, match="traj must be an mdtraj.Trajectory, got ndarray"):
            f(head.xyz, "torsions")


@pytest.mark.parametrize("kind", md.FEATURES)
def test_one_name_per_column_and_empty_trajectories(head, kind):
    traj = head if kind != "contacts" else _ca_chain(8)
    x = md.featurize(traj, kind)
    names = md.feature_names(traj, kind)
    assert x.ndim == 2 and x.shape == (traj.n_frames, len(names)) and len(set(names)) == len(names)
    assert np.isfinite(x).all()
    assert md.featurize(traj[:0], kind).shape == (0, len(names))  # the columns depend on the topology only
    # translation and rotation of the whole molecule change no feature
    moved = traj[:]
    rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    moved.xyz = moved.xyz @ rot.T + np.float32(2.0)
    np.testing.assert_allclose(md.featurize(moved, kind), x, atol=2e-5)


# ----------------------------------------------------------------------------- load_trajectory on bad input


def test_missing_files_name_the_file(head, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.xtc not found"):
        md.load_trajectory(tmp_path / "nothing.xtc", top=REP1 / "topology.pdb")
    with pytest.raises(FileNotFoundError, match=r"topology .*nope\.pdb not found"):
        md.load_trajectory(REP1 / "traj.xtc", top=tmp_path / "nope.pdb")
    head.save_dcd(str(tmp_path / "lonely.dcd"))  # coordinates only, and no topology.pdb next to it
    with pytest.raises(FileNotFoundError, match=r"lonely\.dcd: a \.dcd file holds coordinates only and needs a topology"):
        md.load_trajectory(tmp_path / "lonely.dcd")


def test_empty_random_and_corrupt_files_name_the_file(tmp_path):
    top = REP1 / "topology.pdb"
    (tmp_path / "empty.xtc").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.xtc is empty \(0 bytes\)"):
        md.load_trajectory(tmp_path / "empty.xtc", top=top)
    noise = np.random.default_rng(1).bytes(4096)
    (tmp_path / "random.xtc").write_bytes(noise)
    with pytest.raises(ValueError, match=r"random\.xtc is not an XTC trajectory"):
        md.load_trajectory(tmp_path / "random.xtc", top=top)
    (tmp_path / "random.dcd").write_bytes(noise)
    with pytest.raises(ValueError, match=r"random\.dcd cannot be read as a \.dcd trajectory: the file is corrupt"):
        md.load_trajectory(tmp_path / "random.dcd", top=top)
    # a real XTC start (magic number and the first frame) followed by garbage
    start = (REP1 / "traj.xtc").read_bytes()[:200]
    (tmp_path / "corrupt.xtc").write_bytes(start + noise)
    with pytest.raises(ValueError, match=r"corrupt\.xtc cannot be read as a \.xtc trajectory"):
        md.load_trajectory(tmp_path / "corrupt.xtc", top=top)
    (tmp_path / "random.pdb").write_bytes(noise)
    with pytest.raises(ValueError, match=r"random\.pdb cannot be read as a \.pdb trajectory"):
        md.load_trajectory(tmp_path / "random.pdb")
    with pytest.raises(ValueError, match=r"topology .*random\.pdb cannot be read by mdtraj"):
        md.load_trajectory(REP1 / "traj.xtc", top=tmp_path / "random.pdb")
    (tmp_path / "frames.foo").write_text("1 2 3\n")
    with pytest.raises(ValueError, match=r"frames\.foo: mdtraj reads no \.foo files"):
        md.load_trajectory(tmp_path / "frames.foo")


def test_a_topology_of_another_atom_count_is_refused(head, tmp_path):
    two = tmp_path / "two.pdb"
    head[0].atom_slice([0, 1]).save_pdb(str(two))  # a 2-atom pdb
    assert mdtraj.load(str(two)).n_atoms == 2
    with pytest.raises(ValueError, match=r"traj\.xtc has 22 atoms per frame but topology .*two\.pdb has 2 atoms"):
        md.load_trajectory(REP1 / "traj.xtc", top=two)
    for ext in ("dcd", "pdb"):
        f = tmp_path / f"head.{ext}"
        head[:5].save(str(f))
        with pytest.raises(ValueError, match=rf"head\.{ext} has 22 atoms per frame but topology .*two\.pdb has 2 atoms"):
            md.load_trajectory(f, top=two)


def test_files_without_frames_are_refused(head, tmp_path):
    head[:0].save_netcdf(str(tmp_path / "zero.nc"))  # a valid file with a header and no frame
    with pytest.raises(ValueError, match=r"zero\.nc holds no frames"):
        md.load_trajectory(tmp_path / "zero.nc", top=REP1 / "topology.pdb")
    # a run directory of simulate that has committed no frame yet
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(REP1 / "topology.pdb", run / "topology.pdb")
    (run / "traj.xtc").write_bytes(b"")
    (run / "progress.json").write_text(json.dumps({"format": "mdlstm-md", "n_frames": 0, "xtc_bytes": 0}))
    with pytest.raises(ValueError, match=r"run/traj\.xtc holds no frames yet"):
        md.load_trajectory(run)
