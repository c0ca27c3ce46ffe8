"""Runbook files: the format, import and export, and how malformed files are reported."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from runbooks import services
from runbooks.fileformat import RunbookFileError, parse, render
from runbooks.models import Runbook, RunbookStep, RunbookVersion

from .conftest import LIBRARY

GOOD = """---
slug: flood
title: Traffic flood
summary: When the API is flooded.
applies_to:
  kinds: [availability]
  min_severity: 2
tags: [ddos]
---

## Confirm it is an attack
role: responder
minutes: 10
critical: yes

Look at the edge graphs.

## Tell the public
role: comms
minutes: 15

Post on the status page.
"""


def write(folder, name, text):
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(path):
    """Run import_runbooks; return (stdout, stderr, failed)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_runbooks", str(path), stdout=out, stderr=err)
    except CommandError:
        return out.getvalue(), err.getvalue(), True
    return out.getvalue(), err.getvalue(), False


# The format ------------------------------------------------------------------------------------


def test_it_parses_front_matter_and_steps():
    data = parse(GOOD, "flood.md")
    assert (data.slug, data.title, data.summary) == ("flood", "Traffic flood", "When the API is flooded.")
    assert (data.kinds, data.min_severity, data.services, data.tags) == (["availability"], 2, [], ["ddos"])
    assert [(s.title, s.role, s.expected_minutes, s.critical) for s in data.steps] == [
        ("Confirm it is an attack", "responder", 10, True),
        ("Tell the public", "comms", 15, False),
    ]
    assert data.steps[0].body == "Look at the edge graphs."


def test_canonical_text_renders_back_byte_for_byte():
    assert render(parse(GOOD)) == GOOD


def test_a_heading_inside_a_code_block_is_not_a_new_step():
    text = GOOD.replace("Look at the edge graphs.", "```md\n## not a step\n```\n\n~~~\n## nor this\n~~~")
    data = parse(text)
    assert len(data.steps) == 2
    assert "## not a step" in data.steps[0].body
    assert render(data) == text


def test_long_and_multi_line_summaries_round_trip():
    for summary in ["word " * 40, "First line.\n\nSecond paragraph,\n  indented.", " leading space " * 10]:
        data = parse(GOOD)
        data.summary = summary.strip() if summary.startswith("word") else summary
        assert parse(render(data)) == data
        assert render(parse(render(data))) == render(data)


@pytest.mark.parametrize(
    "change, line, reason",
    [
        (("title: Traffic flood", "title: Traffic: flood"), 3, "invalid YAML: mapping values are not allowed here"),
        (("title: Traffic flood", "title: [unclosed"), 4, "(while parsing a flow sequence started on line 3)"),
        (("title: Traffic flood\n", ""), 2, "'title' is required"),
        (("slug: flood", "slug: Flood Runbook"), 2, "'slug' is required"),
        (("role: comms", "role: intern"), 19, "unknown role 'intern'"),
        (("tags: [ddos]", "tags: [ddos]\nowners: [maya]"), 9, "unknown key 'owners'"),
        (("  min_severity: 2", "  min_severity: 5"), 7, "'min_severity' must be 1, 2, 3 or 4"),
        (("kinds: [availability]", "kinds: [outage]"), 6, "unknown incident kind 'outage'"),
        (("minutes: 10", "minutes: ten"), 13, "'minutes' must be a whole number"),
        (("critical: yes", "critical: maybe"), 14, "'critical' must be yes or no"),
        (("## Confirm it is an attack", "Intro text.\n\n## Confirm it is an attack"), 11, "text before the first step"),
        (("Look at the edge graphs.", "```\nunclosed"), 16, "never closed"),
    ],
)
def test_malformed_text_is_reported_with_line_and_reason(change, line, reason):
    old, new = change
    assert old in GOOD
    with pytest.raises(RunbookFileError) as caught:
        parse(GOOD.replace(old, new), "flood.md")
    assert caught.value.name == "flood.md"
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"flood.md:{line}: ")


