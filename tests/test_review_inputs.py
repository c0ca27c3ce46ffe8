"""Bad input is a 4xx, never a 500: every HTML form that writes, the API write endpoints of
comms, security, runbooks and step runs, the query parameters pages read, and the public
subscription pages. Each request is made as a superuser (so the input reaches the parsing
and the services, not a permission check first) and with odd values: NUL bytes (refused by
PostgreSQL), huge and non-ASCII numbers, impossible dates, wrong JSON types, missing fields.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services
from incidents.comms import services as communications
from incidents.models import CommunicationTemplate, Obligation, Review
from incidents.review import services as review
from incidents.security import clocks as regulatory
from incidents.security import mitigations as security
from runbooks import services as runbook_services
from runbooks.fileformat import RunbookData, StepData
from statuspage.models import Maintenance, Subscriber
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

# What people and scripts send on the worst day: empty, NUL, huge, digits that int() refuses
# ("²" is a digit to str.isdigit), floats that are not numbers, impossible and far-off dates.
ODD_FORM_VALUES = [
    "",
    "a\x00b",
    "\x00",
    "x" * 20_000,
    "9" * 40,
    "9" * 5000,
    "-1",
    "²",
    "nan",
    "1e400",
    "2024-02-30T00:00",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "<script>alert(1)</script>",
]
ODD_JSON_VALUES = [
    None,
    True,
    2**63,
    -(2**63) - 1,
    1.5,
    "",
    "a\x00b",
    "x" * 20_000,
    "²",
    ["a", "b"],
    [None],
    {"a": 1},
    "2024-02-30T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
]


def answer(client, method, url, *args, **kwargs):
    """The status code of one request, in its own savepoint: a database error that made a
    500 would otherwise abort the test's transaction and fail every request after it."""
    savepoint = transaction.savepoint()
    status = getattr(client, method)(url, *args, **kwargs).status_code
    if status >= 500:
        transaction.savepoint_rollback(savepoint)
    else:
        transaction.savepoint_commit(savepoint)
    return status


def build_world(root, member, service, confidential=False, tag="a", key=None):
    """One incident with one of everything a form or endpoint can point at: a membership,
    a timeline note, an impact, a communication, a template, a legal clock, a mitigation, a
    runbook run with its step, a subscriber and a maintenance window. `tag` goes into the
    incident's own texts; `key` (default: `tag`) names the objects shared by all incidents
    (runbook, template, subscriber, maintenance), unique when a test builds two."""
    key = key or tag
    incident = services.declare(
        root, title=f"API errors {tag}", severity=2, services=[service], confidential=confidential
    )
    services.assign_role(incident, member, "responder", root)
    entry = services.log_entry(incident, root, f"Looking at the load balancer {tag}.")
    impact = services.add_impact(incident, root, service=service, level="partial_outage")
    comm = communications.draft(incident, root, audience="status_page", body=f"We are investigating {tag}.")
    template = CommunicationTemplate.objects.create(name=f"Initial {key}", body="We are looking at {title}.")
    services.correct_time(incident, "aware_at", timezone.now() - timedelta(hours=1), root, "mail")
    incident.refresh_from_db()
    clock = regulatory.start_clock(incident, Obligation.objects.get(key="gdpr-33"), root)
    mitigation = security.add_mitigation(incident, root, title=f"Sign-ups limited {tag}", description="Only +49.")
    slug = f"flood-{key}"
    version, _ = runbook_services.save_runbook(
        None, RunbookData(slug=slug, title=f"Flood {key}", steps=[StepData(title="Look", role="responder")])
    )
    run = runbook_services.attach(incident, version.runbook, root)
    # A review started before the incident was reopened (start_review wants it resolved), and a
    # follow-up logged during the response.
    post_review = Review.objects.create(incident=incident, body=f"What we learnt {tag}", created_by=root)
    action_item = review.add_action_item(incident, root, title=f"Filter the flood {tag}", owner=member)
    subscriber = Subscriber.objects.create(kind="email", email=f"{key}@example.com", confirmed_at=timezone.now())
    start = timezone.now() + timedelta(days=1)
    maintenance = Maintenance.objects.create(
        title=f"DB upgrade {key}", scheduled_for=start, scheduled_until=start + timedelta(hours=1)
    )
    return {
        "root": root,
        "incident": incident,
        "membership": incident.memberships.get(user=member),
        "entry": entry,
        "impact": impact,
        "comm": comm,
        "template": template,
        "clock": clock,
        "mitigation": mitigation,
        "runbook": version.runbook,
        "step_run": run.step_runs.get(),
        "subscriber": subscriber,
        "service": service,
        "maintenance": maintenance,
        "review": post_review,
        "action_item": action_item,
    }


