#!/bin/sh
# Container entry point. The first argument names the role:
#   web      gunicorn serving config.wsgi:application on 0.0.0.0:${PORT:-8000}, threaded
#            workers (config/gunicorn.py says why)
#   worker   a Celery worker
#   beat     the Celery beat scheduler (run exactly one)
#   migrate  one-shot: apply migrations and create the cache table, then exit
# Anything else runs as given, e.g. `docker compose run --rm web python manage.py shell`.
# Extra arguments after a role go to gunicorn or celery.
set -eu

role="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

ensure_secret_key() {
    # docker-compose.yml points SECRET_KEY_FILE into a volume and sets WARROOM_GENERATE_SECRET_KEY,
    # so `docker compose up` needs no setup: the first container to start writes a random key
    # there, and every service (and `docker compose exec`) reads the same file. Without that flag
    # a missing key file is an error in the settings, never silently replaced.
    if [ "${WARROOM_GENERATE_SECRET_KEY:-False}" = "True" ] && [ -z "${SECRET_KEY:-}" ] \
        && [ -n "${SECRET_KEY_FILE:-}" ] && [ ! -e "$SECRET_KEY_FILE" ]; then
        python - "$SECRET_KEY_FILE" <<'PY'
import os
import secrets
import sys

# O_EXCL: when two containers start at once, one writes the key and the other keeps it.
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
except FileExistsError:
    sys.exit(0)
with os.fdopen(fd, "w") as fh:
    fh.write(secrets.token_urlsafe(50) + "\n")
print(f"Generated a new SECRET_KEY in {sys.argv[1]}.", file=sys.stderr)
PY
    fi
}

ensure_secret_key

case "$role" in
    web)
        # Workers: WEB_CONCURRENCY (read by gunicorn itself); more flags: GUNICORN_CMD_ARGS.
        # The heartbeat file lives in memory: a slow overlay filesystem must not look like a hung worker.
        exec python -m gunicorn config.wsgi:application \
            --config "$(dirname "$0")/../config/gunicorn.py" \
            --bind "0.0.0.0:${PORT:-8000}" \
            --worker-tmp-dir /dev/shm \
            --access-logfile - \
            "$@"
        ;;
    worker)
        exec python -m celery -A config.celery worker --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        exec python -m celery -A config.celery beat --loglevel "${LOG_LEVEL:-INFO}" \
            --schedule "${WARROOM_VAR_DIR:-/app/var}/celerybeat-schedule" "$@"
        ;;
    migrate)
        python manage.py migrate --noinput
        # Only does something when the cache is the database (CACHE_URL unset).
        python manage.py createcachetable
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
