"""What the reminders wing does when the core signals (loaded by incidents.apps)."""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import receiver

from incidents.models import UserNotification
from incidents.reminders import delivery as notify
from incidents.signals import signin_locked_out

User = get_user_model()


@receiver(signin_locked_out, dispatch_uid="reminders.signin_locked_out")
def tell_of_signin_lockout(sender, users, address, window, **kwargs):
    """The person whose sign-in is paused (someone may be guessing their password, or it was
    them) and the security group hear of it in their inbox, and by e-mail if they want e-mail.
    Once per pause: the key names the window, and the inbox keeps a key once per person."""
    period = int(time.time() // window)
    security = list(
        User.objects.filter(groups__name=settings.WARROOM_SECURITY_GROUP, is_active=True).values_list("pk", flat=True)
    )
    url = settings.SITE_URL + "/inbox/"
    messages = []
    for user in users:
        key = f"signin-lockout:{user.pk}:{address}:{period}"
        messages.append(
            notify.Message(
                user_id=user.pk,
                key=key,
                kind=UserNotification.Kind.SIGNIN_LOCKOUT,
                title="Sign-in to your account paused after failed attempts",
                body=(
                    f"There were too many failed sign-in attempts for your account from {address}, so "
                    f"sign-in from that address is paused for {window // 60 or 1} min. Sign-in from other "
                    "addresses still works. If this was not you, tell the security team and change your "
                    "password."
                ),
                url=url,
            )
        )
        messages.extend(
            notify.Message(
                user_id=pk,
                key=key,
                kind=UserNotification.Kind.SIGNIN_LOCKOUT,
                title=f"Sign-in of {user.get_username()} paused after failed attempts from {address}",
                body=(
                    f"Too many failed sign-in attempts for {user.get_username()} from {address}: sign-in "
                    f"from that address is paused for {window // 60 or 1} min (logger warroom.auth has each "
                    "attempt)."
                ),
                url=url,
            )
            for pk in security
            if pk != user.pk
        )
    with transaction.atomic():
        notify.send(messages)
