"""Domain operations of alerts (docs/alerts.md): connecting sources, routing rules, taking a
delivery in, and applying its alerts to incidents (dedup, grouping, flapping), and triage.

Taking a delivery in (`receive`) only checks and stores it; `route_source` (a Celery task,
enqueued on commit) routes the source's waiting deliveries a batch at a time, and
`process_delivery` one delivery (the sweep's way). A batch is one transaction: its alerts are
applied under their row locks (one row per source and fingerprint, a unique constraint), and
opening an incident for a service holds that service's row lock too: concurrent deliveries of
one alert, or of several alerts of one service, never open two incidents. Applying a delivery
twice changes nothing (`Alert.last_delivery`).
"""

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from redis.exceptions import ResponseError as RedisResponseError

from incidents import access, auditlog, ratelimit, shared_cache
from incidents import services as core
from incidents.alerts import intake, payloads
from incidents.alerts.models import Alert, AlertDelivery, AlertRule, AlertSource, hash_secret, new_secret
from incidents.models import AuditEvent, Incident, Membership, Service, TimelineEntry, TimelineRevision
from incidents.timeline_text import Line, choice, joined

logger = logging.getLogger(__name__)
OPEN = Incident.OPEN_STATUSES
Role = Membership.Role
# The alert's `severity` label, as Alertmanager and Grafana rules usually set it.
SEVERITY_LABELS = {
    "critical": 1,
    "page": 1,
    "error": 2,
    "high": 2,
    "major": 2,
    "warning": 3,
    "medium": 3,
    "minor": 3,
    "info": 4,
    "low": 4,
}
DEFAULT_SEVERITY = 3
SIGNATURE_HEADER = "X-Warroom-Signature"
# Compared against when the source id is unknown, so a missing source costs the same work.
_NO_HASH = hash_secret("no such source")


class SourceRefused(Exception):
    """The request is not from the source: unknown id, wrong secret or signature (all 401, alike)."""


class SourcePaused(Exception):
    """The source is paused (423): the secret was right, so its owner may know."""


class KeyReused(Exception):
    """The Idempotency-Key was already used for another body (422)."""


class KeyInUse(Exception):
    """A delivery with this Idempotency-Key is being stored right now (409)."""


# Sources ---------------------------------------------------------------------------------------


SOURCE_FIELDS = ("name", "kind", "services", "owner", "require_signature", "grouping_minutes")


def _check_source(name, kind, grouping_minutes, owner, source=None):
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": gettext("A name is required.")})
    others = AlertSource.objects.exclude(pk=source.pk) if source else AlertSource.objects.all()
    if others.filter(name__iexact=name).exists():
        raise ValidationError({"name": gettext("An alert source named {name} already exists.").format(name=repr(name))})
    if kind not in AlertSource.Kind.values:
        raise ValidationError(
            {"kind": gettext("Kind must be one of {choices}.").format(choices=", ".join(AlertSource.Kind.values))}
        )
    if not 0 <= int(grouping_minutes) <= 24 * 60:
        raise ValidationError({"grouping_minutes": gettext("Between 0 and 1440 minutes.")})
    if owner is not None and not access.can_declare(owner):
        raise ValidationError(
            {
                "owner": gettext("{person} may not declare incidents: choose a commander.").format(
                    person=owner.get_username()
                )
            }
        )
    return name


@transaction.atomic
def create_source(by, *, name, kind, services=(), owner=None, require_signature=False, grouping_minutes=10):
    """A new source and its secret (and signing key): (source, secret, signing_key). The secret
    is not kept: this is the only time anyone sees it."""
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may connect alert sources."))
    owner = owner or by
    name = _check_source(name, kind, grouping_minutes, owner)
    secret, signing_key = new_secret(), new_secret()
    source = AlertSource.objects.create(
        name=name,
        kind=kind,
        owner=owner,
        require_signature=bool(require_signature),
        signing_key=signing_key,
        secret_hash=hash_secret(secret),
        secret_prefix=secret[:6],
        grouping_minutes=grouping_minutes,
        created_by=by,
    )
    source.services.set(services)
    return source, secret, signing_key


@transaction.atomic
def update_source(source, by, **changes):
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may change alert sources."))
    unknown = set(changes) - set(SOURCE_FIELDS) - {"paused"}
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be changed here.")})
    services = changes.pop("services", None)
    merged = {f: changes.get(f, getattr(source, f)) for f in ("name", "kind", "grouping_minutes")}
    owner = changes.get("owner")
    changes["name"] = _check_source(merged["name"], merged["kind"], merged["grouping_minutes"], owner, source)
    for field, value in changes.items():
        setattr(source, field, value)
    source.save()
    if services is not None:
        source.services.set(services)
    return source


def set_paused(source, by, paused):
    """A paused source answers 423 and records nothing until it is resumed."""
    return update_source(source, by, paused=bool(paused))


@transaction.atomic
def rotate_secret(source, by):
    """A new secret and signing key; the old ones stop working with this commit."""
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may rotate a source's secret."))
    secret, signing_key = new_secret(), new_secret()
    AlertSource.objects.filter(pk=source.pk).update(
        secret_hash=hash_secret(secret),
        secret_prefix=secret[:6],
        signing_key=signing_key,
        secret_rotated_at=timezone.now(),
    )
    source.refresh_from_db()
    auditlog.record(
        AuditEvent.Action.SECRET_ROTATED,
        actor=by,
        subject=f"alert source {source.pk} ({source.name})",
        detail={"secret_prefix": source.secret_prefix},
    )
    return secret, signing_key


def delete_source(source, by):
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may remove alert sources."))
    source.delete()


# Rules -----------------------------------------------------------------------------------------

MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]{0,99})\s*(=~|!~|!=|=)\s*(.{0,500}?)\s*$")


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels):
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def parse_matchers(matchers):
    """Matchers as Prometheus writes them: `label=value`, `label!=value`, `label=~regex`,
    `label!~regex` (regexes match the whole value). ValidationError on `matchers`."""
    if isinstance(matchers, str):
        matchers = [m for m in re.split(r"[,\n]", matchers) if m.strip()]
    if not isinstance(matchers, list | tuple) or not all(isinstance(m, str) for m in matchers):
        raise ValidationError({"matchers": gettext("A list of matchers such as service=api.")})
    if len(matchers) > 20:
        raise ValidationError({"matchers": gettext("At most 20 matchers per rule.")})
    parsed = []
    for text in matchers:
        m = MATCHER.match(text)
        if not m:
            raise ValidationError(
                {
                    "matchers": gettext("{text} is not a matcher: write label=value (or !=, =~, !~).").format(
                        text=repr(text[:60])
                    )
                }
            )
        label, op, value = m.groups()
        value = value.strip('"')
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValidationError(
                    {
                        "matchers": gettext("{text}: the regular expression is invalid ({error}).").format(
                            text=repr(text[:60]), error=exc
                        )
                    }
                ) from None
        parsed.append(Matcher(label, op, value))
    return parsed


def _normalised_matchers(matchers):
    return [f"{m.label}{m.op}{m.value}" for m in parse_matchers(matchers)]


RULE_FIELDS = ("name", "matchers", "service", "severity", "kind", "action", "position")


