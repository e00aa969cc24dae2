# The Airflow image with the VCSE pipeline installed. Build: docker compose build
# The slim image holds Airflow core and no providers, so the image's packages are exactly the deployment lock:
# the regular image brings dozens of providers whose pins the lock would then up- or downgrade under them.
FROM apache/airflow:slim-3.3.2-python3.11

USER airflow
WORKDIR /opt/vcse

# Pinned dependencies first, so code changes do not reinstall them. requirements-deploy.lock is the whole set
# docker-compose.yml selects (Airflow 3.3.2, the FAB auth manager, Celery and its provider, the PostgreSQL
# driver) resolved together with requirements.lock; `pip check` fails the build on any conflict.
COPY --chown=airflow:root requirements-deploy.lock /opt/vcse/requirements-deploy.lock
RUN pip install --no-cache-dir -r /opt/vcse/requirements-deploy.lock && pip check

# The project, a plain install: the SQL ships inside the package (vcse_pipeline/sql, package-data) and is read
# with importlib.resources, so nothing is read from the source tree.
COPY --chown=airflow:root pyproject.toml README.md /opt/vcse/
COPY --chown=airflow:root vcse_pipeline /opt/vcse/vcse_pipeline
RUN pip install --no-cache-dir --no-deps /opt/vcse

COPY --chown=airflow:root dags /opt/airflow/dags

WORKDIR /opt/airflow