@pytest.fixture
def world(django_user_model, web_chat):
    root = make_user(django_user_model, "root", is_superuser=True, is_staff=True)
    other = make_user(django_user_model, "other", "comms")
    return build_world(root, other, web_chat)


def html_forms(w):
    """(url, fields, base payload) of every HTML POST that writes."""
    i = f"/incidents/{w['incident'].pk}"
    c = f"{i}/comms/{w['comm'].pk}"
    s = f"{i}/security"
    comm_fields = ["audience", "template", "title", "body", "language", "public_status", f"service_{w['service'].pk}"]
    comm_base = {"audience": "status_page", "body": "b", "language": "en"}
    mitigation_fields = [
        "title",
        "description",
        "affects",
        "owner",
        "started_at",
        "review_by",
        "public",
        "public_explanation",
    ]
    item_fields = ["title", "owner", "due_on", "priority", "tracker_url", "description"]
    token = w["subscriber"].token
    maintenance_fields = ["title", "body", "services", "scheduled_for", "scheduled_until", "verify_minutes"]
    later = timezone.localtime() + timedelta(days=2)
    maintenance_base = {
        "title": "t",
        "scheduled_for": f"{later:%Y-%m-%dT%H:%M}",
        "scheduled_until": f"{later + timedelta(hours=1):%Y-%m-%dT%H:%M}",
        "verify_minutes": "15",
    }
    return [
        (
            "/incidents/declare/",
            ["title", "summary", "severity", "kind", "services", "confidential", "started_at", "commander"],
            {"title": "t", "severity": "2", "kind": "other"},
        ),
        (f"{i}/log/", ["body"], {}),
        (f"{i}/edit/", ["title", "summary", "kind", "confidential", "services"], {"title": "t", "kind": "other"}),
        (f"{i}/status/", ["status", "note"], {"status": "identified"}),
        (f"{i}/severity/", ["severity"], {}),
        (f"{i}/acknowledge/", [], {}),
        (f"{i}/roles/", ["role", "user"], {"role": "observer", "user": str(w["root"].pk)}),
        (f"{i}/roles/{w['membership'].pk}/remove/", [], {}),
        (
            f"{i}/impacts/",
            ["service", "level", "regions", "started_at"],
            {"service": str(w["service"].pk), "level": "major_outage"},
        ),
        (f"{i}/impacts/{w['impact'].pk}/end/", [], {}),
        (f"{i}/times/", ["field", "value", "reason"], {"field": "detected_at", "reason": "r"}),
        (f"{i}/timeline/{w['entry'].pk}/edit/", ["body"], {}),
        (
            "/services/new/",
            ["name", "slug", "group", "owner", "description", "public", "position"],
            {"name": "N", "slug": "n"},
        ),
        (f"{i}/comms/new/", [*comm_fields, "action"], comm_base),
        (f"{i}/comms/new/", comm_fields, {**comm_base, "action": "fill"}),
        (f"{c}/edit/", comm_fields, comm_base),
        (f"{c}/schedule/", ["scheduled_for"], {}),
        (
            f"{c}/translations/",
            ["translation-language", "translation-title", "translation-body"],
            {"translation-body": "b"},
        ),
        *[
            (f"{c}/{action}/", [], {})
            for action in ("submit", "approve", "send-back", "unschedule", "publish", "discard")
        ],
        (
            "/comms/templates/new/",
            ["name", "audience", "public_status", "language", "body"],
            {"name": "T", "body": "b", "language": "en"},
        ),
        (
            f"/comms/templates/{w['template'].pk}/",
            ["name", "audience", "public_status", "language", "body"],
            {"name": "T", "body": "b", "language": "en"},
        ),
        ("/comms/preview/", ["body", "title"], {}),
        (f"{s}/clocks/awareness/", ["value", "reason"], {"reason": "r"}),
        (f"{s}/clocks/start/", ["obligation", "started_at", "target_hours"], {"obligation": "gdpr-34"}),
        (
            f"{s}/clocks/{w['clock'].pk}/submit/",
            ["stage", "submitted_at", "reference", "communication", "notes"],
            {"stage": "Notification"},
        ),
        (f"{s}/clocks/{w['clock'].pk}/not-required/", ["reason"], {}),
        (f"{s}/clocks/{w['clock'].pk}/correct-start/", ["started_at", "reason"], {"reason": "r"}),
        (f"{s}/mitigations/", mitigation_fields, {"title": "t", "description": "d"}),
        (f"{s}/mitigations/{w['mitigation'].pk}/", mitigation_fields, {"title": "t", "description": "d"}),
        (f"{s}/mitigations/{w['mitigation'].pk}/lift/", ["note", "next"], {}),
        (
            f"{s}/exposure/",
            [
                "certainty",
                "categories",
                "people_affected",
                "records_affected",
                "confidence",
                "jurisdictions",
                "encrypted",
                "found_by",
            ],
            {"certainty": "suspected", "confidence": "low", "found_by": "internal"},
        ),
        (f"{i}/review/start/", ["owner", "meeting_at"], {}),
        (
            f"{i}/review/save/",
            ["body", "owner", "meeting_at", "version", "action"],
            {"body": "b", "version": str(w["review"].version)},
        ),
        (f"{i}/review/reopen/", ["reason"], {}),
        (f"{i}/review/items/", item_fields, {"title": "t", "priority": "low"}),
        (f"{i}/review/items/{w['action_item'].pk}/", item_fields, {"title": "t", "priority": "low"}),
        (f"{i}/review/items/{w['action_item'].pk}/status/", ["status"], {}),
        ("/runbooks/new/", ["text"], {}),
        (f"/runbooks/{w['runbook'].slug}/edit/", ["text"], {}),
        ("/runbooks/preview/", ["text"], {}),
        (f"/runbooks/incident/{w['incident'].pk}/attach/", ["runbook"], {}),
        (f"/runbooks/steps/{w['step_run'].pk}/", ["status", "note", "reason", "assignee", "unassign", "from"], {}),
        (
            "/status/subscribe/",
            ["kind", "email", "webhook_url", "scope", "components", "groups", "website"],
            {"kind": "email", "email": "b@example.com", "scope": "all"},
        ),
        (f"/status/subscribe/manage/{token}/", ["scope", "components", "groups"], {"scope": "some"}),
        (f"/status/subscribe/confirm/{token}/", [], {}),
        ("/status/manage/maintenance/new/", maintenance_fields, maintenance_base),
        (f"/status/manage/maintenance/{w['maintenance'].pk}/", maintenance_fields, maintenance_base),
        (f"/status/manage/maintenance/{w['maintenance'].pk}/cancel/", [], {}),
        ("/login/", ["username", "password"], {"username": "root", "password": "x"}),
    ]


