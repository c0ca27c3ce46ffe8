"""Safe retries of creating POSTs: the `Idempotency-Key` request header (IETF draft "The
Idempotency-Key HTTP Header Field").

A client that lost the answer to a POST (a dropped connection, a 5xx from a proxy, a killed
worker) cannot know whether the object was created; resending it with the same key is safe:

- the first request with a key runs the create and stores its answer (status and JSON body)
  under (user, key) in the same transaction as the create, so either both are stored or
  neither is;
- a retry with the same key, method, path and body gets the stored answer again, with
  `Idempotent-Replayed: true`, and creates nothing (even if the object changed since);
- the same key with another method, path or body is a 422: the client reused a key by mistake;
- a retry while the first request still runs is a 409 (retry later);
- only a successful (2xx) answer is kept: a refused request stores nothing, so resending it
  runs it again.

Keys are per user and expire after `KEY_TTL`. Without the header a POST runs as before, but
its answer is built inside the create's transaction too: nothing is queried after the commit,
so a database blip after the commit cannot turn a stored object into a 500.
"""

import hashlib
import json
from datetime import timedelta
from functools import wraps

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework import mixins, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from incidents.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = IdempotencyKey._meta.get_field("key").max_length


class KeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = {
        "idempotency_key": ["A request with this Idempotency-Key is still being processed; retry once it has finished."]
    }
    default_code = "idempotency_key_in_use"


HEADER_META = "HTTP_" + HEADER.upper().replace("-", "_")


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


def parse_key(request):
    """The header's key, or None. The draft sends it as a structured-field string ("..."); a
    bare token, as most APIs take it, works too."""
    raw = request.META.get(HEADER_META)  # not `headers`, which parses every header first
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise ValidationError({"idempotency_key": [gettext("The Idempotency-Key header is empty: send a unique key.")]})
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            {
                "idempotency_key": [
                    gettext("An Idempotency-Key has at most {MAX_KEY_LENGTH} characters; this one has {len}.").format(
                        MAX_KEY_LENGTH=MAX_KEY_LENGTH, len=len(key)
                    )
                ]
            }
        )
    if "\x00" in key:  # PostgreSQL refuses NUL in text (a 500 if it reached the query)
        raise ValidationError({"idempotency_key": [gettext("An Idempotency-Key cannot contain a NUL character.")]})
    return key


def fingerprint(request):
    """SHA-256 of the request's data as canonical JSON: the same fields in another order (or
    another spacing) are the same request."""
    data = request.data
    if isinstance(data, QueryDict):
        data = {name: values for name, values in data.lists()}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _lock_key(user, key):
    """Take the key for this transaction, or raise KeyInUse if another transaction holds it.
    On PostgreSQL a transaction-level advisory lock: a concurrent retry does not wait for the
    first request (it may be slow) but hears 409 at once; the unique constraint stays the last
    word. SQLite runs one writing transaction at a time, so it needs no lock."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"idempotency:{user.pk}:{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_id])
        (taken,) = cursor.fetchone()
    if not taken:
        raise KeyInUse()


def purge_expired(now=None):
    """Delete keys older than KEY_TTL (one indexed DELETE)."""
    cutoff = (now or timezone.now()) - KEY_TTL
    return IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0]


def replay(stored):
    return Response(stored.response_body, status=stored.response_status, headers={REPLAYED_HEADER: "true"})


def run_once(request, create):
    """Run `create()` (a view's create, returning a DRF Response) at most once per key."""
    key = parse_key(request)
    if key is None:
        with transaction.atomic():
            return create()
    now = timezone.now()
    # Lazily, outside the create's transaction: a short statement, so two requests purging
    # the same rows never wait on each other's (possibly long) create.
    purge_expired(now)
    user = request.user
    method, path, body_hash = request.method, request.path, fingerprint(request)
    with transaction.atomic():
        _lock_key(user, key)
        stored = IdempotencyKey.objects.filter(user=user, key=key).first()
        if stored is not None and stored.created_at < now - KEY_TTL:
            stored.delete()  # expired, the purge raced us: the key is free again
            stored = None
        if stored is not None:
            if (stored.method, stored.path, stored.body_hash) != (method, path, body_hash):
                raise KeyReused(
                    {
                        "idempotency_key": [
                            f"This Idempotency-Key was already used for another request ({stored.method} "
                            f"{stored.path} with other data): use a new key for a new request."
                        ]
                    }
                )
            return replay(stored)
        response = create()
        if not status.is_success(response.status_code):
            return response
        try:
            with transaction.atomic():  # a savepoint: the constraint's refusal must not poison the transaction
                IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    method=method,
                    path=path,
                    body_hash=body_hash,
                    response_status=response.status_code,
                    response_body=response.data,
                    created_at=now,
                )
        except IntegrityError as exc:
            # Another request stored this key between our look and our write (only possible
            # where _lock_key cannot lock): undo our create, theirs stands.
            raise KeyInUse() from exc
        return response


class IdempotentCreateModelMixin(mixins.CreateModelMixin):
    """DRF's CreateModelMixin, with `Idempotency-Key` support and the answer built inside the
    create's transaction."""

    def create(self, request, *args, **kwargs):
        return run_once(request, lambda: super(IdempotentCreateModelMixin, self).create(request, *args, **kwargs))

    create.takes_idempotency_key = True


def idempotent(view_method):
    """The same for a view's `post` (or a viewset's `create`) written by hand."""

    @wraps(view_method)
    def wrapped(view, request, *args, **kwargs):
        return run_once(request, lambda: view_method(view, request, *args, **kwargs))

    wrapped.takes_idempotency_key = True
    return wrapped


def takes_key(view, method):
    """Whether the handler serving `method` on `view` honours the header (for the schema)."""
    action = getattr(view, "action", None) or method.lower()
    return getattr(getattr(view, action, None), "takes_idempotency_key", False)
