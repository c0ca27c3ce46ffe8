"""Headers every response carries (config.middleware.PrivateResponsesMiddleware): whatever staff
see is `Cache-Control: private, no-store`, so no shared cache or proxy keeps a confidential war
room or a download; the public status page and static files keep their own public caching; and
every response restricts browser features with Permissions-Policy."""

import pytest
from django.urls import reverse

from tests.conftest import api_as


def never_stored(response):
    """`private, no-store`, or Django's never_cache (which says both, and more)."""
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= directives


@pytest.fixture
def security_incident(declare):
    return declare(title="Credential stuffing", kind="security", confidential=True, severity=1)


def test_signed_in_pages_api_and_downloads_are_never_stored(as_user, commander, incident, security_incident):
    client = as_user(commander)
    responses = {
        "war room": client.get(incident.get_absolute_url()),
        "confidential war room": client.get(security_incident.get_absolute_url()),
        "list": client.get(reverse("incidents:list")),
        "audit csv": client.get(reverse("incidents:security:audit", args=[security_incident.key]) + "?format=csv"),
        "api": api_as(commander).get(f"/api/v1/incidents/{incident.key}/"),
        "api docs": client.get("/api/docs/"),
        "staff page under /status/": client.get(reverse("statuspage:manage_maintenance")),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        assert never_stored(response), (name, response.get("Cache-Control"))


def test_refusals_and_anonymous_redirects_are_never_stored(as_user, client, outsider, security_incident):
    assert never_stored(client.get(reverse("incidents:list")))
    assert never_stored(api_as(None).get("/api/v1/incidents/"))
    missing = as_user(outsider).get(security_incident.get_absolute_url())
    assert missing.status_code == 404
    assert never_stored(missing)


def test_login_page_is_never_stored(client):
    assert never_stored(client.get(reverse("login")))


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "staff"])
def test_public_status_page_keeps_its_public_caching(as_user, commander, db, signed_in):
    client = as_user(commander if signed_in else None)
    for path in ("/status/", "/status/api/v2/summary.json", "/status/feed.atom"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"].startswith("public, max-age="), path


def test_static_files_are_not_made_private(as_user, commander):
    response = as_user(commander).get("/static/warroom/app.js")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_every_response_restricts_browser_features(as_user, client, commander, incident):
    responses = [
        as_user(commander).get(incident.get_absolute_url()),
        api_as(commander).get("/api/v1/incidents/"),
        client.get("/status/"),
        client.get("/static/warroom/app.js"),
        client.get("/no-such-page/"),
    ]
    for response in responses:
        policy = response["Permissions-Policy"]
        assert "camera=()" in policy and "microphone=()" in policy and "geolocation=()" in policy
        assert "payment=()" in policy and "usb=()" in policy


def test_language_cookie_is_http_only_and_same_site(client, db):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})

    cookie = response.cookies["django_language"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
