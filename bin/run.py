"""`make run`: Warroom on the embedded default, in one terminal.

Migrates the SQLite database under var/, loads the demo once, makes sure an admin and a second
comms member (kim, who approves what the admin writes) have passwords (printing both) and that
the demo's private status page has an access link (printed too), then
runs the web server and a Celery worker with embedded beat on the filesystem broker. Ctrl-C
stops all of it; running it again keeps the data.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("WARROOM_VAR_DIR", ROOT / "var"))
PORT = os.environ.get("PORT", "8000")


def secret_key():
    path = VAR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return str(path)


def manage(*args, env):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def main():
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DEBUG", "True")
    env.setdefault("SECRET_KEY_FILE", secret_key())
    env.setdefault("SITE_URL", f"http://localhost:{PORT}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("CELERY_BROKER_URL", "filesystem://")

    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("createcachetable", env=env)
    manage("load_demo", env=env)
    manage("import_runbooks", "--new-only", str(ROOT / "runbooks" / "library"), env=env)
    manage("ensure_admin", "--password-file", str(VAR / "admin_password"), env=env)
    password = (VAR / "admin_password").read_text().strip()
    # A second comms member, so that what admin writes can be approved (the two-person rule).
    manage(
        "ensure_admin", "--username", "kim", "--group", "comms", "--password-file", str(VAR / "kim_password"), env=env
    )
    kim_password = (VAR / "kim_password").read_text().strip()
    # The demo's private status page ("Enterprise customers") and an access link to it.
    private_link = subprocess.run(
        [sys.executable, "manage.py", "load_statuspage_demo", "--token-file", str(VAR / "enterprise_access_token")],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout.strip()

    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"], cwd=ROOT, env=env
        ),
        subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config.celery", "worker", "--beat",
                "--loglevel", "INFO", "--concurrency", "2",
                "--schedule", str(VAR / "celerybeat-schedule"),
            ],
            cwd=ROOT,
            env=env,
        ),
    ]  # fmt: skip
    time.sleep(2)
    bar = "=" * 64
    print(
        f"\n{bar}\n  Warroom is running at http://localhost:{PORT}/\n"
        f"  Sign in as: admin / {password}\n"
        f"  Second comms member (approves what admin writes): kim / {kim_password}\n"
        f"  Private status page, as a customer with its access link sees it:\n    {private_link}\n"
        f"  Data lives in {VAR}; Ctrl-C stops the web server and the worker.\n{bar}\n",
        flush=True,
    )

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    print("A process stopped unexpectedly; shutting down.", file=sys.stderr)
    stop()


if __name__ == "__main__":
    main()
