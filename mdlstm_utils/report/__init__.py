"""What a reader sees: figures, the notebooks' results record, the suite and sweep runner, the documentation site.

* :mod:`~mdlstm_utils.report.plots`    the notebooks' figures
* :mod:`~mdlstm_utils.report.claims`   the claim record of a run: question, numbers, verdict, conditions, source
* :mod:`~mdlstm_utils.report.results`  ``make results``: full-profile runs into ``docs/RESULTS.md`` and the README, assembled
  from their claims
* :mod:`~mdlstm_utils.report.sweep`    headless notebook execution (``make run``) and parameter sweeps (papermill, Dask)
* :mod:`~mdlstm_utils.report.site`     the documentation site (``make docs``): its Sphinx extension, one card per notebook
"""
