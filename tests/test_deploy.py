"""Deployment: the settings refuse unsafe production configurations, `check --deploy` is clean
under production settings, and the Dockerfile, docker-compose.yml, the container entry point
and docs/deploy.md agree with one another.

Settings are loaded in a fresh interpreter for each case, with an environment built from
scratch, so nothing this test run set up (tests/settings.py) leaks into what is checked.
"""

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "deploy.md"
ENTRYPOINT = ROOT / "bin" / "docker-entrypoint.sh"
HEALTHCHECK = ROOT / "bin" / "healthcheck.py"
APP_SERVICES = ("web", "worker", "beat")


def clean_env(tmp_path, **overrides):
    """A production-like environment: only what is given, plus DATABASE_URL when the run has one."""
    env = {
        # The interpreter running the tests first, so the entry point's `python` is this one.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "WARROOM_VAR_DIR": str(tmp_path / "var"),
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def production_env(tmp_path, **overrides):
    return clean_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="warroom.example.com", **overrides)


def manage(env, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


# Settings


@pytest.mark.parametrize("secret_key", [None, ""], ids=["unset", "empty"])
def test_settings_refuse_to_start_without_secret_key_when_debug_is_off(tmp_path, secret_key):
    result = manage(clean_env(tmp_path, SECRET_KEY=secret_key, ALLOWED_HOSTS="warroom.example.com"), "check")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        "changeme",
        "build-only",
        "django-insecure-" + "k3y" * 20,
        "ab" * 40,
        "ChangeMe-" * 8,
    ],
    ids=["placeholder", "short", "django-default", "few-characters", "placeholder-repeated"],
)
def test_settings_refuse_to_start_with_a_weak_secret_key_when_debug_is_off(tmp_path, secret_key):
    result = manage(clean_env(tmp_path, SECRET_KEY=secret_key, ALLOWED_HOSTS="warroom.example.com"), "check")

    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_weak_secret_key_is_tolerated_for_local_development(tmp_path):
    result = manage(clean_env(tmp_path, SECRET_KEY="changeme", DEBUG="True"), "check")

    assert result.returncode == 0, result.stderr


