"""Command-line entry points: ``mdlstm analyze``, the whole method on your own trajectories.

* :mod:`~mdlstm_utils.cli.analyze`     the command line: parses the arguments, then (only then) imports the method, so
  that ``--help`` answers at once; ``analyze.<name>`` reaches every name of the method
* :mod:`~mdlstm_utils.cli.method`      the steps in order (inputs, states, model, checks), :func:`~mdlstm_utils.cli.method.run`;
  writes ``report.html`` and ``metrics.json``, a partial report (the step that failed, why, what to try) when a step fails
* :mod:`~mdlstm_utils.cli.inputs`      reading MD files, feature arrays or label arrays, checked before any long step
* :mod:`~mdlstm_utils.cli.metastable`  metastable states with the alternatives the rules allow (core thresholds,
  fewer states, longer lags), each trial recorded
* :mod:`~mdlstm_utils.cli.checks`      self-checks of a state space against the data alone
* :mod:`~mdlstm_utils.cli.results`     what an analysis found, typed (:class:`~mdlstm_utils.cli.results.Analysis`,
  :class:`~mdlstm_utils.cli.results.Partial`), with the JSON of ``metrics.json``: what the method returns and the
  report renders
* :mod:`~mdlstm_utils.cli.report`      the report's figures and its offline HTML page

The rules that choose each step live in :mod:`mdlstm_utils.states.rules`, where notebooks use them too.
"""