def test_no_odd_value_in_any_html_form_makes_a_500(world, settings):
    settings.STATUSPAGE_SUBSCRIBE_RATE_LIMIT = 10**6
    settings.WARROOM_LOGIN_RATE_LIMIT = 10**6
    client = Client(raise_request_exception=False)
    client.force_login(world["root"])
    failures = []
    for url, fields, base in html_forms(world):
        for headers in ({}, {"HX-Request": "true"}):
            if answer(client, "post", url, base, headers=headers) >= 500:
                failures.append((url, "(base)", headers))
        for field in fields:
            for value in ODD_FORM_VALUES:
                if answer(client, "post", url, {**base, field: value}) >= 500:
                    failures.append((url, field, repr(value)[:20]))
            if answer(client, "post", url, {**base, field: ["1", "a\x00"]}) >= 500:
                failures.append((url, field, "list"))
    assert failures == [], "\n".join(map(repr, failures))


def api_writes(w):
    """(method, url, fields, base payload) of the API writes not covered elsewhere (the
    incident core's are in tests/incidents/test_api.py, security's in test_security.py)."""
    comms = f"/api/v1/incidents/{w['incident'].pk}/communications/"
    comm = f"{comms}{w['comm'].pk}/"
    comm_fields = ["audience", "title", "body", "language", "public_status", "affected", "template"]
    runbook_fields = [
        "text",
        "slug",
        "title",
        "summary",
        "kinds",
        "min_severity",
        "services",
        "tags",
        "owner",
        "review_by",
        "steps",
    ]
    step = {"title": "Look", "role": "responder"}
    base = f"/api/v1/incidents/{w['incident'].pk}"
    item_fields = ["title", "description", "owner", "due_on", "priority", "tracker_url", "status"]
    return [
        ("post", f"{base}/review/", ["owner", "meeting_at"], {}),
        ("patch", f"{base}/review/", ["body", "owner", "meeting_at", "version"], {"version": w["review"].version}),
        ("post", f"{base}/review/publish/", ["x"], {}),
        ("post", f"{base}/review/reopen/", ["reason"], {}),
        ("post", f"{base}/action-items/", item_fields, {"title": "t"}),
        ("patch", f"{base}/action-items/{w['action_item'].pk}/", item_fields, {}),
        ("post", comms, comm_fields, {"audience": "internal", "body": "b"}),
        ("patch", comm, comm_fields, {}),
        ("post", f"{comm}schedule/", ["scheduled_for"], {}),
        ("post", f"{comm}translations/", ["language", "title", "body"], {"language": "de", "body": "b"}),
        *[
            ("post", f"{comm}{action}/", ["x"], {})
            for action in ("submit", "approve", "send-back", "unschedule", "publish", "discard")
        ],
        (
            "post",
            "/api/v1/communication-templates/",
            ["name", "audience", "public_status", "language", "body"],
            {"name": "N", "body": "b"},
        ),
        (
            "patch",
            f"/api/v1/communication-templates/{w['template'].pk}/",
            ["name", "audience", "public_status", "language", "body"],
            {},
        ),
        ("post", "/api/v1/runbooks/", runbook_fields, {"slug": "new-one", "title": "T", "steps": [step]}),
        (
            "put",
            f"/api/v1/runbooks/{w['runbook'].slug}/",
            runbook_fields,
            {"slug": w["runbook"].slug, "title": "T", "steps": [step]},
        ),
        ("post", "/api/v1/runbooks/", ["steps"], {"slug": "other", "title": "T"}),
        ("post", f"/api/v1/incidents/{w['incident'].pk}/runbook-runs/", ["runbook"], {}),
        ("patch", f"/api/v1/step-runs/{w['step_run'].pk}/", ["status", "note", "reason", "assignee"], {}),
    ]


