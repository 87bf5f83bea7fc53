# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv on first use and reuse it afterwards (reinstalling when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Prefect keeps its database and settings inside the project, not in the home folder
# (`make ... PREFECT_HOME=DIR` or an exported PREFECT_HOME chooses another folder).
PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_HOME

.PHONY: run test lint format clean-data server pool deploy worker worker-bg trigger alerts status stop

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

# -- Run it every day (docs/operations.md): a local Prefect server, the process work pool, the deployments of
# prefect.yaml and a worker. Only these targets talk to that server (scripts/prefect-local.sh sets
# PREFECT_API_URL for its own commands); `run` and `test` keep their embedded temporary server.
PREFECT_PORT ?= 4200
PREFECT_POOL := hotspot-process
# Folders outside the project that a deployment's path parameters (store_dir, input_path) may point into,
# separated by ':'; `make deploy` writes them into the deployments (each flow run's HOTSPOT_ALLOWED_ROOTS).
ALLOWED_ROOTS ?=
LOCAL_PREFECT = PREFECT_PORT=$(PREFECT_PORT) PREFECT_POOL=$(PREFECT_POOL) BIN=$(BIN) ALLOWED_ROOTS='$(ALLOWED_ROOTS)' \
	scripts/prefect-local.sh

server: $(STAMP)  ## start a Prefect server on 127.0.0.1:$(PREFECT_PORT) in the background, wait until healthy
	@$(LOCAL_PREFECT) server

pool: $(STAMP)  ## create the process work pool (no-op when it exists)
	@$(LOCAL_PREFECT) pool

deploy: $(STAMP) pool  ## deploy prefect.yaml's deployments (daily, manual), e.g. make deploy ALLOWED_ROOTS=/tmp
	@$(LOCAL_PREFECT) deploy

worker: $(STAMP)  ## run a worker for the pool in the foreground (Ctrl+C stops it)
	@$(LOCAL_PREFECT) worker

worker-bg: $(STAMP)  ## run a worker in the background (log in .prefect/worker.log)
	@$(LOCAL_PREFECT) worker-bg

# PARAMS (JSON, given on the command line, so make passes it on) sets the run's parameters; trigger waits
# for the end and prints how the run ended and why (WAIT=0: return at once; DEPLOYMENT=daily: the daily one).
trigger: $(STAMP)  ## run the manual deployment now, e.g. make trigger PARAMS='{"config": {"train": {"epochs": 5}}}'
	@$(LOCAL_PREFECT) trigger

alerts: $(STAMP)  ## notify on new hotspots: make alerts WEBHOOK_URL=https://... (or ALERT_BLOCK=slack-webhook/NAME)
	@$(LOCAL_PREFECT) alerts

status:  ## is the server up, which workers run
	@$(LOCAL_PREFECT) status

stop:  ## stop the workers and the server started above (safe to repeat)
	@$(LOCAL_PREFECT) stop
