"""The embedded default database (make run, DATABASE_URL unset): an SQLite file in write-ahead-log
mode whose transactions take the write lock up front, so the web server and the worker writing at
once wait their turn instead of failing with "database is locked".

Each case runs in a fresh interpreter on the app's own settings (config.settings) with
DATABASE_URL unset and a throwaway WARROOM_VAR_DIR, whatever database this test run uses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

OPEN = """
import django, json, threading
django.setup()
from django.db import connection, connections, transaction
"""

PRAGMAS = (
    OPEN
    + """
with connection.cursor() as cursor:
    found = {name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
             for name in ("journal_mode", "synchronous", "busy_timeout")}
found["file"] = connection.settings_dict["NAME"]
print(json.dumps(found))
"""
)

# Two writers, as the web server and the worker: one reads in a transaction, the other writes
# meanwhile, then the first writes. With deferred transactions that last write fails at once
# ("database is locked": its snapshot is stale); with immediate ones the second writer waits.
TWO_WRITERS = (
    OPEN
    + """
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE entry (body TEXT)")
other_done = threading.Event()
errors = []

def other_writer():
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO entry VALUES ('worker')")
    except Exception as exc:
        errors.append(f"worker: {exc}")
    finally:
        other_done.set()
        connections.close_all()

try:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM entry").fetchone()
        thread = threading.Thread(target=other_writer)
        thread.start()
        other_done.wait(1.0)
        cursor.execute("INSERT INTO entry VALUES ('web')")
except Exception as exc:
    errors.append(f"web: {exc}")
thread.join(30)
with connection.cursor() as cursor:
    rows = sorted(row[0] for row in cursor.execute("SELECT body FROM entry").fetchall())
print(json.dumps({"errors": errors, "rows": rows}))
"""
)


def run_on_the_embedded_default(tmp_path, code):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        WARROOM_VAR_DIR=str(tmp_path),
        SECRET_KEY="test-only-secret-key-not-for-production-use-0123456789",
        SECURE_HTTPS="False",
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_database_keeps_a_write_ahead_log_and_waits_for_locks(tmp_path):
    found = run_on_the_embedded_default(tmp_path, PRAGMAS)
    assert found["file"] == str(tmp_path / "warroom.sqlite3")
    assert found["journal_mode"] == "wal"
    assert found["synchronous"] == 1  # NORMAL
    assert found["busy_timeout"] == 20_000


def test_two_writers_at_once_both_succeed_on_the_embedded_database(tmp_path):
    result = run_on_the_embedded_default(tmp_path, TWO_WRITERS)
    assert result == {"errors": [], "rows": ["web", "worker"]}
