# One image for every process (auth, users, ..., gateway_http, ws, migrations); the command picks
# the process (see docker-compose.yml and deploy/k8s). Multi-stage: dependencies are installed into
# a virtualenv in the build stage, the runtime stage copies only that and the source, runs as a
# non-root user and works with a read-only root filesystem.
# The base image is pinned by tag here; pin it by digest where images can be pulled
# (`docker buildx imagetools inspect python:3.11.10-slim-bookworm`, then
# --build-arg PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:<digest>): this repository's
# machines cannot reach a registry, so no digest is written down unverified (docs/operations.md).
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Every runtime package, transitive ones included, at the version and hashes of the lock file
# (make lock); the project itself runs from /app.
COPY requirements/runtime.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-virtualenv --require-hashes --no-deps -r runtime.lock

# PgBouncer in front of PostgreSQL (compose service and Kubernetes Deployment `pgbouncer`):
# Debian's package on the same base, so one base image is pinned. `docker build --target
# pgbouncer -t influencer-pgbouncer .`; its configuration is mounted (scripts/render_pgbouncer.py).
FROM ${PYTHON_IMAGE} AS pgbouncer
ARG PGBOUNCER_VERSION=1.18.0-1+deb12u1
RUN apt-get update \
 && apt-get install -y --no-install-recommends "pgbouncer=${PGBOUNCER_VERSION}" \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --shell /usr/sbin/nologin app
USER 10001:10001
EXPOSE 6432
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]

# The default target (last stage): every process of the platform.
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    METRICS_HOST=0.0.0.0
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root config.yml alembic.ini ./
COPY --chown=root:root kernel ./kernel
COPY --chown=root:root dependencies ./dependencies
COPY --chown=root:root services ./services
COPY --chown=root:root gateway_http ./gateway_http
COPY --chown=root:root ws ./ws
COPY --chown=root:root scripts ./scripts
COPY --chown=root:root kong/kong.yml ./kong/kong.yml
COPY --chown=root:root deploy/processes.yml ./deploy/processes.yml
# Named volumes mounted here start owned by the app user (compose: JWT keys, rendered Kong config,
# RabbitMQ definitions, PgBouncer's configuration).
RUN mkdir -p /var/lib/influencer/jwt-private /var/lib/influencer/jwt-public \
    /var/lib/influencer/kong /var/lib/influencer/broker /var/lib/influencer/pgbouncer \
 && chmod 0700 /var/lib/influencer/jwt-private \
 && chown -R app:app /var/lib/influencer
USER 10001:10001
EXPOSE 8000 8001 9101 9102 9103 9104 9105 9106 9107 9108 9201 9202 9203 9204 9205 9206 9208
CMD ["nameko", "run", "--config", "config.yml", "gateway_http.service:GatewayService"]
