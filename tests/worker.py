"""A real Celery worker for tests: `python -m celery -A config.celery worker --pool solo` in a
subprocess, on the test database and the test broker.

Use it from transactional tests (the worker is another process: it sees only committed rows):

    from tests.worker import celery_worker, wait_until  # noqa: F401

    @pytest.mark.worker
    @pytest.mark.django_db(transaction=True)
    def test_it_publishes(celery_worker): ...

Locally, without Redis or with SQLite in memory, the tests skip with the reason; in CI
(CI=true) they fail instead, so a broken setup can never pass as "skipped".
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


def _unavailable(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"A real Celery worker is required in CI: {reason}")
    pytest.skip(reason)


def database_url():
    """DATABASE_URL for the test database this process uses (pytest-django renamed it)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.postgresql":
        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "127.0.0.1"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            _unavailable(
                "the test database is SQLite in memory, which another process cannot open; "
                "set DATABASE_URL to PostgreSQL (or a file-based TEST NAME)"
            )
        return f"sqlite:///{name}"
    _unavailable(f"no worker support for {db['ENGINE']}")


def _check_broker():
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            # Stale messages from an earlier run would name rows that no longer exist.
            conn.default_channel.queue_purge("celery")
    except Exception as exc:  # kombu raises a variety of connection errors
        _unavailable(f"the broker {settings.CELERY_BROKER_URL} is not reachable: {exc}")


class Worker:
    def __init__(self, env):
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "-Q",
                "celery",
                "-n",
                self.name,
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],  # fmt: skip
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"The Celery worker did not start:\n{self.output()[-4000:]}")
            time.sleep(0.1)

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        """SIGKILL: the worker dies mid-task, as when a machine or container is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the task at hand
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


def worker_env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.worker_settings",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        WARROOM_VAR_DIR=str(settings.VAR_DIR),  # the same filesystem-broker folders, if that is the broker
        STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS="True",  # the test's receivers listen on 127.0.0.1
        STATUSPAGE_RETRY_BASE_SECONDS="1",  # retries after 1 s, 2 s ... instead of 30 s, 60 s ...
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def celery_worker(transactional_db):
    """A running worker for this test; `celery_worker.start_another()` after a kill."""
    database_url()
    _check_broker()
    started = []

    class Handle:
        def start_another(self):
            started.append(Worker(worker_env()))
            return started[-1]

        @property
        def current(self):
            return started[-1]

        def output(self):
            return "\n".join(w.output()[-3000:] for w in started)

    handle = Handle()
    handle.start_another()
    yield handle
    for worker in started:
        worker.stop()


def wait_until(condition, timeout=30, interval=0.1, worker=None, message="condition"):
    """Poll `condition()` until it is truthy; fail with the worker's log if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    log = f"\n--- worker log ---\n{worker.output()}" if worker is not None else ""
    pytest.fail(f"Timed out after {timeout} s waiting for {message}.{log}")
