# Common operations, one command each. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: help venv demo test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/vcse: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(BIN)/vcse  ## create .venv with the pinned dependencies and the project

demo: venv  ## build the Wirral register from the bundled offline demo data into data/
	$(BIN)/vcse demo

test: venv  ## run the test suite
	$(BIN)/python -m pytest

lint: venv  ## ruff over the code
	$(BIN)/ruff check vcse_pipeline dags tests bench

clean:  ## remove generated data (keeps .venv)
	rm -rf data
