# Common operations, one command each. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: help venv venv-deploy lock demo serve assets test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/vcse: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(BIN)/vcse  ## create .venv with the pinned dependencies and the project

# The deployment set adds what docker-compose.yml selects (FAB auth manager, Celery, PostgreSQL driver) on top of
# the same versions, so `make demo` does not wait for it (about 35 s more on a fresh machine) but the tests, whose
# deployment test runs the compose settings, have it.
$(VENV)/.deploy-installed: $(BIN)/vcse requirements-deploy.lock
	$(BIN)/pip install --quiet -r requirements-deploy.lock
	@touch $@

venv-deploy: $(VENV)/.deploy-installed  ## add the deployment set (requirements-deploy.lock) to .venv

demo: venv  ## build the Wirral register from the bundled offline demo data into data/
	$(BIN)/vcse demo

serve: demo  ## build the demo register, then serve it to a browser on http://127.0.0.1:8000 (vcse serve)
	$(BIN)/vcse serve

# The web app's static files come from the npm packages pinned in package-lock.json (GOV.UK Frontend, Leaflet):
# built here and committed under vcse_pipeline/web/static/, so the app (and `make demo`, `make serve`, the image)
# runs without npm. Run it after changing package.json or web/assets/app.scss; a test checks the copies are current.
WEB_STATIC = vcse_pipeline/web/static
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

assets: node_modules/.package-lock.json  ## rebuild the web app's CSS and copy GOV.UK Frontend and Leaflet from npm
	node_modules/.bin/sass --style=compressed --no-source-map --load-path=node_modules --quiet-deps \
	  vcse_pipeline/web/assets/app.scss $(WEB_STATIC)/app.css
	mkdir -p $(WEB_STATIC)/govuk/assets/images $(WEB_STATIC)/leaflet/images
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js $(WEB_STATIC)/govuk/
	cp node_modules/govuk-frontend/dist/govuk/assets/images/favicon.ico \
	  node_modules/govuk-frontend/dist/govuk/assets/images/favicon.svg $(WEB_STATIC)/govuk/assets/images/
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css $(WEB_STATIC)/leaflet/
	cp node_modules/leaflet/dist/images/*.png $(WEB_STATIC)/leaflet/images/

test: venv-deploy  ## run the test suite
	$(BIN)/python -m pytest

lint: venv  ## ruff over the code
	$(BIN)/ruff check vcse_pipeline dags tests bench

clean:  ## remove generated data (keeps .venv)
	rm -rf data

# Both locks come from one resolution on PyPI: the deployment set first (keeping its current versions where they
# still fit), then the base set constrained to it, so every package the two share has one version.
UV_VERSION = 0.13.9
LOCK_VENV  = .venv-lock
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 \
             --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple \
             --annotation-style line --custom-compile-command "make lock"

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet uv==$(UV_VERSION)

lock: $(LOCK_VENV)/bin/uv  ## re-resolve requirements-deploy.lock and requirements.lock from pyproject.toml
	$(UV_COMPILE) --extra deploy -o requirements-deploy.lock
	$(UV_COMPILE) -c requirements-deploy.lock -o requirements.lock

# ---------------------------------------------------------------------------------------------- Airflow
# Local Airflow for development and first runs (docs/operations.md). State lives in airflow-home/.
AIRFLOW_HOME ?= $(CURDIR)/airflow-home
AIRFLOW_ENV   = AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
DAG_IDS       = vcse_source_charity_commission vcse_source_companies_house vcse_source_postcodes \
                vcse_source_fca_mutuals vcse_source_ukcat vcse_register vcse_freshness

.PHONY: airflow-db airflow-standalone dags-test dags-test-demo compose-up compose-down

airflow-db: venv  ## create or upgrade the local Airflow metadata database (airflow-home/)
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate

airflow-standalone: airflow-db  ## run Airflow locally with the project's DAGs (UI on http://localhost:8080)
	$(AIRFLOW_ENV) $(BIN)/airflow standalone

dags-test: airflow-db  ## run each DAG once in-process with `airflow dags test` (sources first, then the register)
	@for dag in $(DAG_IDS); do echo "== $$dag"; $(AIRFLOW_ENV) $(BIN)/airflow dags test $$dag || exit 1; done

# Offline: the same DAG runs against the bundled demo registers (local files instead of the publishers' URLs).
DEMO_SOURCES ?= $(CURDIR)/data/demo-sources
DEMO_ENV      = VCSE__PATHS__DATA_DIR=$(CURDIR)/data \
                VCSE__SOURCES__CHARITY_COMMISSION__URL=$(DEMO_SOURCES)/charity_commission/publicextract.{table}.zip \
                VCSE__SOURCES__COMPANIES_HOUSE__URL=$(DEMO_SOURCES)/companies_house/BasicCompanyDataAsOneFile-2026-11-01.zip \
                VCSE__SOURCES__POSTCODES__URL=$(DEMO_SOURCES)/postcodes/ONSPD_NOV_2025_UK.zip \
                VCSE__SOURCES__FCA_MUTUALS__URL=$(DEMO_SOURCES)/fca_mutuals/SocietyList.csv \
                VCSE__SOURCES__UKCAT__URL=$(DEMO_SOURCES)/ukcat/ukcat.csv \
                VCSE__DOWNLOAD__PROGRESS=false

dags-test-demo: airflow-db  ## offline: run each DAG once with `airflow dags test` on the bundled demo data
	$(BIN)/python -m vcse_pipeline.demo $(DEMO_SOURCES) > /dev/null
	@for dag in $(DAG_IDS); do echo "== $$dag"; $(AIRFLOW_ENV) $(DEMO_ENV) $(BIN)/airflow dags test $$dag || exit 1; done

compose-up:  ## build the image and start the docker-compose deployment (needs docker)
	docker compose build
	docker compose up airflow-init
	docker compose up -d

compose-down:  ## stop the docker-compose deployment (volumes are kept)
	docker compose down
