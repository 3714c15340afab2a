"""mdlstm_utils: helpers of the mdlstm tutorial suite.

Language models (LSTM, Transformer) that learn the kinetics of molecular
dynamics from trajectories discretized into states. The subpackages follow
the pipeline, and each imports only from those before it:

* :mod:`~mdlstm_utils.states`    the state-space type and its builders: grid bins, k-means (CPU/GPU), TICA, MSMs, implied
  timescales and the lag rule, the CK test, PCCA+, core sets, dynamical coring
* :mod:`~mdlstm_utils.kinetics`  populations, MFPTs, rates, intervals, the noise floor, the typed ``Comparison``, and the
  Markov baselines (MSM, k-th-order chains, the memory test)
* :mod:`~mdlstm_utils.data`      toy systems with exact references, toy data sets, shipped data, OpenMM MD and features
* :mod:`~mdlstm_utils.lm`        the language models: models, training (the recipe), generation, ``learn_and_compare``,
  diagnostics of what the loss sees
* :mod:`~mdlstm_utils.report`    figures, the results record, the suite and sweep runner (papermill, Dask), the landing page
* :mod:`~mdlstm_utils.cli`       ``mdlstm analyze``
* :mod:`~mdlstm_utils.runtime`   device choice, seeding, profiles, parameter checks, environment record, metrics files;
  a notebook opens with ``runtime.start`` (a ``Lesson``) and closes with ``Lesson.finish``

In the reading order of the data flow the data come first; in the import order ``data`` follows ``states`` and
``kinetics``, because its toy data sets arrive labelled and with their truth measured.
"""

__version__ = "0.1.0"