def test_a_file_without_steps_is_refused():
    with pytest.raises(RunbookFileError, match="at least one step"):
        parse(GOOD.split("## Confirm")[0])


# Import and export ---------------------------------------------------------------------------


def test_starter_library_round_trips_byte_for_byte(starter_library, tmp_path):
    call_command("export_runbooks", str(tmp_path), stdout=io.StringIO())
    shipped = sorted(p.name for p in LIBRARY.glob("*.md"))
    assert sorted(p.name for p in tmp_path.glob("*.md")) == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (LIBRARY / name).read_bytes(), name


def test_starter_library_has_the_promised_runbooks_in_good_shape(starter_library):
    slugs = set(Runbook.objects.values_list("slug", flat=True))
    assert slugs == {
        "ddos-public-api",
        "data-exposure",
        "bot-signups-registration-restrictions",
        "leaked-credentials",
        "major-outage-comms",
        "regulatory-notification",
        "post-incident-review",
    }
    for runbook in Runbook.objects.select_related("latest"):
        steps = runbook.latest.steps.all()
        assert 8 <= len(steps) <= 20, runbook.slug
        assert runbook.latest.owner is None and not runbook.latest.services.exists(), runbook.slug
        assert all(len(s.body) > 100 for s in steps), runbook.slug
    regulatory = Runbook.objects.get(slug="regulatory-notification").latest
    text = " ".join(s.body for s in regulatory.steps.all())
    assert "Art. 33" in text and "72 h" in text and "PIPL" in text and "counsel" in text


def test_reimporting_unchanged_files_makes_no_new_version(starter_library):
    before = RunbookVersion.objects.count()
    out, _, failed = run_import(LIBRARY)
    assert not failed
    assert RunbookVersion.objects.count() == before
    assert "0 new version(s), 7 unchanged" in out


def test_a_changed_file_makes_exactly_one_new_version(db, tmp_path):
    path = write(tmp_path, "flood.md", GOOD)
    run_import(path)
    write(tmp_path, "flood.md", GOOD.replace("Post on the status page.", "Post on the status page within 15 min."))
    out, _, failed = run_import(tmp_path)
    assert not failed and "flood v2" in out
    run_import(tmp_path)
    runbook = Runbook.objects.get(slug="flood")
    assert list(runbook.versions.values_list("number", flat=True)) == [2, 1]
    assert runbook.latest.number == 2
    assert runbook.latest.steps.get(position=2).body == "Post on the status page within 15 min."


def test_a_non_canonical_file_that_says_the_same_makes_no_new_version(db, tmp_path):
    run_import(write(tmp_path, "flood.md", GOOD))
    loose = GOOD.replace("tags: [ddos]", "tags:\n  - ddos").replace(
        "Look at the edge graphs.", "\n\nLook at the edge graphs.\n\n"
    )
    run_import(write(tmp_path, "flood.md", loose))
    assert RunbookVersion.objects.filter(runbook__slug="flood").count() == 1


BAD_FILES = {
    "bad-yaml.md": (
        GOOD.replace("slug: flood", "slug: bad-yaml").replace("title: Traffic flood", "title: a: b"),
        3,
        "invalid YAML",
    ),
    "no-title.md": (
        GOOD.replace("slug: flood", "slug: no-title").replace("title: Traffic flood\n", ""),
        2,
        "'title' is required",
    ),
    "unknown-role.md": (
        GOOD.replace("slug: flood", "slug: unknown-role").replace("role: comms", "role: intern"),
        19,
        "unknown role 'intern'",
    ),
    "unknown-key.md": (
        GOOD.replace("slug: flood", "slug: unknown-key").replace("tags: [ddos]", "tag: [ddos]"),
        8,
        "unknown key 'tag'",
    ),
    "dup-a.md": (GOOD.replace("slug: flood", "slug: twice"), 2, "duplicate slug 'twice'"),
    "dup-b.md": (GOOD.replace("slug: flood", "slug: twice"), 2, "duplicate slug 'twice'"),
}


