# mdlstm: the two commands of the README are `make run` and `make test`.
# Both create the local virtual environment .venv on first use and reuse it afterwards;
# `make docs` builds the documentation site from what `make run` left in runs/.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= quick
DEVICE  ?= auto
ONLY    ?=
JOBS    ?=
RESUME  ?=
ALLOW_MIXED ?=
# make docs: the run folder whose executed notebooks the site shows, and extra sphinx-build options
# (CI: SPHINXOPTS="-W --keep-going", every warning an error)
RUNS    ?= runs
SPHINXOPTS ?=

.PHONY: setup run test docs lab bench results clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v=sys.version_info; sys.exit(0 if v >= (3, 11) else "mdlstm needs Python >= 3.11, found %d.%d: run make PYTHON=python3.11" % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

## Execute every tutorial notebook headless (papermill): executed copies, figures, and the documentation site
## built from them into runs/ (open runs/index.html; the API reference is make docs')
run: $(STAMP)
	$(BIN)/python -m mdlstm_utils.report.sweep suite --profile $(PROFILE) --device $(DEVICE) --out runs $(if $(ONLY),--only $(ONLY)) $(if $(JOBS),--jobs $(JOBS)) $(if $(RESUME),--resume)

## Unit tests + every notebook in the smoke profile (papermill, profile=smoke passed by tests/test_notebooks.py: the
## notebooks themselves default to quick) + the stored outputs of the cells marked NBVAL_CHECK_OUTPUT
test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest

## Build the offline documentation site (Sphinx + myst-nb, docs/site/) into docs/_build/html: the executed notebooks
## of $(RUNS)/ as pages (not re-executed), cards of their headlines, the API reference, glossary and results
docs: $(STAMP)
	$(BIN)/python -m mdlstm_utils.report.site --runs $(RUNS) --out docs/_build/html $(SPHINXOPTS)

## Open JupyterLab on the notebooks (they run their parameters cell's defaults: the quick profile)
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## Speed benchmarks (print tables, write JSON under bench/results/)
bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## Copy full-profile runs from runs/ into docs/results/, rewrite docs/RESULTS.md and the README's results block
## (refused when the runs come from different commits; ALLOW_MIXED=1 builds it with the odd rows marked)
results: $(STAMP)
	$(BIN)/python -m mdlstm_utils.report.results --runs runs --docs docs $(if $(ALLOW_MIXED),--allow-mixed)

clean:
	rm -rf runs .pytest_cache docs/_build jupyter_execute
