"""The app as a benchmark runs it in its own processes (gunicorn, manage.py): production
settings on a throwaway folder and database, a free port, plain HTTP requests to it and the
wait until it answers. bench/run.py skips this module."""

import http.client
import os
import socket
import subprocess
import sys
import time
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


def gunicorn(env, port, workers):
    """gunicorn serving the app on the loopback `port` in the production shape: config/gunicorn.py
    (threaded workers), as the image runs it. The process; stop it with terminate()."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "config/gunicorn.py",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def free_port():
    """A loopback TCP port nobody listens on, for the server a benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, url, body=None, headers=None, timeout=30):
    """One request on a new connection to the app on `port`; its status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def get(port, url, headers=None):
    """GET `url` on a new connection; its status code."""
    return request(port, "GET", url, headers=headers, timeout=10)


def wait_until_up(port, process, seconds=30):
    """Wait until the server `process` started answers /healthz on `port`; exit if it dies."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited early")
        try:
            if get(port, "/healthz") == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer /healthz in time")
