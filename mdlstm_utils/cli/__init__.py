"""Command-line entry points.

* :mod:`~mdlstm_utils.cli.analyze`  ``mdlstm analyze``: the whole method on your own trajectories, with
  ``report.html`` and ``metrics.json``
"""
