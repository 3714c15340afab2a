"""Molecular dynamics: OpenMM runs of alanine dipeptide, their analysis, and features of any topology.

* :mod:`~mdlstm_utils.data.md.runner`    :func:`simulate`, :func:`simulate_replicas` (seeded, checkpointed,
  resumable) and the command line ``python -m mdlstm_utils.data.md --ns 100 --seed 1 --out data/raw/rep1``
* :mod:`~mdlstm_utils.data.md.alanine`   alanine dipeptide: starting structure, :func:`phi_psi`, Ramachandran
  basins, the phi flip's core sets, representative frames
* :mod:`~mdlstm_utils.data.md.features`  :func:`load_trajectory` (a run, or any file mdtraj reads) and
  :func:`featurize` / :func:`feature_names` (torsions, distances, contacts) for any topology

Every name is importable from here (``from mdlstm_utils.data.md import simulate, featurize``).
"""

from mdlstm_utils.data.md import alanine
from mdlstm_utils.data.md import features
from mdlstm_utils.data.md import runner
from mdlstm_utils.data.md.alanine import (
    BASIN_NAMES,
    PHI_CORES,
    alanine_dipeptide_pdb,
    count_phi_flips,
    metastable_basins,
    phi_core,
    phi_flip_cores,
    phi_psi,
    ramachandran_basins,
    representative_frames,
    structure_view,
)
from mdlstm_utils.data.md.features import FEATURES, aligned_cartesian, feature_names, featurize, heavy_atom_distances, load_trajectory
from mdlstm_utils.data.md.runner import (
    FORCEFIELD_FILES,
    FRICTION_PER_PS,
    HYDROGEN_MASS_AMU,
    PROGRESS_NAME,
    TIMESTEP_PS,
    TOPOLOGY_NAME,
    TRAJ_NAME,
    available_platforms,
    main,
    simulate,
    simulate_replicas,
)

# every public function and constant of the three modules (they list their own)
__all__ = [*runner.__all__, *features.__all__, *alanine.__all__]