def test_makemigrations_check_runs_without_a_secret_key(tmp_path):
    """CI and pre-commit hooks check for missing migrations with no secrets at hand; the key
    it gets is a throwaway one, and nothing else may start without a key (above)."""
    result = manage(clean_env(tmp_path, SECRET_KEY=None), "makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(secrets.token_urlsafe(50) + "\n")

    result = manage(clean_env(tmp_path, SECRET_KEY_FILE=str(key_file)), "check")

    assert result.returncode == 0, result.stderr


def test_unreadable_secret_key_file_is_refused_with_its_name(tmp_path):
    missing = tmp_path / "no-such-file"

    result = manage(clean_env(tmp_path, SECRET_KEY_FILE=str(missing)), "check")

    assert result.returncode != 0
    assert f"SECRET_KEY_FILE={missing} cannot be read" in result.stderr


@pytest.mark.parametrize("value", ["yes", "1", "true"])
def test_debug_other_than_true_or_false_is_refused(tmp_path, value):
    result = manage(production_env(tmp_path, DEBUG=value), "check")

    assert result.returncode != 0
    assert f'DEBUG must be "True" or "False", not {value!r}' in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    # DEBUG and SECURE_HTTPS unset: the production defaults.
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_collectstatic_works_with_the_production_storage(tmp_path):
    # What the Dockerfile runs at build time: throwaway key, DEBUG off, manifest storage.
    env = clean_env(tmp_path, SECRET_KEY="build-only", DEBUG="False", STATIC_ROOT=str(tmp_path / "static"))

    result = manage(env, "collectstatic", "--noinput", "-v", "0", timeout=120)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()


# docs/deploy.md


def environment_variables_read_by_settings():
    names = set()
    for path in (ROOT / "config").glob("*.py"):
        names.update(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"', path.read_text()))
    return names


def documented_variables():
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", DOCS.read_text(), flags=re.MULTILINE))


def test_every_environment_variable_the_settings_read_is_documented():
    read = environment_variables_read_by_settings()
    assert {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL", "SITE_URL"} <= read

    assert read - documented_variables() == set()


def test_every_variable_compose_sets_for_warroom_is_documented():
    compose = load_compose()
    set_by_compose = set()
    for name in ("migrate", *APP_SERVICES):
        # NAME_FILE is the documented file form of NAME.
        set_by_compose.update(re.sub(r"_FILE$", "", var) for var in compose["services"][name].get("environment", {}))

    assert set_by_compose - documented_variables() == set()


# Dockerfile, docker-compose.yml and the entry point


def dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in text.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def load_compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def entrypoint_roles():
    return set(re.findall(r"^    ([a-z]+)\)$", ENTRYPOINT.read_text(), flags=re.MULTILINE))


def test_dockerfile_builds_a_slim_non_root_image_with_a_healthcheck():
    instructions = dockerfile_instructions()
    values = {}
    for instruction, arguments in instructions:
        values.setdefault(instruction, []).append(arguments)

    assert re.fullmatch(r"python:3\.1[1-9]-slim", values["FROM"][0])
    user = values["USER"][-1].split(":")[0]
    assert user not in ("root", "0")
    assert "bin/healthcheck.py" in values["HEALTHCHECK"][0]
    assert HEALTHCHECK.exists()
    assert "8000" in values["EXPOSE"][0]

    runs = " ".join(values["RUN"])
    assert "pip install -r requirements.txt" in runs
    assert "requirements-dev" not in runs
    assert "collectstatic --noinput" in runs
    assert not any("SECRET_KEY" in env for env in values.get("ENV", [])), "no key may be baked into the image"

    assert "bin/docker-entrypoint.sh" in values["ENTRYPOINT"][0]
    assert ENTRYPOINT.exists()
    assert yaml.safe_load(values["CMD"][0])[0] in entrypoint_roles()


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", "var", ".env", ".pytest_cache"} <= ignored


def test_compose_runs_postgres_redis_web_worker_and_beat():
    compose = load_compose()
    services = compose["services"]

    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])


def test_compose_app_services_share_the_image_and_wait_for_their_dependencies():
    services = load_compose()["services"]
    roles = entrypoint_roles()

    for name in ("migrate", *APP_SERVICES):
        service = services[name]
        assert service["build"] == "."
        assert service["image"] == services["web"]["image"]
        assert service["command"][0] in roles
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        env = service["environment"]
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
        assert env["CACHE_URL"].startswith("redis://redis:6379/")
        assert "SECRET_KEY" not in env, "the key comes from a file, never from the compose file"
        assert env["SECRET_KEY_FILE"]
        assert env["SECURE_HTTPS"] == "${SECURE_HTTPS:-False}"
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert [services[name]["command"][0] for name in APP_SERVICES] == ["web", "worker", "beat"]
    assert any(port.endswith(":8000") for port in services["web"]["ports"])
    assert services["migrate"]["restart"] == "no"


# The container's processes, run here without Docker


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthcheck(env):
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=10)