def test_malformed_files_are_reported_and_nothing_from_them_is_imported(db, tmp_path):
    write(tmp_path, "good.md", GOOD)
    write(tmp_path, "also-good.md", GOOD.replace("slug: flood", "slug: also-good"))
    for name, (text, _, _) in BAD_FILES.items():
        write(tmp_path, name, text)

    out, err, failed = run_import(tmp_path)

    assert failed
    assert set(Runbook.objects.values_list("slug", flat=True)) == {"flood", "also-good"}
    assert RunbookStep.objects.count() == 4
    reported = err.strip().splitlines()
    assert len(reported) == len(BAD_FILES)
    for name, (_, line, reason) in BAD_FILES.items():
        lines = [r for r in reported if r.startswith(f"{tmp_path / name}:{line}: ")]
        assert len(lines) == 1, (name, reported)
        assert reason in lines[0]
    assert "2 new version(s), 0 unchanged, 6 file(s) with errors." in out


def test_a_file_referring_to_an_unknown_service_or_owner_is_reported_with_its_line(db, tmp_path):
    write(tmp_path, "svc.md", GOOD.replace("  min_severity: 2", "  min_severity: 2\n  services: [nope]"))
    _, err, failed = run_import(tmp_path)
    assert failed
    assert f"{tmp_path / 'svc.md'}:8: Unknown service 'nope'." in err
    assert not Runbook.objects.exists()


def test_services_and_owner_round_trip(tmp_path, api_service, web_chat, commander):
    text = GOOD.replace("  min_severity: 2", "  min_severity: 2\n  services: [web-chat, public-api]").replace(
        "tags: [ddos]", "tags: [ddos]\nowner: cmdr\nreview_by: 2027-03-01"
    )
    run_import(write(tmp_path, "flood.md", text))
    version = Runbook.objects.get(slug="flood").latest
    assert version.owner == commander and str(version.review_by) == "2027-03-01"
    call_command("export_runbooks", str(tmp_path / "out"), stdout=io.StringIO())
    exported = (tmp_path / "out" / "flood.md").read_text()
    assert "services: [public-api, web-chat]" in exported  # sorted: a version keeps a set
    run_import(tmp_path / "out")
    assert Runbook.objects.get(slug="flood").versions.count() == 1


def test_import_of_a_missing_path_fails_clearly(db, tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        call_command("import_runbooks", str(tmp_path / "missing"))


def test_new_only_seeds_missing_runbooks_and_keeps_edits(db, tmp_path, commander):
    path = write(tmp_path, "flood.md", GOOD)
    run_import(path)
    edited = parse(GOOD)
    edited.steps[1].body = "Edited in the browser."
    services.save_runbook(commander, edited)
    write(tmp_path, "other.md", GOOD.replace("slug: flood", "slug: other"))

    out, _, failed = run_import_new_only(tmp_path)

    assert not failed and "1 new version(s), 1 unchanged or existing" in out
    flood = Runbook.objects.get(slug="flood")
    assert flood.latest.number == 2 and flood.latest.steps.get(position=2).body == "Edited in the browser."
    assert Runbook.objects.filter(slug="other").exists()


def run_import_new_only(path):
    out = io.StringIO()
    try:
        call_command("import_runbooks", str(path), "--new-only", stdout=out, stderr=io.StringIO())
    except CommandError:
        return out.getvalue(), "", True
    return out.getvalue(), "", False


def test_the_example_in_the_docs_is_a_canonical_runbook_file():
    docs = (LIBRARY.parents[1] / "docs" / "runbooks.md").read_text(encoding="utf-8")
    example = docs.split("````markdown\n", 1)[1].split("````\n", 1)[0]
    data = parse(example, "docs/runbooks.md")
    assert [s.role for s in data.steps] == ["responder", "comms", "responder"]
    assert "```sh" in data.steps[0].body
    assert render(data) == example
