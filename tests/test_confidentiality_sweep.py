"""Every incident-scoped route, found by walking the URL resolver (so a route added tomorrow
is swept without anyone listing it): to someone without a role on a confidential incident,
each one answers exactly what it answers for an incident that does not exist, byte for byte,
for GET and for POST, in the browser and in the API.

A route whose path parameters this sweep cannot fill fails the test with its name: teach
`CHILDREN` (below) which object of the incident the parameter names."""

import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from incidents.models import incident_key
from tests.test_review_confidentiality import NON_MEMBERS, cast, hidden  # noqa: F401

pytestmark = pytest.mark.django_db

# Routes that name an incident, by where the incident's id is in them.
INCIDENT_SCOPED = re.compile(
    r"^(incidents/<incident:pk>/|runbooks/incident/<incident:pk>/|api/v1/incidents/<incident:incident_pk>/"
    r"|api/v1/\^incidents/\(\?P<pk>|api/v1/\^step-runs/)"
)
# What a path parameter names, by its name, or for the API's `pk`, by the collection before it.
CHILDREN = {
    "membership_pk": "membership",
    "impact_pk": "impact",
    "entry_pk": "entry",
    "comm_pk": "comm",
    "clock_pk": "clock",
    "mitigation_pk": "mitigation",
    "item_pk": "action_item",
}
API_COLLECTIONS = {
    "timeline": "entry",
    "impacts": "impact",
    "roles": "membership",
    "communications": "comm",
    "mitigations": "mitigation",
    "clocks": "clock",
    "action-items": "action_item",
    "step-runs": "step_run",
    "incidents": "incident",
}
SLUGS = {"action": "submit"}
MISSING = 100_000  # added to the hidden incident's number (and step run's id): one nobody has


def routes():
    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            else:
                yield route

    return sorted({r for r in walk(get_resolver().url_patterns) if INCIDENT_SCOPED.match(r)})


def concrete(route, w, incident_pk, step_run_pk):
    """The route as a path for this world, or raise KeyError naming what cannot be filled."""
    path = route.replace("/^", "/").replace("/?$", "/").replace("$", "")

    def api_pk(match):
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        name = API_COLLECTIONS.get(before)
        if name is None:
            raise KeyError(f"{route}: pk after {before!r}")
        if name == "incident":
            return str(incident_pk)
        if name == "step_run":
            return str(step_run_pk)
        return str(w[name].pk)

    path = re.sub(r"\(\?P<pk>\[\^/\.\]\+\)", api_pk, path)
    path = path.replace(r"\.(?P<format>[a-z0-9]+)", ".json")

    def param(match):
        kind, name = match.group(1), match.group(2)
        if name in ("pk", "incident_pk"):
            return str(incident_pk)
        if name in CHILDREN:
            return str(w[CHILDREN[name]].pk)
        if kind == "slug" and name in SLUGS:
            return SLUGS[name]
        raise KeyError(f"{route}: <{kind}:{name}>")

    path = re.sub(r"<(\w+):(\w+)>", param, path)
    if "(" in path or "<" in path:
        raise KeyError(f"{route}: unfilled {path}")
    return "/" + path


def answer(client, method, path, api):
    extra = {"format": "json"} if api else {}
    response = getattr(client, method)(path, {}, **extra)
    body = response.content
    # Per-response noise that is not about the incident: a masked CSRF token, a CSP nonce.
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", body)
    body = re.sub(rb'nonce="[^"]+"', b"", body)
    return response.status_code, body


@pytest.mark.parametrize("who", NON_MEMBERS)
@pytest.mark.parametrize("named_by", ["key", "number"])
def test_every_incident_route_answers_a_non_member_as_for_a_missing_incident(cast, hidden, who, named_by):  # noqa: F811
    """Links carry the incident's key; old links its number: both forms are swept."""
    user = cast[who]
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    api = APIClient()
    api.raise_request_exception = False
    api.force_authenticate(user)
    incident, step_run = hidden["incident"], hidden["step_run"].pk
    if named_by == "key":
        secret_id, missing_id = incident.key, incident_key()
    else:
        secret_id, missing_id = incident.pk, incident.pk + MISSING
    unfilled, differ, swept = [], [], 0
    for route in routes():
        try:
            secret = concrete(route, hidden, secret_id, step_run)
            missing = concrete(route, hidden, missing_id, step_run + MISSING)
        except KeyError as exc:
            unfilled.append(str(exc))
            continue
        is_api = secret.startswith("/api/")
        client = api if is_api else browser
        for method in ("get", "post"):
            swept += 1
            seen = answer(client, method, secret, is_api)
            absent = answer(client, method, missing, is_api)
            # The missing incident's own path may be echoed (a language switch's `next`): as
            # the hidden one's, it must read the same.
            absent = (absent[0], absent[1].replace(missing.encode(), secret.encode()))
            if seen != absent:
                differ.append((method, secret, seen[0], absent[0]))
    assert unfilled == [], "teach the sweep these parameters:\n" + "\n".join(unfilled)
    assert swept > 150
    assert differ == [], "\n".join(map(repr, differ))
