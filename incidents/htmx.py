"""What the pages need to know about htmx requests (the core's and the wings' views alike)."""

from django.utils.http import url_has_allowed_host_and_scheme


def is_htmx(request):
    """The request comes from htmx (it swaps a fragment in place of a full page)."""
    return request.headers.get("HX-Request") == "true"


def next_url(request, default):
    """The POSTed `next` when it is a path on this site, else `default`. Django's check also
    refuses what browsers turn into another host ("/<tab>/evil.example": browsers drop tabs and
    newlines, leaving "//evil.example")."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default
