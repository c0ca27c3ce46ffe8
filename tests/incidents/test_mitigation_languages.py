"""A mitigation's public explanation in other languages: given on the security page and
through the API (checked, 4xx keyed by the field), used by updates filled from a template in
that language; the status page in that language shows it (tests/statuspage/test_public_pages.py)."""

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents import services
from incidents.comms import services as communications
from incidents.models import CommunicationTemplate, Mitigation
from incidents.security import mitigations as security

pytestmark = pytest.mark.django_db

LIMITED = "New sign-ups are limited to +86 phone numbers."
LIMITED_ZH = "新用户注册暂时仅限 +86 手机号码。"


def public_mitigation(incident, by, **kwargs):
    kwargs.setdefault("title", "Sign-ups limited")
    kwargs.setdefault("description", "Only +86 numbers")
    return security.add_mitigation(incident, by, public=True, public_explanation=LIMITED, **kwargs)


def api_url(incident, tail):
    return f"/api/v1/incidents/{incident.key}/{tail}"


def test_the_explanation_is_read_in_the_readers_language_else_the_default(incident, commander):
    m = public_mitigation(incident, commander, public_explanations={"ZH-Hans": f"  {LIMITED_ZH} "})

    m.refresh_from_db()
    assert m.public_explanations == {"zh-hans": LIMITED_ZH}
    assert m.explanation_in("zh-hans") == LIMITED_ZH
    assert m.explanation_in("zh") == LIMITED_ZH  # same base language
    assert m.explanation_in("de") == LIMITED
    assert m.explanation_in("") == LIMITED
    entry = incident.timeline.order_by("-id").first()
    assert {"field": "public_explanations", "old": None, "new": {"zh-hans": LIMITED_ZH}} in entry.data["changes"]


def test_changing_a_translation_is_logged_with_old_and_new_text(incident, commander):
    m = public_mitigation(incident, commander, public_explanations={"zh-hans": "旧的说明。"})

    security.update_mitigation(m, commander, public_explanations={"zh-hans": LIMITED_ZH, "de": "Nur +86."})

    entry = incident.timeline.order_by("-id").first()
    assert "public explanation in other languages" in entry.body
    assert {
        "field": "public_explanations",
        "old": {"zh-hans": "旧的说明。"},
        "new": {"zh-hans": LIMITED_ZH, "de": "Nur +86."},
    } in entry.data["changes"]


@pytest.mark.parametrize(
    ("explanations", "message"),
    [
        ("zh-hans: 受限", "language code: text"),
        (["受限"], "language code: text"),
        ({"chinese!": "受限"}, "not a language code"),
        ({"zh-hans": "   "}, "1 to 5000 characters"),
        ({"zh-hans": 5}, "1 to 5000 characters"),
        ({"zh-hans": "x" * 5001}, "1 to 5000 characters"),
        ({"zh-hans": "受\x00限"}, "1 to 5000 characters"),
    ],
)
def test_bad_translations_are_refused_by_field(incident, commander, explanations, message):
    with pytest.raises(ValidationError) as refused:
        public_mitigation(incident, commander, public_explanations=explanations)

    assert message in refused.value.message_dict["public_explanations"][0]
    assert not Mitigation.objects.exists()


def test_a_translation_needs_the_default_text_to_fall_back_to(incident, commander):
    with pytest.raises(ValidationError) as refused:
        security.add_mitigation(
            incident, commander, title="x", description="y", public_explanations={"zh-hans": LIMITED_ZH}
        )

    assert "default language" in refused.value.message_dict["public_explanation"][0]


def test_api_takes_and_returns_the_translations(api, incident, commander):
    response = api(commander).post(
        api_url(incident, "mitigations/"),
        {
            "title": "Sign-ups limited",
            "description": "+86 only",
            "public": True,
            "public_explanation": LIMITED,
            "public_explanations": {"zh-hans": LIMITED_ZH},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["public_explanations"] == {"zh-hans": LIMITED_ZH}
    mid = response.json()["id"]
    response = api(commander).patch(
        api_url(incident, f"mitigations/{mid}/"), {"public_explanations": {}}, format="json"
    )
    assert response.status_code == 200 and response.json()["public_explanations"] == {}


@pytest.mark.parametrize(
    ("explanations", "message"),
    [
        ("受限", "language code: text"),
        ({"not a code": "受限"}, "not a language code"),
        ({"zh-hans": ""}, "1 to 5000 characters"),
        ({"zh-hans": ["受限"]}, "1 to 5000 characters"),
    ],
)
def test_api_bad_translations_are_400_with_the_field_and_a_message(api, incident, commander, explanations, message):
    response = api(commander).post(
        api_url(incident, "mitigations/"),
        {
            "title": "x",
            "description": "y",
            "public": True,
            "public_explanation": LIMITED,
            "public_explanations": explanations,
        },
        format="json",
    )

    assert response.status_code == 400, response.content
    assert message in response.json()["public_explanations"][0]
    assert not Mitigation.objects.exists()


def test_security_page_form_takes_one_translation_a_line(as_user, incident, commander):
    client = as_user(commander)
    url = reverse("incidents:security:add_mitigation", args=[incident.key])
    form = {"title": "Sign-ups limited", "description": "+86 only", "public": "on", "public_explanation": LIMITED}

    refused = client.post(url, {**form, "public_explanations": "新用户注册暂时受限"})
    assert refused.status_code == 400 and "language code: text" in refused.content.decode()
    refused = client.post(url, {**form, "public_explanations": "klingon!: Qapla"})
    assert refused.status_code == 400 and "not a language code" in refused.content.decode()
    assert not Mitigation.objects.exists()

    response = client.post(url, {**form, "public_explanations": f"zh-hans: {LIMITED_ZH}\n\nde: Nur +86-Nummern."})
    assert response.status_code == 302
    m = Mitigation.objects.get()
    assert m.public_explanations == {"zh-hans": LIMITED_ZH, "de": "Nur +86-Nummern."}

    page = client.get(reverse("incidents:security:page", args=[incident.key])).content.decode()
    assert LIMITED_ZH in page
    edit = client.get(reverse("incidents:security:edit_mitigation", args=[incident.key, m.pk])).content.decode()
    assert f"zh-hans: {LIMITED_ZH}" in edit


def test_a_template_in_chinese_lists_the_measures_in_chinese(declare, commander, api_service, settings):
    settings.TIME_ZONE = "UTC"
    incident = declare(title="Chat replies time out", severity=1)
    services.add_impact(incident, commander, service=api_service, level="major_outage")
    public_mitigation(incident, commander, public_explanations={"zh-hans": LIMITED_ZH})
    public_mitigation(incident, commander, title="Uploads off")  # no Chinese text: the default one
    chinese = CommunicationTemplate.objects.create(
        name="状态页：已确认", language="zh-hans", body="我们已找到原因。\n\n目前采取的措施：\n\n{mitigations}\n"
    )
    english = CommunicationTemplate.objects.get(name="Status page: identified")

    with time_machine.travel("2026-11-28 10:10:00+00:00", tick=False):
        zh = communications.fill_template(chinese, incident)
        en = communications.fill_template(english, incident)

    assert f"- {LIMITED_ZH}\n- {LIMITED}" in zh
    assert f"- {LIMITED}\n- {LIMITED}" in en and LIMITED_ZH not in en
