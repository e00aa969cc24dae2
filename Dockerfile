# The Airflow image with the VCSE pipeline installed. Build: docker compose build
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/vcse

# Pinned dependencies first, so code changes do not reinstall them. Airflow is pinned to the base image's
# version so pip never up- or downgrades it.
COPY --chown=airflow:root requirements.lock /opt/vcse/requirements.lock
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/vcse/requirements.lock

# The project. Installed editable so sql/ (read from the source tree) sits beside the package.
COPY --chown=airflow:root pyproject.toml README.md /opt/vcse/
COPY --chown=airflow:root vcse_pipeline /opt/vcse/vcse_pipeline
COPY --chown=airflow:root sql /opt/vcse/sql
RUN pip install --no-cache-dir --no-deps -e /opt/vcse

COPY --chown=airflow:root dags /opt/airflow/dags

WORKDIR /opt/airflow
