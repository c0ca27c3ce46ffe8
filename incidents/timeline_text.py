"""System timeline lines in the reader's language.

A domain operation logs what it did as a `Line`: a message id marked with gettext_noop and its
parameters. `incidents.services.record_event` stores both in the entry's `line` ({"msg": ...,
"params": {...}}) next to the English text in `body` (kept for API clients, exports and search),
and `TimelineEntry.text` renders the line again with gettext in whatever language the reader's
request runs in. Parameters that are themselves words (a status, a role, "unset"...) are stored
as codes, not as English, and translated at display:

- `choice(Incident.Status, "monitoring")`: a TextChoices value, shown as its label;
- `phrase(gettext_noop("unset"))`: a fragment translated on its own;
- a nested `Line`, and a list (joined with ", " or `joined(items, "; ")`).

Anything else (names, references, numbers, user text) is shown as stored. Entries written
before this (no `msg`), notes and a line whose translation does not fit its parameters show
the stored body.
"""

from datetime import date, datetime
from importlib import import_module

from django.conf import settings
from django.db.models import Choices
from django.utils.translation import gettext, override

# Where a stored choice may name its TextChoices class: the project's own modules only.
CHOICE_MODULES = ("incidents.", "runbooks.", "statuspage.")
# The keys that make a stored parameter more than plain text (see `shown`).
MARKERS = {"line", "choice", "phrase", "items"}


class Line:
    """A message id (marked with gettext_noop) and its parameters, for one timeline line."""

    def __init__(self, msg, **params):
        self.msg = msg
        self.params = params

    def as_data(self):
        return {"msg": self.msg, "params": {name: stored(value) for name, value in self.params.items()}}

    def english(self):
        """The line in the site's language, as `body` keeps it."""
        with override(settings.LANGUAGE_CODE):
            return render(self.as_data())

    def __str__(self):
        return render(self.as_data())


def choice(choices, value, *, lower=False):
    """A TextChoices value, translated to its label when shown."""
    found = {"choice": f"{choices.__module__}:{choices.__qualname__}", "value": value}
    if lower:
        found["lower"] = True
    return found


def phrase(msgid, *, lower=False):
    """A fragment marked with gettext_noop, translated when shown."""
    return {"phrase": msgid, "lower": True} if lower else {"phrase": msgid}


def joined(items, sep=", "):
    return {"items": [stored(item) for item in items], "sep": sep}


def stored(value):
    """A parameter as the entry's data (JSON) keeps it."""
    if isinstance(value, Line):
        return {"line": value.as_data()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return joined(value)
    if isinstance(value, dict) and MARKERS & value.keys():
        return value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "get_username"):
        return value.get_username()
    return str(value)


def _choice_label(reference, value):
    module, _, qualname = str(reference).partition(":")
    if not module.startswith(CHOICE_MODULES):
        return value
    try:
        found = import_module(module)
        for name in qualname.split("."):
            found = getattr(found, name)
        if isinstance(found, type) and issubclass(found, Choices):
            return str(found(value).label)
    except (ImportError, AttributeError, ValueError):
        pass
    return value


def shown(value):
    """A stored parameter in the active language."""
    if isinstance(value, dict):
        if "line" in value:
            return render(value["line"]) or ""
        if "choice" in value:
            text = _choice_label(value["choice"], value.get("value"))
        elif "phrase" in value:
            text = gettext(value["phrase"]) if value["phrase"] else ""
        elif "items" in value:
            return gettext(value.get("sep", ", ")).join(str(shown(item)) for item in value["items"])
        else:
            return ""
        return str(text).lower() if value.get("lower") else str(text)
    if value is None:
        return ""
    return value


def render(data):
    """The line stored in an entry's data, in the active language; None when there is none
    (or its translation does not fit its parameters: the caller shows the stored body)."""
    if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
        return None
    params = data.get("params") or {}
    if not isinstance(params, dict):
        return None
    try:
        return gettext(data["msg"]).format(**{name: shown(value) for name, value in params.items()})
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return None
