"""Where trajectories come from: toy systems with exact references, ready-made toy data sets, shipped data, MD.

* :mod:`~mdlstm_utils.data.systems`   toy potentials (1-D four-well, 2-D three-well, a slow mode hidden in N-D,
  a 2-D potential seen through one coordinate), their exact references and a batched Langevin integrator
* :mod:`~mdlstm_utils.data.toydata`   the notebooks' toy data sets: simulated, discretized, with their truth
* :mod:`~mdlstm_utils.data.datasets`  shipped data sets by name, sha256-checked against ``data/MANIFEST``
* :mod:`~mdlstm_utils.data.md`        OpenMM simulation of alanine dipeptide (seeded, checkpointed, resumable)
  and mdtraj features of any topology

``systems``, ``datasets`` and ``md`` use nothing of the later stages; ``toydata`` labels its trajectories with
:mod:`mdlstm_utils.states` and measures its truth with :mod:`mdlstm_utils.kinetics`.
"""