def test_entrypoint_migrate_generates_the_secret_key_once(tmp_path):
    # SQLite in tmp_path, never the run's DATABASE_URL: this applies migrations for real.
    key_file = tmp_path / "secrets" / "secret_key"
    key_file.parent.mkdir()
    env = clean_env(tmp_path, DATABASE_URL=None, SECRET_KEY_FILE=str(key_file), WARROOM_GENERATE_SECRET_KEY="True")
    (tmp_path / "var").mkdir()

    first = subprocess.run(
        ["sh", str(ENTRYPOINT), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stdout + first.stderr
    key = key_file.read_text()
    assert len(key.strip()) >= 50
    assert key_file.stat().st_mode & 0o077 == 0

    again = subprocess.run(["sh", str(ENTRYPOINT), "true"], cwd=ROOT, env=env, capture_output=True, timeout=30)
    assert again.returncode == 0
    assert key_file.read_text() == key


def test_entrypoint_does_not_invent_a_secret_key_unless_asked(tmp_path):
    key_file = tmp_path / "secret_key"
    env = clean_env(tmp_path, SECRET_KEY_FILE=str(key_file))

    subprocess.run(["sh", str(ENTRYPOINT), "true"], cwd=ROOT, env=env, check=True, timeout=30)

    assert not key_file.exists()


def test_web_role_passes_its_healthcheck_under_production_settings(tmp_path):
    # Production defaults: HTTPS redirect on, one allowed host. The probe is plain HTTP on
    # 127.0.0.1, so it only passes if /healthz is exempt from the redirect and the probe sends
    # an allowed Host.
    port = str(free_port())
    env = production_env(tmp_path, PORT=port, STATIC_ROOT=str(tmp_path / "static"))
    (tmp_path / "var").mkdir()
    log = tmp_path / "web.log"
    with log.open("w") as out:
        server = subprocess.Popen(["sh", str(ENTRYPOINT), "web"], cwd=ROOT, env=env, stdout=out, stderr=out)
    probe_env = {"PATH": env["PATH"], "PORT": port, "ALLOWED_HOSTS": env["ALLOWED_HOSTS"]}
    try:
        deadline = time.monotonic() + 30
        while (result := healthcheck(probe_env)).returncode != 0:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.3)

        refused = healthcheck({**probe_env, "ALLOWED_HOSTS": "elsewhere.example.com"})
        assert refused.returncode == 1
        assert "answered 400" in refused.stderr
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_healthcheck_fails_when_nothing_listens():
    result = healthcheck({"PATH": os.environ.get("PATH", ""), "PORT": str(free_port())})

    assert result.returncode == 1


def production_setting(tmp_path, expression, **overrides):
    """The value of a settings expression under production settings, as Python source."""
    code = f"from django.conf import settings; print(repr({expression}))"
    result = manage(production_env(tmp_path, **overrides), "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_language_cookie_is_secure_like_the_session_cookie_in_production(tmp_path):
    expression = "(settings.LANGUAGE_COOKIE_SECURE, settings.SESSION_COOKIE_SECURE, settings.LANGUAGE_COOKIE_SAMESITE)"

    assert production_setting(tmp_path, expression) == "(True, True, 'Lax')"
    assert production_setting(tmp_path, expression, SECURE_HTTPS="False") == "(False, False, 'Lax')"


def test_idle_connections_do_not_hold_up_the_status_page(tmp_path):
    """Browsers open sockets speculatively (pre-connect) and may send nothing on them for many
    seconds. The web role as the image runs it, with few workers, must still answer the next
    visitor of the status page at once, not after the idle sockets time out."""
    port = str(free_port())
    (tmp_path / "var").mkdir()
    # SQLite under tmp_path (never the run's DATABASE_URL); plain HTTP on loopback like compose.
    env = clean_env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=None,
        PORT=port,
        WEB_CONCURRENCY="1",
        SECURE_HTTPS="False",
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    # What the image does before the web role serves: collectstatic at build, migrate at start.
    for command in (["manage.py", "collectstatic", "--noinput", "-v", "0"], [str(ENTRYPOINT), "migrate"]):
        runner = [sys.executable] if command[0] == "manage.py" else ["sh"]
        prepared = subprocess.run(runner + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    log = tmp_path / "web.log"
    with log.open("w") as out:
        server = subprocess.Popen(["sh", str(ENTRYPOINT), "web"], cwd=ROOT, env=env, stdout=out, stderr=out)
    idle = []
    try:
        deadline = time.monotonic() + 30
        while healthcheck({"PATH": env["PATH"], "PORT": port, "ALLOWED_HOSTS": "127.0.0.1"}).returncode != 0:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)

        # More idle sockets than a browser opens, and more than the one worker process.
        for _ in range(6):
            idle.append(socket.create_connection(("127.0.0.1", int(port)), timeout=5))
        time.sleep(0.5)

        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        conn.request("GET", "/status/", headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        body = response.read()
        elapsed = time.monotonic() - started
        conn.close()

        assert response.status == 200, body[:500]
        assert elapsed < 3, f"/status/ took {elapsed:.1f} s behind idle connections"
        # A browser then sends its next request on a socket it opened in advance.
        reused = idle[0]
        reused.sendall(b"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = http.client.HTTPResponse(reused)
        answer.begin()
        assert answer.status == 200
    finally:
        for sock in idle:
            sock.close()
        server.terminate()
        server.wait(timeout=15)


def test_web_role_runs_threaded_gunicorn_workers_as_documented():
    from config import gunicorn as web_settings

    assert "config/gunicorn.py" in ENTRYPOINT.read_text()
    assert web_settings.worker_class == "gthread"
    assert web_settings.threads > 1
    assert "gthread" in DOCS.read_text()
    assert "config/gunicorn.py" in DOCS.read_text()


def test_a_mistyped_comms_time_zone_is_refused_with_its_value(tmp_path):
    result = manage(production_env(tmp_path, WARROOM_COMMS_TIME_ZONES="zh-hans=Asia/Beijing"), "check")

    assert result.returncode != 0
    assert "WARROOM_COMMS_TIME_ZONES: 'zh-hans=Asia/Beijing' is not language=Zone/Name" in result.stderr
