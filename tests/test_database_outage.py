"""PostgreSQL goes away (a restart, a failover): requests get a quick 503 with Retry-After, not
a 500, nothing is half written, and Warroom answers again as soon as the database is back,
without a restart. `make stress` (bench/stress.py) does the same under load with a real
PostgreSQL restart; here the test database refuses connections for a moment instead, so the
suite's shared server is never restarted."""

import logging
from contextlib import contextmanager

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from config.errors import server_error
from incidents.models import IdempotencyKey, TimelineEntry

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a database server that goes away needs PostgreSQL"
)
pytestmark = [needs_postgresql, pytest.mark.django_db(transaction=True)]


@contextmanager
def database_unreachable():
    """Every connection of the test database ended and new ones refused, as during a restart."""
    name = connection.settings_dict["NAME"]
    params = {**connection.get_connection_params(), "dbname": "postgres"}
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # What Django does between two requests (the test client skips it): a connection that
    # failed is closed, the next query opens a new one.
    close_old_connections()


def browser_client(user):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


def test_api_write_while_the_database_is_down_is_a_503_to_retry(commander, incident):
    client = browser_client(commander)
    url = f"/api/v1/incidents/{incident.pk}/timeline/"
    body = {"body": "Edge nodes shed load"}
    with database_unreachable():
        response = client.post(url, body, format="json", headers={"Idempotency-Key": "entry-1"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database" in response.json()["detail"]
    assert not TimelineEntry.objects.filter(body="Edge nodes shed load").exists()

    # Back up: the same request, resent, is stored once; no process was restarted.
    again = client.post(url, body, format="json", headers={"Idempotency-Key": "entry-1"})
    assert again.status_code == 201
    assert TimelineEntry.objects.filter(body="Edge nodes shed load").count() == 1
    assert IdempotencyKey.objects.filter(key="entry-1").count() == 1


def test_page_while_the_database_is_down_is_a_503_page(commander, incident):
    client = APIClient(raise_request_exception=False)
    client.force_login(commander)
    with database_unreachable():
        response = client.get(f"/incidents/{incident.pk}/", HTTP_ACCEPT="text/html")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "briefly unavailable" in body
    # The staff UI's look, from a base that needs neither the database nor the session.
    assert "/static/warroom/app.css" in body and 'class="topbar"' in body
    assert client.get(f"/incidents/{incident.pk}/").status_code == 200


def test_a_private_status_page_while_the_database_is_down_is_a_503_in_the_status_pages_look(db):
    """A private page has no last good copy to serve (statuspage.views.serve): its visitors get
    the status page's own 503, which names no page."""
    client = APIClient(raise_request_exception=False)
    with database_unreachable():
        response = client.get("/status/p/some-private-page/", HTTP_ACCEPT="text/html")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "/static/statuspage/status.css" in body and "/static/warroom/app.css" not in body
    assert "some-private-page" not in body


def test_a_500_renders_with_the_database_down_without_a_query(django_assert_num_queries):
    request = RequestFactory().get("/incidents/1/")
    with django_assert_num_queries(0), database_unreachable():
        try:
            raise ValueError("a bug")
        except ValueError:
            response = server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "/static/warroom/app.css" in body


def test_each_503_is_logged_as_one_line_not_a_traceback(commander, incident, caplog):
    client = APIClient(raise_request_exception=False)
    client.force_login(commander)
    with database_unreachable(), caplog.at_level(logging.INFO):
        for _attempt in range(3):
            assert client.get(f"/incidents/{incident.pk}/", HTTP_ACCEPT="text/html").status_code == 503
    outage = [r for r in caplog.records if "Database unreachable" in r.getMessage()]
    assert len(outage) == 3
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in outage)
    assert f"GET /incidents/{incident.pk}/ answered 503" in outage[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "no traceback logged for an outage"


def test_other_server_errors_stay_500():
    """Only the database being out of reach is a 503: a bug is still a 500, not hidden as an outage."""
    request = RequestFactory().get("/api/v1/incidents/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
