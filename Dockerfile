# The uvicorn service image (local_server.py). Lambda runs the same code from zips: see `make deploy`.
#
#   docker build -t product-image-processor:local .                    # or `make build`
#   docker build --build-arg PYTHON_IMAGE=<local base> --network host .  # with a stand-in base image
#
# Python 3.12 is the Lambda runtime's version, so the container and the functions run the same interpreter.
# The tag is pinned to a patch release; pin the digest as well where the registry can be queried.
ARG PYTHON_IMAGE=python:3.12.15-slim-bookworm

# ---- builder: the pinned dependencies and the image_processor package, in a virtualenv ----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir pip==25.3

# Wheels only: the slim base has no compiler, and a missing wheel should fail the build, not start one.
COPY requirements/runtime.txt requirements/constraints.txt requirements/
RUN pip install --no-cache-dir --only-binary=:all: -r requirements/runtime.txt -c requirements/constraints.txt

# The shared library (layers/common/python), installed as a regular package: no source tree needed at run time.
COPY pyproject.toml ./
COPY layers/common/python/image_processor layers/common/python/image_processor
RUN pip install --no-cache-dir --no-deps .

# ---- base: what every runtime target shares ----
FROM ${PYTHON_IMAGE} AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    PROCESSED_IMAGES_DIR=/app/processed_images

# A fixed, unprivileged UID/GID, so volume ownership is predictable. The data folder exists and belongs to
# it before it is declared a volume, so a fresh named volume starts out owned by 10001 as well.
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 10001 -m 0750 /app/processed_images

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY local_server.py ./
USER 10001:10001

# ---- tables: one-shot that creates the DynamoDB tables (docker compose's `tables` service) ----
FROM base AS tables
COPY tools/__init__.py tools/local_tables.py tools/create_tables.py /app/tools/
CMD ["python", "-m", "tools.create_tables"]

# ---- runtime (default target): the API on uvicorn ----
FROM base AS runtime
ARG PYTHON_IMAGE

LABEL org.opencontainers.image.title="product-image-processor" \
      org.opencontainers.image.description="Crops product photos by hand or by AI and serves the results (FastAPI on uvicorn)." \
      org.opencontainers.image.version="1.0.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

VOLUME ["/app/processed_images"]
EXPOSE 8000

# /health answers without touching storage or AWS. urllib, so the image needs no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]

# HOST and PORT come from the environment. uvicorn's proxy-header handling stays off (local_server.py): the
# app itself reads X-Forwarded-For, and only from peers listed in TRUSTED_PROXIES (empty: the socket peer).
CMD ["python", "local_server.py"]
