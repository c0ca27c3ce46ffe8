"""Subscribing to the status page: the domain operations behind the public forms.

- E-mail subscribers opt in twice: `subscribe` writes an unconfirmed subscriber and a
  confirmation message (an outbox row, delivered like any notification); `confirm` activates
  it. Only confirmed, not unsubscribed subscribers are notified.
- Webhook subscribers prove they control the endpoint first: `subscribe` writes an
  unconfirmed subscriber and one verification request (an outbox row, delivered like any
  notification) carrying a random challenge; the endpoint must echo it, and only then is the
  subscriber confirmed (statuspage.delivery). Until then nothing else is sent to it, so the
  public form cannot make us POST updates to a third party's URL. Whoever subscribes a URL
  sees its signing secret once, on the page that answers the form, and every payload is
  signed with it. A receiver that does not want the messages answers 410 Gone, which
  unsubscribes it.
- Subscribing an address that is already subscribed changes nothing and mails its owner a
  link to manage the subscription, so the form neither reveals who is subscribed nor lets a
  stranger change someone's choices.
- Every message carries the subscriber's token in its unsubscribe and manage links.
- A subscriber belongs to one status page (statuspage.pages). On a private page it also records
  what let it in (the signed-in user, or the access link), and is only told about an update
  while that still lets it in (statuspage.tasks.followers).
"""

import re
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import access
from incidents.models import Service

from .models import Notification, Subscriber

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def public_groups(page=None):
    """Group names of the page's public services (the default page's when None), as offered on
    the form."""
    from . import pages

    page = page or pages.default_page()
    services = Service.objects.filter(public=True).exclude(group="")
    return sorted({s.group for s in services.only("pk", "group", "public") if pages.shows_service(page, s)})


def allowed_to_see_their_pages(subscribers):
    """The ids of those of these subscribers (with `page`, `user` and `access_link` loaded) who
    may still see their page: all of a public page's (and of the default page's from before there
    were pages); a private page's while what let them in still does, their access link not
    revoked or their user staff or in one of its allowed groups (incidents.access, the rule of
    can_view_status_page), read in a fixed number of queries however many they are. Asked when
    an update fans out, when each notification is sent, and for the recipient lists that
    follow a private page."""
    visiting = [s for s in subscribers if s.page is not None]
    allowed = access.status_page_visits_allowed((s.page, s.user, s.access_link) for s in visiting)
    return {s.pk for s in subscribers if s.page is None} | {s.pk for s, ok in zip(visiting, allowed, strict=True) if ok}


def _scope(subscriber, all_components, components, groups):
    subscriber.all_components = bool(all_components) or not (components or groups)
    subscriber.groups = [] if subscriber.all_components else sorted(set(groups or ()))
    return [] if subscriber.all_components else list(components or ())


def _hour():
    return timezone.now().strftime("%Y%m%d%H")


def _queue_message(subscriber, kind, key=None, **payload):
    """An outbox row for a confirmation or manage-link e-mail, or a webhook's verification
    request. An e-mail's key holds the hour, so a form submitted again and again mails an
    address at most once an hour."""
    page = subscriber.page
    if page is not None and not page.is_default and kind != "verification":
        # Rows of one key share one payload at delivery: another page's messages have their own.
        from . import pages

        key = key or f"{kind}:{_hour()}:p{page.pk}"
        payload["page"] = {"name": pages.display_name(page), "url": pages.url(page)}
    notification, created = Notification.objects.get_or_create(
        subscriber=subscriber, key=key or f"{kind}:{_hour()}", defaults={"payload": {"type": kind, **payload}}
    )
    if created:
        from .tasks import deliver

        transaction.on_commit(lambda: deliver.delay([notification.pk]))
    return notification


