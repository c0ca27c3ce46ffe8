"""The admin shows sources read-only and never their secret's hash or signing key."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_admin_shows_a_source_without_its_secrets_and_changes_nothing(as_user, django_user_model, source):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = as_user(admin)
    page = client.get(f"/admin/incidents/alertsource/{source.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Prometheus" in html and source.secret_hash not in html and source.signing_key not in html
    client.post(f"/admin/incidents/alertsource/{source.pk}/change/", {"name": "Renamed", "kind": "generic"})
    source.refresh_from_db()
    assert source.name == "Prometheus"
    assert client.get("/admin/incidents/alertsource/add/").status_code == 403


def test_the_admin_shows_a_sources_rules_but_offers_no_way_to_add_change_or_remove_one(
    as_user, django_user_model, source
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    html = as_user(admin).get(f"/admin/incidents/alertsource/{source.pk}/change/").content.decode()
    assert "service=api" in html
    # No editable field of a rule, no delete box, no blank row to fill in.
    assert 'name="rules-0-name"' not in html and "rules-0-DELETE" not in html and 'name="rules-1-' not in html
