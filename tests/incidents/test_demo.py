"""`make run` loads the demo: it must load on an empty database, and loading it again changes nothing."""

import pytest
from django.core.management import call_command

from incidents.models import ActionItem, Incident, Review

pytestmark = pytest.mark.django_db


def test_the_demo_loads_once_with_a_review_in_progress():
    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    assert Incident.objects.filter(title__startswith="[demo]").count() == 2
    review = Review.objects.get()
    assert review.status == Review.Status.DRAFT
    assert "Edge error rate 38%" in review.body  # drafted from the demo's timeline
    assert ActionItem.objects.filter(incident=review.incident).count() == 3
    assert ActionItem.objects.filter(status=ActionItem.Status.OPEN).count() == 2
