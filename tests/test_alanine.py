"""Alanine dipeptide analysis: Ramachandran basins, phi-flip cores and counts, representative frames, and the shipped data."""

import importlib.util
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from mdlstm_utils.data import datasets, md

SHIPPED = datasets.default_data_dir()


def test_ramachandran_basins_on_known_points():
    pts = [[-80, 150], [-70, -40], [60, 40], [70, -150], [170, 170], [-150, -170], [-60, 50], [-60, -120], [0, 0], [120, 0]]
    #        beta        alphaR     alphaL    alphaL(C7ax-ish) beta(wrap) beta   beta(psi=50) alphaR(psi=-120) alphaL  beta/alphaR side
    np.testing.assert_array_equal(md.ramachandran_basins(pts), [0, 1, 2, 2, 0, 0, 0, 1, 2, 1])
    grid = np.stack(np.meshgrid(np.arange(-175, 180, 10), np.arange(-175, 180, 10)), -1).reshape(-1, 2)
    b = md.ramachandran_basins(grid)
    assert b.shape == (36 * 36,) and set(b.tolist()) == {0, 1, 2}
    assert np.all(b[(grid[:, 0] > 0) & (grid[:, 0] < 120)] == 2) and np.all(b[grid[:, 0] < 0] != 2)
    with pytest.raises(ValueError, match="shape"):
        md.ramachandran_basins([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="degrees within"):
        md.ramachandran_basins([[200.0, 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        md.ramachandran_basins([[np.nan, 0.0]])


def test_metastable_basins_split_only_the_beta_alphaR_state_by_psi():
    pts = np.array([[-80, 150], [-70, -40], [10, -40], [60, 40], [-60, 50], [-60, -120], [-100, 0]])
    meta = np.array([0, 0, 0, 1, 1, 0, 1])
    # alphaL wherever the metastable label says so (also at phi < 0, a frame that has not yet left the alphaL core);
    # elsewhere psi decides, even at phi > 0 (a recrossing that did not reach the alphaL core)
    np.testing.assert_array_equal(md.metastable_basins(meta, pts), [0, 1, 1, 2, 2, 1, 2])
    np.testing.assert_array_equal(md.metastable_basins(1 - meta, pts, alpha_l_state=0), [0, 1, 1, 2, 2, 1, 2])
    # on the box basins' own boundaries it agrees with ramachandran_basins wherever that says beta or alphaR
    box = md.ramachandran_basins(pts)
    away = box != 2
    np.testing.assert_array_equal(md.metastable_basins(np.zeros(len(pts), int), pts)[away], box[away])
    two = md.metastable_basins([meta[:3], meta[3:]], [pts[:3], pts[3:]])
    assert [t.tolist() for t in two] == [[0, 1, 1], [2, 2, 1, 2]]
    with pytest.raises(ValueError, match="metastable labels must be 0 or 1"):
        md.metastable_basins(np.array([0, 2]), pts[:2])
    with pytest.raises(ValueError, match="same frames"):
        md.metastable_basins(meta[:3], pts)
    with pytest.raises(ValueError, match="alpha_l_state must be 0 or 1"):
        md.metastable_basins(meta, pts, alpha_l_state=2)
    with pytest.raises(ValueError, match="list of the same length"):
        md.metastable_basins([meta], pts)


def test_phi_core_boundaries():
    np.testing.assert_array_equal(md.phi_core([-180, -41, -40, 0, 30, 31, 89, 90, 150]), [0, 0, -1, -1, -1, 1, 1, -1, -1])


def test_recrossings_of_the_barrier_are_not_flips():
    # many crossings of phi = 0 that never reach the alphaL core: no flip
    phi = np.array([-100, -20, 10, -10, 20, -5, 25, -60, -100, -20, 10, -120], dtype=float)
    assert md.count_phi_flips(phi) == {"to_alphaL": 0, "from_alphaL": 0, "round_trips": 0, "n_frames": 12}
    # one excursion into the alphaL core and back, with recrossing on the way
    phi = np.array([0, -100, -20, 10, -10, 45, 10, 50, -10, 20, -50, -100], dtype=float)
    cores = md.phi_flip_cores(phi)
    np.testing.assert_array_equal(cores, [-1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0])
    assert md.count_phi_flips(phi) == {"to_alphaL": 1, "from_alphaL": 1, "round_trips": 1, "n_frames": 12}
    # a list of trajectories counts each; a trajectory ending in alphaL has one more flip in than out
    res = md.count_phi_flips([phi, np.array([-100.0, 60.0])])
    assert res == {"to_alphaL": 2, "from_alphaL": 1, "round_trips": 1, "n_frames": 14}
    assert isinstance(md.phi_flip_cores([phi, phi]), list)
    with pytest.raises(ValueError, match="degrees"):
        md.count_phi_flips(phi * 2.0)


def test_representative_frames_sit_at_each_basins_density_peak():
    rng = np.random.default_rng(0)
    peaks = {0: (-80, 150), 1: (-70, -30), 2: (60, 40)}
    pts, lab = [], []
    for k, (p, s) in peaks.items():
        pts.append(np.c_[p + 8 * rng.standard_normal(300), s + 8 * rng.standard_normal(300)])
        lab.append(np.full(300, k))
    # a broad sprinkle of frames far from the peaks
    pts.append(np.c_[rng.uniform(-170, -100, 100), rng.uniform(60, 100, 100)]); lab.append(np.zeros(100, int))
    x = np.clip(np.concatenate(pts), -180, 180)
    rep = md.representative_frames(x)
    assert rep.shape == (3,)
    for k, (p, s) in peaks.items():
        assert abs(x[rep[k], 0] - p) < 10 and abs(x[rep[k], 1] - s) < 10
        assert md.ramachandran_basins(x[rep[k]]) == k
    assert md.representative_frames(x[:300])[1] == -1  # no alphaR frames
    with pytest.raises(ValueError, match="one label per frame"):
        md.representative_frames(x, basins=np.zeros(3))


def _shipped() -> bool:
    manifest = SHIPPED / "MANIFEST"
    return manifest.is_file() and any(e.path.startswith("alanine-dipeptide/") for e in datasets.read_manifest(manifest))


@pytest.mark.skipif(not _shipped(), reason="no alanine dipeptide data shipped in data/")
def test_shipped_data_hold_enough_phi_flips():
    ds = datasets.load("alanine-dipeptide")
    phis = [md.phi_psi(t)[:, 0] for t in ds.trajectories]
    flips = md.count_phi_flips(phis)
    assert flips["round_trips"] >= 20, flips
    assert all(t.n_atoms == 22 and t.n_frames >= 50_000 for t in ds.trajectories)
    assert all("--temperature 500" in e.command for e in ds.entries)


@pytest.mark.skipif(not _shipped(), reason="no alanine dipeptide data shipped in data/")
def test_flipped_byte_in_a_copy_of_the_shipped_data_is_caught(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(SHIPPED, copy, ignore=shutil.ignore_patterns("*.chk"))
    entry = next(e for e in datasets.read_manifest(copy / "MANIFEST") if e.path.endswith("traj.xtc"))
    f = copy / entry.path
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 3] ^= 0x10
    f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"traj\.xtc is corrupted: sha256 .* does not match") as info:
        datasets.load("alanine-dipeptide", data_dir=copy)
    assert entry.command in str(info.value)


# ----------------------------------------------------------------------------- structure_view (nglview)

_NGLVIEW = importlib.util.find_spec("nglview") is not None  # found without importing it


def _three_frames():
    """The starting structure and two rotated, shifted copies of it: three frames of one conformation."""
    import mdtraj

    start = mdtraj.load(str(md.alanine_dipeptide_pdb()))
    c, s = np.cos(np.radians(60)), np.sin(np.radians(60))
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    xyz = np.concatenate([start.xyz, start.xyz @ turn.T + 1.0, start.xyz @ turn + 2.0])
    return mdtraj.Trajectory(xyz, start.topology)


@pytest.mark.skipif(not _NGLVIEW, reason="nglview is not installed")
def test_structure_view_names_the_frame_on_show():
    traj = _three_frames()
    before = traj.xyz.copy()
    names = ["beta/C7eq", "alphaR", "alphaL"]
    box = md.structure_view(traj, names)
    label, view = box.children
    assert "beta/C7eq" in label.value and view.frame == 0
    view.frame = 1  # what the viewer's frame slider does
    assert "alphaR" in label.value and "beta" not in label.value
    view.frame = 2
    assert "alphaL" in label.value
    assert (view.layout.width, view.layout.height) == ("500px", "400px")
    np.testing.assert_array_equal(traj.xyz, before)  # the frames are superposed on a copy
    with pytest.raises(ValueError, match="one name per frame"):
        md.structure_view(traj, names[:2])


@pytest.mark.skipif(not _NGLVIEW, reason="nglview is not installed")
def test_structure_view_imports_nglview_without_any_warning():
    # a fresh interpreter, so that nglview (and the pkg_resources it imports) are imported inside the call,
    # with every warning turned into an error there
    code = textwrap.dedent("""
        import sys, warnings
        import numpy as np, mdtraj
        from mdlstm_utils.data import md
        traj = mdtraj.load(str(md.alanine_dipeptide_pdb()))
        assert "nglview" not in sys.modules and "pkg_resources" not in sys.modules, sorted(sys.modules)
        warnings.simplefilter("error")
        box = md.structure_view(traj, ["beta/C7eq"])
        assert "nglview" in sys.modules and "beta/C7eq" in box.children[0].value
        print("no warning")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "no warning" in run.stdout, run.stderr[-3000:]


def test_nglview_import_hides_the_pkg_resources_warning_and_nothing_else(tmp_path, monkeypatch):
    from mdlstm_utils.data.md.alanine import _import_nglview

    fake = tmp_path / "nglview"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import warnings\n"
        "warnings.warn('pkg_resources is deprecated as an API. See https://setuptools.pypa.io', UserWarning)\n"
        "warnings.warn('another warning', UserWarning)\n"
        "warnings.warn('pkg_resources is deprecated as an API', DeprecationWarning)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "nglview", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _import_nglview()
    assert module.__file__ == str(fake / "__init__.py")
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "another warning"), (DeprecationWarning, "pkg_resources is deprecated as an API")]


def test_structure_view_without_nglview_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nglview", None)  # makes `import nglview` fail
    with pytest.raises(ImportError, match=r"structure_view needs nglview .*pip install nglview==3\.1\.4"):
        md.structure_view(_three_frames(), ["a", "b", "c"])
