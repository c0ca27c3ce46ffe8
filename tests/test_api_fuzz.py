"""The published OpenAPI schema is true: schemathesis reads it from a live server and throws
generated requests at every operation as a commander with a token, then follows the links
between operations (create an incident, then read, change and log to it). Any 5xx, any answer
whose status the schema does not document, and any body that does not match the schema fails.

Bounded by hypothesis settings so the module runs in a few minutes on a small machine; run it
alone with `pytest tests/test_api_fuzz.py` (DEVELOPERS.md).
"""

from datetime import timedelta
from importlib import import_module

import pytest
import schemathesis
from django.apps import apps
from django.contrib.auth.models import Group
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from incidents import services
from incidents.credentials import issue_token
from incidents.models import Service
from tests.conftest import make_user
from tests.test_review_inputs import build_world

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# Few examples per operation: the point is every operation and every documented shape, not
# depth; 83 operations times this stays within the module's time budget.
PER_OPERATION = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
STATEFUL = settings(
    max_examples=15,
    stateful_step_count=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def build_demo(django_user_model):
    """What a real installation holds: a public incident and a confidential one the commander
    is on (each with a membership, note, impact, communication, clock, mitigation, runbook
    run, review and action item), and a confidential one the commander may not see."""
    # The live server needs a transactional database, whose flush also removes what the data
    # migrations seeded (serialized_rollback clashes with content types other tests recreate).
    for migration in ("0006_obligation_catalog", "0007_comm_templates"):
        import_module(f"incidents.migrations.{migration}").seed(apps, None)
    commander = make_user(django_user_model, "cmdr", "commander")
    colleague = make_user(django_user_model, "carol", "comms")
    stranger = make_user(django_user_model, "dana", "commander")
    web_chat = Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    Service.objects.create(name="Public API", slug="public-api", group="Platform", owner=colleague)
    public = build_world(commander, colleague, web_chat, tag="a")
    build_world(commander, colleague, web_chat, confidential=True, tag="b")
    services.declare(stranger, title="Keys found in a public bucket", severity=1, confidential=True)
    # The mitigation gets a review-by time so both null and set times are served.
    public["mitigation"].review_by = timezone.now() + timedelta(days=1)
    public["mitigation"].save(update_fields=["review_by"])
    Group.objects.get_or_create(name="viewer")
    return commander, public


def operations():
    """Every (method, path) of the schema as the app generates it, to name one test each."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    methods = ("get", "put", "post", "patch", "delete")
    return [(method.upper(), path) for path, item in paths.items() for method in item if method in methods]


@pytest.fixture
def fuzz(transactional_db, live_server, django_user_model):
    """The live schema and the commander's token. The schema is read over HTTP, as a client
    generating code from it would read it."""
    commander, public = build_demo(django_user_model)
    _token, key = issue_token(commander)
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", headers=headers)
    schema.config.update(base_url=live_server.url, headers=headers)
    return schema, headers, public


# schemathesis' own pytest plugin (schemathesis.pytest.from_fixture) reads a pytest internal
# that pytest 9 no longer has, so each operation is parametrized here and driven by
# hypothesis through the operation's strategy.
@pytest.mark.parametrize(("method", "path"), operations())
def test_every_operation_answers_as_its_schema_says(fuzz, method, path):
    schema, headers, public = fuzz
    operation = schema[path][method]

    @PER_OPERATION
    @given(case=operation.as_strategy())
    def answers_as_documented(case):
        # Nested operations on the public incident (a runbook, an obligation), so requests
        # reach the serializers and the services rather than stopping at "no such object".
        pinned = {"incident_pk": public["incident"].pk, "slug": public["runbook"].slug, "key": "gdpr-33"}
        for name in pinned.keys() & (case.path_parameters or {}).keys():
            case.path_parameters[name] = pinned[name]
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_documented()


def test_chains_of_operations_answer_as_the_schema_says(fuzz):
    schema, headers, _ = fuzz

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, recorder=self.recorder)

    Workflow.run(settings=STATEFUL)
