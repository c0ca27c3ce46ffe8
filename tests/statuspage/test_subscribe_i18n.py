"""The public subscription pages speak the visitor's language, chosen as the status page
chooses it (?lang=, then Accept-Language); English otherwise."""

import pytest
from django.core.cache import cache

from statuspage.views_subscribe import rate_limit_key

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/status/subscribe/"


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    key = rate_limit_key("127.0.0.1")
    cache.delete(key)
    yield
    cache.delete(key)


def test_the_subscribe_form_is_in_chinese_for_a_zh_hans_visitor(client):
    response = client.get(SUBSCRIBE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in page
    assert "<h1>订阅更新</h1>" in page
    assert "电子邮件地址" in page
    assert "Subscribe to updates" not in page


def test_the_subscribe_form_is_in_english_by_default(client):
    response = client.get(SUBSCRIBE)
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in page
    assert "<h1>Subscribe to updates</h1>" in page
    assert "E-mail address" in page
    assert "订阅" not in page


def test_a_form_error_is_in_chinese_for_a_zh_hans_visitor(client):
    data = {"kind": "email", "email": "not-an-address", "scope": "all"}
    response = client.post(SUBSCRIBE, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert response.status_code == 400
    assert "“not-an-address”不是我们可以发送邮件的地址。" in page
    assert "is not an e-mail address" not in page
