"""Two-factor sign-in for local accounts (issue #12, incidents/twofactor.py): enrolment with an
authenticator app and recovery codes, the code asked after the password (on the sign-in page
and the admin's login alike), accounts that must enrol sent to enrolment and kept there, codes
throttled like passwords, an admin's reset, and every step in the audit log."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents.models import AuditEvent
from tests.conftest import make_user

pytestmark = pytest.mark.usefixtures("clear_cache")
OFFICE = "203.0.113.20"


def code_for(device, offset=0):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time += offset * device.step
    return f"{totp.token():0{device.digits}d}"


def password_sign_in(user, path="/login/"):
    client = Client(REMOTE_ADDR=OFFICE)
    response = client.post(path, {"username": user.username, "password": f"pw-{user.username}"})
    assert response.status_code == 302, "the password step signs in"
    return client


def enrol(user):
    """Enrol `user` through the page; returns (client, device, recovery codes)."""
    client = Client(REMOTE_ADDR=OFFICE)
    client.force_login(user)
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=user)
    response = client.post("/account/two-factor/", {"code": code_for(device)})
    assert response.status_code == 200
    return client, device, response.context["codes"]


def actions(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("at", "id").values_list("action", flat=True))


def test_person_enrols_with_a_code_from_the_app_and_gets_recovery_codes(responder, time_machine):
    client = Client(REMOTE_ADDR=OFFICE)
    client.force_login(responder)

    page = client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=responder, confirmed=False)
    wrong = client.post("/account/two-factor/", {"code": "000000" if code_for(device) != "000000" else "111111"})
    time_machine.move_to(timezone.now() + timedelta(seconds=2))  # past the device's backoff after a wrong code
    right = client.post("/account/two-factor/", {"code": code_for(device)})

    assert page.status_code == 200 and page.context["qr_code"].startswith("data:image/svg+xml")
    assert page.context["secret"].replace(" ", "")  # the key, to type in
    assert wrong.status_code == 400
    assert right.status_code == 200 and len(right.context["codes"]) == 10
    assert TOTPDevice.objects.get(user=responder).confirmed
    assert actions(subject="user resp", action__startswith="2fa") == ["2fa_failed", "2fa_enrolled"]


def test_after_the_password_an_enrolled_person_must_give_a_code_before_anything_else(responder):
    _, device, _codes = enrol(responder)

    client = password_sign_in(responder)
    page = client.get("/incidents/")
    api = client.get("/api/v1/incidents/")
    verify = client.post("/account/two-factor/verify/?next=/incidents/", {"code": code_for(device, offset=1)})
    after = client.get("/incidents/")

    assert page.status_code == 302 and page["Location"].startswith("/account/two-factor/verify/")
    assert api.status_code == 403
    assert verify.status_code == 302 and verify["Location"] == "/incidents/"
    assert after.status_code == 200
    assert actions(action="2fa_verified") == ["2fa_verified"]
    assert AuditEvent.objects.filter(action="2fa_verified", address=OFFICE).exists()


def test_a_wrong_code_keeps_the_person_out(responder):
    _, device, _codes = enrol(responder)
    client = password_sign_in(responder)
    wrong = "999999" if code_for(device) != "999999" else "888888"

    response = client.post("/account/two-factor/verify/", {"code": wrong})

    assert response.status_code == 400
    assert client.get("/incidents/").status_code == 302
    assert actions(action="2fa_failed", actor_name="resp")


def test_a_recovery_code_signs_in_once(responder):
    _, _device, codes = enrol(responder)

    first = password_sign_in(responder)
    used = first.post("/account/two-factor/verify/", {"code": codes[0].upper()})
    second = password_sign_in(responder)
    again = second.post("/account/two-factor/verify/", {"code": codes[0]})

    assert used.status_code == 302 and first.get("/incidents/").status_code == 200
    assert again.status_code == 400
    assert StaticToken.objects.filter(device__user=responder).count() == 9
    event = AuditEvent.objects.get(action="2fa_recovery_used")
    assert event.detail == {"left": 9}


def test_accounts_that_require_it_are_sent_to_enrolment_and_kept_there(django_user_model, settings):
    settings.WARROOM_2FA_REQUIRED = True
    chief = make_user(django_user_model, "chief", "security")

    client = password_sign_in(chief)
    kept_out = [client.get(path) for path in ("/incidents/", "/audit/", "/account/tokens/", "/admin/")]
    device_page = client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=chief)
    client.post("/account/two-factor/", {"code": code_for(device)})

    assert all(r.status_code == 302 and r["Location"].startswith("/account/two-factor/") for r in kept_out)
    assert device_page.context["required"]
    assert client.get("/incidents/").status_code == 200


def test_superusers_must_enrol_too_and_the_admin_login_asks_for_the_code(django_user_model, settings):
    settings.WARROOM_2FA_REQUIRED = True
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")

    client = password_sign_in(root, path="/admin/login/")
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"] == "/account/two-factor/?next=%2Fadmin%2F"
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=root)
    client.post("/account/two-factor/", {"code": code_for(device)})

    again = password_sign_in(root, path="/admin/login/")
    asked = again.get("/admin/")
    again.post("/account/two-factor/verify/", {"code": code_for(device, offset=1)})

    assert asked["Location"].startswith("/account/two-factor/verify/")
    assert again.get("/admin/").status_code == 200


def test_without_the_setting_nobody_is_forced_to_enrol(security, settings):
    settings.WARROOM_2FA_REQUIRED = False

    client = password_sign_in(security)

    assert client.get("/incidents/").status_code == 200


def test_codes_go_through_the_sign_in_throttle(responder, settings):
    settings.LOGIN_RATE_LIMIT = 3
    _, device, _codes = enrol(responder)
    client = password_sign_in(responder)
    wrong = "999999" if code_for(device) != "999999" else "888888"

    answers = [client.post("/account/two-factor/verify/", {"code": wrong}).status_code for _ in range(4)]
    refused = client.post("/account/two-factor/verify/", {"code": code_for(device)})

    assert answers == [400, 400, 400, 429]
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "locked_out" in actions(subject="user resp")


def test_security_resets_a_lost_phone_in_the_admin_and_it_is_logged(responder, django_user_model, settings):
    enrol(responder)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")
    admin = Client()
    admin.force_login(root)

    response = admin.post(
        "/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [responder.pk]}, follow=True
    )

    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=responder).exists()
    event = AuditEvent.objects.get(action="2fa_reset")
    assert event.actor_name == "root" and event.subject == "user resp"
    assert password_sign_in(responder).get("/incidents/").status_code == 200  # no code asked any more


def test_someone_outside_security_cannot_reset_two_factor(responder, django_user_model):
    enrol(responder)
    staff = django_user_model.objects.create_user("staffer", password="pw-staffer", is_staff=True)
    client = Client()
    client.force_login(staff)

    client.post("/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [responder.pk]})

    assert TOTPDevice.objects.filter(user=responder, confirmed=True).exists()


def test_renewed_recovery_codes_replace_the_old_ones(responder):
    client, _device, old = enrol(responder)

    response = client.post("/account/two-factor/recovery-codes/")

    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert password_sign_in(responder).post("/account/two-factor/verify/", {"code": old[0]}).status_code == 400
    assert "2fa_recovery_renewed" in actions(subject="user resp")


def test_verify_page_query_count_is_bounded(responder, django_assert_max_num_queries):
    enrol(responder)
    client = password_sign_in(responder)

    with django_assert_max_num_queries(6):
        assert client.get("/account/two-factor/verify/").status_code == 200


def test_a_pending_session_gets_no_navigation_and_its_polls_get_nothing(responder):
    enrol(responder)
    client = password_sign_in(responder)

    page = client.get("/account/two-factor/verify/")
    poll = client.get("/inbox/count/", headers={"HX-Request": "true"})

    assert b"<nav>" not in page.content.split(b"<main>")[0]
    assert poll.status_code == 204


def test_the_public_status_page_does_not_vary_by_cookie(client, db):
    response = client.get("/status/")

    assert "Cookie" not in response.get("Vary", "")


def test_enrolment_page_query_count_is_bounded(responder, django_assert_max_num_queries):
    client = Client()
    client.force_login(responder)
    client.get("/account/two-factor/")  # the device being set up exists from the first visit

    with django_assert_max_num_queries(7):
        assert client.get("/account/two-factor/").status_code == 200