def _check_rule(source, values):
    values["matchers"] = _normalised_matchers(values.get("matchers", []))
    if values.get("action") not in AlertRule.Action.values:
        raise ValidationError(
            {"action": gettext("Action must be one of {choices}.").format(choices=", ".join(AlertRule.Action.values))}
        )
    if values.get("severity") not in (None, *Incident.Severity.values):
        raise ValidationError(
            {"severity": gettext("Severity must be 1, 2, 3 or 4, or empty to take the alert's label.")}
        )
    if values.get("kind") not in Incident.Kind.values:
        raise ValidationError(
            {"kind": gettext("Kind must be one of {choices}.").format(choices=", ".join(Incident.Kind.values))}
        )
    service = values.get("service")
    if service is not None and source.pk and not source.services.filter(pk=service.pk).exists():
        raise ValidationError(
            {
                "service": gettext("{source} does not cover {service}: add it to the source first.").format(
                    source=source.name, service=service.name
                )
            }
        )
    return values


@transaction.atomic
def create_rule(source, by, **values):
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may edit routing rules."))
    values.setdefault("action", AlertRule.Action.OPEN)
    values.setdefault("kind", Incident.Kind.AVAILABILITY)
    if values.get("position") is None:
        last = source.rules.order_by("-position").values_list("position", flat=True).first()
        values["position"] = 0 if last is None else last + 1
    else:  # in front of the rule that held this place
        source.rules.filter(position__gte=values["position"]).update(position=F("position") + 1)
    return AlertRule.objects.create(source=source, **_check_rule(source, values))


@transaction.atomic
def update_rule(rule, by, **changes):
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may edit routing rules."))
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be changed here.")})
    values = {f: getattr(rule, f) for f in RULE_FIELDS} | changes
    for field, value in _check_rule(rule.source, values).items():
        setattr(rule, field, value)
    rule.save()
    return rule


def delete_rule(rule, by):
    access.require(access.can_manage_alert_sources(by), gettext("Only commanders may edit routing rules."))
    rule.delete()


# Routing ---------------------------------------------------------------------------------------


@dataclass
class Decision:
    rule: AlertRule | None
    action: str  # open, attach, record; "triage" when no rule matched
    service: Service | None
    severity: int
    kind: str

    def sentence(self, title):
        sev = f"SEV{self.severity}"
        where = f" on {self.service.name}" if self.service else ""
        if self.action == AlertRule.Action.OPEN:
            return f"{title!r} would open a {sev}{where}, or join the incident its service's alerts opened lately."
        if self.action == AlertRule.Action.ATTACH:
            return f"{title!r} would attach to the open incident{' of ' + self.service.name if self.service else ''}."
        if self.action == AlertRule.Action.RECORD:
            return f"{title!r} would only be recorded ({sev}{where})."
        return f"{title!r} would match no rule and wait in triage."


def severity_of(labels, rule=None):
    if rule is not None and rule.severity:
        return rule.severity
    return SEVERITY_LABELS.get((labels.get("severity") or "").lower(), DEFAULT_SEVERITY)


def _service_for(rule, labels, covered):
    if rule.service is not None:
        return rule.service
    named = (labels.get("service") or "").lower()
    for service in covered:
        if named and named in (service.slug.lower(), service.name.lower()):
            return service
    return covered[0] if len(covered) == 1 else None


def route(alert, rules, covered):
    """The first rule (in order) whose matchers all match the alert's labels decides."""
    labels = alert["labels"]
    for rule in rules:
        if all(m.matches(labels) for m in parse_matchers(rule.matchers)):
            return Decision(
                rule, rule.action, _service_for(rule, labels, covered), severity_of(labels, rule), rule.kind
            )
    return Decision(None, "triage", None, severity_of(labels), Incident.Kind.AVAILABILITY)


def try_rules(source, sample, candidate=None):
    """What the source's rules (with `candidate`, an unsaved AlertRule, in its place) would do
    with each alert of a pasted sample payload: [(alert, decision, sentence)]. The sample is
    parsed as the source's kind; PayloadError names what is wrong with it."""
    alerts = payloads.parse(source.kind, sample if isinstance(sample, bytes | str) else _json(sample))
    rules = [r for r in source.rules.select_related("service") if candidate is None or r.pk != candidate.pk]
    if candidate is not None:
        rules.append(candidate)
        rules.sort(key=lambda r: (r.position, r.pk or 0))
    covered = list(source.services.all())
    out = []
    for alert in alerts:
        decision = route(alert, rules, covered)
        out.append((alert, decision, decision.sentence(alert["title"])))
    return out


def _json(value):
    import json

    return json.dumps(value)


# Taking a delivery in ---------------------------------------------------------------------------
#
# A delivery costs one INSERT and no read of its source. Each web process remembers what it
# read of a source (`SourceCheck`) and takes deliveries in against that copy, but never trusts
# it alone: the INSERT that stores a delivery restates every fact the copy vouched for in its
# WHERE clause (the same secret hash, not paused, the same kind, the same signature rule and
# key). When any of them changed (a rotated secret, a pause, a new signing key, in this process
# or any other), the INSERT stores nothing and the request is checked again from a fresh read:
# a rotated secret or a paused source is refused at once everywhere, with nothing to invalidate.


@dataclass(frozen=True)
class SourceCheck:
    """What a delivery is checked against: a source as read from the database, by this request
    (`fresh`) or an earlier one of this process."""

    pk: int
    kind: str
    secret_hash: str
    paused: bool
    require_signature: bool
    signing_key: str
    fresh: bool = True


class SourceChanged(Exception):
    """This process's copy of the source no longer holds (or cannot vouch for the request):
    check again against a fresh read (`authenticate(..., fresh=True)`)."""


_CHECK_FIELDS = ("pk", "kind", "secret_hash", "paused", "require_signature", "signing_key")
_known_sources = {}  # source pk -> SourceCheck; a dict's get and set are atomic under threads


def _read_source(source_id):
    row = AlertSource.objects.filter(pk=source_id).values_list(*_CHECK_FIELDS).first()
    if row is None:
        _known_sources.pop(source_id, None)
        return None
    check = SourceCheck(*row)
    _known_sources[source_id] = SourceCheck(*row, fresh=False)
    return check


def authenticate(source_id, secret, fresh=False):
    """The source (a SourceCheck) if `secret` is its secret, else SourceRefused (the same for an
    unknown id). Without `fresh`, this process's copy of the source may answer."""
    if not 0 < source_id < 2**63:
        raise SourceRefused()
    given = hash_secret(secret or "")
    check = None if fresh else _known_sources.get(source_id)
    if check is None or not hmac.compare_digest(given, check.secret_hash):
        check = _read_source(source_id)  # unknown here, or a secret rotated since it was read
    expected = check.secret_hash if check is not None else _NO_HASH
    if not hmac.compare_digest(given, expected) or check is None or not secret:
        raise SourceRefused()
    return check


