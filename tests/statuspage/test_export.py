"""The static export: `manage.py export_statuspage DIR` writes the whole public page as files
at the app's paths, atomically (DIR is a symlink swapped to each new export)."""

import gzip
import json
import re
import threading
import xml.etree.ElementTree as ET
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from statuspage import views
from statuspage.export import export_to, file_for
from statuspage.models import Maintenance, PublicComponent, PublicIncident
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

JSON_FILES = [
    "api/v2/summary.json",
    "api/v2/status.json",
    "api/v2/components.json",
    "api/v2/incidents.json",
    "api/v2/incidents/unresolved.json",
    "api/v2/scheduled-maintenances.json",
    "api/v2/scheduled-maintenances/upcoming.json",
    "api/v2/scheduled-maintenances/active.json",
]


@pytest.fixture
def page_with_everything(public_page, api_service):
    now = timezone.now()
    m = Maintenance.objects.create(
        title="Database upgrade",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=1),
    )
    m.services.set([api_service])
    return {"incident": public_page, "maintenance": m}


def export(path):
    out = StringIO()
    call_command("export_statuspage", str(path), stdout=out)
    return out.getvalue()


def every_file(directory):
    return {str(p.relative_to(directory)) for p in Path(directory).rglob("*") if p.is_file()}


def test_export_writes_every_public_document_and_its_assets(tmp_path, page_with_everything):
    target = tmp_path / "status"
    output = export(target)
    assert re.match(r"Exported \d+ files to ", output)
    incident = PublicIncident.objects.get(incident=page_with_everything["incident"]).public_id
    maintenance = page_with_everything["maintenance"].public_id
    components = PublicComponent.objects.values_list("public_id", flat=True)
    files = every_file(target)
    expected = {
        "index.html",
        "history/index.html",
        "feed.atom",
        f"incidents/{incident}/index.html",
        f"maintenance/{maintenance}/index.html",
        "assets/status.css",
        "assets/status.js",
        "assets/favicon.svg",
        *JSON_FILES,
        *(f"components/{c}/feed.atom" for c in components),
    }
    assert expected <= files, expected - files
    for name in JSON_FILES:
        json.loads((target / name).read_text())
    ET.parse(target / "feed.atom")
    assert "Chat replies time out" in (target / "index.html").read_text()


def test_export_matches_what_the_app_serves(client, tmp_path, page_with_everything):
    export(tmp_path / "status")
    for name in JSON_FILES:
        served = client.get(f"/status/{name}").content
        assert (tmp_path / "status" / name).read_bytes() == served, name
    assert (tmp_path / "status" / "feed.atom").read_bytes() == client.get("/status/feed.atom").content


def test_every_link_in_the_export_resolves_to_a_file(tmp_path, page_with_everything):
    target = tmp_path / "status"
    export(target)
    for page in target.rglob("*.html"):
        for url in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            url = url.split("#")[0].split("?")[0]
            if not url or url == "/status/subscribe/":  # subscribing needs the app
                continue
            assert url.startswith("/status/"), (page, url)
            assert (target / file_for(url.removeprefix("/status/"))).is_file(), (page, url)


def test_export_is_a_symlink_swapped_atomically_and_old_exports_are_removed(tmp_path, page_with_everything, publish):
    target = tmp_path / "status"
    export(target)
    first = target.resolve()
    assert target.is_symlink()
    publish(page_with_everything["incident"], "Fix deployed.", status="monitoring")
    export(target)
    second = target.resolve()
    assert second != first
    assert "Fix deployed." in (target / "index.html").read_text()
    export(target)
    export(target)
    generations = [p for p in tmp_path.iterdir() if p.name.startswith(".status.gen-")]
    assert len(generations) == 2, "the current export and the one before it"
    assert target.resolve() in generations
    assert not [p for p in tmp_path.iterdir() if ".link-" in p.name]
    assert (tmp_path / ".status.lock").exists()


def test_readers_never_see_a_half_written_export(tmp_path, page_with_everything, publish):
    target = tmp_path / "status"
    export_to(target)
    stop = threading.Event()
    problems = []
    reads = [0]

    def reader():
        while not stop.is_set():
            try:
                page = (target / "index.html").read_text()
                assert page.rstrip().endswith("</html>"), "truncated page"
                summary = json.loads((target / "api/v2/summary.json").read_text())
                assert summary["incidents"], "empty summary"
                reads[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for n in range(6):
            publish(page_with_everything["incident"], f"Update {n}.", status="monitoring")
            views.clear_cache()
            export_to(target)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []
    assert reads[0] > 10
    assert "Update 5." in (target / "index.html").read_text()


def test_export_refuses_to_replace_a_directory_it_did_not_make(tmp_path, db):
    target = tmp_path / "site"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="not a link made by an earlier export"):
        export(target)
    assert (target / "keep.txt").read_text() == "mine"


def test_export_takes_over_an_empty_directory(tmp_path, db):
    target = tmp_path / "site"
    target.mkdir()
    export(target)
    assert target.is_symlink() and (target / "index.html").is_file()


def test_export_links_relatively_so_the_parent_can_be_mounted_anywhere(tmp_path, db):
    export(tmp_path / "status")
    assert not Path((tmp_path / "status").readlink()).is_absolute()


def test_every_exported_file_has_a_gzipped_copy_for_gzip_static(tmp_path, page_with_everything):
    target = tmp_path / "status"
    export(target)
    files = every_file(target)
    served = {name for name in files if not name.endswith(".gz") and not name.startswith(".statuspage-")}
    assert {"index.html", "api/v2/summary.json", "feed.atom", "assets/status.css"} <= served
    for name in served:
        assert f"{name}.gz" in files, name
        assert gzip.decompress((target / f"{name}.gz").read_bytes()) == (target / name).read_bytes(), name
    assert len((target / "index.html.gz").read_bytes()) < len((target / "index.html").read_bytes()) / 2


def test_confidential_incidents_and_internal_services_never_appear_in_the_export(tmp_path, leak, internal_service):
    now = timezone.now()
    m = Maintenance.objects.create(
        title="Ledger migration",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=1),
    )
    m.services.set([internal_service])
    target = tmp_path / "status"
    export(target)
    for name in every_file(target):
        body = (target / name).read_bytes()
        body = (gzip.decompress(body) if name.endswith(".gz") else body).decode("utf-8", "replace")
        for word in [*leak["words"], "Ledger migration"]:
            assert word not in body, (name, word)
    assert not PublicIncident.objects.filter(incident=leak["secret"]).exists()
    assert not PublicComponent.objects.filter(service=internal_service).exists()
    assert not (target / "maintenance" / m.public_id).exists()
    assert "Slow sign-in" in (target / "index.html").read_text()
