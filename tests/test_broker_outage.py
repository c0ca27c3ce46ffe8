"""The broker goes down while comms publish an update: the request is not lost. Once Redis is
back, the worker's beat picks the publication up and the subscriber is notified.

Uses a private redis-server on its own port (the suite's shared Redis stays up), a "web"
process that publishes while that broker is down, and a real worker with embedded beat.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from incidents.comms import services as communications
from statuspage.models import Notification
from tests.private_redis import free_port, redis_server_binary
from tests.statuspage.page_factories import approver, author  # noqa: F401
from tests.statuspage.subscription_factories import email_subscriber
from tests.worker import BASE_DIR, database_url, wait_until, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_update_published_while_the_broker_is_down_is_delivered_when_it_returns(
    declare,
    author,  # noqa: F811
    approver,  # noqa: F811
    web_chat,
):
    binary = redis_server_binary()
    url = database_url()
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    subscriber = email_subscriber("ana@example.com")
    incident = declare(title="Chat replies time out", severity=2)
    comm = communications.draft(
        incident,
        author,
        audience="status_page",
        body="We are looking into slow replies.",
        public_status="investigating",
        affected=[{"service": "web-chat", "level": "partial_outage"}],
    )
    communications.submit(comm, author)
    communications.approve(comm, approver, comm.content_version)

    # The web process publishes while Redis is down: the request must succeed all the same.
    env = worker_env(CELERY_BROKER_URL=broker)
    web = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n"
            "from django.contrib.auth import get_user_model\n"
            "from incidents.comms import services as communications\n"
            "from incidents.models import Communication\n"
            f"c = Communication.objects.get(pk={comm.pk})\n"
            f"communications.request_publish(c, get_user_model().objects.get(pk={author.pk}))\n",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert web.returncode == 0, web.stderr[-3000:]
    comm.refresh_from_db()
    assert comm.status == "scheduled"  # the durable intent, waiting for a worker
    assert not Notification.objects.filter(subscriber=subscriber).exists()

    # Redis comes back; a worker with its beat starts.
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    schedule = tempfile.mkdtemp(prefix="beat-")
    log = tempfile.NamedTemporaryFile(prefix="celery-outage-", suffix=".log", delete=False)  # noqa: SIM115
    worker = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config.celery",
                "worker",
                "--beat",
                "--schedule",
                os.path.join(schedule, "beat"),
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],  # fmt: skip
            cwd=BASE_DIR,
            env={**env, "DATABASE_URL": url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        class Log:
            def output(self):
                with open(log.name, errors="replace") as fh:
                    return fh.read()[-4000:]

        wait_until(
            lambda: Notification.objects.filter(subscriber=subscriber, status="sent").exists(),
            timeout=90,
            worker=Log(),
            message="the notification after the broker came back",
        )
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        redis.terminate()
        redis.wait(10)
        log.close()
        shutil.rmtree(schedule, ignore_errors=True)
    comm.refresh_from_db()
    assert comm.status == "published"
    assert Notification.objects.filter(subscriber=subscriber).count() == 1
