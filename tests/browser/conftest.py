"""Playwright in Debian's Chromium against the live test server.

Chromium comes from the system (`apt-get install chromium`), never from a Playwright
download. Without it the browser tests skip locally; in CI (CI=true) they fail instead.
"""

import os
import shutil

import pytest

from tests.conftest import make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def cast(django_user_model):
    """The people of the comms flows: a commander, a comms author and another comms person who
    approves (each signs in with "pw-" + username)."""
    return {
        "commander": make_user(django_user_model, "maya", "commander"),
        "author": make_user(django_user_model, "sam", "comms"),
        "approver": make_user(django_user_model, "kim", "comms"),
    }


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed: .ci/run must install Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests need it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open a signed-in page for a user: `page = new_page(user, password)`."""
    contexts = []

    def _open(username, password):
        context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Berlin")
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.js_errors = errors
        page.goto("/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.locator("main form").locator("button[type=submit]").click()
        page.wait_for_url("**/incidents/")
        return page

    yield _open
    for context in contexts:
        context.close()
