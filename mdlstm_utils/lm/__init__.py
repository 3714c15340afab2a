"""The language models and everything they do: build, train, generate, and the one experiment every notebook runs.

* :mod:`~mdlstm_utils.lm.models`       next-state language models (:class:`~mdlstm_utils.lm.models.LSTMLM`,
  :class:`~mdlstm_utils.lm.models.TransformerLM`) from config dataclasses
* :mod:`~mdlstm_utils.lm.train`        the training loop and :class:`~mdlstm_utils.lm.train.TrainConfig`, whose
  defaults are the suite's recipe (chosen by ``bench/bench_convergence.py``)
* :mod:`~mdlstm_utils.lm.windows`      the validation tail of training trajectories and the windows cut from them
* :mod:`~mdlstm_utils.lm.targets`      soft training targets: a pull toward the MSM, or each state's unseen mass
  trained to its Good-Turing estimate (``TrainConfig(target=...)``)
* :mod:`~mdlstm_utils.lm.generate`     batched generation of long trajectories (recurrent state / KV cache)
* :mod:`~mdlstm_utils.lm.calibrate`    generation with each state's probability of jumps unseen in training set to
  a target (the Good-Turing estimate of the training counts), the model's own shape kept
* :mod:`~mdlstm_utils.lm.experiment`   :func:`~mdlstm_utils.lm.experiment.learn_and_compare`: train, generate like
  the reference, compare beside the MSM baseline and the noise floor, in one call
* :mod:`~mdlstm_utils.lm.resolution`   the saving-interval scan: one experiment per interval and seed, beside the MSM
  baseline and the noise floor (notebook 02)
* :mod:`~mdlstm_utils.lm.diagnostics`  why a language model loses the rare event: loss sensitivity, transition errors
* :mod:`~mdlstm_utils.lm.unseen`       the probability a model keeps on transitions unseen in training, beside the
  held-out rate, the Good-Turing estimate and the crossings of the slowest process in generated trajectories
"""
