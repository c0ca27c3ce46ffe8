"""Each person's language (incidents/languages.py): chosen on /account/ or with the header's
switch, used by the staff pages whenever they are signed in and by every e-mail Warroom sends
them, one language per recipient however the batch is mixed."""

import email
from email.header import decode_header, make_header

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from incidents import languages
from incidents.models import LanguagePreference, NotificationDelivery, UserNotification
from incidents.reminders import delivery as notify
from incidents.reminders import sweep as reminders
from incidents.signals import signin_locked_out

pytestmark = pytest.mark.django_db

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def signed_in(user, password=None):
    client = Client()
    assert client.login(username=user.username, password=password or "pw-" + user.username)
    return client


def raw_subject(message):
    """The Subject header as it goes on the wire, decoded as a mail reader decodes it."""
    wire = email.message_from_bytes(message.message().as_bytes())
    return str(make_header(decode_header(wire["Subject"])))


def test_a_reminder_reaches_each_person_in_their_own_language(staffed, people, clock, mailoutbox):
    languages.set_preference(people.commander, "zh-hans")
    languages.set_preference(people.deputy, "en")
    incident = staffed(severity=1)
    clock.at(30)
    reminders.sweep()
    clock.at(40)
    reminders.sweep()  # the update is overdue: the commander and the deputy hear of it
    result = notify.deliver(NotificationDelivery.objects.values_list("pk", flat=True))
    assert result.sent and not result.failed
    # Sent in one batch: the deputy's message after the commander's stays English, and the
    # other way round.
    by_person = {}
    for message in mailoutbox:
        by_person.setdefault(message.to[0], []).append(message)
    [to_cmdr] = [m for m in by_person["commander@example.com"] if "逾期" in m.subject]
    [to_dep] = [m for m in by_person["deputy@example.com"] if "overdue" in m.subject.lower()]
    assert to_cmdr.subject == f"[Warroom] {incident.reference} 的对外更新已逾期"
    assert to_dep.subject == f"[Warroom] Public update overdue on {incident.reference}"
    assert raw_subject(to_cmdr) == to_cmdr.subject and raw_subject(to_dep) == to_dep.subject
    assert "=?utf-8?" in to_cmdr.message().as_string()  # RFC 2047 on the wire, not raw UTF-8
    assert "对外更新" in to_cmdr.body and "您的语言" in to_cmdr.body
    assert "Your language" in to_dep.body and not any("\u4e00" <= ch <= "\u9fff" for ch in to_dep.body)
    # The comms lead chose nothing: the site's language.
    assert all("[Warroom]" in m.subject and m.subject.isascii() for m in by_person["comms@example.com"])
    # Nothing of the batch stays active afterwards.
    assert translation.get_language() == "en"


def test_a_sign_in_pause_notice_is_in_the_paused_persons_language(people, mailoutbox):
    languages.set_preference(people.outsider, "zh-hans")
    signin_locked_out.send(sender=None, users=[people.outsider], address="203.0.113.9", window=900)
    notify.deliver(NotificationDelivery.objects.values_list("pk", flat=True))
    to_outsider = [m for m in mailoutbox if m.to == ["outsider@example.com"]]
    to_security = [m for m in mailoutbox if m.to == ["security@example.com"]]
    assert len(to_outsider) == 1 and len(to_security) == 1
    assert "暂停" in to_outsider[0].subject and "203.0.113.9" in to_outsider[0].body
    assert to_security[0].subject.isascii() and "paused" in to_security[0].subject
    # The stored text keeps the site's language (webhooks, API).
    assert UserNotification.objects.get(user=people.outsider).title.isascii()


def test_the_account_page_saves_the_language_and_the_staff_pages_follow_it(people):
    client = signed_in(people.commander)
    page = client.get(reverse("account:language"))
    assert page.status_code == 200 and 'name="language"' in page.content.decode()
    response = client.post(reverse("account:language"), {"language": "zh-hans"})
    assert response.status_code == 302
    assert LanguagePreference.objects.get(user=people.commander).language == "zh-hans"
    # Even a browser asking for English gets Chinese while this person is signed in.
    listing = client.get(reverse("incidents:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in listing and "宣布事件" in listing


def test_signing_in_again_brings_the_chosen_language_back(people):
    LanguagePreference.objects.create(user=people.commander, language="zh-hans")
    client = signed_in(people.commander)  # a fresh browser: no language cookie
    listing = client.get(reverse("incidents:list"), HTTP_ACCEPT_LANGUAGE="en")
    assert "宣布事件" in listing.content.decode()
    assert listing.cookies["django_language"].value == "zh-hans"  # the sign-in page follows after signing out
    other = signed_in(people.deputy)
    assert "Declare incident" in other.get(reverse("incidents:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_header_switch_saves_a_signed_in_persons_language(people):
    client = signed_in(people.commander)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert languages.preference_of(type(people.commander).objects.get(pk=people.commander.pk)) == "zh-hans"
    anonymous = Client()
    response = anonymous.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302 and not LanguagePreference.objects.exclude(user=people.commander).exists()


def test_an_unknown_language_is_a_form_error_not_a_500(people):
    client = signed_in(people.commander)
    response = client.post(reverse("account:language"), {"language": "xx-evil"})
    assert response.status_code == 400 and 'name="language"' in response.content.decode()
    assert not LanguagePreference.objects.exists()


def test_the_site_language_choice_clears_the_preference(people):
    client = signed_in(people.commander)
    client.post(reverse("account:language"), {"language": "zh-hans"})
    client.post(reverse("account:language"), {"language": ""})
    assert languages.preference_of(type(people.commander).objects.get(pk=people.commander.pk)) == ""
    assert "Declare incident" in client.get(reverse("incidents:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_account_page_needs_sign_in_and_a_bounded_number_of_queries(people, django_assert_max_num_queries):
    assert Client().get(reverse("account:language")).status_code == 302
    client = signed_in(people.commander)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("account:language")).status_code == 200


@pytest.mark.parametrize(
    "locale, expected", [("zh-CN", "zh-hans"), ("zh_Hans", "zh-hans"), ("en-US", "en"), ("fr", ""), (None, ""), (7, "")]
)
def test_sso_locale_claims_map_to_the_languages_offered(locale, expected):
    assert languages.supported(locale) == expected


def test_chinese_request_leaves_nothing_active_for_the_next_test_part_one(people):
    signed_in(people.commander).get(reverse("incidents:list"), **CHINESE)
    translation.activate("zh-hans")


def test_chinese_request_leaves_nothing_active_for_the_next_test_part_two():
    assert translation.get_language() == "en"


def test_the_admin_shows_each_persons_language_read_only(people, admin_client, django_assert_max_num_queries):
    for person in (people.commander, people.deputy, people.comms):
        languages.set_preference(person, "zh-hans")
    with django_assert_max_num_queries(10):
        listing = admin_client.get("/admin/incidents/languagepreference/")
    assert listing.status_code == 200 and "cmdr" in listing.content.decode()
    assert admin_client.get("/admin/incidents/languagepreference/add/").status_code == 403


def test_the_public_status_page_keeps_its_own_language_choice_for_signed_in_staff(people, settings):
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    LanguagePreference.objects.create(user=people.commander, language="zh-hans")
    client = signed_in(people.commander)
    response = client.get("/status/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert '<html lang="en"' in response.content.decode()
    assert "Cookie" not in response.get("Vary", "")  # still one shared document per language
    assert "django_language" not in response.cookies