def check_signature(source, body, header):
    """`X-Warroom-Signature: sha256=<hex HMAC-SHA256 of the body with the signing key>`.
    SourceChanged when only this process's copy of the source refuses it."""
    if not source.require_signature:
        return
    given = (header or "").strip().removeprefix("sha256=")
    expected = hmac.new(source.signing_key.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SourceRefused() if source.fresh else SourceChanged()


def receive(source, body, idempotency_key=""):
    """Check and store one delivery; its alerts are routed by a task once it commits. Returns
    (delivery id, number of alerts, replayed). PayloadError for a body that is not the source's
    format; SourceChanged when the source changed since this process read it."""
    if source.paused:
        raise SourcePaused() if source.fresh else SourceChanged()
    body_hash = hashlib.sha256(body).hexdigest()
    if idempotency_key:
        if not source.fresh:
            raise SourceChanged()  # a replay stores nothing, so no INSERT would check the source
        stored = AlertDelivery.objects.filter(source_id=source.pk, idempotency_key=idempotency_key).first()
        if stored is not None:
            if stored.body_hash != body_hash:
                raise KeyReused()
            return stored.pk, len(stored.alerts), True
    alerts = payloads.parse(source.kind, body)
    row = _row(source, alerts, idempotency_key, body_hash)
    if idempotency_key or intake.storing_alone():
        # Alone: a key's unique constraint may refuse the row, which must not fail a group.
        try:
            pk = _insert_rows([row])[0]
        except IntegrityError as exc:  # the same key, stored by a concurrent request
            raise KeyInUse() from exc
        if pk is not None:
            transaction.on_commit(lambda: enqueue_stored([(source.pk, pk)]), robust=True)
    else:
        try:
            pk = _deliveries.store(row, source.pk)  # committed, and enqueued, when it returns
        except IntegrityError as exc:
            if not _source_removed(exc):
                raise
            pk = None
    if pk is None:
        # The source changed under this request: rotated, paused, removed or re-keyed.
        raise SourceRefused() if source.fresh else SourceChanged()
    return pk, len(alerts), False


def _source_removed(exc):
    """Whether an IntegrityError is the delivery's foreign key: its source removed meanwhile."""
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(exc)


_COLUMNS = ("source", "received_at", "alerts", "idempotency_key", "body_hash")
_insert_sql = {}  # database vendor -> the INSERT of `_insert_rows`


def _row(source, alerts, idempotency_key, body_hash):
    """The parameters of the INSERT that stores a delivery only while its source is as
    `source` says, adapted as the model's fields would (a delivery's columns are plain: an id,
    a time, JSON and text)."""
    ops = connections[DEFAULT_DB_ALIAS].ops  # once: each access through `connection` looks it up
    values = [source.pk, ops.adapt_datetimefield_value(timezone.now()), ops.adapt_json_value(alerts, None)]
    return values + [idempotency_key, body_hash, source.pk] + [getattr(source, name) for name in _CHECK_FIELDS[1:]]


def _insert(db):
    sql = _insert_sql.get(db.vendor)
    if sql is None:
        meta, source_meta, qn = AlertDelivery._meta, AlertSource._meta, db.ops.quote_name
        columns = ", ".join(qn(meta.get_field(name).column) for name in _COLUMNS)
        placeholders = ", ".join(["%s"] * len(_COLUMNS))
        checked = [source_meta.pk.column] + [source_meta.get_field(name).column for name in _CHECK_FIELDS[1:]]
        where = " AND ".join(f"{qn(column)} = %s" for column in checked)
        # Names from the models' metadata, quoted; every value is a parameter.
        sql = f"INSERT INTO {qn(meta.db_table)} ({columns}) SELECT {placeholders} FROM {qn(source_meta.db_table)} WHERE {where}"  # noqa: S608, E501
        if db.features.can_return_columns_from_insert:
            sql += f" RETURNING {qn(meta.pk.column)}"
        _insert_sql[db.vendor] = sql
    return sql


def _cursor(db):
    """A cursor of the connection `db`, as Django's (its query log, execute wrappers and
    errors). On PostgreSQL it binds parameters on the server, so a delivery's JSON goes as a
    parameter, not quoted into the statement's text by Python, and it is one cursor per
    connection, kept: a new one would find again how to send each type of parameter (together
    a third of the INSERT's time in the web process). No statement is prepared (the connection
    may go through a pooler)."""
    if db.vendor != "postgresql":
        return db.cursor()
    import psycopg

    db.ensure_connection()
    raw = getattr(db, "_alert_deliveries_cursor", None)
    if raw is None or raw.closed or raw.connection is not db.connection:
        raw = db._alert_deliveries_cursor = psycopg.Cursor(db.connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def _insert_rows(rows):
    """INSERT the rows (`_row`) whose source is still as they say, in one transaction, and
    commit: their ids, None for a row whose source changed. Outside a transaction of the
    caller's (intake.storing_alone), this commits."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.in_atomic_block:
        return _insert_each(db, rows)
    try:
        return _insert_group(db, rows) if len(rows) > 1 else _insert_each(db, rows)
    except (DatabaseOperationalError, DatabaseInterfaceError):
        # The first statement of a request runs on a connection kept from an earlier one, with
        # no health check before it (_cursor): after a database restart or failover it finds it
        # closed. Once more on a new connection; had the first reached the database, the same
        # delivery stored twice changes nothing (routing applies an alert's state once).
        if db.is_usable():
            raise
        db.close()
        return _insert_group(db, rows) if len(rows) > 1 else _insert_each(db, rows)


def _insert_each(db, rows):
    """The rows one INSERT each, in one transaction when there are several."""
    sql, returning, pks = _insert(db), db.features.can_return_columns_from_insert, []
    with transaction.atomic(using=db.alias) if len(rows) > 1 else nullcontext():
        cursor = _cursor(db)
        try:
            for row in rows:
                cursor.execute(sql, row)
                if returning:
                    found = cursor.fetchone()
                    pks.append(found[0] if found else None)
                else:  # SQLite before 3.35
                    pks.append(cursor.lastrowid if cursor.rowcount == 1 else None)
        finally:
            if db.vendor != "postgresql":
                cursor.close()  # PostgreSQL's is kept (_cursor)
    return pks


def _insert_group(db, rows):
    """Several rows in one statement on PostgreSQL: one round trip, and atomic without a
    transaction of its own (BEGIN and COMMIT would be two more round trips, each of which costs
    a web process under load as much as the statement). The ids come back with what identifies
    their rows (source, time received, body), matched to the rows given; two rows alike in all
    three are alike in everything stored, so which gets which id makes no difference."""
    sql = _insert_sql.get(("group", len(rows)))
    if sql is None:
        meta, source_meta, qn = AlertDelivery._meta, AlertSource._meta, db.ops.quote_name
        given = [meta.get_field(name) for name in _COLUMNS] + [source_meta.get_field(n) for n in _CHECK_FIELDS[1:]]
        names = [f"v{i}" for i in range(len(given))]
        # Text as text: a cast to varchar(n) would cut a longer value short, not refuse it.
        types = ["text" if isinstance(field, models.CharField) else field.db_type(db) for field in given]
        one = "(" + ", ".join(f"%s::{db_type}" for db_type in types) + ")"
        columns = ", ".join(qn(meta.get_field(name).column) for name in _COLUMNS)
        checks = [f"s.{qn(source_meta.pk.column)} = r.v0"] + [
            f"s.{qn(source_meta.get_field(name).column)} = r.{names[len(_COLUMNS) + i]}"
            for i, name in enumerate(_CHECK_FIELDS[1:])
        ]
        source_column, received_column, hash_column = (
            qn(meta.get_field(name).column) for name in ("source", "received_at", "body_hash")
        )
        # Names from the models' metadata, quoted; every value is a parameter.
        sql = (
            f"WITH r ({', '.join(names)}) AS (VALUES {', '.join([one] * len(rows))}) "  # noqa: S608
            f"INSERT INTO {qn(meta.db_table)} ({columns}) "
            f"SELECT {', '.join(f'r.{n}' for n in names[: len(_COLUMNS)])} "
            f"FROM r JOIN {qn(source_meta.db_table)} s ON {' AND '.join(checks)} "
            f"RETURNING {qn(meta.pk.column)}, {source_column}, {received_column}, {hash_column}"
        )
        _insert_sql[("group", len(rows))] = sql
    checked_as = {}
    for row in rows:
        if checked_as.setdefault((row[0], row[1], row[4]), row[5:]) != row[5:]:
            # Alike but for what they say of their source (a secret rotated between them): the
            # ids that come back could not tell them apart.
            return _insert_each(db, rows)
    params = [value for row in rows for value in row[: len(_COLUMNS)] + row[len(_COLUMNS) + 1 :]]
    cursor = _cursor(db)
    cursor.execute(sql, params)
    ids = {}
    for pk, source_pk, received_at, body_hash in cursor.fetchall():
        ids.setdefault((source_pk, received_at, body_hash), []).append(pk)
    return [_take(ids, (row[0], row[1], row[4])) for row in rows]


def _take(ids, key):
    found = ids.get(key)
    return found.pop() if found else None


# A burst of deliveries from one source shares one routing task: the first delivery queues
# `route_source` and marks it queued in the shared cache; the next ones find the mark and queue
# nothing (one cache command instead of a broker message each). The task lifts the mark before
# it looks for deliveries to route, so a delivery stored after that queues a task of its own. A
# lost task costs a delay, never a delivery: the mark expires and the sweep routes what is left.
ROUTING_QUEUED_SECONDS = 60


def routing_queued_key(source_pk):
    return f"alerts:routing-queued:{source_pk}"


def rate_key(source_pk):
    return f"alerts:source:{source_pk}"


# A source's rate limit (WARROOM_ALERT_RATE_LIMIT deliveries per WARROOM_ALERT_RATE_WINDOW
# seconds, in windows aligned on the clock). With Redis as the shared cache, each process
# counts the deliveries it stored and sends its count to Redis in one round trip with the
# routing mark (`_send_counts`), and keeps the shared count Redis answers (`_rates_heard`). A
# request is checked, before anything is stored, against that count plus what this process
# stored since (`_uncounted`), so the check itself costs nothing.
#
# A process sends its count at once for the first delivery of a source in a window (so a lone
# alert is routed at once), when the source nears its limit (so the last deliveries before it
# are counted exactly), and otherwise at most every WARROOM_ALERT_COUNT_MS (200): a delivery stored in
# between is counted, and its routing task queued, by a timer at the end of that interval
# (the process's flusher thread). Under a storm a process makes about five round trips a second per source
# instead of one per delivery (each one costs the web process as much as the rest of the
# delivery's own work). The price: a process hears what the others counted only when it sends
# its own count, so when several processes take one source's storm, a window may take the
# deliveries the others stored in their last interval over the limit (and, as with any
# clock-aligned window, a burst across a window's end up to twice the limit). A process that
# stops between two counts leaves its last deliveries uncounted, and routed by the sweep.
# Without Redis (the embedded default) every request is counted before it is stored
# (ratelimit.over_rate), as when Redis is down, when each process counts what it sees itself.
# Counted at once from this share of the limit on: the last deliveries before it are exact.
COUNT_EXACTLY_FROM = 0.9
_rates_heard = {}  # source pk -> (window number, deliveries counted in it); get and set are atomic
_uncounted = {}  # source pk -> deliveries stored by this process and not sent to Redis yet
_sending = {}  # source pk -> deliveries being sent to Redis (counted by over_rate until heard back)
_counted_at = {}  # source pk -> time.monotonic() when this process last sent its count
_due_at = {}  # source pk -> time.monotonic() when the flusher sends what is uncounted
_counting = threading.Condition()  # guards the dicts above (never held across a network call)
_flusher = []  # the flusher thread of this process, started with its first deferred count


def _count_every():
    return settings.WARROOM_ALERT_COUNT_MS / 1000


def _counted_with_mark():
    return isinstance(caches["default"], RedisCache)


def _window_number():
    return int(time.time() // settings.WARROOM_ALERT_RATE_WINDOW)


def _seen(source_pk):
    """The source's deliveries in the current window as this process knows them: the shared
    count it heard, and what it stored since (a delivery being sent may count twice, briefly)."""
    heard = _rates_heard.get(source_pk)
    counted = heard[1] if heard is not None and heard[0] == _window_number() else 0
    return counted + _uncounted.get(source_pk, 0) + _sending.get(source_pk, 0)


def over_rate(source_pk):
    """Whether the source is over its rate limit in the current window (a 429)."""
    limit, window = settings.WARROOM_ALERT_RATE_LIMIT, settings.WARROOM_ALERT_RATE_WINDOW
    if not _counted_with_mark():
        return ratelimit.over_rate(rate_key(source_pk), limit, window)
    seen_here = ratelimit.local_counts.count(rate_key(source_pk), window)
    if not shared_cache.breaker.available():  # Redis is down: this process's own count decides
        return seen_here > limit
    return _seen(source_pk) >= limit


# For each source: SET its routing mark if absent (1 if this call set it) and add its count to
# its window's counter (the counter's value). KEYS: mark, counter of each source; ARGV: the
# mark's and the counter's lifetimes, then each source's count.
_COUNT_SCRIPT = """
local replies = {}
for i = 1, #KEYS / 2 do
  local set = redis.call('SET', KEYS[2 * i - 1], 1, 'EX', ARGV[1], 'NX')
  redis.call('SET', KEYS[2 * i], 0, 'EX', ARGV[2], 'NX')
  replies[2 * i - 1] = set and 1 or 0
  replies[2 * i] = redis.call('INCRBY', KEYS[2 * i], ARGV[2 + i])
end
return replies
"""
_count_script = []  # the registered script, or False where Redis refuses scripts (an ACL)


def _mark_and_count(counts):
    """One round trip: for each source of `counts` ({source pk: deliveries}) its routing mark
    (True if this call set it, so it must queue the task) and its rate counter, whose value
    this process keeps."""
    backend, window = caches["default"], settings.WARROOM_ALERT_RATE_WINDOW
    number = _window_number()
    keys, args = [], [ROUTING_QUEUED_SECONDS, window * 2]
    for source_pk, count in counts.items():
        keys.append(backend.make_and_validate_key(routing_queued_key(source_pk)))
        # ratelimit.over_rate's counter for the window (the same name, so either way counts alike).
        keys.append(backend.make_and_validate_key(f"{rate_key(source_pk)}:{number}"))
        args.append(count)
    client = backend._cache.get_client(keys[0], write=True)
    replies = None
    if not _count_script:
        _count_script.append(client.register_script(_COUNT_SCRIPT))
    if _count_script[0]:
        try:
            replies = _count_script[0](keys=keys, args=args, client=client)
        except RedisResponseError as exc:  # scripts refused (NOSCRIPT is handled by redis-py)
            logger.warning("Redis refuses Lua scripts (%s): counting alert deliveries with MULTI", exc)
            _count_script[0] = False
    if replies is None:
        pipeline = client.pipeline(transaction=True)
        for i in range(0, len(keys), 2):
            pipeline.set(keys[i], 1, ex=ROUTING_QUEUED_SECONDS, nx=True)
            pipeline.set(keys[i + 1], 0, ex=window * 2, nx=True)
            pipeline.incrby(keys[i + 1], args[2 + i // 2])
        sent = pipeline.execute()
        replies = [reply for i in range(0, len(sent), 3) for reply in (bool(sent[i]), sent[i + 2])]
    queued = {}
    for i, source_pk in enumerate(counts):
        mark_set, counted = replies[2 * i : 2 * i + 2]
        heard = _rates_heard.get(source_pk)
        if heard is None or heard[0] != number or heard[1] < counted:
            _rates_heard[source_pk] = (number, counted)
        queued[source_pk] = bool(mark_set)
    return queued


def forget_rates():
    """Forget the counts this process heard and holds (tests: ids and windows repeat)."""
    with _counting:
        for state in (_rates_heard, _uncounted, _sending, _counted_at, _due_at):
            state.clear()


def _count_due(source_pk, now):
    heard = _rates_heard.get(source_pk)
    if heard is None or heard[0] != _window_number():
        return True  # the first here in this window
    if _seen(source_pk) >= settings.WARROOM_ALERT_RATE_LIMIT * COUNT_EXACTLY_FROM:
        return True  # near the limit: count exactly
    every = _count_every()
    return now - _counted_at.get(source_pk, -every) >= every


def _reserve(sources, now):
    """Take what is uncounted of `sources` to send it (holding `_counting`): {source pk: n}."""
    counts = {pk: _uncounted.pop(pk) for pk in sources if _uncounted.get(pk)}
    for source_pk, count in counts.items():
        _sending[source_pk] = _sending.get(source_pk, 0) + count
        _counted_at[source_pk] = now
        _due_at.pop(source_pk, None)
    return counts


def _send_counts(counts):
    """Send reserved counts ({source pk: n}) with the routing marks, and queue a routing task
    where the mark was absent; while Redis is down, a task for each source. Not holding
    `_counting`: a slow Redis or broker holds up only this thread."""
    from incidents.alerts.tasks import route_source

    if not counts:
        return
    try:
        queued = shared_cache.run(_mark_and_count, counts)
    finally:
        with _counting:
            for source_pk, count in counts.items():  # heard back (or lost with Redis)
                _sending[source_pk] -= count
    for source_pk in counts:
        if queued is None or queued[source_pk]:  # else the queued task routes these deliveries too
            route_source.delay(source_pk)


def _flush():
    """The flusher thread: send each source's uncounted deliveries when they fall due."""
    while True:
        with _counting:
            now = time.monotonic()
            due = [pk for pk, at in _due_at.items() if at <= now]
            if not due:
                _counting.wait(min(_due_at.values(), default=now + 60) - now)
                continue
            counts = _reserve(due, now)
        try:
            _send_counts(counts)
        except Exception:  # routed by the sweep
            logger.exception("counting alert deliveries of sources %s", sorted(counts))


def flush_counts():
    """Send every uncounted delivery now (a web process that stops: config/gunicorn.py)."""
    with _counting:
        counts = _reserve(list(_uncounted), time.monotonic())
    _send_counts(counts)


def _start_flusher():
    """The flusher of this process (holding `_counting`): a gunicorn worker, forked, starts its own."""
    if _flusher and _flusher[0].is_alive() and _flusher[1] == os.getpid():
        return
    thread = threading.Thread(target=_flush, name="alert-counts", daemon=True)
    _flusher[:] = [thread, os.getpid()]
    thread.start()


def _tally(counts):
    """Count committed deliveries ({source pk: deliveries}) with Redis, now or by the flusher."""
    now = time.monotonic()
    with _counting:
        due = []
        for source_pk, count in counts.items():
            _uncounted[source_pk] = _uncounted.get(source_pk, 0) + count
            if _count_due(source_pk, now):
                due.append(source_pk)
            elif source_pk not in _due_at:
                _due_at[source_pk] = _counted_at[source_pk] + _count_every()
                _start_flusher()
                _counting.notify()
        counts = _reserve(due, now)
    _send_counts(counts)


def enqueue_stored(stored):
    """What follows committed deliveries ([(source pk, delivery id)]): the rate count and a
    routing task, one per source while its mark lasts."""
    from incidents.alerts.tasks import process_delivery, route_source

    counts = {}
    for source_pk, _pk in stored:
        counts[source_pk] = counts.get(source_pk, 0) + 1
    if shared_cache.is_shared() and _counted_with_mark():
        _tally(counts)
        return
    queued = None
    if shared_cache.is_shared():
        queued = {
            source_pk: shared_cache.run(cache.add, routing_queued_key(source_pk), 1, ROUTING_QUEUED_SECONDS)
            for source_pk in counts
        }
        if None in queued.values():  # the cache is down
            queued = None
    if queued is None:
        # The cache is the database (or Redis is down): one task per delivery, as the sweep does.
        for _source_pk, pk in stored:
            process_delivery.delay(pk)
        return
    for source_pk, mark_set in queued.items():
        if mark_set:  # else the task already queued for this source routes these deliveries too
            route_source.delay(source_pk)


_deliveries = intake.GroupCommit(_insert_rows, enqueue_stored)


# Routing claims deliveries in small batches, oldest first: on PostgreSQL a router takes the
# oldest deliveries no other router holds (FOR UPDATE SKIP LOCKED), so routers at once split the
# work instead of queueing on each other's rows. A batch is one transaction: its alerts, grouped
# by fingerprint, take each of their states in delivery order in memory, and each alert is
# written once, with at most one timeline write per line it leaves; its deliveries are marked
# routed in the same commit. Locks are taken in one order by every router (alert rows by
# fingerprint, then the services that may open an incident, then the incidents whose timeline
# changes, each by id), so two batches never deadlock.
ROUTING_BATCH = 50
# ...and at most this many alerts (a delivery of more is a batch of its own): an Alertmanager
# group can carry hundreds, and a batch holds its alerts' row locks until it commits.
ROUTING_BATCH_ALERTS = 500


def route_source(source_pk):
    """Route every delivery of the source not routed yet, oldest first, a batch at a time: the
    task that a burst of deliveries shares. Safe to run twice, or twice at once."""
    shared_cache.run(cache.delete, routing_queued_key(source_pk))
    done = 0
    while (routed := route_batch(source_pk)) is not None:
        done += routed
    return done


def pending_deliveries(older_than=timedelta(minutes=1)):
    """Deliveries not routed a while after they came in (the broker lost the task)."""
    cutoff = timezone.now() - older_than
    return AlertDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff).values_list("pk", flat=True)


# Applying alerts ---------------------------------------------------------------------------------


def _unrouted(source_pk):
    return AlertDelivery.objects.filter(source_id=source_pk, processed_at__isnull=True)


@core.in_site_language
@transaction.atomic
def route_batch(source_pk, size=ROUTING_BATCH):
    """Claim and route the source's oldest `size` deliveries that no other router holds: the
    number of alerts they carried, or None when there was none to claim.

    An older delivery still waiting is held by another router right now: its states of this
    batch's alerts are applied here first (in delivery order), and that router finds them
    applied (`Alert.last_delivery`), so each alert takes its states in order whichever router
    gets to it first."""
    claimed = list(
        _unrouted(source_pk).select_for_update(skip_locked=True).order_by("pk").values_list("pk", "alerts")[:size]
    )
    if not claimed:
        return None
    taken = 0
    for end, (_pk, items) in enumerate(claimed):
        taken += len(items)
        if end and taken > ROUTING_BATCH_ALERTS:
            claimed = claimed[:end]  # the rest waits for the next batch (held by this one until it commits)
            break
    earlier = list(_unrouted(source_pk).filter(pk__lt=claimed[0][0]).order_by("pk").values_list("pk", "alerts"))
    return _route(source_pk, claimed, earlier)


@core.in_site_language
@transaction.atomic
def process_delivery(delivery_pk):
    """Route every alert of one stored delivery (the sweep's way, and the fallback task's when
    the cache is not shared). Safe to run twice, or twice at once: a delivery another router
    holds is left to it."""
    claimed = list(
        AlertDelivery.objects.select_for_update(skip_locked=True)
        .filter(pk=delivery_pk, processed_at__isnull=True)
        .values_list("source_id", "pk", "alerts")
    )
    if not claimed:
        return 0
    source_pk, pk, items = claimed[0]
    return _route(source_pk, [(pk, items)], [])


def _route(source_pk, claimed, earlier):
    """Apply the alerts of the claimed deliveries (and the states `earlier` deliveries hold for
    the same alerts), then mark the claimed deliveries routed: the number of alerts claimed."""
    source = AlertSource.objects.select_related("owner").filter(pk=source_pk).first()
    if source is None:
        return 0  # removed since: its deliveries go with it
    rules = list(source.rules.select_related("service"))
    covered = list(source.services.all())
    claimed_fingerprints = {item["fingerprint"] for _pk, items in claimed for item in items}
    states = {}  # fingerprint -> [(delivery pk, alert)], in delivery order
    for pk, items in sorted(earlier + claimed, key=lambda delivery: delivery[0]):
        for item in items:
            if item["fingerprint"] in claimed_fingerprints:
                states.setdefault(item["fingerprint"], []).append((pk, item))
    if states:
        _apply(source, states, rules, covered)
    AlertDelivery.objects.filter(pk__in=[pk for pk, _items in claimed]).update(processed_at=timezone.now())
    return sum(len(items) for _pk, items in claimed)


def _lock_alerts(source, fingerprints):
    """The alert rows of these fingerprints ({fingerprint: first state}), locked in fingerprint
    order, made when missing: ({fingerprint: alert}, fingerprints of the rows made here)."""
    locked = Alert.objects.select_for_update(of=("self",)).select_related("incident", "entry").order_by("fingerprint")
    alerts = {a.fingerprint: a for a in locked.filter(source=source, fingerprint__in=fingerprints)}
    missing = sorted(set(fingerprints) - set(alerts))
    if not missing:
        return alerts, set()
    Alert.objects.bulk_create(
        [
            Alert(source=source, fingerprint=fp, status=fingerprints[fp]["status"], title=fingerprints[fp]["title"])
            for fp in missing
        ],
        ignore_conflicts=True,  # made by a router at once: its row, applied (last_delivery > 0)
    )
    made = {a.fingerprint: a for a in locked.filter(source=source, fingerprint__in=missing)}
    alerts |= made
    return alerts, {fp for fp, alert in made.items() if alert.last_delivery == 0}


def _apply(source, states, rules, covered):
    """Each alert's states in delivery order, in memory; then its timeline and its row, once."""
    alerts, created = _lock_alerts(source, {fp: deliveries[0][1] for fp, deliveries in states.items()})
    # What each state decides, and the services an alert that is on no open incident may open
    # one for: locked now, in one order, before any incident is.
    decisions = {fp: [(pk, item, route(item, rules, covered)) for pk, item in states[fp]] for fp in states}
    openers = set()
    for fp, decided in decisions.items():
        alert = alerts[fp]
        if alert.incident is None or alert.incident.status not in OPEN:
            openers |= {
                d.service.pk
                for pk, item, d in decided
                if pk > alert.last_delivery
                and item["status"] == Alert.Status.FIRING
                and d.rule is not None
                and d.service is not None
                and d.action != AlertRule.Action.RECORD
            }
    if openers:
        list(Service.objects.select_for_update().filter(pk__in=openers).order_by("pk").values_list("pk", flat=True))
    timelines = []
    # Service -> the open incident an alert of it fired on last in this batch: what a query for
    # the alert of the service that fired last (_group_incident) finds, before any row is saved.
    grouped = {}
    for fp in sorted(decisions):
        alert = alerts[fp]
        timeline = _Timeline(alert, source)
        applied = False
        nowhere = set()  # decisions that found nowhere to go: nothing changes that in this batch
        for pk, item, decision in decisions[fp]:
            if pk <= alert.last_delivery:
                continue  # this delivery (or a later one) was applied already
            was = None if fp in created and not applied else alert.status
            applied = True
            _apply_state(alert, item, decision, pk, was, source, timeline, nowhere, grouped)
            if alert.status == Alert.Status.FIRING and alert.incident is not None and alert.service is not None:
                grouped[alert.service.pk] = alert.incident
        if applied:
            timelines.append(timeline)
    if not timelines:
        return
    _write_timelines(timelines)
    _save_alerts([timeline.alert for timeline in timelines])


def _save_alerts(alerts):
    """UPDATE each alert's row: one statement, sent once for all of them (psycopg's pipeline;
    Django's bulk_update builds a CASE per field and row, which costs more than it saves)."""
    meta, qn = Alert._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in ALERT_FIELDS]
    columns = ", ".join(f"{qn(field.column)} = %s" for field in fields)
    # Names from the model's metadata, quoted; every value is a parameter.
    sql = f"UPDATE {qn(meta.db_table)} SET {columns} WHERE {qn(meta.pk.column)} = %s"  # noqa: S608
    rows = [
        [field.get_db_prep_save(getattr(alert, field.attname), connection) for field in fields] + [alert.pk]
        for alert in alerts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


ALERT_FIELDS = [
    "status",
    "title",
    "labels",
    "annotations",
    "url",
    "starts_at",
    "ends_at",
    "last_seen",
    "last_fired",
    "last_delivery",
    "rule",
    "routed",
    "service",
    "severity",
    "incident",
    "entry",
    "fired_count",
    "resolved_count",
    "note",
]


def _apply_state(alert, item, decision, delivery_pk, was, source, timeline, nowhere, grouped):
    """One state of an alert, as one delivery of it would apply it."""
    now = timezone.now()
    alert.status = item["status"]
    alert.title = item["title"]
    alert.labels, alert.annotations, alert.url = item["labels"], item["annotations"], item["url"]
    alert.starts_at = payloads.as_datetime(item["starts_at"]) or alert.starts_at
    alert.ends_at = payloads.as_datetime(item["ends_at"])
    alert.last_seen, alert.last_delivery = now, delivery_pk
    alert.rule, alert.routed = decision.rule, decision.rule is not None
    alert.service, alert.severity = decision.service, decision.severity
    fired = alert.status == Alert.Status.FIRING and was != Alert.Status.FIRING
    resolved = alert.status == Alert.Status.RESOLVED and was == Alert.Status.FIRING
    if alert.status == Alert.Status.FIRING:
        alert.last_fired = now
    if fired:
        alert.fired_count += 1
    if resolved:
        alert.resolved_count += 1
    if alert.incident is not None and alert.incident.status not in OPEN:
        # Its incident is over: this alert may open or join another.
        alert.incident, alert.entry = None, None
    attached = False
    tried = (decision.rule.pk, decision.service.pk if decision.service else None) if alert.routed else None
    if alert.status == Alert.Status.FIRING and alert.incident is None and alert.routed and tried not in nowhere:
        attached = _route_to_incident(alert, source, decision, now, grouped)
        if not attached:
            nowhere.add(tried)
    if alert.incident is not None and (fired or resolved or attached):
        timeline.change(fresh=attached)


def _route_to_incident(alert, source, decision, now, grouped):
    """Attach the firing alert to its group's open incident, or open one. True if attached.
    The caller holds the service's row lock: one opener per service at a time. `grouped`: the
    service's incident that an alert of the batch fired on last, if any (it fired later than
    any other)."""
    service = decision.service
    if decision.action == AlertRule.Action.RECORD:
        alert.note = "Recorded only (rule)."
        return False
    target = grouped.get(service.pk) if service is not None else None
    if target is None:
        target = _group_incident(alert, service, now - timedelta(minutes=source.grouping_minutes))
    if target is None and decision.action == AlertRule.Action.ATTACH and service is not None:
        target = Incident.objects.filter(services=service, status__in=OPEN).order_by("-declared_at").first()
    if target is None and decision.action == AlertRule.Action.ATTACH:
        alert.note = f"No open incident of {service.name if service else 'its service'} to attach to."
        return False
    if target is None:
        try:
            target = core.declare(
                source.owner,
                title=alert.title,
                summary=_summary(alert),
                severity=decision.severity,
                kind=decision.kind,
                services=[service] if service else [],
                started_at=min(alert.starts_at or now, now),
                detected_at=now,
            )
        except (PermissionDenied, ValidationError) as exc:
            alert.note = f"Could not open an incident: {_message(exc)}"[:300]
            return False
    alert.incident, alert.entry, alert.note = target, None, ""
    return True


def _group_incident(alert, service, since):
    """The open incident a firing alert of the same service joined lately (the grouping window)."""
    if service is None:
        return None
    sibling = (
        Alert.objects.filter(service=service, incident__status__in=OPEN, last_fired__gte=since)
        .exclude(pk=alert.pk)
        .select_related("incident")
        .order_by("-last_fired")
        .first()
    )
    return sibling.incident if sibling else None


def _message(exc):
    if isinstance(exc, ValidationError):
        return (
            "; ".join(m for ms in exc.message_dict.values() for m in ms)
            if hasattr(exc, "error_dict")
            else exc.messages[0]
        )
    return str(exc)


# What Markdown (with the tables extension) lets a backslash escape; `<` and `&` it does not, so
# they become entities (raw HTML would otherwise reach the sanitiser as tags and be dropped).
# What a link's target keeps as is; the rest (spaces, brackets, parentheses) is percent-encoded.
URL_SAFE = ":/?#@!$&'*+,;=%-._~"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!>|])")


