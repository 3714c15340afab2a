"""What a reader sees: figures, the notebooks' results record, the suite and sweep runner, the landing page.

* :mod:`~mdlstm_utils.report.plots`    the notebooks' figures
* :mod:`~mdlstm_utils.report.results`  ``make results``: full-profile runs into ``docs/RESULTS.md`` and the README
* :mod:`~mdlstm_utils.report.sweep`    headless notebook execution (``make run``) and parameter sweeps (papermill, Dask)
* :mod:`~mdlstm_utils.report.site`     the landing page of a run: one card per notebook
"""
