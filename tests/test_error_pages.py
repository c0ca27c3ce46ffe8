"""The pages people get when something fails (config/errors.py): on the status page they look like
the status page and say nothing of which private pages exist; on staff pages they look like the
staff UI and need no database; under /api/ they stay JSON."""

import json
import re

import pytest
from django.test import Client, RequestFactory

from config.errors import bad_request, server_error
from statuspage import services as page_services
from tests.conftest import make_user
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

STATUS_HOST = "status.api.example"
STATUS_LOOK = "/static/statuspage/status.css"
STAFF_LOOK = "/static/warroom/app.css"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")
INLINE_STYLE = re.compile(r"<style\b|\sstyle=")


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["testserver", STATUS_HOST]


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, "operator", "comms")


@pytest.fixture
def enterprise(operator):
    """A private page (visible to staff and access-link holders only) with a telling name."""
    return page_services.save_page(
        operator, name="Enterprise SECRET-NAME status", slug="enterprise", visibility="private", allowed_groups=[]
    )


def assert_status_page_look(response):
    body = response.content.decode()
    assert STATUS_LOOK in body and STAFF_LOOK not in body
    for staff_link in ("/incidents/", "/admin/", "/logout/", "/account/", "/status/manage/"):
        assert staff_link not in body, staff_link
    return body


def assert_staff_look(response):
    body = response.content.decode()
    assert STAFF_LOOK in body and STATUS_LOOK not in body
    assert 'class="topbar"' in body
    return body


def assert_no_inline_code(response):
    """The strict Content-Security-Policy (config/middleware.py) is sent, and the page needs no
    exception to it."""
    assert "script-src 'self'" in response["Content-Security-Policy"]
    body = response.content.decode()
    assert not INLINE_SCRIPT.search(body) and not INLINE_STYLE.search(body)


# The status page -----------------------------------------------------------------------------------


def test_a_revoked_access_links_404_is_byte_identical_to_a_page_that_never_existed(enterprise, operator):
    link, token = page_services.create_access_link(operator, enterprise, label="Acme Corp")
    visitor = Client()
    assert visitor.get(f"/status/p/enterprise/?access={token}").status_code == 200
    page_services.revoke_access_link(operator, link)

    revoked = visitor.get(f"/status/p/enterprise/?access={token}")
    remembered = visitor.get("/status/p/enterprise/history/")  # the token the session kept
    never = Client().get(f"/status/p/no-such-page/?access={token}")
    never_history = Client().get("/status/p/no-such-page/history/")

    assert [r.status_code for r in (revoked, remembered, never, never_history)] == [404] * 4
    assert revoked.content == never.content == remembered.content == never_history.content
    body = assert_status_page_look(revoked)
    assert "Page not found" in body
    assert "SECRET-NAME" not in body and "enterprise" not in body.lower()


def test_a_private_pages_json_and_feed_404_read_like_a_missing_pages(enterprise):
    for document in ("api/v2/summary.json", "feed.atom", "incidents/abcdefabcdef/"):
        hidden = Client().get(f"/status/p/enterprise/{document}")
        missing = Client().get(f"/status/p/no-such-page/{document}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content, document


def test_a_missing_status_document_has_the_status_pages_look_and_no_incident(public_page):
    response = Client().get("/status/incidents/abcdefabcdef/")
    assert response.status_code == 404
    body = assert_status_page_look(response)
    assert "Chat replies time out" not in body and "A fix is rolling out" not in body
    assert_no_inline_code(response)


def test_signed_in_staff_get_the_status_pages_404_on_the_status_page(client, commander):
    client.force_login(commander)
    response = client.get("/status/incidents/abcdefabcdef/")
    assert response.status_code == 404
    body = assert_status_page_look(response)
    assert "cmdr" not in body  # no user name, no sign-out form


def test_a_404_on_a_status_pages_own_host_has_the_status_pages_look(operator):
    page_services.save_page(operator, name="API platform status", slug="api", host=STATUS_HOST)
    response = Client(HTTP_HOST=STATUS_HOST).get("/no-such-thing/")
    assert response.status_code == 404
    assert_status_page_look(response)


def test_the_status_pages_404_speaks_the_visitors_language(db):
    response = Client().get("/status/p/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.status_code == 404
    body = assert_status_page_look(response)
    assert 'lang="zh-hans"' in body and "找不到页面" in body
    chosen = Client().get("/status/p/no-such-page/?lang=zh-hans").content.decode()
    assert "找不到页面" in chosen


def test_the_status_pages_404_costs_a_bounded_number_of_queries(enterprise, django_assert_max_num_queries):
    Client().get("/status/")  # the pages are read once per content version
    with django_assert_max_num_queries(8):
        assert Client().get("/status/p/no-such-page/history/").status_code == 404


def test_the_staff_pages_under_status_keep_the_staff_look(client, operator):
    client.force_login(operator)
    response = client.get("/status/manage/pages/999999/")
    assert response.status_code == 404
    assert_staff_look(response)


# The staff UI ----------------------------------------------------------------------------------------


def test_a_missing_staff_page_has_the_staff_look(as_user, commander, django_assert_max_num_queries):
    client = as_user(commander)
    with django_assert_max_num_queries(6):
        response = client.get("/incidents/999999/")
    assert response.status_code == 404
    body = assert_staff_look(response)
    assert "Page not found" in body
    assert "Sign out" not in body  # the error base reads no user: no name, no staff navigation
    assert_no_inline_code(response)


def test_an_unknown_address_is_the_staff_404_for_anonymous_visitors(db):
    response = Client().get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.status_code == 404
    body = assert_staff_look(response)
    assert 'lang="zh-hans"' in body and "找不到页面" in body


def test_a_refusal_shows_its_reason_on_the_staff_403_page(as_user, viewer):
    response = as_user(viewer).get("/incidents/declare/")
    assert response.status_code == 403
    body = assert_staff_look(response)
    assert "Only commanders may declare incidents." in body
    assert_no_inline_code(response)


def test_a_host_the_site_does_not_serve_is_a_staff_400_page(db):
    response = Client(HTTP_HOST="elsewhere.example").get("/incidents/")
    assert response.status_code == 400
    assert "Bad request" in assert_staff_look(response)


def test_a_400_page_needs_no_database(django_assert_num_queries):
    request = RequestFactory().get("/incidents/")
    with django_assert_num_queries(0):
        response = bad_request(request, ValueError("malformed"))
    assert response.status_code == 400
    assert_staff_look(response)


def test_a_server_error_is_the_staff_500_page_without_a_query(django_assert_num_queries):
    request = RequestFactory().get("/incidents/7/")
    with django_assert_num_queries(0):
        try:
            raise ValueError("a bug")
        except ValueError:
            response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong" in assert_staff_look(response)


def test_a_server_error_on_the_status_page_has_its_look_without_a_query(django_assert_num_queries):
    request = RequestFactory().get("/status/history/")
    with django_assert_num_queries(0):
        try:
            raise ValueError("a bug")
        except ValueError:
            response = server_error(request)
    assert response.status_code == 500
    assert_status_page_look(response)


# JSON ------------------------------------------------------------------------------------------------


def test_the_apis_own_404_stays_drfs_json(as_user, commander):
    client = as_user(commander)
    response = client.get("/api/v1/incidents/999999/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No such incident."}


def test_an_unknown_api_address_is_a_json_404(db):
    for path in ("/api/v1/no-such-endpoint/", "/api/v2/no-such.json", "/status/api/v2/no-such.json"):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}, path


def test_a_server_error_under_the_api_is_json(db):
    request = RequestFactory().get("/api/v1/incidents/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "detail" in json.loads(response.content)
