# Warroom production image: gunicorn + whitenoise for the web, the same image for Celery.
# Roles (bin/docker-entrypoint.sh): web (default), worker, beat, migrate. docs/deploy.md explains.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WARROOM_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# A fixed numeric uid, so orchestrators can verify runAsNonRoot; its home is the one writable
# directory of the application (celery beat's schedule, gunicorn's control socket).
RUN groupadd --system --gid 10001 warroom \
    && useradd --system --uid 10001 --gid warroom --home-dir /app/var --no-create-home \
        --shell /usr/sbin/nologin warroom

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# The settings refuse to load without SECRET_KEY outside DEBUG: collectstatic gets a throwaway
# key for this one command, never kept in the image. The collected files stay owned by root
# (read-only for the app); /app/var and /app/secrets (the compose key volume) are the app's.
RUN SECRET_KEY=build-only DEBUG=False python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var /app/secrets \
    && chown -R warroom:warroom /app/var /app/secrets \
    && chmod 0700 /app/secrets

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/bin/healthcheck.py"]

# Through sh, so the script runs even if a checkout lost its executable bit.
ENTRYPOINT ["sh", "/app/bin/docker-entrypoint.sh"]
CMD ["web"]
