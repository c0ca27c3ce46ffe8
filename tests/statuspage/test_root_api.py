"""The Statuspage v2 JSON at the host root (/api/v2/*.json), where Statuspage's own clients
look for it: the same documents as /status/api/v2/, byte for byte, readable from any origin,
and Warroom's own REST API at /api/v1/ untouched beside it."""

import pytest

from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.test_json import ENDPOINTS, busy_page, check_endpoint  # noqa: F401 - busy_page is a fixture


@pytest.mark.parametrize("name", ENDPOINTS)
def test_root_endpoint_serves_the_same_document_as_under_status(client, busy_page, name):  # noqa: F811
    under_status = client.get(f"/status/api/v2/{name}")
    at_root = client.get(f"/api/v2/{name}")
    assert at_root.status_code == 200, name
    assert at_root["Content-Type"].startswith("application/json")
    assert at_root.content == under_status.content
    assert at_root["ETag"] == under_status["ETag"]
    check_endpoint(name, at_root.json())


@pytest.mark.parametrize("name", ENDPOINTS)
def test_root_endpoint_may_be_read_from_any_origin(client, db, name):
    response = client.get(f"/api/v2/{name}", headers={"Origin": "https://example.org"})
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"].startswith("public")


def test_root_summary_shows_a_published_incident(client, public_page):
    names = [i["name"] for i in client.get("/api/v2/summary.json").json()["incidents"]]
    assert names == ["Chat replies time out"]


def test_root_summary_is_served_from_cache_in_bounded_queries(client, busy_page, django_assert_max_num_queries):  # noqa: F811
    client.get("/status/api/v2/summary.json")  # built once, for both paths
    with django_assert_max_num_queries(8):
        assert client.get("/api/v2/summary.json").status_code == 200


def test_root_routes_answer_only_reads(client, db):
    assert client.post("/api/v2/summary.json").status_code == 405


def test_unknown_root_document_is_a_404(client, db):
    assert client.get("/api/v2/nothing.json").status_code == 404


def test_warroom_rest_api_is_not_shadowed(client, commander):
    client.force_login(commander)
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert "incidents" in response.json()
    assert client.get("/api/v1/incidents/").status_code == 200
