"""What the public sees, built once per request (or export) from the incident core.

Only public services and non-confidential incidents with at least one published status-page
update ever reach this module's output: every public surface (HTML, JSON, feeds, export,
subscriber messages) is built from it, so the rule lives here once.

The JSON follows Atlassian Statuspage's v2 public API shapes (docs/statuspage.md).
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.db.models.sql.constants import MULTI
from django.utils import timezone
from django.utils.translation import gettext

from incidents.models import Communication, Impact, Incident, Mitigation, Service

from . import pages
from .models import Maintenance, PublicComponent, PublicIncident, PublicUpdate, StatusPage
from .uptime import Uptime

OPERATIONAL = "operational"
LEVEL_RANK = {OPERATIONAL: 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3, "major_outage": 4}
IMPACT_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}


def iso(value):
    if value is None:
        return None
    return timezone.localtime(value, timezone.get_default_timezone()).isoformat(timespec="milliseconds")


def local_date(value):
    """The page's calendar day of a time: the server's TIME_ZONE, never the viewer's (the
    built page is shared by every visitor and cached)."""
    return timezone.localtime(value, timezone.get_default_timezone()).date()


def primary_subtag(language):
    return (language or "").lower().replace("_", "-").split("-")[0]


def stable_id(*parts):
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    number = int(digest, 16)
    return "".join(alphabet[(number >> (6 * i)) % 36] for i in range(12))


def page_id(page=None):
    """The Statuspage page id: the default page's as before (STATUSPAGE_PAGE_ID, or derived
    from SITE_URL), another page's derived from SITE_URL and its slug."""
    if page is None or page.is_default:
        return settings.STATUSPAGE_PAGE_ID or stable_id("page", settings.SITE_URL)
    return stable_id("page", settings.SITE_URL, page.slug)


def public_updates():
    return Communication.objects.filter(
        audience=Communication.Audience.STATUS_PAGE, status=Communication.Status.PUBLISHED
    )


def public_incidents():
    """Non-confidential incidents that comms has published at least one update for."""
    published = public_updates().filter(incident=OuterRef("pk"))
    return Incident.objects.filter(confidential=False).filter(Exists(published))


def shown_incidents(now):
    """The public incidents the page shows: open ones, and those declared in the last 90 days."""
    recent = Q(declared_at__gte=now - timedelta(days=90)) | Q(status__in=Incident.OPEN_STATUSES)
    return public_incidents().filter(recent)


def shown_maintenances():
    """Maintenance windows the page shows, newest first. One of internal services only is
    internal too; one of no service at all (the whole platform) is public."""
    return (
        Maintenance.objects.filter(cancelled=False)
        .annotate(
            service_count=Count("services", distinct=True),
            public_service_count=Count("services", filter=Q(services__public=True), distinct=True),
        )
        .filter(Q(service_count=0) | Q(public_service_count__gt=0))
        .order_by("-scheduled_for")[:50]
    )


def content_digest(now=None):
    """A digest of what the public can see, from a projection of only the public fields of
    only the public rows, in 9 queries however many rows there are: the shown incidents'
    titles, severities and times, their published updates (text, status, affected
    components, translations), their impacts on public services and public mitigations, the
    public services, the shown maintenance, and the status pages' definitions.

    It changes exactly when the page's content changes: a private timeline note, a draft, a
    role change, an edit of a confidential incident or of an internal service never reaches it,
    so they never invalidate a built page or re-export the static one. (What changes by the
    clock alone, a window opening or a day passing, is each built document's valid_until.)"""
    now = now or timezone.now()
    shown = shown_incidents(now).values("pk")
    maintenances = shown_maintenances()
    projection = [
        Service.objects.filter(public=True)
        .order_by("pk")
        .values_list("pk", "name", "names", "slug", "group", "description", "position", "created_at", "updated_at"),
        shown.order_by("pk").values_list("pk", "public_title", "public_titles", "started_at", "declared_at"),
        public_updates()
        .filter(incident__in=shown)
        .order_by("pk", "translations__pk")
        .values_list(
            "pk",
            "incident_id",
            "body",
            "language",
            "public_status",
            "public_impact",
            "affected",
            "published_at",
            "updated_at",
            "translations__language",
            "translations__body",
        ),
        Impact.objects.filter(incident__in=shown, service__public=True)
        .order_by("pk")
        .values_list("pk", "incident_id", "service_id", "level", "started_at", "ended_at"),
        Mitigation.objects.filter(incident__in=shown, public=True)
        .order_by("pk")
        .values_list("pk", "incident_id", "public_explanation", "public_explanations", "started_at", "ended_at"),
        maintenances.values_list(
            "pk",
            "public_id",
            "title",
            "body",
            "scheduled_for",
            "scheduled_until",
            "verify_minutes",
            "status",
            "created_at",
            "updated_at",
        ),
        Maintenance.services.through.objects.filter(maintenance__in=maintenances.values("pk"), service__public=True)
        .order_by("pk")
        .values_list("maintenance_id", "service_id"),
        # The pages themselves: what each shows, where, and whether it is public.
        StatusPage.objects.order_by("pk").values_list(
            "pk", "name", "slug", "host", "logo_url", "language", "is_default", "all_components", "groups", "visibility"
        ),
        StatusPage.services.through.objects.order_by("pk").values_list("statuspage_id", "service_id"),
    ]
    digest = hashlib.sha256()
    for query in projection:
        for row in raw_rows(query):
            digest.update(repr(row).encode())
        digest.update(b"\x00")  # one table's rows never run into the next's
    return digest.hexdigest()


