"""Accounts in Chromium, the way a person goes (issue #12): a security-group member who must use
two-factor sign-in is sent to enrolment after the password, adds the key to their app, notes
the recovery codes and later signs in with a code; a responder creates an API token on the
tokens page, copies the key, uses it, and revokes it."""

from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect
from rest_framework.test import APIClient

from incidents.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clear_cache")]


def app_code(secret_shown, steps_ahead=0):
    """What an authenticator app shows for the key typed in from the page."""
    totp = TOTP(b32decode(secret_shown.replace(" ", "")))
    totp.time += steps_ahead * 30
    return f"{totp.token():06d}"


def sign_in_with_password(page, username, password):
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("main form").get_by_role("button", name="Sign in").click()


def test_security_member_enrols_after_the_password_and_later_signs_in_with_a_code(
    browser, live_server, security, settings
):
    settings.WARROOM_2FA_REQUIRED = True
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()

    sign_in_with_password(page, "sec", "pw-sec")
    page.wait_for_url("**/account/two-factor/**")
    expect(page.get_by_role("alert").first).to_contain_text("requires two-factor sign-in")
    page.goto("/incidents/")  # nothing else until enrolled
    page.wait_for_url("**/account/two-factor/**")
    expect(page.locator("img[alt='QR code for your authenticator app']")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.fill("input[name=code]", app_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url("**/incidents/")

    page.locator("form.signout button").click()
    page.wait_for_url("**/login/**")
    sign_in_with_password(page, "sec", "pw-sec")
    page.wait_for_url("**/account/two-factor/verify/**")
    page.fill("input[name=code]", "000000" if app_code(secret, 1) != "000000" else "111111")
    page.locator("main form").get_by_role("button", name="Verify").click()
    expect(page.locator(".error")).to_contain_text("not right")
    page.wait_for_timeout(1100)  # django-otp's backoff after a wrong code
    page.fill("input[name=code]", app_code(secret, 1))
    page.locator("main form").get_by_role("button", name="Verify").click()
    page.wait_for_url("**/incidents/")
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()

    page.goto("/audit/?action=2fa_verified")
    expect(page.get_by_test_id("audit-row")).to_have_count(1)
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "signed_in",
        "2fa_enrolled",
        "2fa_failed",
        "2fa_verified",
        "signed_out",
    }
    context.close()


def test_responder_creates_a_token_uses_it_and_revokes_it(new_page, responder, live_server):
    page = new_page("resp", "pw-resp")

    page.get_by_role("link", name="Account").click()
    page.wait_for_url("**/account/tokens/")
    page.fill("input[name=name]", "chat-ops bot")
    page.select_option("select[name=scope]", "read")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_test_id("new-key").inner_text()
    row = page.get_by_test_id("token-row").filter(has_text="chat-ops bot")
    expect(row).to_contain_text(key[:8])
    expect(row).to_contain_text("Read only")

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/incidents/").status_code == 200
    assert api.post("/api/v1/incidents/", {"title": "x", "severity": 3}, format="json").status_code == 403
    page.goto("/account/tokens/")
    expect(page.get_by_test_id("new-key")).to_have_count(0)  # shown once

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(page.get_by_test_id("token-row")).to_have_count(0)
    assert api.get("/api/v1/incidents/").status_code == 401
    assert not page.js_errors


def test_a_person_chooses_chinese_once_and_gets_it_at_every_sign_in(browser, live_server, responder):
    """Issue #14: the language is the person's, not the browser's: chosen on /account/, it is
    there after signing out and in again, even in a browser that never saw the choice."""
    first = browser.new_context(base_url=live_server.url, locale="en-US")
    first.set_default_timeout(10_000)
    page = first.new_page()
    sign_in_with_password(page, "resp", "pw-resp")
    page.wait_for_url("**/incidents/")
    page.goto("/account/")
    page.get_by_test_id("language-form").get_by_label("Language").select_option("zh-hans")
    page.get_by_test_id("language-form").get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".messages")).to_contain_text("语言已保存")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login/**")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")  # the sign-in page too
    first.close()

    # Another browser, asking for English, with no cookie of the choice.
    second = browser.new_context(base_url=live_server.url, locale="en-US")
    second.set_default_timeout(10_000)
    page = second.new_page()
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.fill("input[name=username]", "resp")
    page.fill("input[name=password]", "pw-resp")
    page.locator("main form").locator("button[type=submit]").click()
    page.wait_for_url("**/incidents/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", level=1)).to_contain_text("事件")
    expect(page.get_by_test_id("language")).to_have_value("zh-hans")
    second.close()
