"""Sign-in, rate-limited per client address and per username against password guessing."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.template.loader import render_to_string

from incidents.ratelimit import client_address, give_back, over_limit


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
