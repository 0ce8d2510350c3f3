# syntax=docker/dockerfile:1
# trakt-backup: one image for the web server (default command) and the worker (`python manage.py qcluster`).
# See the README's "Deployment" section.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /wheels
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt


FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    PORT=8000

RUN groupadd --system --gid 999 trakt \
    && useradd --system --uid 999 --gid trakt --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin trakt \
    && mkdir -m 700 /data \
    && chown trakt:trakt /data

# requirements.txt is copied into this stage too: a layer cache that does not look into the bind mount (buildah's)
# would otherwise keep the packages of an older requirements.txt.
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

WORKDIR /app
COPY . .
# Static files are collected into the image (STATIC_ROOT=/app/staticfiles). Importing the settings generates
# keys into DATA_DIR: point it at a throwaway folder so that no key is ever baked into the image.
RUN DATA_DIR=/tmp/collectstatic python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/collectstatic

# Numeric, so that the host and Kubernetes' runAsNonRoot can resolve it: the trakt user created above.
USER 999:999
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "/app/docker/gunicorn.conf.py", "trakt_web.wsgi:application"]
