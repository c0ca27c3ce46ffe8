"""The XSS corpus (tests/browser/test_xss.py) covers every text field a person can write: a
model that gains a text field fails here until the field is written by the corpus or named as
holding no free text (tests/xss_corpus.py)."""

from django.apps import apps
from django.db import models

from tests.xss_corpus import NOT_USER_TEXT, PAYLOADS, TEXT_FIELDS, long_text, short_texts

PROJECT_APPS = ("incidents", "runbooks", "statuspage")
TEXT_TYPES = (models.CharField, models.TextField, models.JSONField)


def text_fields():
    found = set()
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, TEXT_TYPES) and not field.choices:
                found.add(f"{model._meta.app_label}.{model.__name__}.{field.name}")
    return found


def test_every_text_field_of_the_models_is_in_the_corpus_or_named_as_not_free_text():
    found = text_fields()
    forgotten = sorted(found - TEXT_FIELDS.keys() - NOT_USER_TEXT.keys())
    assert not forgotten, (
        f"Text fields the XSS corpus does not write: {forgotten}. Write the payloads into each through "
        "the API or a form in tests/browser/test_xss.py and list it in TEXT_FIELDS, or name it in "
        "NOT_USER_TEXT with the reason it holds no text a person typed (tests/xss_corpus.py)."
    )
    gone = sorted((TEXT_FIELDS.keys() | NOT_USER_TEXT.keys()) - found)
    assert not gone, f"tests/xss_corpus.py names fields the models no longer have: {gone}"
    assert not TEXT_FIELDS.keys() & NOT_USER_TEXT.keys()


def test_the_corpus_has_every_kind_of_payload_and_the_short_texts_carry_all_of_them():
    assert len(PAYLOADS) >= 40 and len(set(PAYLOADS)) == len(PAYLOADS)
    text = long_text()
    for needle in (
        "<script",
        "onerror=",
        "javascript:",
        "JaVaScRiPt:",
        "&#x09;",
        "data:",
        "vbscript:",
        "<svg",
        "<math",
        "{{",
        "{%",
        "${",
        "hx-get",
        "hx-on",
        "hx-trigger",
        "](",
    ):
        assert needle in text, needle
    for limit in (120, 200):
        packed = short_texts(limit)
        assert all(len(text) <= limit for text in packed)
        assert sum(p.count("xss") + p.count("7191") for p in packed) >= len(PAYLOADS)
