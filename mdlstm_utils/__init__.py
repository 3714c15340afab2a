"""mdlstm_utils: helpers of the mdlstm tutorial suite.

Language models (LSTM, Transformer) that learn the kinetics of molecular
dynamics from trajectories discretized into states. One concept per module:

* :mod:`~mdlstm_utils.systems`   toy potentials and a batched Langevin integrator
* :mod:`~mdlstm_utils.states`    discretization into states (grid bins, wells)
* :mod:`~mdlstm_utils.models`    next-state language models (``LSTMLM``)
* :mod:`~mdlstm_utils.train`     the training loop (device, early stopping, checkpoints)
* :mod:`~mdlstm_utils.generate`  batched generation of long trajectories
* :mod:`~mdlstm_utils.kinetics`  populations, free energy, transition counts, MFPTs, comparison
* :mod:`~mdlstm_utils.plots`     the notebooks' figures
* :mod:`~mdlstm_utils.runtime`   device choice, seeding, environment record
* :mod:`~mdlstm_utils.sweep`     headless notebook execution (papermill)
"""

__version__ = "0.1.0"
