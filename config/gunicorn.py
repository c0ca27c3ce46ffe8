"""gunicorn settings of the web role. bin/docker-entrypoint.sh passes this file; outside the image
run `gunicorn -c config/gunicorn.py config.wsgi:application`. GUNICORN_CMD_ARGS and flags on the
command line override what is set here (e.g. GUNICORN_CMD_ARGS="--threads 16").

Threaded workers, not sync ones: browsers open connections speculatively (pre-connect) and may
send nothing on them for many seconds. A sync worker serves one connection at a time, so every
such socket holds a whole process until the worker timeout (30 s) kills it, and a visitor whose
request is queued behind it waits or gets an error. A gthread worker waits for a request's first
bytes in one of its threads for a few seconds at most, then parks the connection in its poller,
so an idle socket costs one thread for a moment and the other threads keep serving.
"""

worker_class = "gthread"
# Per worker process (WEB_CONCURRENCY of them). Each thread may hold a database connection
# (DATABASE_CONN_MAX_AGE), so PostgreSQL sees up to processes x threads connections per container.
threads = 8


def worker_exit(server, worker):
    """In the worker, as it stops (a deploy, a restart): alert deliveries it stored but has not
    counted in Redis yet are counted, and their routing queued, now rather than by the sweep."""
    try:
        from incidents.alerts.services import flush_counts

        flush_counts()
    except Exception:
        worker.log.exception("counting the last alert deliveries")
