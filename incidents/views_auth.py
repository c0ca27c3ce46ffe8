"""Sign-in pages: Warroom's own and the admin's, both behind the one throttle
(incidents.signin), answering 429 with Retry-After when it refuses an attempt."""

from django.contrib.admin import AdminSite
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.template.loader import render_to_string

from incidents.signin import signin_refused


def refused_response(request, refusal):
    body = render_to_string(
        "registration/rate_limited.html",
        {"minutes": max(1, -(-refusal.retry_after // 60)), "seconds": refusal.retry_after, "refusal": refusal},
        request=request,
    )
    return HttpResponse(body, status=429, headers={"Retry-After": str(refusal.retry_after)})


class RateLimitedLoginView(auth_views.LoginView):
    """The sign-in page. The throttle itself is the authentication backend; this view only
    turns its refusal into a 429 page rather than "wrong password"."""

    redirect_authenticated_user = True

    def form_invalid(self, form):
        refusal = signin_refused(self.request)
        if refusal:
            return refused_response(self.request, refusal)
        return super().form_invalid(form)


class WarroomAdminSite(AdminSite):
    """Django's admin, with its login answering the throttle's refusals with a 429 like the
    sign-in page (the backend refuses them either way)."""

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        refusal = signin_refused(request)
        if refusal:
            return refused_response(request, refusal)
        return response
