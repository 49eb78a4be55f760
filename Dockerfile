# syntax=docker/dockerfile:1
# One image for every role, chosen by the command: `server` (the default), `collector`,
# `dashboard`, or any other `parallax` subcommand. docs/deployment.md shows how to run it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: the project's wheel, then a virtual environment holding it and its dependencies.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY parallax/ parallax/
COPY parallax_sdk/ parallax_sdk/
COPY collector/ collector/
COPY store/ store/
COPY reconciler/ reconciler/
COPY dashboard/ dashboard/
COPY launch/ launch/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/parallax \
 && wheel="$(ls /wheels/parallax-*.whl)" \
 && /opt/parallax/bin/pip install "${wheel}[server,collector,dashboard]"

# Runtime: the same Python, the virtual environment, no build tools, a user of its own.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 parallax \
 && useradd --system --uid 10001 --gid parallax --home-dir /var/lib/parallax \
      --shell /usr/sbin/nologin parallax \
 && install -d -o parallax -g parallax -m 0750 /var/lib/parallax /var/lib/parallax-collector
COPY --from=build /opt/parallax /opt/parallax
# Settings come from PARALLAX_<SECTION>_<KEY> variables or a mounted file named by
# PARALLAX_CONFIG (docs/configuration.md). Listeners stay on loopback until the
# deployment configures TLS and credentials or says the network is private (insecure).
ENV PATH=/opt/parallax/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/parallax \
    PARALLAX_STORE_PATH=/var/lib/parallax/lake \
    PARALLAX_COLLECTOR_BUFFER_DIR=/var/lib/parallax-collector \
    PARALLAX_LOG_FORMAT=json
# The lake (server, dashboard). A collector mounts a volume of its own at
# /var/lib/parallax-collector: its durable buffer must outlive the container.
VOLUME ["/var/lib/parallax"]
# OTLP/gRPC, OTLP/HTTP, server metrics and health, collector metrics and health, dashboard.
EXPOSE 4317 4318 9464 9465 8501
USER 10001:10001
WORKDIR /var/lib/parallax
# /healthz of the server's metrics listener; a collector sets HEALTHCHECK_URL to its own
# (http://127.0.0.1:9465/healthz), the dashboard to Streamlit's /_stcore/health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:9464/healthz'), timeout=4)"]
ENTRYPOINT ["parallax"]
CMD ["server"]
