"""A gunicorn worker that stops (a deploy, a restart) counts the alert deliveries it has not
sent to Redis yet, and queues their routing, instead of leaving them to the sweep
(config/gunicorn.py's worker_exit hook, incidents.alerts.services.flush_counts)."""

import http.client
import json
import secrets
import subprocess
import sys
import time

import redis

from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.private_redis import PrivateRedis
from tests.test_deploy import ENTRYPOINT, ROOT, clean_env, free_port, healthcheck

SOURCE = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from incidents.alerts import services
user = get_user_model().objects.create_user("cmdr")
user.groups.add(Group.objects.get_or_create(name="commander")[0])
source, secret, _key = services.create_source(user, name="Prometheus", kind="alertmanager")
print(source.pk, secret)
"""


def counted(server):
    client = redis.Redis.from_url(server.url())
    try:
        return sum(int(client.get(key)) for key in client.keys("*alerts:source:*"))
    finally:
        client.close()


def test_a_stopping_worker_counts_what_it_has_not_counted_yet(tmp_path):
    cache = PrivateRedis()
    cache.start()
    port = str(free_port())
    (tmp_path / "var").mkdir()
    env = clean_env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=None,  # SQLite under tmp_path
        CACHE_URL=cache.url(),
        CELERY_BROKER_URL="memory://",
        PORT=port,
        WEB_CONCURRENCY="1",
        SECURE_HTTPS="False",
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path / "static"),
        WARROOM_ALERT_COUNT_MS="600000",  # nothing but the stop sends the later counts
    )
    server = None
    try:
        for command in (["manage.py", "collectstatic", "--noinput", "-v", "0"], [str(ENTRYPOINT), "migrate"]):
            runner = [sys.executable] if command[0] == "manage.py" else ["sh"]
            done = subprocess.run(runner + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
        made = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SOURCE], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr
        source_id, secret = made.stdout.split()[-2:]
        log = tmp_path / "web.log"
        with log.open("w") as out:
            server = subprocess.Popen(["sh", str(ENTRYPOINT), "web"], cwd=ROOT, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while healthcheck({"PATH": env["PATH"], "PORT": port, "ALLOWED_HOSTS": "127.0.0.1"}).returncode != 0:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        for n in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            body = json.dumps(alertmanager_payload(am_alert(fingerprint=f"f{n}")))
            conn.request(
                "POST",
                f"/api/v1/alerts/{source_id}/",
                body=body,
                headers={"Host": "127.0.0.1", "Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            )
            assert conn.getresponse().status == 202
            conn.close()
        assert counted(cache) == 1  # the first at once; the others wait for the interval
        server.terminate()
        server.wait(timeout=30)
        assert counted(cache) == 3, log.read_text()
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        cache.stop()