@transaction.atomic
def subscribe(
    *,
    kind,
    email="",
    webhook_url="",
    all_components=True,
    components=(),
    groups=(),
    language="en",
    page=None,
    user=None,
    access_link=None,
):
    """Subscribe an e-mail address (unconfirmed until the link in the confirmation mail is
    followed) or a webhook URL (unconfirmed until it echoes the challenge of its verification
    request) to `page` (the default page when None). On a private page, `user` (signed in and
    allowed) or `access_link` says what lets the subscriber see it. Returns (subscriber,
    created); `created` is False when the address was already subscribed to that page."""
    from . import pages

    page = page or pages.default_page()
    language = (language or "en")[:15]
    private = {"user": user, "access_link": access_link} if page.is_private else {"user": None, "access_link": None}
    if kind == Subscriber.Kind.WEBHOOK:
        subscriber = Subscriber(kind=kind, webhook_url=webhook_url, language=language, page=page, **private)
        chosen = _scope(subscriber, all_components, components, groups)
        subscriber.save()
        subscriber.components.set(chosen)
        # Its own key: rows sharing a key share one payload at delivery (statuspage.delivery),
        # and every webhook must get its own challenge.
        _queue_message(
            subscriber, "verification", key=f"verification:{subscriber.pk}", challenge=secrets.token_urlsafe(32)
        )
        return subscriber, True
    email = _normalise_email(email)
    existing = (
        Subscriber.objects.select_for_update()
        .filter(kind=Subscriber.Kind.EMAIL, email__iexact=email, unsubscribed_at__isnull=True, page=page)
        .first()
    )
    if existing is not None and existing.confirmed_at is not None:
        _queue_message(existing, "manage")
        return existing, False
    if existing is None:
        existing = Subscriber(kind=Subscriber.Kind.EMAIL, email=email, page=page)
    # Unconfirmed: whoever confirms gets the latest choices.
    existing.language = language
    existing.user, existing.access_link = private["user"], private["access_link"]
    chosen = _scope(existing, all_components, components, groups)
    try:
        with transaction.atomic():
            existing.save()
    except IntegrityError:
        # Two submissions raced for the same address: the other one won.
        return Subscriber.objects.get(kind="email", email=email, unsubscribed_at__isnull=True, page=page), False
    existing.components.set(chosen)
    _queue_message(existing, "confirm")
    return existing, True


def _normalise_email(email):
    local, _, domain = (email or "").strip().rpartition("@")
    return f"{local}@{domain.lower()}" if local else (email or "").strip()


def by_token(token):
    # Tokens are URL-safe base64: anything else (a NUL byte, which PostgreSQL refuses) is unknown.
    if not token or not TOKEN.fullmatch(token):
        return None
    return Subscriber.objects.filter(token=token).first()


def confirm(token):
    """Activate the e-mail subscriber with this token; returns it, or None for an unknown or
    unsubscribed token. Confirming twice is harmless. A webhook is never confirmed this way:
    whoever subscribed it holds its token (the manage link), and only the endpoint's echo of
    the challenge proves it controls the URL (`verified`)."""
    subscriber = by_token(token)
    if subscriber is None or subscriber.unsubscribed_at is not None:
        return None
    if subscriber.kind != Subscriber.Kind.EMAIL:
        return subscriber
    Subscriber.objects.filter(pk=subscriber.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
    subscriber.refresh_from_db(fields=["confirmed_at"])
    return subscriber


def verified(subscriber):
    """The webhook answered its verification request with the challenge: it is confirmed and
    receives updates from now on. Harmless twice; an unsubscribed webhook stays unsubscribed."""
    Subscriber.objects.filter(pk=subscriber.pk, confirmed_at__isnull=True, unsubscribed_at__isnull=True).update(
        confirmed_at=timezone.now()
    )


def unsubscribe(token):
    """Stop every message to this subscriber; returns it, or None for an unknown token.
    Unsubscribing twice is harmless. Pending notifications are dropped at delivery."""
    subscriber = by_token(token)
    if subscriber is None:
        return None
    Subscriber.objects.filter(pk=subscriber.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=timezone.now())
    subscriber.refresh_from_db(fields=["unsubscribed_at"])
    return subscriber


@transaction.atomic
def change_scope(subscriber, *, all_components=True, components=(), groups=()):
    """What an existing subscriber follows: everything, chosen components, or groups (a group
    includes components added to it later)."""
    chosen = _scope(subscriber, all_components, components, groups)
    subscriber.save(update_fields=["all_components", "groups"])
    subscriber.components.set(chosen)
    return subscriber
