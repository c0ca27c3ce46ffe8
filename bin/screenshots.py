"""Take the docs' screenshots from the demo: the war-room page, the public status page and a
post-incident review.

    .venv/bin/python bin/screenshots.py        # writes docs/img/war-room.png, status-page.png, review.png

Needs Debian's chromium. Uses a throwaway var/ directory, so your own data is untouched.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = "8765"


def main():
    var = Path(tempfile.mkdtemp(prefix="warroom-shots-"))
    env = {**os.environ, "DEBUG": "True", "WARROOM_VAR_DIR": str(var), "CELERY_BROKER_URL": "filesystem://"}
    env.pop("DATABASE_URL", None)

    def manage(*args):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)

    manage("migrate", "-v", "0")
    manage("createcachetable")
    manage("load_demo")
    manage("import_runbooks", "--new-only", "runbooks/library")
    manage("ensure_admin", "--password-file", str(var / "pw"))
    password = (var / "pw").read_text().strip()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        shoot(password)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(var, ignore_errors=True)


def shoot(password):
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1360, "height": 900}, base_url=f"http://127.0.0.1:{PORT}")
        page.goto("/login/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.locator("main form").locator("button[type=submit]").click()
        page.wait_for_url("**/incidents/")
        page.click("text=Sign-up codes not arriving")
        page.wait_for_selector("#runbooks-panel")
        page.get_by_role("button", name="Attach Bot sign-ups", exact=False).first.click()
        page.wait_for_timeout(1500)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(out / "war-room.png"))
        page.goto("/status/")
        page.screenshot(path=str(out / "status-page.png"), full_page=False)
        page.goto("/incidents/")
        page.click("text=Chat and sign-up failing under traffic flood")
        page.locator("main a[href$='/review/']").first.click()
        page.wait_for_url("**/review/")
        page.screenshot(path=str(out / "review.png"), full_page=False)
        browser.close()
    print(f"Screenshots written to {out}")


if __name__ == "__main__":
    main()
