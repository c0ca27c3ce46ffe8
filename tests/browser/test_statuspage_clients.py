"""Atlassian's own status widget (npm @statuspage/status-widget) embedded in another site's page,
in Chromium, against a running Warroom: it asks the page's host root for /api/v2/summary.json
(replacing the path of its `src`), across origins, and shows what Warroom says.

The widget comes from npm (`make test` and .ci/run install it under var/statuspage-widget, never
committed); without it this test skips locally and fails in CI.
"""

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from incidents import services
from tests.statuspage.page_factories import approver, author, fresh_cache, publish  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDGET = Path(settings.BASE_DIR) / "var/statuspage-widget/node_modules/@statuspage/status-widget/dist/index.js"


@pytest.fixture
def widget_script():
    if not WIDGET.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"The status widget is not installed at {WIDGET}: `make test` installs it with npm.")
        pytest.skip(f"The status widget is not installed at {WIDGET} (make test installs it with npm).")
    return WIDGET.read_bytes()


@pytest.fixture
def other_site(tmp_path, widget_script, live_server):
    """Somebody else's web site on another origin (its own port on 127.0.0.1; the live server
    answers as localhost), embedding the widget as its README says, in both appearances."""
    status_url = f"{live_server.url}/status/"
    (tmp_path / "widget.js").write_bytes(widget_script)
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><meta charset=utf-8><title>Our product</title></head><body>\n"
        f'<statuspage-widget id="basic" src="{status_url}"></statuspage-widget>\n'
        f'<statuspage-widget id="badge" src="{status_url}" appearance="badge" title="Chat status">'
        "</statuspage-widget>\n"
        # The published bundle ends by assigning an undeclared `parcelRequire` under "use strict"
        # (an error after the element is defined, harmless); declaring it keeps the console clean
        # so that any other error fails the test.
        "<script>var parcelRequire;</script>\n"
        '<script src="/widget.js"></script></body></html>\n',
        encoding="utf-8",
    )
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def open_site(browser, url):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return context, page, asked, errors


def test_atlassian_status_widget_shows_warroom_status_from_another_site(
    browser,
    live_server,
    other_site,
    commander,
    web_chat,
    publish,  # noqa: F811 - the fixture imported above
):
    context, page, asked, errors = open_site(browser, other_site)
    basic = page.locator("#basic")
    expect(basic.locator(".status-text")).to_have_text("All Systems Operational")
    expect(basic.locator(".status-indicator")).to_have_class("status-indicator none")
    assert f"{live_server.url}/api/v2/summary.json" in asked, asked  # the host root, not /status/
    assert errors == []
    context.close()

    # A published update on a SEV1 with the only component down: the widget says so.
    incident = services.declare(commander, title="Chat is down", severity=1)
    publish(incident, "Chat does not answer.", affected={"web-chat": "major_outage"})
    context, page, asked, errors = open_site(browser, other_site)
    expect(page.locator("#basic .status-text")).to_have_text("Major System Outage")
    expect(page.locator("#basic .status-indicator")).to_have_class("status-indicator critical")
    expect(page.locator("#badge .status-text")).to_have_text("Chat status")
    expect(page.locator("#badge .status-indicator")).to_have_text("Major System Outage")
    assert page.locator("#basic a").get_attribute("href") == f"{live_server.url}/status/"
    assert errors == []
    context.close()

    # Resolved: back to green.
    publish(incident, "Chat answers again.", status="resolved", affected={"web-chat": "operational"})
    context, page, asked, errors = open_site(browser, other_site)
    expect(page.locator("#basic .status-text")).to_have_text("All Systems Operational")
    context.close()
