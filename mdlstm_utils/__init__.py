"""mdlstm_utils: helpers of the mdlstm tutorial suite.

Language models (LSTM, Transformer) that learn the kinetics of molecular
dynamics from trajectories discretized into states. One concept per module:

* :mod:`~mdlstm_utils.systems`   toy potentials (1-D four-well, 2-D three-well, slow mode hidden in N-D) and a batched Langevin integrator
* :mod:`~mdlstm_utils.md`        OpenMM simulation of alanine dipeptide (seeded, checkpointed, resumable) and mdtraj features
* :mod:`~mdlstm_utils.datasets`  shipped data sets by name, sha256-checked against data/MANIFEST
* :mod:`~mdlstm_utils.states`    the state-space type and its builders: grid bins, k-means (CPU/GPU), TICA, MSMs, implied
  timescales and the lag rule, the CK test, PCCA+, core sets, dynamical coring
* :mod:`~mdlstm_utils.models`    next-state language models (``LSTMLM``, ``TransformerLM``)
* :mod:`~mdlstm_utils.train`     the training loop (device, mixed precision, early stopping, checkpoints, resume)
* :mod:`~mdlstm_utils.generate`  batched generation of long trajectories (recurrent state / KV cache)
* :mod:`~mdlstm_utils.experiment` one experiment in one call: partition, train, generate, compare (with a known truth)
* :mod:`~mdlstm_utils.kinetics`  populations, free energy, transition counts, MFPTs, subsampling, comparison
* :mod:`~mdlstm_utils.markov`    Markov chains of order k by counting: held-out loss, the order that predicts best
* :mod:`~mdlstm_utils.diagnostics` why a language model loses the rare event: loss sensitivity, transition errors
* :mod:`~mdlstm_utils.memory`    does history matter? the memory test, IGME, slowest timescales of any trajectories
* :mod:`~mdlstm_utils.plots`     the notebooks' figures
* :mod:`~mdlstm_utils.runtime`   device choice, seeding, parameter checks, environment record, metrics files
* :mod:`~mdlstm_utils.sweep`     headless notebook execution and parameter sweeps (papermill, Dask)
"""

__version__ = "0.1.0"