def test_no_odd_value_in_any_api_write_makes_a_500(world):
    client = APIClient()
    client.force_authenticate(world["root"])
    client.raise_request_exception = False
    failures = []
    for method, url, fields, base in api_writes(world):
        for field in fields:
            for value in ODD_JSON_VALUES:
                payload = {**base, field: value}
                if field == "steps":  # inside the list of steps, too
                    payload = {**base, "steps": [{"title": "Look", "role": "responder", "expected_minutes": value}]}
                if answer(client, method, url, payload, format="json") >= 500:
                    failures.append((method, url, field, repr(value)[:20]))
        for body in ("not json", "[1, 2]", '"text"', "null", '{"a": "\\u0000"}'):
            if answer(client, method, url, body, content_type="application/json") >= 500:
                failures.append((method, url, "(body)", body))
    assert failures == [], "\n".join(map(repr, failures))


def page_queries(w):
    """(url, query parameters) of pages and endpoints that read the query string."""
    i = f"/incidents/{w['incident'].pk}"
    return [
        ("/incidents/", ["q", "status", "severity", "kind", "service", "open", "page", "confidential"]),
        (f"{i}/", ["earlier"]),
        (f"{i}/live/", ["v", "after"]),
        (f"{i}/comms/new/", ["audience", "template"]),
        (f"{i}/comms/{w['comm'].pk}/", ["translation"]),
        (f"{i}/security/audit/", ["format"]),
        ("/mitigations/", ["page"]),
        ("/services/", ["page"]),
        (f"/runbooks/incident/{w['incident'].pk}/panel/", ["v", "m"]),
        (f"/runbooks/{w['runbook'].slug}/diff/", ["a", "b"]),
        ("/status/manage/maintenance/", ["page"]),
        ("/status/", ["lang"]),
        ("/status/api/v2/summary.json", ["lang"]),
        ("/api/v1/incidents/", ["q", "status", "severity", "kind", "service", "open", "page", "confidential"]),
        ("/api/v1/services/", ["q", "group", "public", "page"]),
        (f"/api/v1/incidents/{w['incident'].pk}/timeline/", ["page"]),
        (f"/api/v1/incidents/{w['incident'].pk}/communications/", ["page"]),
        (f"/api/v1/runbooks/{w['runbook'].slug}/versions/", ["number"]),
        ("/api/v1/communication-templates/", ["page"]),
        ("/follow-ups/", ["status", "mine", "overdue", "page"]),
        ("/reviews/", ["days", "page"]),
        ("/api/v1/action-items/", ["status", "priority", "owner", "overdue", "incident", "page"]),
        (f"/api/v1/incidents/{w['incident'].pk}/action-items/", ["page"]),
    ]


