"""The subscribers of private status pages as members of the recipient lists that follow them
(settings.WARROOM_LIST_PAGE_SUBSCRIBERS; incidents.comms.delivery calls this module, which it
knows only by that setting's name). A subscriber counts while it is confirmed, not
unsubscribed, and may still see its page (its access link not revoked, its user still allowed:
the same rule and the same check as the page's own updates,
subscriptions.allowed_to_see_their_pages, in a fixed number of queries however many they are),
read again when each message is sent."""

from django.conf import settings
from django.utils import timezone

from incidents.comms.delivery import ListMember
from incidents.models import RecipientList

from . import subscriptions
from .models import StatusPage, Subscriber

PREFIX = "subscriber:"


def pages():
    """[(id, name)] of the private pages a recipient list may follow."""
    private = StatusPage.objects.filter(visibility=StatusPage.Visibility.PRIVATE).order_by("name", "pk")
    return [(page.pk, page.name or settings.STATUSPAGE_NAME) for page in private]


def _subscribers(**where):
    rows = (
        Subscriber.objects.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True, **where)
        .select_related("page", "user", "access_link")
        .order_by("pk")
    )
    rows = [s for s in rows if s.page is not None and s.page.is_private]
    allowed = subscriptions.allowed_to_see_their_pages(rows)
    return [s for s in rows if s.pk in allowed]


def _member(subscriber):
    return ListMember(
        kind=subscriber.kind,
        address=subscriber.email if subscriber.kind == Subscriber.Kind.EMAIL else subscriber.webhook_url,
        language=subscriber.language,
        secret=subscriber.secret,
        ref=f"{PREFIX}{subscriber.pk}",
        page=subscriber.page_id,
    )


def members(page_ids):
    """{page id: [ListMember]} of these private pages' subscribers who may still see them."""
    found = {}
    for subscriber in _subscribers(page_id__in=page_ids):
        found.setdefault(subscriber.page_id, []).append(_member(subscriber))
    return found


def resolve(refs):
    """{ref: ListMember} of those of these refs that are still such subscribers."""
    ids = {int(ref.removeprefix(PREFIX)) for ref in refs if ref.startswith(PREFIX) and ref[len(PREFIX) :].isdigit()}
    return {f"{PREFIX}{s.pk}": _member(s) for s in _subscribers(pk__in=ids)} if ids else {}


def gone(ref):
    """The subscriber's webhook answered 410 Gone to a list's message: it is unsubscribed, as
    when it answers so to one of its page's updates (statuspage.delivery)."""
    if ref.startswith(PREFIX) and ref[len(PREFIX) :].isdigit():
        Subscriber.objects.filter(pk=int(ref[len(PREFIX) :]), unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now()
        )


def unfollow(page_id):
    """The lists that follow this page (made public, or deleted) follow it no more."""
    RecipientList.objects.filter(follows_page=page_id).update(follows_page=None, updated_at=timezone.now())
