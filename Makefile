# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv on first use and reuse it afterwards (reinstalling when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Prefect keeps its database and settings inside the project, not in the home folder.
export PREFECT_HOME := $(CURDIR)/.prefect

.PHONY: run test lint format clean-data

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (found " + sys.version.split()[0] + "); run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)  ## run the pipeline on the shipped data and print the hotspots
	$(BIN)/hotspot run

test: $(STAMP)  ## run the whole test suite (slow TensorFlow tests included)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-data:  ## delete every generated artifact under data/ (data/source is kept)
	rm -rf data/0[0-9]_*