def raw_rows(queryset):
    """The rows of a values_list() query as the database driver returns them, without Django's
    conversions (parsing dates, decoding JSON): a digest only needs them to differ when the data
    does, and the conversions were most of the cost of reading the content version."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    for chunk in compiler.execute_sql(MULTI):
        yield from chunk


@dataclass
class Component:
    service: Service | None
    id: str
    name: str
    status: str
    position: int
    description: str | None
    created_at: datetime
    updated_at: datetime
    group_name: str = ""
    group_id: str | None = None
    is_group: bool = False
    children: list = field(default_factory=list)
    uptime: dict | None = None  # leaves: {"30d": 99.95, "90d": 99.98} (statuspage.uptime)

    def as_json(self, page):
        data = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "position": self.position,
            "description": self.description,
            "showcase": not self.is_group,
            "start_date": None if self.is_group else self.created_at.date().isoformat(),
            "group_id": self.group_id,
            "page_id": page,
            "group": self.is_group,
            "only_show_if_degraded": False,
        }
        if self.is_group:
            data["components"] = [c.id for c in self.children]
        if self.uptime is not None:  # Warroom's own addition; Statuspage clients ignore it
            data["uptime"] = self.uptime
        return data


class PublicState:
    """Everything one status page shows (the default page unless `page` is given), computed with
    a fixed number of queries.

    A page shows its components (statuspage.pages.shows_service), the incidents that touch one
    of them (an impact, or a component named in a published update) and the maintenance of one
    of them or of no service at all (the whole platform). A page of every component shows every
    public incident, as the single page always did; an incident touching no public component
    at all is shown on the default page only. So an incident of a component that only a private
    page shows is never on a public page."""

    def __init__(self, now=None, language=None, page=None):
        self.now = now or timezone.now()
        self.language = language
        self.status_page = page if page is not None else pages.default_page()
        self.page_id = page_id(self.status_page)
        self._load()

    # Loading ---------------------------------------------------------------------------------

    def _load(self):
        page = self.status_page
        every = list(
            Service.objects.filter(public=True).select_related("public_component").order_by("group", "position", "name")
        )
        services = [s for s in every if pages.shows_service(page, s)]
        self._ensure_component_ids(services)
        incidents = list(
            shown_incidents(self.now)
            .select_related("public")
            .prefetch_related(
                Prefetch(
                    "communications",
                    queryset=public_updates()
                    .select_related("public")
                    .prefetch_related("translations")
                    .order_by("-published_at", "-id"),
                    to_attr="updates",
                ),
                Prefetch(
                    "impacts",
                    queryset=Impact.objects.filter(service__public=True).select_related("service"),
                    to_attr="public_impacts",
                ),
            )
            .order_by("-declared_at")
        )
        if not page.all_components:
            incidents = self._on_page(incidents, {s.slug for s in services}, {s.slug for s in every})
        self._ensure_incident_ids(incidents)
        maintenances = list(
            shown_maintenances().prefetch_related(Prefetch("services", queryset=Service.objects.filter(public=True)))
        )
        if not page.all_components:
            shown_ids = {s.pk for s in services}
            maintenances = [
                m for m in maintenances if not m.service_count or {s.pk for s in m.services.all()} & shown_ids
            ]
        self.maintenances = maintenances
        for m in maintenances:
            m.current_status = m.status_at(self.now)
        self.incidents = incidents
        for incident in incidents:
            updates = incident.updates
            incident.public_status = updates[0].public_status or "investigating" if updates else "investigating"
            # The impact comms chose on the latest update that chose one.
            incident.public_impact = next((u.public_impact for u in updates if u.public_impact), "none")
            incident.is_unresolved = incident.public_status != "resolved"
        self.services = services
        self._component_status()
        self.uptime = Uptime(self)
        for component in self.leaf_components:
            component.uptime = self.uptime.windows[component.id]
        self.mitigations = self._load_mitigations()

    def _on_page(self, incidents, page_slugs, public_slugs):
        """The incidents touching one of the page's components; those touching no public
        component at all on the default page only."""
        kept = []
        for incident in incidents:
            slugs = {impact.service.slug for impact in incident.public_impacts}
            slugs |= {item.get("service") for u in incident.updates for item in u.affected or ()}
            if slugs & page_slugs or (self.status_page.is_default and not slugs & public_slugs):
                kept.append(incident)
        return kept

    def _ensure_component_ids(self, services):
        missing = [s for s in services if not hasattr(s, "public_component") or s.public_component is None]
        if missing:
            PublicComponent.objects.bulk_create([PublicComponent(service=s) for s in missing], ignore_conflicts=True)
            by_service = {p.service_id: p for p in PublicComponent.objects.filter(service__in=missing)}
            for s in missing:
                s.public_component = by_service[s.pk]

    def _ensure_incident_ids(self, incidents):
        missing = [i for i in incidents if not _has(i, "public")]
        if missing:
            PublicIncident.objects.bulk_create([PublicIncident(incident=i) for i in missing], ignore_conflicts=True)
            by_incident = {p.incident_id: p for p in PublicIncident.objects.filter(incident__in=missing)}
            for i in missing:
                i.public = by_incident[i.pk]
        updates = [u for i in incidents for u in i.updates if not _has(u, "public")]
        if updates:
            PublicUpdate.objects.bulk_create([PublicUpdate(communication=u) for u in updates], ignore_conflicts=True)
            by_comm = {p.communication_id: p for p in PublicUpdate.objects.filter(communication__in=updates)}
            for u in updates:
                u.public = by_comm[u.pk]

    def _load_mitigations(self):
        """Temporary measures in force that the public should know about (e.g. sign-ups limited
        to some countries): public ones of the incidents shown here, not ended."""
        incidents = {i.pk: i for i in self.incidents}
        self.mitigation_changes = []  # when a shown mitigation came into force or was lifted
        if not incidents:
            return []
        # Lifted ones too: lifting one is a change of the page, and "Last updated" says when.
        rows = list(Mitigation.objects.filter(incident__in=list(incidents), public=True).order_by("pk"))
        shown = []
        for m in rows:
            if not m.public_explanation.strip():
                continue
            self.mitigation_changes += [t for t in (m.started_at, m.ended_at) if t is not None and t <= self.now]
            if m.ended_at is None or m.ended_at > self.now:
                shown.append(
                    {
                        "text": m.public_explanation,
                        "mitigation": m,
                        "incident": incidents[m.incident_id],
                        "since": m.started_at,
                        "until": m.ended_at,
                    }
                )
        return shown

    def _component_status(self):
        worst = {}
        changed = {}  # service id -> last time its public status changed

        def touch(service_id, when):
            if when <= self.now and (service_id not in changed or when > changed[service_id]):
                changed[service_id] = when

        for incident in self.incidents:
            for impact in incident.public_impacts:
                touch(impact.service_id, impact.started_at)
                if impact.ended_at:
                    touch(impact.service_id, impact.ended_at)
                if impact.started_at <= self.now and (impact.ended_at is None or impact.ended_at > self.now):
                    current = worst.get(impact.service_id, OPERATIONAL)
                    if LEVEL_RANK[impact.level] > LEVEL_RANK[current]:
                        worst[impact.service_id] = impact.level
        for m in self.maintenances:
            for s in m.services.all():
                touch(s.pk, m.scheduled_for)
                touch(s.pk, m.scheduled_until)
            if m.current_status == Maintenance.Status.IN_PROGRESS:
                for s in m.services.all():
                    if LEVEL_RANK[worst.get(s.pk, OPERATIONAL)] < LEVEL_RANK["under_maintenance"]:
                        worst[s.pk] = "under_maintenance"
        self.components = []
        groups = {}
        for position, s in enumerate(self.services, start=1):
            component = Component(
                service=s,
                id=s.public_component.public_id,
                name=s.name,
                status=worst.get(s.pk, OPERATIONAL),
                position=position,
                description=s.description or None,
                created_at=s.created_at,
                updated_at=max(s.updated_at, changed.get(s.pk, s.updated_at)),
                group_name=s.group,
            )
            if s.group:
                group = groups.get(s.group)
                if group is None:
                    group = Component(
                        service=None,
                        id=stable_id("group", s.group),
                        name=s.group,
                        status=OPERATIONAL,
                        position=position,
                        description=None,
                        created_at=s.created_at,
                        updated_at=s.updated_at,
                        is_group=True,
                    )
                    groups[s.group] = group
                    self.components.append(group)
                component.group_id = group.id
                group.children.append(component)
                if LEVEL_RANK[component.status] > LEVEL_RANK[group.status]:
                    group.status = component.status
                group.updated_at = max(group.updated_at, component.updated_at)
                group.created_at = min(group.created_at, component.created_at)
            self.components.append(component)
        self.by_service = {c.service.pk: c for c in self.components if c.service}
        self.by_slug = {c.service.slug: c for c in self.components if c.service}

    # Reading -----------------------------------------------------------------------------------

    @property
    def leaf_components(self):
        return [c for c in self.components if not c.is_group]

    @property
    def unresolved(self):
        return [i for i in self.incidents if i.is_unresolved]

    @property
    def recently_resolved(self):
        """Resolved incidents whose resolving update is younger than STATUSPAGE_RESOLVED_HOURS,
        newest first: the front page keeps them, with that update, for a while."""
        since = self.now - timedelta(hours=settings.STATUSPAGE_RESOLVED_HOURS)
        return [i for i in self.incidents if not i.is_unresolved and i.updates and i.updates[0].published_at > since]

    def incident_name(self, incident):
        """The incident's public title in the page's language, else its default public title;
        never the internal title (an incident published before it had a public title, which
        publishing now refuses, reads as a neutral "Incident")."""
        name = incident.public_title_in(self.language) if self.language else incident.public_title
        return name or gettext("Incident")

    def status(self):
        """Statuspage's indicator and description: the worse of what the components show and
        what the unresolved incidents' impact says (components decide on a tie, being the more
        specific). An incident comms called critical with one degraded component is still
        critical."""
        leaves = self.leaf_components
        worst = max((LEVEL_RANK[c.status] for c in leaves), default=0)
        if worst == LEVEL_RANK["major_outage"]:
            if all(c.status == "major_outage" for c in leaves):
                by_components = ("critical", "Major System Outage")
            else:
                by_components = ("major", "Partial System Outage")
        elif worst == LEVEL_RANK["partial_outage"]:
            by_components = ("minor", "Minor Service Outage")
        elif worst == LEVEL_RANK["degraded_performance"]:
            by_components = ("minor", "Partially Degraded Service")
        elif worst == LEVEL_RANK["under_maintenance"]:
            by_components = ("none", "Service Under Maintenance")
        else:
            by_components = ("none", "All Systems Operational")
        impact = max((IMPACT_RANK[i.public_impact] for i in self.unresolved), default=0)
        by_incidents = {
            IMPACT_RANK["critical"]: ("critical", "Major Service Outage"),
            IMPACT_RANK["major"]: ("major", "Partial System Outage"),
            IMPACT_RANK["minor"]: ("minor", "Minor Service Outage"),
        }.get(impact)
        chosen = by_components
        if by_incidents and IMPACT_RANK[by_incidents[0]] > IMPACT_RANK[by_components[0]]:
            chosen = by_incidents
        return {"indicator": chosen[0], "description": chosen[1]}

    def updated_at(self):
        times = [c.updated_at for c in self.components]
        times += [u.published_at for i in self.incidents for u in i.updates[:1]]
        times += [m.updated_at for m in self.maintenances]
        times += self.mitigation_changes
        return max(times, default=self.now)

    def page(self):
        return {
            "id": self.page_id,
            "name": pages.display_name(self.status_page),
            "url": pages.url(self.status_page),
            "time_zone": settings.TIME_ZONE if settings.TIME_ZONE != "UTC" else "Etc/UTC",
            "updated_at": iso(self.updated_at()),
        }

    # JSON objects ----------------------------------------------------------------------------

    def update_language(self, update):
        """The language this update is shown in: the visitor's if the update has it (exactly,
        else by primary subtag: a visitor asking for zh-hans reads a zh translation), else the
        original's."""
        return self._pick_translation(update)[0]

    def update_body(self, update):
        return self._pick_translation(update)[1]

    def _pick_translation(self, update):
        wanted = (self.language or "").lower()
        if not wanted or wanted == update.language.lower():
            return update.language, update.body
        translations = list(update.translations.all())
        for t in translations:
            if t.language.lower() == wanted:
                return t.language, t.body
        if primary_subtag(update.language) == primary_subtag(wanted):
            return update.language, update.body
        for t in translations:
            if primary_subtag(t.language) == primary_subtag(wanted):
                return t.language, t.body
        return update.language, update.body

    def mitigation_text(self, shown):
        """A shown mitigation's explanation in the page's language, else its default text."""
        return shown["mitigation"].explanation_in(self.language) if self.language else shown["text"]

    def languages(self):
        """Every language some shown update, public title or measure in force can be read in
        (originals and translations)."""
        found = set()
        for incident in self.incidents:
            found.update(incident.public_titles or {})
            for u in incident.updates:
                found.add(u.language.lower())
                found.update(t.language.lower() for t in u.translations.all())
        for shown in self.mitigations:
            found.update(shown["mitigation"].public_explanations)
        return sorted(found)

    def valid_until(self):
        """When what this state shows changes by the clock alone (a maintenance window opens
        or closes, an impact set to end later ends, a new day starts on the history bars), so a
        cache of it knows when to stop serving it."""
        tomorrow = local_date(self.now) + timedelta(days=1)
        zone = timezone.get_default_timezone()
        bounds = [timezone.make_aware(datetime.combine(tomorrow, datetime.min.time()), zone)]
        for m in self.maintenances:
            ends = m.scheduled_until + timedelta(minutes=m.verify_minutes)
            bounds += [t for t in (m.scheduled_for, m.scheduled_until, ends) if t > self.now]
        for incident in self.incidents:
            for impact in incident.public_impacts:
                bounds += [t for t in (impact.started_at, impact.ended_at) if t and t > self.now]
        for m in self.mitigations:
            if m["until"] and m["until"] > self.now:
                bounds.append(m["until"])
        for incident in self.recently_resolved:  # the moment it leaves the front page
            bounds.append(incident.updates[0].published_at + timedelta(hours=settings.STATUSPAGE_RESOLVED_HOURS))
        return min(bounds)

    def incident_json(self, incident):
        updates = incident.updates  # newest first
        chronological = list(reversed(updates))
        monitoring_at = next((u.published_at for u in chronological if u.public_status == "monitoring"), None)
        resolved_at = updates[0].published_at if updates and updates[0].public_status == "resolved" else None
        affected_ids = []
        previous = {}
        update_objects = {}
        for u in chronological:
            affected = []
            for item in u.affected:
                component = self._component_for_slug(item["service"])
                if component is None:
                    continue
                affected.append(
                    {
                        "code": component.id,
                        "name": component.name,
                        "old_status": previous.get(component.id, OPERATIONAL),
                        "new_status": item["level"],
                    }
                )
                previous[component.id] = item["level"]
                if component.id not in affected_ids:
                    affected_ids.append(component.id)
            update_objects[u.pk] = {
                "id": u.public.public_id,
                "status": u.public_status or "investigating",
                "body": self.update_body(u),
                "incident_id": incident.public.public_id,
                "created_at": iso(u.published_at),
                "updated_at": iso(u.published_at),
                "display_at": iso(u.published_at),
                "affected_components": affected or None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        for impact in incident.public_impacts:
            component = self.by_service.get(impact.service_id)
            if component and component.id not in affected_ids:
                affected_ids.append(component.id)
        components = [c for c in self.leaf_components if c.id in affected_ids]
        return {
            "id": incident.public.public_id,
            "name": self.incident_name(incident),
            "status": incident.public_status,
            "created_at": iso(chronological[0].published_at) if chronological else iso(incident.declared_at),
            "updated_at": iso(updates[0].published_at) if updates else iso(incident.updated_at),
            "monitoring_at": iso(monitoring_at),
            "resolved_at": iso(resolved_at),
            "impact": incident.public_impact,
            "shortlink": f"{pages.url(self.status_page)}incidents/{incident.public.public_id}/",
            "started_at": iso(incident.started_at),
            "page_id": self.page_id,
            "incident_updates": [update_objects[u.pk] for u in updates],
            "components": [c.as_json(self.page_id) for c in components],
        }

    def _component_for_slug(self, slug):
        return self.by_slug.get(slug)

    def maintenance_json(self, m):
        status = m.current_status
        services = list(m.services.all())
        components = [self.by_service[s.pk] for s in services if s.pk in self.by_service]
        return {
            "id": m.public_id,
            "name": m.title,
            "status": status,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at),
            "monitoring_at": None,
            "resolved_at": iso(m.scheduled_until) if status == Maintenance.Status.COMPLETED else None,
            "impact": "maintenance",
            "shortlink": f"{pages.url(self.status_page)}maintenance/{m.public_id}/",
            "started_at": iso(m.scheduled_for),
            "page_id": self.page_id,
            "incident_updates": [
                {
                    "id": stable_id("maintenance-update", m.public_id),
                    "status": status,
                    "body": m.body or m.title,
                    "incident_id": m.public_id,
                    "created_at": iso(m.created_at),
                    "updated_at": iso(m.updated_at),
                    "display_at": iso(m.created_at),
                    "affected_components": [
                        {"code": c.id, "name": c.name, "old_status": OPERATIONAL, "new_status": "under_maintenance"}
                        for c in components
                    ]
                    or None,
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                }
            ],
            "components": [c.as_json(self.page_id) for c in components],
            "scheduled_for": iso(m.scheduled_for),
            "scheduled_until": iso(m.scheduled_until),
        }

    # Endpoints ---------------------------------------------------------------------------------

    def summary(self):
        active = [m for m in self.maintenances if m.current_status in ("scheduled", "in_progress", "verifying")]
        return {
            "page": self.page(),
            "status": self.status(),
            "components": [c.as_json(self.page_id) for c in self.components],
            "incidents": [self.incident_json(i) for i in self.unresolved],
            "scheduled_maintenances": [self.maintenance_json(m) for m in active],
        }

    def status_json(self):
        return {"page": self.page(), "status": self.status()}

    def components_json(self):
        return {"page": self.page(), "components": [c.as_json(self.page_id) for c in self.components]}

    def incidents_json(self, unresolved=False):
        incidents = self.unresolved if unresolved else self.incidents[:50]
        return {"page": self.page(), "incidents": [self.incident_json(i) for i in incidents]}

    def maintenances_json(self, which=None):
        chosen = {
            None: lambda m: True,
            "upcoming": lambda m: m.current_status == Maintenance.Status.SCHEDULED,
            "active": lambda m: m.current_status in (Maintenance.Status.IN_PROGRESS, Maintenance.Status.VERIFYING),
        }[which]
        return {
            "page": self.page(),
            "scheduled_maintenances": [self.maintenance_json(m) for m in self.maintenances if chosen(m)],
        }

    # History bars ------------------------------------------------------------------------------

    def history(self, days=90):
        """Per leaf component, the worst level of each of the last `days` days, with the incidents."""
        today = local_date(self.now)
        start = today - timedelta(days=days - 1)
        bars = {c.id: [[OPERATIONAL, []] for _ in range(days)] for c in self.leaf_components}
        for incident in self.incidents:
            for impact in incident.public_impacts:
                component = self.by_service.get(impact.service_id)
                if component is None:
                    continue
                first = max(local_date(impact.started_at), start)
                last = min(local_date(impact.ended_at) if impact.ended_at else today, today)
                day = first
                while day <= last:
                    cell = bars[component.id][(day - start).days]
                    if LEVEL_RANK[impact.level] > LEVEL_RANK[cell[0]]:
                        cell[0] = impact.level
                    if incident not in cell[1]:
                        cell[1].append(incident)
                    day += timedelta(days=1)
        return start, bars


def _has(obj, attr):
    try:
        return getattr(obj, attr) is not None
    except ObjectDoesNotExist:  # a missing reverse one-to-one
        return False


def public_mitigations():
    """Mitigations in force that were marked public, on non-confidential incidents, oldest
    first: what the status page explains to users (e.g. "sign-ups temporarily limited to ...").
    As everything in this module, only incidents already on the status page (at least one
    published update) count, so an internal incident title never leaks. One query."""
    from incidents.models import Mitigation

    rows = (
        Mitigation.objects.filter(public=True, ended_at__isnull=True, incident__in=public_incidents())
        .exclude(public_explanation="")
        .select_related("incident")
        .order_by("started_at", "id")
    )
    return [
        {
            "id": m.pk,
            "explanation": m.public_explanation,
            "started_at": m.started_at,
            "incident_title": m.incident.public_title,
        }
        for m in rows
    ]
