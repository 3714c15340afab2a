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

The package's face: ``import mdlstm_utils as mu`` gives the subpackages (``mu.states``, ``mu.kinetics``,
``mu.data``, ``mu.lm``, ``mu.report``, ``mu.runtime``) and the few names a notebook calls most
(:data:`FACE`: ``mu.learn_and_compare``, ``mu.comparison``, ``mu.from_labels``, ...). Each is imported when it
is first used, so that ``import mdlstm_utils`` stays light (``mdlstm analyze --help`` answers before torch loads).
"""

import importlib

__version__ = "0.1.0"

#: the subpackages, reached as attributes of the package
SUBPACKAGES = ("states", "kinetics", "data", "lm", "report", "cli", "runtime")
#: the names a notebook calls most, and the module each comes from
FACE = {
    "learn_and_compare": "mdlstm_utils.lm.experiment", "learn_spaces": "mdlstm_utils.lm.experiment",
    "learn_folds": "mdlstm_utils.lm.experiment", "LSTMConfig": "mdlstm_utils.lm.models",
    "TransformerConfig": "mdlstm_utils.lm.models", "TrainConfig": "mdlstm_utils.lm.train",
    "StateSpace": "mdlstm_utils.states", "from_labels": "mdlstm_utils.states",
    "train_test_split": "mdlstm_utils.states", "comparison": "mdlstm_utils.kinetics",
    "validated_msm": "mdlstm_utils.kinetics", "paired_test": "mdlstm_utils.kinetics",
    "slow_process": "mdlstm_utils.kinetics",
}


def __getattr__(name: str):
    """A subpackage or a name of :data:`FACE`, imported on first use."""
    if name in SUBPACKAGES:
        return importlib.import_module(f"mdlstm_utils.{name}")
    if name in FACE:
        return getattr(importlib.import_module(FACE[name]), name)
    raise AttributeError(f"module 'mdlstm_utils' has no attribute {name!r}; its face: {', '.join([*SUBPACKAGES, *FACE])}")
