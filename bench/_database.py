"""A throwaway database for a benchmark: a new PostgreSQL database next to DATABASE_URL's (when
it names PostgreSQL), or an SQLite file in a temporary folder. bench/run.py skips this module."""

import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def throwaway_database(label):
    """(DATABASE_URL of a new empty database, cleanup function)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"warroom_bench_{label}_{uuid.uuid4().hex[:8]}"
        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop():
            from django.conf import settings

            if settings.configured:  # a benchmark that ran the app in its own process has not
                from django.db import connections

                connections.close_all()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return urlunsplit(parts._replace(path=f"/{name}")), drop
    folder = tempfile.mkdtemp(prefix="warroom-bench-")
    path = Path(folder) / f"{label}.sqlite3"

    def remove():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return f"sqlite:///{path}", remove
