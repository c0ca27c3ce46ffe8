"""Sign-in, rate-limited per client address and per username against password guessing."""

import contextlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.template.loader import render_to_string


def client_address(request):
    # Behind a proxy, REMOTE_ADDR is the proxy; deployments that set BEHIND_PROXY trust the
    # X-Forwarded-For hop their proxy writes: the last one. Earlier hops are whatever the
    # client sent (a proxy that appends, like nginx's $proxy_add_x_forwarded_for, keeps them),
    # so trusting the first would let anyone dodge the limits by sending a new one each time.
    if settings.SECURE_PROXY_SSL_HEADER and request.headers.get("X-Forwarded-For"):
        return request.headers["X-Forwarded-For"].split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def over_limit(key, limit, window):
    """Count one attempt against `key`; True once more than `limit` happened in the window."""
    added = cache.add(key, 1, window)
    if added:
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return False
    return count > limit


def give_back(key):
    """Undo one counted attempt (it turned out to be a successful sign-in)."""
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
        cache.decr(key)


class RateLimitedLoginView(auth_views.LoginView):
    """Every attempt is counted before the password is checked, so a burst of parallel guesses
    cannot slip past the limit; a successful sign-in gives its attempt back, so a whole team
    signing in from behind one office address on the worst day is never locked out."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").lower()[:150]
        limit, window = settings.LOGIN_RATE_LIMIT, settings.LOGIN_RATE_WINDOW
        keys = [f"login:addr:{client_address(request)}"] + ([f"login:user:{username}"] if username else [])
        # Count against every key (no short-circuit), so each limit sees each attempt.
        blocked = [over_limit(key, limit, window) for key in keys]
        if any(blocked):
            body = render_to_string(
                "registration/rate_limited.html", {"minutes": max(1, window // 60)}, request=request
            )
            return HttpResponse(body, status=429, headers={"Retry-After": str(window)})
        self._attempt_keys = keys
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        for key in self._attempt_keys:
            give_back(key)
        return super().form_valid(form)