def test_no_odd_query_parameter_makes_a_500(world):
    client = Client(raise_request_exception=False)
    client.force_login(world["root"])
    failures = []
    for url, params in page_queries(world):
        for param in params:
            for value in ODD_FORM_VALUES:
                if answer(client, "get", url, {param: value}) >= 500:
                    failures.append((url, param, repr(value)[:20]))
    assert failures == [], "\n".join(map(repr, failures))


@pytest.mark.parametrize(
    "path",
    [
        "/status/subscribe/confirm/a%00b/",
        "/status/subscribe/manage/a%00b/",
        "/status/unsubscribe/a%00b/",
        "/status/incidents/a%00b/",
        "/status/components/a%00b/feed.atom",
        "/status/maintenance/a%00b/",
        "/services/a%00b/",
        "/runbooks/a%00b/",
        "/api/v1/obligations/a%00b/",
        "/api/v1/runbooks/a%00b/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_nul_byte_in_a_path_is_not_a_500(world, path, method):
    client = Client(raise_request_exception=False)
    client.force_login(world["root"])
    assert answer(client, method, path) < 500


# The specific holes the sweeps above found -----------------------------------------------------


@pytest.mark.parametrize("number", ["²", "٣", "9" * 5000])
def test_a_digit_that_int_refuses_is_a_400_not_a_500(world, number):
    """str.isdigit() says yes to "²" and to a 5000-digit number; int() refuses both."""
    client = APIClient()
    client.force_authenticate(world["root"])
    client.raise_request_exception = False
    impacts = f"/api/v1/incidents/{world['incident'].pk}/impacts/"
    assert client.post(impacts, {"service": number, "level": "major_outage"}, format="json").status_code == 400
    assert client.get("/api/v1/incidents/", {"q": number}).status_code == 200
    versions = f"/api/v1/runbooks/{world['runbook'].slug}/versions/"
    assert client.get(versions, {"number": number}).json() == []
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    assert page.get("/incidents/", {"q": number}).status_code == 200
    new = f"/incidents/{world['incident'].pk}/comms/new/"
    assert page.get(new, {"template": number}).status_code == 400


@pytest.mark.parametrize("minutes", ["²", "9" * 5000])
def test_a_runbook_file_with_odd_minutes_is_refused_with_its_line(world, minutes):
    text = f"---\nslug: odd\ntitle: Odd\n---\n\n## Step\nminutes: {minutes}\n\nDo it.\n"
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    response = page.post("/runbooks/new/", {"text": text})
    assert response.status_code == 400
    assert "minutes" in response.content.decode()
    client = APIClient()
    client.force_authenticate(world["root"])
    client.raise_request_exception = False
    assert client.post("/api/v1/runbooks/", {"text": text}, format="json").status_code == 400


def test_a_nul_byte_in_the_war_room_box_is_refused_with_a_message(world):
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    incident = world["incident"]
    before = incident.timeline.count()
    for text in ("note \x00", "/commander ro\x00ot", "/impact web\x00chat major"):
        response = page.post(f"/incidents/{incident.key}/log/", {"body": text}, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert "NUL" in response.content.decode()
    assert incident.timeline.count() == before


def test_the_far_end_of_the_timeline_is_an_empty_page_not_a_500(world):
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    assert page.get(f"/incidents/{world['incident'].pk}/", {"earlier": str(2**63)}).status_code == 200


def test_attaching_a_runbook_named_with_a_nul_byte_is_an_error_message(world):
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    url = f"/runbooks/incident/{world['incident'].pk}/attach/"
    assert page.post(url, {"runbook": "flo\x00od"}, headers={"HX-Request": "true"}).status_code == 200
    client = APIClient()
    client.force_authenticate(world["root"])
    client.raise_request_exception = False
    url = f"/api/v1/incidents/{world['incident'].pk}/runbook-runs/"
    assert client.post(url, {"runbook": "flo\x00od"}, format="json").status_code == 400


def test_the_subscribe_limit_counts_the_address_the_proxy_saw_not_one_the_client_made_up(settings):
    """A proxy that appends to X-Forwarded-For keeps what the client sent in front: rotating
    that must not buy a fresh allowance of confirmation e-mails to strangers."""
    cache.clear()  # the counters live in the cache, which may outlive a test (Redis)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.STATUSPAGE_SUBSCRIBE_RATE_LIMIT = 2
    client = Client()
    codes = [
        client.post(
            "/status/subscribe/",
            {"kind": "email", "email": f"victim{n}@example.com", "scope": "all"},
            headers={"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.9"},
        ).status_code
        for n in range(4)
    ]
    assert codes == [200, 200, 429, 429]
    other = client.post(
        "/status/subscribe/",
        {"kind": "email", "email": "someone@example.com", "scope": "all"},
        headers={"X-Forwarded-For": "203.0.113.10"},
    )
    assert other.status_code == 200


def test_a_runbook_key_is_text_not_a_pattern(world):
    """The error names the line of the unknown key. Keys were put into a regular expression
    as they were: "a+" pointed at the wrong line, and a key like "(a+)+c" next to a line of
    forty a's kept a worker busy for hours (the preview is open to anyone signed in)."""
    page = Client(raise_request_exception=False)
    page.force_login(world["root"])
    text = "---\nslug: x\ntitle: X\na+: 1\naa: 2\n---\n\n## Step\n\nDo it.\n"
    response = page.post("/runbooks/preview/", {"text": text})
    assert "Line 4: unknown key &#x27;a+&#x27;" in response.content.decode()
    text = "---\n'(a+)+c': 1\n" + "a" * 40 + ": 2\n---\n\n## Step\n\nDo it.\n"
    assert "unknown key" in page.post("/runbooks/preview/", {"text": text}).content.decode()


def test_a_far_off_date_typed_west_of_utc_is_refused_not_stored(world):
    """9999-12-31 23:00 in Los Angeles is in the year 10000 in UTC: stored, it would make every
    page that shows it fail."""
    client = Client(raise_request_exception=False)
    client.force_login(world["root"])
    client.cookies["tz"] = "America/Los_Angeles"
    i = f"/incidents/{world['incident'].pk}"
    far = "9999-12-31T23:00"
    posts = [
        (f"{i}/security/mitigations/", {"title": "t", "description": "d", "review_by": far}),
        (f"{i}/security/mitigations/{world['mitigation'].pk}/", {"title": "t", "description": "d", "review_by": far}),
        (f"{i}/times/", {"field": "detected_at", "value": far, "reason": "r"}),
        (f"{i}/review/save/", {"body": "b", "version": str(world["review"].version), "meeting_at": far}),
        (
            "/status/manage/maintenance/new/",
            {"title": "t", "scheduled_for": "9999-12-31T20:00", "scheduled_until": far, "verify_minutes": "15"},
        ),
    ]
    for url, data in posts:
        client.post(url, data)
    pages = [f"{i}/", f"{i}/security/", "/mitigations/", "/status/manage/maintenance/", f"{i}/review/"]
    assert [(page, client.get(page).status_code) for page in pages] == [(page, 200) for page in pages]
