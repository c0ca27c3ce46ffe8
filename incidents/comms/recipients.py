"""Domain operations on recipient lists: the e-mail addresses and signed webhooks that
customer, regulator and partner messages are delivered to (incidents.comms.delivery). The
pages, the API and the admin call these. Comms staff and commanders manage them
(access.can_manage_recipient_lists). Addresses are checked here: e-mail addresses by
Django's validator, webhook URLs by the same outbound check as every webhook
(incidents.webhooks.check_url: http(s) only, no private or local addresses), and again before
every call."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from incidents import access, webhooks
from incidents.comms.delivery import followable_pages, private_webhooks_allowed
from incidents.comms.services import LANGUAGE_CODE
from incidents.models import Recipient, RecipientList

REFUSED = "Only comms staff and commanders may manage recipient lists."
LIST_FIELDS = ("name", "audience", "active", "follows_page")
MEMBER_FIELDS = ("kind", "email", "name", "language", "webhook_url", "active")


def _require(by):
    access.require(access.can_manage_recipient_lists(by), REFUSED)


def _text(value, field, limit, required=False):
    value = (value or "").strip() if isinstance(value, str) else value
    if not isinstance(value, str):
        raise ValidationError({field: gettext("Give this as text.")})
    if "\x00" in value or len(value) > limit:
        raise ValidationError({field: gettext("Say it in at most %(limit)s characters.") % {"limit": limit}})
    if required and not value:
        raise ValidationError({field: gettext("This field is required.")})
    return value


def check_list_fields(fields):
    unknown = set(fields) - set(LIST_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be set.")})
    if "name" in fields:
        fields["name"] = _text(fields["name"], "name", 120, required=True)
    if "audience" in fields and fields["audience"] not in RecipientList.AUDIENCES:
        raise ValidationError({"audience": gettext("Choose customers, regulators or partners.")})
    if "active" in fields and not isinstance(fields["active"], bool):
        raise ValidationError({"active": gettext("Say true or false.")})
    if "follows_page" in fields:
        page = fields["follows_page"]
        if page in (None, ""):
            fields["follows_page"] = None
        elif isinstance(page, bool) or not isinstance(page, int) or page not in dict(followable_pages()):
            raise ValidationError({"follows_page": gettext("Choose a private status page (or none).")})
    return fields


def _save_list(recipient_list, name):
    try:
        with transaction.atomic():
            recipient_list.save()
    except IntegrityError as exc:
        raise ValidationError({"name": gettext("There is already a list named “%(name)s”.") % {"name": name}}) from exc
    return recipient_list


@transaction.atomic
def create_list(by, *, name, audience, active=True, follows_page=None):
    """A list; with `follows_page` (a private status page's id), that page's confirmed
    subscribers who may still see it are members too (incidents.comms.delivery.members_of)."""
    _require(by)
    fields = check_list_fields({"name": name, "audience": audience, "active": active, "follows_page": follows_page})
    return _save_list(RecipientList(**fields), fields["name"])


@transaction.atomic
def update_list(recipient_list, by, **fields):
    _require(by)
    fields = check_list_fields(fields)
    for key, value in fields.items():
        setattr(recipient_list, key, value)
    recipient_list.updated_at = timezone.now()
    return _save_list(recipient_list, recipient_list.name)


@transaction.atomic
def delete_list(recipient_list, by):
    """Delete a list and its members. What was delivered stays recorded on the deliveries (the
    address and the list's name), so the audit trail keeps who received what."""
    _require(by)
    recipient_list.delete()


def check_member_fields(fields, kind, address=True):
    unknown = set(fields) - set(MEMBER_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be set.")})
    if kind not in Recipient.Kind.values:
        raise ValidationError({"kind": gettext("Choose e-mail or webhook.")})
    if "name" in fields:
        fields["name"] = _text(fields["name"], "name", 200)
    if "language" in fields:
        language = _text(fields["language"], "language", 15).lower()
        if language and not LANGUAGE_CODE.match(language):
            raise ValidationError({"language": gettext("Use a language code such as en, de, pt-br or zh-hans.")})
        fields["language"] = language
    if "active" in fields and not isinstance(fields["active"], bool):
        raise ValidationError({"active": gettext("Say true or false.")})
    if not address:
        return fields
    if kind == Recipient.Kind.EMAIL:
        email = _text(fields.get("email", ""), "email", 254, required=True)
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValidationError({"email": gettext("Enter a valid e-mail address.")}) from exc
        local, _at, domain = email.rpartition("@")
        fields["email"] = f"{local}@{domain.lower()}"
        fields["webhook_url"] = ""
    else:
        url = _text(fields.get("webhook_url", ""), "webhook_url", 500, required=True)
        try:
            webhooks.check_url(url, private_webhooks_allowed())
        except webhooks.AddressError as exc:
            raise ValidationError({"webhook_url": str(exc)}) from exc
        fields["webhook_url"] = url
        fields["email"] = ""
    return fields


def _save_member(member):
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError as exc:
        field = "email" if member.kind == Recipient.Kind.EMAIL else "webhook_url"
        raise ValidationError({field: gettext("This address is already on the list.")}) from exc
    return member


@transaction.atomic
def add_member(recipient_list, by, *, kind, **fields):
    """Add an e-mail address (with an optional name and language) or a webhook URL (which
    gets its own signing secret) to a list."""
    _require(by)
    fields = check_member_fields(dict(fields), kind)
    fields.pop("kind", None)
    return _save_member(Recipient(recipient_list=recipient_list, kind=kind, **fields))


@transaction.atomic
def update_member(member, by, **fields):
    _require(by)
    kind = fields.pop("kind", member.kind)
    if kind != member.kind:
        raise ValidationError({"kind": gettext("Remove the member and add a new one to change its kind.")})
    # The address is checked again only when it changes: (de)activating a webhook must not
    # depend on its name resolving right now.
    field = "email" if kind == Recipient.Kind.EMAIL else "webhook_url"
    changes_address = field in fields and fields[field] != getattr(member, field)
    fields = check_member_fields(fields, kind, address=changes_address)
    if not changes_address:
        fields.pop("email", None)
        fields.pop("webhook_url", None)
    for key, value in fields.items():
        setattr(member, key, value)
    return _save_member(member)


@transaction.atomic
def remove_member(member, by):
    _require(by)
    member.delete()


def lists_for(audience):
    """The active lists a draft for this audience may be sent to."""
    return RecipientList.objects.filter(audience=audience, active=True).order_by("name")
