"""Public subscription pages under /status/: subscribe, confirm, unsubscribe, manage.

Who may see them: anyone, without signing in. The subscribe form is rate-limited per client
address. Confirm, unsubscribe and manage act on the subscriber whose secret token is in the
URL (it only ever travels in the messages sent to that subscriber), so the token is the
permission; GET never changes anything (mail scanners follow links), POST does.

The pages speak the visitor's language as the status page does (?lang=, then Accept-Language).

The subscribe form is per status page (statuspage.pages.resolve: by host, then
/status/p/<slug>/subscribe/): a private page's form answers only whoever may see the page (a
404 for anyone else), and the subscriber records what let it in.
"""

from functools import partial, wraps

from django.conf import settings
from django.http import Http404
from django.shortcuts import render as render_page
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from incidents.ratelimit import client_address, key_part, over_limit

from . import pages, subscriptions
from .forms import ScopeForm, SubscribeForm
from .models import PageAccessLink, Subscriber, hash_access_token
from .views import UI_LANGUAGES, ui_language, visitor_language


def speaks_visitor_language(view):
    """Run the view (form validation included) in the visitor's language among the status
    page's, chosen as statuspage.views does for the status page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        language = ui_language(visitor_language(request, UI_LANGUAGES))
        with translation.override(language):
            response = view(request, *args, **kwargs)
        response["Content-Language"] = language
        patch_vary_headers(response, ("Accept-Language",))
        return response

    return wrapper


def render(request, template, context, status=200, page=None):
    page_context = {"page_name": settings.STATUSPAGE_NAME}
    if page is not None:
        page_context = {
            "page_name": pages.display_name(page),
            "page_home": pages.base_path(page),
            "logo_url": page.logo_url,
            "subscribe_url": subscribe_path(page),
        }
    context = {**page_context, "html_lang": translation.get_language(), **context}
    return render_page(request, template, context, status=status)


def subscribe_path(page):
    return pages.base_path(page) + "subscribe/"


def _admission(request, page):
    """What lets this visitor subscribe to a private page: (user, access link)."""
    if not page.is_private:
        return None, None
    token = pages.access_token(request, page)
    link = None
    if token:
        link = PageAccessLink.objects.filter(
            page=page, token_hash=hash_access_token(token), revoked_at__isnull=True
        ).first()
    user = request.user if request.user.is_authenticated else None
    return user, link


def render_on_page(request, template, context, status=200, page=None):
    return render(request, template, {"action": subscribe_path(page), **context}, status, page)


def rate_limit_key(address):
    """The subscribe form's counter of a client address (a digest: the cache holds no address)."""
    return f"subscribe:addr:{key_part(address)}"


def _rate_limit():
    return settings.STATUSPAGE_SUBSCRIBE_RATE_LIMIT, settings.STATUSPAGE_SUBSCRIBE_RATE_WINDOW


@never_cache
@speaks_visitor_language
@require_http_methods(["GET", "POST"])
def subscribe(request, page_slug=None):
    page = pages.resolve(request, page_slug)
    render = partial(render_on_page, page=page)
    if request.method == "GET":
        return render(request, "statuspage/subscribe.html", {"form": SubscribeForm(page=page)})
    limit, window = _rate_limit()
    if over_limit(rate_limit_key(client_address(request)), limit, window):
        minutes = max(1, window // 60)
        response = render(request, "statuspage/subscribe_limited.html", {"minutes": minutes}, 429)
        response["Retry-After"] = str(window)
        return response
    form = SubscribeForm(request.POST, page=page)
    if not form.is_valid():
        return render(request, "statuspage/subscribe.html", {"form": form}, 400)
    data = form.cleaned_data
    if data.get("website"):
        # A bot filled the hidden field: say what a person would see, do nothing.
        return render(request, "statuspage/subscribe_sent.html", {"email": data.get("email", "")})
    user, access_link = _admission(request, page)
    subscriber, _ = subscriptions.subscribe(
        page=page,
        user=user,
        access_link=access_link,
        kind=data["kind"],
        email=data.get("email", ""),
        webhook_url=data.get("webhook_url", ""),
        language=getattr(request, "LANGUAGE_CODE", "") or "en",
        **form.scope_kwargs(),
    )
    if subscriber.kind == Subscriber.Kind.WEBHOOK:
        # Shown once: the signing secret and the manage link exist nowhere else for the subscriber.
        return render(request, "statuspage/subscribe_webhook.html", {"subscriber": subscriber})
    # The same answer whether or not the address was already subscribed.
    return render(request, "statuspage/subscribe_sent.html", {"email": data["email"]})


def _subscriber_or_404(token):
    subscriber = subscriptions.by_token(token)
    if subscriber is None:
        raise Http404("This link is not valid (any more).")
    return subscriber


@never_cache
@speaks_visitor_language
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    subscriber = _subscriber_or_404(token)
    if subscriber.kind != Subscriber.Kind.EMAIL:
        # A webhook confirms itself by echoing its verification challenge; its token (the
        # manage link) is known to whoever subscribed it, so it proves nothing about the URL.
        raise Http404("This link is not valid (any more).")
    if request.method == "POST" and subscriber.unsubscribed_at is None:
        subscriptions.confirm(token)
        subscriber.refresh_from_db()
        return render(request, "statuspage/subscribe_confirmed.html", {"subscriber": subscriber}, page=subscriber.page)
    return render(request, "statuspage/subscribe_confirm.html", {"subscriber": subscriber}, page=subscriber.page)


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without our CSRF token; the URL's token is the permission
@never_cache
@speaks_visitor_language
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    subscriber = _subscriber_or_404(token)
    if request.method == "POST":
        subscriptions.unsubscribe(token)
        return render(
            request, "statuspage/subscribe_unsubscribed.html", {"subscriber": subscriber}, page=subscriber.page
        )
    return render(request, "statuspage/subscribe_unsubscribe.html", {"subscriber": subscriber}, page=subscriber.page)


@never_cache
@speaks_visitor_language
@require_http_methods(["GET", "POST"])
def manage(request, token):
    subscriber = _subscriber_or_404(token)
    if subscriber.unsubscribed_at is not None:
        return render(
            request, "statuspage/subscribe_unsubscribed.html", {"subscriber": subscriber}, page=subscriber.page
        )
    saved = False
    if request.method == "POST":
        form = ScopeForm(request.POST, page=subscriber.page)
        if form.is_valid():
            subscriptions.change_scope(subscriber, **form.scope_kwargs())
            saved = True
    else:
        form = ScopeForm(initial=ScopeForm.initial_for(subscriber), page=subscriber.page)
    status = 400 if request.method == "POST" and not saved else 200
    return render(
        request,
        "statuspage/subscribe_manage.html",
        {"subscriber": subscriber, "form": form, "saved": saved},
        status,
        page=subscriber.page,
    )
