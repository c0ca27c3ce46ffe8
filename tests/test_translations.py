"""The Simplified Chinese catalogs: complete, compiled, consistent with each other, and in step
with the strings the code and templates mark.

Two catalogs: locale/zh_Hans (the staff UI: templates/, incidents/, runbooks/) and
statuspage/locale/zh_Hans (the public status page and its staff maintenance pages). Both .mo
files are committed, since a fresh machine may lack gettext; these tests fail when a .po
changed without a recompile. They compare contents rather than file times: a git checkout
gives every file the time it was written, in no particular order.
"""

import ast
import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CATALOGS = {
    "staff UI": ROOT / "locale" / "zh_Hans" / "LC_MESSAGES",
    "status page": ROOT / "statuspage" / "locale" / "zh_Hans" / "LC_MESSAGES",
}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|<[^>]+>")


def read_po(path):
    """{(context, msgid): {"str": [msgstr...], "plural": msgid_plural, "fuzzy": bool}} of a
    .po file as makemessages and msgcat write it (obsolete entries skipped)."""
    entries = {}
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        fields, key, fuzzy = {}, None, False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            else:
                key, _sep, rest = line.partition(" ")
                fields[key] = ast.literal_eval(rest)
        if "msgid" not in fields or fields["msgid"] == "":
            continue  # the header (or a block of comments only)
        strings = [fields[k] for k in sorted(fields) if k.startswith("msgstr")]
        entries[(fields.get("msgctxt"), fields["msgid"])] = {
            "str": strings,
            "plural": fields.get("msgid_plural"),
            "fuzzy": fuzzy,
        }
    return entries


def read_mo(path):
    with open(path, "rb") as f:
        return gettext.GNUTranslations(f)._catalog


def mo_key(context, msgid):
    return f"{context}\x04{msgid}" if context else msgid


@pytest.fixture(params=sorted(CATALOGS), ids=lambda name: name.replace(" ", "-"))
def catalog(request):
    return CATALOGS[request.param]


def test_every_string_is_translated(catalog):
    entries = read_po(catalog / "django.po")
    assert len(entries) > 40
    untranslated = [msgid for (_ctx, msgid), e in entries.items() if e["fuzzy"] or not all(e["str"])]
    assert untranslated == [], f"untranslated or fuzzy in {catalog / 'django.po'}: {untranslated}"


def test_translations_keep_the_placeholders_and_markup(catalog):
    wrong = []
    for (_ctx, msgid), e in read_po(catalog / "django.po").items():
        for msgstr in e["str"]:
            if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr)):
                wrong.append((msgid, msgstr))
    assert wrong == []


def test_the_compiled_catalog_matches_the_po_file(catalog):
    """Fails when the .po is newer than the .mo: run
    `DEBUG=True .venv/bin/python manage.py compilemessages --ignore=.venv`."""
    po = read_po(catalog / "django.po")
    mo = read_mo(catalog / "django.mo")
    stale = []
    for (context, msgid), e in po.items():
        if e["plural"] is None:
            if mo.get(mo_key(context, msgid)) != e["str"][0]:
                stale.append(msgid)
        elif mo.get((mo_key(context, msgid), 0)) != e["str"][0]:
            stale.append(msgid)
    extra = {k if isinstance(k, str) else k[0] for k in mo} - {mo_key(c, m) for c, m in po} - {""}
    assert stale == [], f"{catalog / 'django.mo'} is out of date for: {stale}"
    assert extra == set(), f"{catalog / 'django.mo'} has strings the .po no longer has: {extra}"


def test_strings_in_both_catalogs_read_the_same():
    """The staff catalog (LOCALE_PATHS) wins over an app's: a string both have must not change
    the public status page's wording."""
    staff, public = (read_po(CATALOGS[name] / "django.po") for name in ("staff UI", "status page"))
    differ = {key[1]: (staff[key]["str"], public[key]["str"]) for key in staff.keys() & public.keys()}
    differ = {msgid: pair for msgid, pair in differ.items() if pair[0] != pair[1]}
    assert differ == {}


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext (xgettext) is not installed")
def test_the_staff_catalog_has_every_string_the_code_marks(tmp_path):
    """makemessages on a copy of the project finds no string the committed .po lacks, and
    none it has that nothing uses any more."""
    for name in ("config", "incidents", "runbooks", "statuspage", "templates", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    command = [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--ignore=.venv", "--ignore=statuspage"]
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "DEBUG": "True", "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    fresh = read_po(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    committed = read_po(CATALOGS["staff UI"] / "django.po")
    assert sorted(fresh.keys() - committed.keys(), key=str) == [], "new strings: run makemessages and translate"
    assert sorted(committed.keys() - fresh.keys(), key=str) == [], "unused strings: run makemessages"
