"""The XSS corpus in Chromium: every payload of tests/xss_corpus.py, written through the API and
the HTML forms into every user-text field (tests/xss_corpus.py TEXT_FIELDS), then every page and
e-mail that shows them loaded with and without the Content-Security-Policy. Nothing may run: no
`window.__xss`, no dialog, no request to an `xss-probe` URL, no surviving event handler, htmx
attribute or `javascript:`/`data:`/`vbscript:` link, no evaluated template (50337).

Payloads are batched: a Markdown or long text field gets all of them in one text; a field with a
length limit gets them packed into a few texts, one per record (incidents, services, mitigations,
steps...), so the whole corpus is a few dozen page loads.
"""

import json
from datetime import timedelta
from xml.etree import ElementTree

import markdown
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError
from rest_framework.test import APIClient

from config.celery import app as celery_app
from incidents.alerts.models import Alert
from incidents.alerts.services import process_delivery as process_alerts
from incidents.models import Communication, CommunicationTemplate, Incident, Service
from incidents.reminders import sweep as reminder_sweep
from runbooks.models import StepRun
from statuspage import services as statuspage_services
from statuspage.models import Maintenance, PublicComponent, PublicIncident, Subscriber
from tests.conftest import make_user
from tests.xss_corpus import EVALUATED, PARSER_SPECIFIC, PAYLOADS, TEMPLATE_SYNTAX, TEXT_FIELDS, long_text, short_texts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = long_text()
LANGUAGES = [
    "de",
    "fr",
    "es",
    "it",
    "nl",
    "pt",
    "pt-br",
    "ja",
    "ko",
    "zh-hans",
    "zh-hant",
    "ru",
    "pl",
    "sv",
    "da",
    "fi",
    "nb",
    "cs",
    "tr",
    "ar",
    "he",
    "el",
    "hu",
    "ro",
    "uk",
    "id",
    "vi",
    "th",
]

# Run in the page after it loaded: what survived of the payloads as live markup. Payloads all
# carry "xss"; the page's own markup never does.
SURVIVORS = r"""() => {
  const found = [];
  // Case-sensitive and specific: a random token (the CSRF one) may hold "XsS".
  const marked = (value) => /__xss|xss-probe|'xss'|-xss/.test(value || "");
  const navigates = ["href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (navigates.includes(name)) {
        let scheme = "";
        try { scheme = new URL(attr.value, location.href).protocol; } catch (e) { scheme = "bad:"; }
        const image = ["img", "source"].includes(el.tagName.toLowerCase()) && scheme === "data:";
        if (["javascript:", "data:", "vbscript:"].includes(scheme) && !image) {
          found.push(`${el.tagName.toLowerCase()}[${name}=${attr.value.slice(0, 80)}]`);
        }
      }
      if (!marked(attr.value)) continue;
      if (name.startsWith("on") || name.startsWith("hx-") || name.startsWith("data-hx-") ||
          name === "srcdoc" || name === "style" || (el.tagName === "META" && name === "content")) {
        found.push(`${el.tagName.toLowerCase()}[${name}=${attr.value.slice(0, 80)}]`);
      }
    }
    const tag = el.tagName.toLowerCase();
    const data = tag === "script" && /json/.test(el.type);
    if (["script", "iframe", "object", "embed", "base", "link", "style", "frame"].includes(tag) && !data &&
        marked(el.outerHTML)) {
      found.push(el.outerHTML.slice(0, 120));
    }
  }
  if (document.body && document.body.innerText.includes("__EVALUATED__")) found.push("a template evaluated user text");
  return found;
}""".replace("__EVALUATED__", EVALUATED)


class Writer:
    """The public interfaces as a signed-in person uses them: the API (JSON) and the HTML forms."""

    def __init__(self, user):
        self.user = user
        self.api = APIClient()
        self.api.force_login(user)
        self.html = Client()
        self.html.force_login(user)

    def call(self, method, path, data=None, expect=(200, 201, 202)):
        response = getattr(self.api, method)(f"/api/v1/{path}", data, format="json")
        assert response.status_code in expect, (method, path, response.status_code, response.content[:500])
        return response.json() if response.content else None

    def post(self, method, path, data=None):
        return self.call("post", path, data)

    def form(self, path, data):
        response = self.html.post(path, data)
        assert response.status_code in (200, 302), (path, response.status_code)
        assert response.status_code == 302, (path, response.content.decode()[:2000])
        return response


