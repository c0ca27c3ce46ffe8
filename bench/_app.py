"""The app as a benchmark runs it in its own processes (gunicorn, manage.py): production
settings on a throwaway folder and database. bench/run.py skips this module."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environment(tmp):
    """Environment variables for the app's processes, everything under the folder `tmp`."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="False",
        SECURE_HTTPS="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        WARROOM_VAR_DIR=str(tmp),
        STATIC_ROOT=str(tmp / "static"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        CELERY_BROKER_URL="memory://",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.pop("CACHE_URL", None)
    env.pop("STATUSPAGE_EXPORT_DIR", None)
    return env


def cpu_seconds(pid):
    """User and system CPU time of the process `pid` and of its children (gunicorn's workers),
    from /proc: the server's own work, whatever else the machine runs."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        # After the name: state, ppid, ..., utime and stime are the 12th and 13th.
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