def escape_markdown(text):
    """Untrusted alert text shown in a Markdown body as the plain text it is."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _summary(alert):
    description = alert.annotations.get("description") or alert.annotations.get("message") or ""
    lines = [f"Opened by alert {escape_markdown(alert.title)} from {escape_markdown(alert.source.name)}."]
    if description:
        lines.append(escape_markdown(description))
    return "\n\n".join(lines)


def _entry_data(alert, source, state):
    return {
        "field": "alert",
        "alert": alert.pk,
        "source": source.name,
        "state": state,
        "labels": alert.labels,
        "url": alert.url,
        "fired": alert.fired_count,
        "resolved": alert.resolved_count,
    }


def _details(alert):
    """The alert's labels and its link back to the source, as a second paragraph of the line
    (the war room draws entries from their text alone)."""
    labels = ", ".join(f"{key}={value}" for key, value in sorted(alert.labels.items()))
    parts = [Line(gettext_noop("Labels: {labels}"), labels=escape_markdown(labels))] if labels else []
    if alert.url:
        parts.append(Line(gettext_noop("[source]({url})"), url=quote(alert.url, safe=URL_SAFE)))
    return joined(parts, " · ") if parts else None


def _write_timeline(alert, source, fresh):
    """Firing, then resolved, each on its own line; from the next firing on, the alert is
    flapping and every change updates one line with the counts instead of adding lines."""
    timeline = _Timeline(alert, source)
    timeline.change(fresh)
    _write_timelines([timeline])


def _write_timelines(timelines):
    """Write the lines that alerts' changes leave, each as core.record_event would (the same
    core.timeline_entry), and the flapping lines they update, all at once: their incidents are
    locked in id order (the one order every router takes them in) and each moves its version on
    once per line, so live views see every line, in order, after the commit."""
    touched = sorted({pk for timeline in timelines for pk in timeline.incidents()})
    if not touched:
        return
    locked = Incident.objects.select_for_update().filter(pk__in=touched).order_by("pk")
    versions = dict(locked.values_list("pk", "version"))
    now = timezone.now()
    entries, revisions, edited = [], [], []
    for timeline in timelines:
        if timeline.updated:
            entry, body, data = timeline.updated
            versions[entry.incident_id] += 1
            revisions.append(TimelineRevision(entry=entry, body=entry.body, replaced_at=now))
            entry.body, entry.line, entry.data = body.english(), body.as_data(), data
            entry.edited_at, entry.seq = now, versions[entry.incident_id]
            edited.append(entry)
        for line in timeline.new:
            versions[line.incident.pk] += 1
            line.entry = core.timeline_entry(
                line.incident, None, TimelineEntry.Kind.ALERT, line.body, line.data, now, versions[line.incident.pk]
            )
            entries.append(line.entry)
    TimelineEntry.objects.bulk_create(entries)
    TimelineRevision.objects.bulk_create(revisions)
    for entry in edited:
        entry.save(update_fields=["body", "line", "data", "edited_at", "seq"])
    incidents = {}
    for timeline in timelines:
        if isinstance(timeline.current, _NewLine):
            timeline.alert.entry = timeline.current.entry
        incidents |= {line.incident.pk: line.incident for line in timeline.new}
        if timeline.updated:
            incidents[timeline.updated[0].incident_id] = timeline.alert.incident
    for pk, incident in incidents.items():
        Incident.objects.filter(pk=pk).update(version=versions[pk], updated_at=now)
        incident.version, incident.updated_at = versions[pk], now
        core.notify_changed(incident, "alerts")


@dataclass
class _NewLine:
    incident: Incident
    body: Line
    data: dict
    entry: TimelineEntry | None = None

    @property
    def incident_id(self):
        return self.incident.pk


class _Timeline:
    """The timeline lines one alert's changes leave, decided in memory (`change`, once per
    change, as each delivery would) and written once (`write`): each new line once, with its
    text as the last change left it, and the flapping line already on the timeline updated
    once, with one revision."""

    def __init__(self, alert, source):
        self.alert, self.source = alert, source
        self.current = alert.entry  # the line the alert's changes go to: a TimelineEntry or a _NewLine
        self.new = []
        self.updated = None  # (the flapping line on the timeline, its new text, its new data)

    def incidents(self):
        pks = {line.incident.pk for line in self.new}
        return pks | ({self.updated[0].incident_id} if self.updated else set())

    def change(self, fresh):
        alert, source = self.alert, self.source
        title, name = escape_markdown(alert.title), escape_markdown(source.name)
        current, incident = self.current, alert.incident
        state = choice(Alert.Status, alert.status, lower=True)
        if fresh or current is None or current.incident_id != incident.pk:
            details = _details(alert)
            body = Line(
                gettext_noop("Alert {state}: {title} ({source}).\n\n{details}")
                if details
                else gettext_noop("Alert {state}: {title} ({source})."),
                state=state,
                title=title,
                source=name,
                details=details,
            )
            self._add(incident, body, _entry_data(alert, source, alert.status))
        elif alert.fired_count < 2:
            body = Line(gettext_noop("Alert {state}: {title} ({source})."), state=state, title=title, source=name)
            self._add(incident, body, _entry_data(alert, source, alert.status))
        else:
            body = Line(
                gettext_noop(
                    "Alert flapping: {title} ({source}): fired {fired} times, resolved {resolved} times; {state} now."
                ),
                title=title,
                source=name,
                fired=alert.fired_count,
                resolved=alert.resolved_count,
                state=state,
            )
            data = _entry_data(alert, source, "flapping")
            if current.data.get("state") != "flapping":
                self._add(incident, body, data)
            elif isinstance(current, _NewLine):
                current.body, current.data = body, data
            else:
                self.updated = (current, body, data)

    def _add(self, incident, body, data):
        self.current = _NewLine(incident, body, data)
        self.new.append(self.current)


# Triage ----------------------------------------------------------------------------------------


@core.in_site_language
@transaction.atomic
def open_incident_from(alert, by, severity=None):
    """Open an incident for an alert that no rule took (the triage list's one click). A
    commander who opens it commands it; when a responder opens it, the source's owner declares
    and commands it (as for the incidents the source opens on its own, so the on-call group is
    paged the same way) and the responder joins it as a responder."""
    access.require(
        access.can_open_incident_from_alert(by),
        gettext("Only responders and commanders may open an incident from an alert."),
    )
    alert = Alert.objects.select_for_update(of=("self",)).select_related("source", "source__owner").get(pk=alert.pk)
    if alert.incident is not None and alert.incident.status in OPEN:
        raise ValidationError(
            {"alert": gettext("This alert is already on {reference}.").format(reference=alert.incident.reference)}
        )
    owner = alert.source.owner
    commander = access.commander_for_alert(by, owner)
    if commander is None:
        raise ValidationError(
            {
                "alert": gettext(
                    "The owner of {source} may not declare incidents, so only a commander can open one from"
                    " this alert; you can attach it to an open incident."
                ).format(source=alert.source.name)
            }
        )
    incident = core.declare(
        commander,
        title=alert.title,
        summary=_summary(alert),
        severity=severity or alert.severity,
        services=[alert.service] if alert.service else [],
        started_at=min(alert.starts_at or timezone.now(), timezone.now()),
        detected_at=alert.first_seen,
    )
    if commander != by:
        Membership.objects.create(incident=incident, user=by, role=Role.RESPONDER, assigned_by=by)
        core.record_event(
            incident,
            by,
            TimelineEntry.Kind.ROLE,
            Line(
                gettext_noop(
                    "{person} opened the incident from alert triage and joined as responder; "
                    "{commander} commands it as the owner of {source}."
                ),
                person=by.get_username(),
                commander=commander.get_username(),
                source=escape_markdown(alert.source.name),
            ),
            {"field": Role.RESPONDER, "old": None, "new": by.get_username()},
        )
    alert.incident, alert.entry, alert.note = incident, None, ""
    _write_timeline(alert, alert.source, fresh=True)
    alert.save(update_fields=["incident", "entry", "note"])
    return incident


@core.in_site_language
@transaction.atomic
def attach_to(alert, incident, by):
    """Put an alert on an open incident the actor works on (the triage list's other click)."""
    access.require(
        access.can_triage_alerts(by) and access.can_log(by, incident),
        gettext("Only responders and commanders who work on the incident may attach alerts to it."),
    )
    if incident.status not in OPEN:
        raise ValidationError({"incident": gettext("{reference} is not open.").format(reference=incident.reference)})
    alert = Alert.objects.select_for_update(of=("self",)).select_related("source").get(pk=alert.pk)
    if alert.incident_id == incident.pk:
        return alert
    alert.incident, alert.entry, alert.note = incident, None, ""
    _write_timeline(alert, alert.source, fresh=True)
    alert.save(update_fields=["incident", "entry", "note"])
    return alert


# Status drift and resolution ---------------------------------------------------------------------

# A critical alert firing this long on a public service that the status page shows operational
# is drift: the war room says so and the comms lead is reminded (incidents/alerts/reminders.py).
DRIFT_MINUTES = 10


@dataclass
class Drift:
    service: Service
    incident_id: int | None
    since: object  # datetime: when the earliest such alert started firing

    @property
    def minutes(self):
        return int((timezone.now() - self.since).total_seconds() // 60)


def status_drift(alerts=None, now=None):
    """Public services with a SEV1 alert firing for DRIFT_MINUTES or more while no open impact
    of a public (non-confidential) incident says anything is wrong: what the status page shows
    is "operational". Two queries."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=DRIFT_MINUTES)
    firing = (alerts if alerts is not None else Alert.objects.all()).filter(
        status=Alert.Status.FIRING, severity=Incident.Severity.SEV1, service__public=True
    )
    rows = list(firing.values_list("service_id", "incident_id", "starts_at", "first_seen"))
    since = {}
    for service_id, incident_id, starts_at, first_seen in rows:
        start = starts_at or first_seen
        if start <= cutoff and (service_id not in since or start < since[service_id][1]):
            since[service_id] = (incident_id, start)
    if not since:
        return []
    public = Incident.objects.filter(confidential=False)
    services = Service.objects.with_current_status(public).filter(pk__in=since)
    return [
        Drift(service, since[service.pk][0], since[service.pk][1]) for service in services if not service.status_rank
    ]


def all_alerts_resolved(incident_ids=None):
    """Open incidents, not yet in monitoring, whose alerts have all resolved: {incident id:
    time of the last resolution}. One query."""
    from django.db.models import Count, Max, Q

    rows = (
        Alert.objects.filter(
            incident__status__in=(Incident.Status.INVESTIGATING, Incident.Status.IDENTIFIED),
            **({"incident_id__in": incident_ids} if incident_ids is not None else {}),
        )
        .values("incident_id")
        .annotate(firing=Count("pk", filter=Q(status=Alert.Status.FIRING)), last=Max("last_seen"))
        .filter(firing=0)
        .order_by()
    )
    return {row["incident_id"]: row["last"] for row in rows}