def seed():
    """Write the corpus into every field of TEXT_FIELDS; return the pages and e-mails to load."""
    people = get_user_model()
    ana = make_user(people, "ana", "commander", "comms", "security", "responder")
    kim = make_user(people, "kim", "comms")
    ana.is_staff = True
    ana.save(update_fields=["is_staff"])
    root = people.objects.create_superuser("root", "root@example.com", "pw-root")
    w, approver, admin = Writer(ana), Writer(kim), Writer(root)

    # Services: the catalog, public, shown on the status page.
    for i, name in enumerate(short_texts(120)):
        w.post(
            "post",
            "services/",
            {
                "name": name,
                "names": {"zh-hans": name},
                "slug": f"svc-{i}",
                "group": name,
                "description": TEXT if i == 0 else name,
                "public": True,
            },
        )
    # Incidents: one carries everything long; the others carry the rest of the titles.
    titles = short_texts(200)
    main = w.post(
        "post",
        "incidents/",
        {"title": titles[0], "summary": TEXT, "severity": 1, "kind": "availability", "services": ["svc-0", "svc-1"]},
    )
    pk = main["id"]
    # Their public titles (the status page's names for them) carry the titles too, in German as well.
    others = [
        w.post(
            "post",
            "incidents/",
            {"title": t, "summary": t, "severity": 2, "public_title": t, "public_titles": {"de": t}},
        )["id"]
        for t in titles[1:]
    ]
    entry = w.post("post", f"incidents/{pk}/timeline/", {"body": "first text " + titles[1]})
    w.call("put", f"incidents/{pk}/timeline/{entry['id']}/", {"body": TEXT})  # the first text is a revision
    w.post("post", f"incidents/{pk}/timeline/", {"body": TEXT})
    w.post(
        "post",
        f"incidents/{pk}/impacts/",
        {"service": "svc-1", "level": "partial_outage", "regions": short_texts(100)[:10]},
    )
    # Communication templates, and a status-page update with translations, published.
    names = short_texts(120)
    for i, name in enumerate(names):
        w.post(
            "post",
            "communication-templates/",
            {"name": name, "audience": "status_page", "body": TEXT if i == 0 else name},
        )
    comm = w.post(
        "post",
        f"incidents/{pk}/communications/",
        {
            "audience": "status_page",
            "title": titles[0],
            "body": TEXT,
            "public_title": titles[0],  # the main incident's public title once published
            "public_status": "identified",
            "affected": [{"service": "svc-0", "level": "major_outage"}],
        },
    )
    for i, (language, title) in enumerate(zip(LANGUAGES, titles, strict=False)):
        w.post(
            "post",
            f"incidents/{pk}/communications/{comm['id']}/translations/",
            {"language": language, "title": title, "body": TEXT if i < 2 else title},
        )
    drafts = [
        w.post(
            "post",
            f"incidents/{pk}/communications/",
            {"audience": "customers", "title": t, "body": TEXT if i == 0 else t},
        )
        for i, t in enumerate(titles)
    ]
    # Subscribers hear of the update by e-mail.
    Subscriber.objects.create(
        kind=Subscriber.Kind.EMAIL,
        email="reader@example.com",
        confirmed_at=timezone.now(),
        all_components=True,
        language="en",
    )
    Subscriber.objects.create(
        kind=Subscriber.Kind.EMAIL,
        email="leser@example.com",
        confirmed_at=timezone.now(),
        all_components=True,
        language="de",
    )
    w.post("post", f"incidents/{pk}/communications/{comm['id']}/submit/")
    version = Communication.objects.get(pk=comm["id"]).content_version
    approver.post("post", f"incidents/{pk}/communications/{comm['id']}/approve/", {"version": version})
    w.post("post", f"incidents/{pk}/communications/{comm['id']}/publish/")  # the task runs here (eager)
    # Recipient lists named with the payloads, members with them as names, and a customer message
    # to them, published: its deliveries keep the names (the comms page, the audit trail, e-mail).
    lists = [w.post("post", "recipient-lists/", {"name": name, "audience": "customers"}) for name in short_texts(120)]
    for i, name in enumerate(short_texts(200)):
        w.post(
            "post",
            f"recipient-lists/{lists[i % len(lists)]['id']}/members/",
            {"kind": "email", "email": f"customer{i}@example.com", "name": name},
        )
    to_customers = w.post(
        "post",
        f"incidents/{pk}/communications/",
        {"audience": "customers", "title": titles[0], "body": TEXT, "recipient_lists": [x["id"] for x in lists]},
    )
    w.post("post", f"incidents/{pk}/communications/{to_customers['id']}/submit/")
    version = Communication.objects.get(pk=to_customers["id"]).content_version
    approver.post("post", f"incidents/{pk}/communications/{to_customers['id']}/approve/", {"version": version})
    w.post("post", f"incidents/{pk}/communications/{to_customers['id']}/publish/")
    # Mitigations, public, with their explanation on the status page.
    now = timezone.now()
    mitigations = [
        w.post(
            "post",
            f"incidents/{pk}/mitigations/",
            {
                "title": t,
                "description": TEXT if i == 0 else t,
                "affects": t,
                "started_at": now.isoformat(),
                "review_by": (now + timedelta(hours=4)).isoformat(),
                "public": True,
                "public_explanation": TEXT if i == 0 else t,
                # Shown by /status/?lang=de below and on the security page.
                "public_explanations": {"de": TEXT if i == 0 else t},
            },
        )["id"]
        for i, t in enumerate(titles)
    ]
    # Regulatory: obligations with the payloads in their texts and stage names, a clock, a submission.
    keys = []
    stage_names = short_texts(60)
    for i, t in enumerate(titles):
        stages = [{"name": name, "amount": 72, "unit": "hours"} for name in stage_names[i :: len(titles)]]
        admin.post(
            "post",
            "obligations/",
            {
                "key": f"obl-{i}",
                "regime": t,
                "recipient": t,
                "clock_starts": t,
                "stages": stages,
                "notes": TEXT if i == 0 else t,
                "active": True,
            },
        )
        keys.append((f"obl-{i}", stages[0]["name"]))
    clocks = [
        w.post("post", f"incidents/{pk}/clocks/", {"obligation": key, "started_at": now.isoformat()})["id"]
        for key, _ in keys
    ]
    for clock, (_, stage), t in zip(clocks[: len(clocks) // 2], keys, titles, strict=False):
        w.post("post", f"incidents/{pk}/clocks/{clock}/submit/", {"stage": stage, "reference": t, "notes": t})
    reasons = short_texts(1000)
    for clock, reason in zip(clocks[len(clocks) // 2 :], reasons * 3, strict=False):
        w.post("post", f"incidents/{pk}/clocks/{clock}/not-required/", {"reason": reason})
    # A runbook whose steps carry the titles, attached, its steps noted and blocked.
    w.post(
        "post",
        "runbooks/",
        {
            "slug": "corpus",
            "title": titles[0],
            "summary": TEXT,
            "tags": short_texts(50)[:20],
            "steps": [{"title": t, "body": TEXT if i == 0 else t} for i, t in enumerate(titles)],
        },
    )
    w.call(
        "put",
        "runbooks/corpus/",
        {
            "slug": "corpus",
            "title": titles[1],
            "summary": TEXT + "\n\nv2",
            "steps": [{"title": t, "body": (TEXT if i == 0 else t) + "\n\nv2"} for i, t in enumerate(titles)],
        },
    )
    w.post("post", f"incidents/{pk}/runbook-runs/", {"runbook": "corpus"})
    w.post("post", f"incidents/{others[0]}/runbook-runs/", {"runbook": "corpus"})  # stays open: "My steps"
    steps = list(StepRun.objects.order_by("pk").values_list("pk", flat=True))
    for n, step in enumerate(steps):
        text = TEXT if n < 2 else titles[n % len(titles)]
        change = {"note": text, "assignee": "ana"} if n % 2 else {"status": "blocked", "reason": text}
        w.call("patch", f"step-runs/{step}/", change)
    # A snooze with a reason (HTML form), and the reminder sweep's inbox entries.
    for reason in reasons:
        w.form(f"/incidents/{pk}/reminders/snooze/", {"key": "update", "minutes": "15", "reason": reason})
    # The reminder sweep, past the mitigations' review time: inbox entries naming them.
    reminder_sweep.sweep(now=timezone.now() + timedelta(hours=5))
    # Resolved, reviewed, with follow-ups.
    w.call("patch", f"incidents/{pk}/", {"status": "resolved", "reason": TEXT})
    w.post("post", f"incidents/{pk}/review/", {"owner": "ana"})
    review = w.call("get", f"incidents/{pk}/review/")
    w.call("patch", f"incidents/{pk}/review/", {"version": review["version"], "body": TEXT})
    items = [
        w.post(
            "post",
            f"incidents/{pk}/action-items/",
            {
                "title": t,
                "description": TEXT if i == 0 else t,
                "owner": "ana",
                "tracker_url": 'https://example.com/"onmouseover="__xss=1',
            },
        )["id"]
        for i, t in enumerate(titles)
    ]
    # Scheduled maintenance (staff form on the status page).
    for i, t in enumerate(titles):
        start = timezone.localtime(now + timedelta(days=1))
        w.form(
            "/status/manage/maintenance/new/",
            {
                "title": t,
                "body": TEXT if i == 0 else t,
                "scheduled_for": start.strftime("%Y-%m-%d %H:%M"),
                "scheduled_until": (start + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
                "verify_minutes": "0",
            },
        )

    # Status pages named with the payloads (through the services the admin calls), each showing
    # the first service's group, with access links labelled with them (the admin lists them).
    for i, t in enumerate(short_texts(200)):
        page = statuspage_services.save_page(root, name=t, slug=f"xss-{i}", groups=[short_texts(120)[0]])
        statuspage_services.create_access_link(root, page, label=t)

    # Alerts: a source and a rule named with the payloads, alerts carrying them in every field;
    # no rule matches, so they wait in triage, and one is attached to an open incident.
    source = w.post("post", "alert-sources/", {"name": short_texts(120)[0], "kind": "generic"})
    for name in short_texts(120):
        w.post("post", f"alert-sources/{source['id']}/rules/", {"name": name, "matchers": [f"never={name[:400]}"]})
    ingest = APIClient()
    for n, title in enumerate(short_texts(300)):
        values = short_texts(2000)
        delivery = ingest.post(
            f"/api/v1/alerts/{source['id']}/",
            {
                "dedup_key": f"{n}-{title[:150]}",
                "title": title,
                "labels": {f"k{i}-{t[:90]}": t for i, t in enumerate(short_texts(100))} | {"all": values[0]},
                "annotations": {f"a{i}": t for i, t in enumerate(values)},
                "url": "https://example.com/" + title[:200],
            },
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {source['secret']}",
        )
        assert delivery.status_code == 202, delivery.content
        process_alerts(delivery.json()["delivery"])
    first_alert = Alert.objects.order_by("pk").first().pk
    w.post("post", f"alerts/triage/{first_alert}/attach/", {"incident": others[0]})
    # API tokens named with the payloads (tokens page, audit log), and failed sign-ins with them as
    # usernames (the audit log), from an address of their own so the throttle spares ana's.
    for name in short_texts(100):
        w.post("post", "tokens/", {"name": name, "scope": "read"})
    guesser = Client(REMOTE_ADDR="192.0.2.66")
    for username in short_texts(150):
        guesser.post("/login/", {"username": username, "password": "a wrong guess"})

    maintenance = Maintenance.objects.order_by("pk").first()
    public_incident = PublicIncident.objects.get(incident__key=pk)
    component = PublicComponent.objects.order_by("pk").first()
    staff = [
        "/incidents/",
        f"/incidents/{pk}/",
        f"/incidents/{others[0]}/",
        f"/incidents/{pk}/edit/",
        f"/incidents/{pk}/timeline/{entry['id']}/edit/",
        f"/incidents/{pk}/comms/",
        f"/incidents/{pk}/comms/{comm['id']}/",
        f"/incidents/{pk}/comms/{drafts[0]['id']}/",
        f"/incidents/{pk}/comms/{drafts[0]['id']}/edit/",
        f"/incidents/{pk}/comms/{to_customers['id']}/",
        "/comms/recipients/",
        f"/comms/recipients/{lists[0]['id']}/",
        "/comms/templates/",
        f"/comms/templates/{CommunicationTemplate.objects.filter(name__contains='xss').first().pk}/",
        f"/incidents/{pk}/security/",
        f"/incidents/{pk}/security/mitigations/{mitigations[0]}/",
        "/mitigations/",
        f"/incidents/{pk}/security/audit/",
        f"/incidents/{pk}/review/",
        f"/incidents/{pk}/review/items/{items[0]}/",
        "/follow-ups/",
        "/reviews/",
        "/services/",
        "/services/svc-0/",
        "/services/svc-1/",
        "/runbooks/",
        "/runbooks/corpus/",
        "/runbooks/corpus/v1/",
        "/runbooks/corpus/edit/",
        "/runbooks/corpus/diff/?a=1&b=2",
        "/runbooks/my-steps/",
        "/inbox/",
        "/status/manage/maintenance/",
        f"/status/manage/maintenance/{maintenance.pk}/",
        "/status/manage/deliveries/",
        "/alerts/",
        "/alerts/triage/",
        "/alerts/sources/",
        f"/alerts/sources/{source['id']}/",
        f"/incidents/{others[0]}/alerts/",
        "/account/tokens/",
        "/audit/?action=signin_failed",
        "/audit/?action=token_created",
    ]
    public = [
        "/status/",
        "/status/?lang=de",
        "/status/history/",
        f"/status/incidents/{public_incident.public_id}/",
        f"/status/incidents/{public_incident.public_id}/?lang=zh-hans",
        f"/status/maintenance/{maintenance.public_id}/",
        "/status/p/xss-0/",
        "/status/p/xss-1/history/",
        "/status/p/xss-0/subscribe/",
    ]
    feeds = ["/status/feed.atom", f"/status/components/{component.public_id}/feed.atom", "/status/p/xss-0/feed.atom"]
    emails = [body for m in mail.outbox for body, kind in getattr(m, "alternatives", []) if kind == "text/html"]
    assert Incident.objects.count() == len(titles) and Service.objects.count() == len(short_texts(120))
    return staff, public, feeds, emails


@pytest.fixture
def eager_tasks():
    """Publishing, fan-out and e-mail run in this process as the API enqueues them."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _blank(context):
    """A page that records dialogs and requests for `xss-probe` URLs in `page.ran`."""
    page = context.new_page()
    page.ran = []
    page.on("dialog", lambda dialog: (page.ran.append(f"dialog {dialog.message}"), dialog.dismiss()))
    page.on(
        "request", lambda request: page.ran.append(f"request {request.url}") if "xss-probe" in request.url else None
    )
    return page


def _open(browser, live_server, bypass_csp, signed_in):
    context = browser.new_context(base_url=live_server.url, bypass_csp=bypass_csp)
    context.set_default_timeout(10_000)
    page = _blank(context)
    if signed_in:
        page.goto("/login/")
        page.fill("input[name=username]", "ana")
        page.fill("input[name=password]", "pw-ana")
        page.locator("main form").locator("button[type=submit]").click()
        page.wait_for_url("**/incidents/")
    return context, page


def _check(page, where, settle=50):
    """What ran or survived on the page now loaded."""
    page.wait_for_timeout(settle)  # htmx processes `load` triggers right after the page's scripts
    found = [*page.ran, *page.evaluate(SURVIVORS)]
    if page.evaluate("typeof window.__xss") != "undefined":
        found.append("window.__xss was set")
        page.evaluate("delete window.__xss")  # set_content keeps the window: the next text starts clean
    page.ran.clear()
    return [f"{where}: {item}" for item in found]


def _stored_everywhere():
    """Every field of TEXT_FIELDS holds payloads now: a field listed there is really written."""
    missing = []
    for name in TEXT_FIELDS:
        app_label, model_name, field = name.split(".")
        model = apps.get_model(app_label, model_name)
        values = model.objects.values_list(field, flat=True)
        if not any("xss" in json.dumps(value) for value in values):
            missing.append(name)
    return missing


def test_no_payload_runs_on_any_page_or_email_with_or_without_the_csp(browser, live_server, eager_tasks):
    staff, public, feeds, emails = seed()
    assert _stored_everywhere() == []
    assert len(emails) >= 2, "the subscribers' update e-mails"
    found = []
    for bypass_csp in (False, True):
        found += [
            f"{'CSP bypassed' if bypass_csp else 'CSP on'}: {item}"
            for item in _visit(browser, live_server, bypass_csp, staff, public, feeds, emails)
        ]
    assert not found, json.dumps(found, indent=1)


def _visit(browser, live_server, bypass_csp, staff, public, feeds, emails):
    found = []

    context, page = _open(browser, live_server, bypass_csp, signed_in=True)
    for path in staff:
        response = page.goto(path)
        assert response.status == 200, (path, response.status)
        assert "xss" in page.content(), f"{path} shows none of the payloads"
        found += _check(page, path)
    for n, html in enumerate(emails):
        page.set_content(html)
        found += _check(page, f"e-mail {n}")
    context.close()

    context, page = _open(browser, live_server, bypass_csp, signed_in=False)
    for path in public:
        response = page.goto(path)
        assert response.status == 200, (path, response.status)
        assert "xss" in page.content(), f"{path} shows none of the payloads"
        found += _check(page, path)
    for path in feeds:
        response = page.request.get(path)
        assert response.status == 200
        feed = ElementTree.fromstring(response.body())  # well-formed XML
        assert not [e.tag for e in feed.iter() if "xss" in e.tag.lower()], f"{path}: markup outside the texts"
        # A reader renders the HTML texts: render them as it would.
        for n, element in enumerate(e for e in feed.iter() if e.get("type") in ("html", "xhtml")):
            page.set_content(element.text or ElementTree.tostring(element, encoding="unicode"))
            found += _check(page, f"{path} html text {n}")
    context.close()
    return found


def test_the_checks_catch_every_payload_left_unsanitised(browser):
    """The other side of the corpus: on a page that does not escape or sanitise (the text as
    HTML, its Markdown rendered raw, the text in double- and single-quoted attributes), every
    payload but the template syntax and those aimed at other parsers runs or survives as live
    markup, and the checks above say so."""
    context = page = None
    missed = []
    for payload in [p for p in PAYLOADS if p not in PARSER_SPECIFIC | TEMPLATE_SYNTAX]:
        caught = []
        for unsafe in (
            payload,
            markdown.markdown(payload),
            f'<p title="{payload}">a</p>',
            f"<p title='{payload}'>b</p>",
        ):
            for attempt in (1, 2):
                if page is None or page.is_closed():
                    # A running payload can take its page or context down (an iframe's
                    # javascript: URL does in Chromium): start again with a new one.
                    if context is not None:
                        context.close()
                    context = browser.new_context()
                    context.set_default_timeout(5_000)
                    page = _blank(context)
                try:
                    page.set_content(f"<body>{unsafe}</body>", wait_until="domcontentloaded")
                    caught += _check(page, payload, settle=0)
                    break
                except PlaywrightError:
                    if attempt == 2:
                        raise
                    page = None
        if not caught:
            missed.append(payload)
    page.set_content(f"<p>{EVALUATED}</p>")
    assert _check(page, "evaluated") == ["evaluated: a template evaluated user text"]
    context.close()
    assert missed == [], json.dumps(missed, indent=1)
