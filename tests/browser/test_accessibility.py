"""axe-core in Chromium on every staff and public page of the demo data, in English and in
Chinese: no WCAG 2 A/AA violation.

The pages are found the way a person finds them: signed in, starting from the navigation, by
following every link that stays on the site (the Django admin, the API and its docs, feeds,
JSON and downloads aside). The English crawl decides the list; the Chinese context visits the
same pages. One browser context per language, signed in once.

axe-core comes from npm (`make test` and .ci/run install it under var/axe, never committed);
without it this test skips locally and fails in CI.
"""

import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import Resolver404, resolve

from incidents.models import Incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(os.environ.get("AXE_CORE_JS") or Path(settings.BASE_DIR) / "var/axe/node_modules/axe-core/axe.min.js")
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
START = ["/incidents/", "/status/"]
NOT_PAGES = ("/admin/", "/api/", "/i18n/", "/logout/", "/static/", "/healthz", "/readyz")
NOT_DOCUMENTS = (".atom", ".json", ".md", ".txt", ".csv", ".svg", ".png")
MAX_PAGES = 120
# Pages of one view share a template: two of each (e.g. the resolved and the ongoing incident)
# keep the run short.
PER_VIEW = 2


@pytest.fixture
def axe_source():
    if not AXE.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"axe-core is not installed at {AXE}: `make test` installs it with npm.")
        pytest.skip(f"axe-core is not installed at {AXE} (make test installs it with npm).")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def demo(django_user_model):
    for name in ("commander", "responder", "comms", "security", "viewer"):
        Group.objects.get_or_create(name=name)
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert Incident.objects.filter(title__startswith="[demo]").count() == 2
    # The admin sees every staff page (the service and template forms too).
    django_user_model.objects.create_superuser("a11y", "a11y@example.com", "pw-a11y")


def signed_in_context(browser, live_server, locale, timezone_id):
    # bypass_csp: axe-core is put into each page as a script the page's CSP does not allow.
    context = browser.new_context(base_url=live_server.url, locale=locale, timezone_id=timezone_id, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", "a11y")
    page.fill("input[name=password]", "pw-a11y")
    page.locator("main form").locator("button[type=submit]").click()
    page.wait_for_url("**/incidents/")
    return context, page


def is_page(path):
    return path.startswith("/") and not path.startswith(NOT_PAGES) and not path.endswith(NOT_DOCUMENTS)


def view_of(path):
    try:
        return resolve(path).view_name
    except Resolver404:
        return path


def links_on(page, base):
    found = []
    for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))"):
        url = urlsplit(urljoin(base, href))
        if url.netloc == urlsplit(base).netloc and is_page(url.path):
            found.append(url.path)
    return found


def violations_on(page, axe_source):
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary.split('\\n')[1])})))",
        WCAG_TAGS,
    )
    return result


def check(page, path, axe_source):
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    return violations_on(page, axe_source)


def test_every_demo_page_passes_axe_in_english_and_chinese(browser, live_server, demo, axe_source):
    english, page = signed_in_context(browser, live_server, "en-GB", "Europe/Berlin")
    found = {}
    queue, seen, per_view = list(START), set(START), {view_of(path): 1 for path in START}
    while queue and len(seen) <= MAX_PAGES:
        path = queue.pop(0)
        found[path] = check(page, path, axe_source)
        for link in links_on(page, page.url):
            view = view_of(link)
            if link not in seen and per_view.get(view, 0) < PER_VIEW:
                seen.add(link)
                per_view[view] = per_view.get(view, 0) + 1
                queue.append(link)
    english.close()
    paths = list(found)
    # The pages of the demo as a person reaches them: the war rooms, their comms, security and
    # review pages, the runbooks, and the public status page with an incident.
    assert len(paths) < MAX_PAGES, "the crawl did not end: a link generates new pages"
    for expected in ("/incidents/", "/services/", "/runbooks/", "/inbox/", "/status/", "/status/history/"):
        assert expected in paths
    for incident in Incident.objects.all():
        for under in ("", "comms/", "security/", "review/"):
            assert f"/incidents/{incident.key}/{under}" in paths
    assert any(p.startswith("/status/incidents/") for p in paths)

    chinese, page = signed_in_context(browser, live_server, "zh-CN", "Asia/Shanghai")
    found_zh = {path: check(page, path, axe_source) for path in paths}
    assert page.evaluate("document.documentElement.lang") in ("zh-hans", "zh-Hans")
    chinese.close()

    failures = {f"en {path}": v for path, v in found.items() if v}
    failures |= {f"zh {path}": v for path, v in found_zh.items() if v}
    report = "\n".join(
        f"{where}: {v['id']} ({v['help']})\n    " + "\n    ".join(v["nodes"][:5])
        for where, violations in failures.items()
        for v in violations
    )
    assert failures == {}, f"axe-core found WCAG 2 A/AA violations:\n{report}"


def test_the_error_pages_pass_axe_in_english_and_chinese(browser, live_server, axe_source):
    """The staff UI's and the status page's 404 (the 400, 403 and 500 share their bases)."""
    failures = {}
    for locale in ("en-GB", "zh-CN"):
        context = browser.new_context(base_url=live_server.url, locale=locale, bypass_csp=True)
        page = context.new_page()
        for path in ("/no-such-page/", "/status/p/no-such-page/"):
            response = page.goto(path)
            assert response is not None and response.status == 404, path
            page.wait_for_load_state("networkidle")
            if violations := violations_on(page, axe_source):
                failures[f"{locale} {path}"] = violations
        context.close()
    assert failures == {}, f"axe-core found WCAG 2 A/AA violations: {failures}"
