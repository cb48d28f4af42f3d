# The two commands of the README: `make run` (main job on config.yaml) and `make test`.
# Each creates the virtual environment and installs the project when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-idrs

# A custom run: `make run CONFIG=my.yaml` (my.yaml replaces config.yaml) or
# `make run CONFIG="config.yaml my.yaml"` (my.yaml overrides some keys of config.yaml);
# they write to results-my/ and results-config+my/ (idrs.workflow.results_dir), never into
# the default's results/.
CONFIG ?= config.yaml
# `make test` runs pytest on this many pytest-xdist workers, each test module on one
# (its module fixtures built once), each with one CPU thread of torch (the workflow
# tests' own jobs set theirs). TEST_WORKERS=0: one process, torch's threads.
TEST_WORKERS ?= 2

.PHONY: run test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "idrs needs Python >= 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,faiss]'
	touch $@

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --workflow-profile profiles/local --configfile $(CONFIG)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile $(CONFIG) --report "$$($(BIN)/idrs results-dir $(CONFIG))/report.html"

test: $(STAMP)
	$(if $(filter 0,$(TEST_WORKERS)),,OMP_NUM_THREADS=1) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

clean:
	rm -rf results logs .snakemake
