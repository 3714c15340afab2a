"""Sphinx configuration of the mdlstm documentation site (``make docs``; ``make run`` builds it into runs/).

The site is built from three sources and never executes a notebook:

* the executed notebooks of ``make run`` (``runs/<notebook>/<notebook>.ipynb``; another run folder with
  ``make docs RUNS=...``), copied at build time into ``notebooks/`` and rendered by myst-nb as they are
  (``nb_execution_mode = "off"``);
* the Markdown pages of the repository's ``docs/`` (glossary, results, quick profile, usage), copied into
  ``docs/`` at build time, so that the notebooks' links to them (``../docs/GLOSSARY.md``) work as on GitHub;
* the docstrings of ``mdlstm_utils``, through autosummary (``api/``), following whatever subpackages exist.

The copying, the landing page's cards (one per notebook: question, headline figure, numbers, verdict, run
time, from each run's ``metrics.json``) and the offline MathJax 3 are the ``mdlstm_utils.report.site``
extension's. ``mdlstm_utils.report.site.build_site`` builds from a copy of this folder per output folder
(``<out>/.sphinx/source``), so the generated folders never appear here.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

project = "mdlstm"
author = "the mdlstm authors"
copyright = "the mdlstm authors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "mdlstm_utils.report.site",  # the run's notebooks and cards, offline MathJax
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "notebooks/_thumbs"]
templates_path = [str(HERE / "_templates")]  # absolute: autosummary looks for it in the source folder

# -- the executed notebooks (myst-nb) --------------------------------------------------------------
nb_execution_mode = "off"  # pages show the outputs of `make run`; nothing runs at build time
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# ipywidgets (nglview's 3-D views) need JavaScript from a CDN: show their text form instead.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_merge_streams = True

# -- the API reference (autosummary + autodoc, numpy-style docstrings) -----------------------------
autosummary_generate = True
autosummary_ignore_module_all = False  # a module's __all__ says what is public
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # an "Attributes" section is a field list, not a second description of the field
napoleon_use_rtype = False
napoleon_preprocess_types = True  # the types of parameters and returns become links

# -- HTML: a standard theme, everything served from _static ----------------------------------------
html_theme = "furo"
html_title = "mdlstm"
html_static_path = ["_static"]
html_css_files = ["mdlstm.css"]
html_copy_source = False
html_show_sourcelink = False
mathjax_path = "mathjax/tex-chtml.js"  # copied into _static/ by mdlstm_utils.report.site
