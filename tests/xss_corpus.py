"""The XSS corpus: payloads, and the register of every user-written text field they go into.

Every payload tries to run `window.__xss=1` (or alert/confirm/prompt, or fetch a URL with
`xss-probe` in it), so a page where one ran is told by a marker, a dialog or a request, and a
page where one survived as live markup (an event handler, a `javascript:` link nobody clicked
yet, an htmx attribute) by the DOM check in tests/browser/test_xss.py. The template-syntax
payloads compute 7*7191 = 50337: that number on a page means a template engine evaluated user
text.

`TEXT_FIELDS` names every text field of the project's models and says how the corpus writes it
(or why it holds no text a person typed); tests/test_xss_fields.py fails when a model gains a
text field that is in neither list, so a new field cannot be forgotten.
"""

EVALUATED = "50337"  # 7*7191: shown only if a template engine ran user text

PAYLOADS = [
    # Script tags, plain and mangled.
    "<script>window.__xss=1</script>",
    "<SCRIPT SRC=/xss-probe/script.js></SCRIPT>",
    "<script>alert('xss')</script>",
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
    "</title><script>window.__xss=1</script>",
    "</textarea><script>window.__xss=1</script>",
    "</script><script>window.__xss=1</script>",
    "<!--<script>--><script>window.__xss=1</script>",
    # Event handlers.
    "<img src=x onerror=window.__xss=1>",
    '<img src="x" onerror="alert(\'xss\')">',
    "<svg onload=window.__xss=1>",
    "<body onload=window.__xss=1>",
    "<details open ontoggle=window.__xss=1>",
    "<input autofocus onfocus=window.__xss=1>",
    "<video><source onerror=window.__xss=1></video>",
    "<a href=# onclick=window.__xss=1>click-xss</a>",
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    # Links and images with dangerous schemes, also obfuscated.
    '<a href="javascript:window.__xss=1">js-xss</a>',
    '<a href="JaVaScRiPt:window.__xss=1">case-xss</a>',
    '<a href="jav&#x09;ascript:window.__xss=1">tab-xss</a>',
    '<a href="jav&#x0A;ascript:window.__xss=1">nl-xss</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;window.__xss=1">ent-xss</a>',
    '<a href=" javascript:window.__xss=1">space-xss</a>',
    "<a href=\"vbscript:msgbox('xss')\">vb-xss</a>",
    '<a href="data:text/html,<script>parent.__xss=1</script>">data-xss</a>',
    '<img src="javascript:window.__xss=1">',
    '<iframe src="javascript:window.__xss=1"></iframe>',
    '<object data="javascript:window.__xss=1"></object>',
    '<embed src="data:text/html,<script>parent.__xss=1</script>">',
    '<form action="javascript:window.__xss=1"><button>form-xss</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
    '<base href="https://xss-probe.invalid/">',
    '<link rel=stylesheet href="/xss-probe/style.css">',
    # Markdown links, images and references with dangerous schemes.
    "[md-js-xss](javascript:window.__xss=1)",
    "[md-case-xss](JaVaScRiPt:window.__xss=1)",
    "[md-ent-xss](jav&#x09;ascript:window.__xss=1)",
    "[md-data-xss](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==)",
    "[md-vb-xss](vbscript:msgbox('xss'))",
    "![md-img-xss](javascript:window.__xss=1)",
    '[md-quote-xss](https://example.com/"onmouseover="window.__xss=1)',
    "[md-ref-xss][xss]\n\n[xss]: javascript:window.__xss=1",
    "<javascript:window.__xss=1>",
    # SVG and MathML mutation XSS.
    "<svg><script>window.__xss=1</script></svg>",
    '<svg><a xlink:href="javascript:window.__xss=1"><text x="9" y="9">svg-xss</text></a></svg>',
    "<svg><animate onbegin=window.__xss=1 attributeName=x dur=1s>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>",
    '<svg></p><style><a id="</style><img src=1 onerror=window.__xss=1>">',
    '<noscript><p title="</noscript><img src=x onerror=window.__xss=1>">',
    '<math><mi xlink:href="javascript:window.__xss=1">math-xss</mi></math>',
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=window.__xss=1>",
    # Attribute breakouts.
    '" onmouseover="window.__xss=1" x="',
    "' autofocus onfocus='window.__xss=1' x='",
    '"><img src=x onerror=window.__xss=1>',
    "'><svg onload=window.__xss=1>",
    '<a href="https://example.com/" title=\'x" onmouseover="window.__xss=1\'>title-xss</a>',
    # Template syntax (Django, Jinja, JS template literals, Angular).
    "{{ 7*7191 }} {{constructor.constructor('window.__xss=1')()}}",
    "{% debug %}{% now 'U' %}{% include 'base.html' %}",
    "${7*7191} #{7*7191} ${alert('xss')}",
    # htmx attributes: a request or handler here would run in the page's own origin.
    '<div hx-get="/xss-probe/hx-get" hx-trigger="load">hx-get-xss</div>',
    '<div data-hx-get="/xss-probe/data-hx" data-hx-trigger="load">data-hx-xss</div>',
    '<div hx-on::load="window.__xss=1" hx-get="/xss-probe/hx-on" hx-trigger="load">hx-on-xss</div>',
    '<form hx-post="/xss-probe/hx-post" hx-trigger="load">hx-post-xss</form>',
    '<img src=x hx-get="/xss-probe/hx-img" hx-trigger="load" hx-swap="outerHTML">',
    '<div hx-vals=\'js:{a: window.__xss=1}\' hx-get="/xss-probe/hx-vals" hx-trigger="load">x</div>',
    '<p hx-trigger="load" hx-get="/xss-probe/hx-boost" hx-boost="true" hx-target="body">boost-xss</p>',
    # Raw HTML in Markdown: a fenced block and inline HTML beside Markdown.
    "**bold-xss** <b onmouseover=window.__xss=1>b-xss</b> `<script>window.__xss=1</script>`",
    '<div markdown="1">[in-div-xss](javascript:window.__xss=1)</div>',
]


# Payloads aimed at other parsers than ours (a CommonMark autolink, Markdown inside HTML, a
# title breaking out of an attribute that is itself inside single quotes): still written
# everywhere, but an unsanitised page does not run them either, so the check of the checks
# (tests/browser/test_xss.py) leaves them out.
PARSER_SPECIFIC = {
    "<javascript:window.__xss=1>",
    '<div markdown="1">[in-div-xss](javascript:window.__xss=1)</div>',
    '<a href="https://example.com/" title=\'x" onmouseover="window.__xss=1\'>title-xss</a>',
}
TEMPLATE_SYNTAX = {payload for payload in PAYLOADS if "7*7191" in payload or "{%" in payload}


def long_text():
    """Every payload in one Markdown text, for the fields without a tight length limit."""
    return "\n\n".join(PAYLOADS)


def short_texts(limit):
    """The payloads packed into as few texts of at most `limit` characters as they fit, for
    fields with a length limit (titles, names): together they carry every payload."""
    texts, current = [], ""
    for payload in PAYLOADS:
        payload = " ".join(payload.split())[:limit]
        joined = f"{current} {payload}" if current else payload
        if len(joined) > limit:
            texts.append(current)
            joined = payload
        current = joined
    return [*texts, current]


# Every text field of the project's models: how the corpus writes it. The keys are
# "app_label.Model.field"; tests/test_xss_fields.py checks the list against the models.
TEXT_FIELDS = {
    "incidents.AlertSource.name": "API POST /alert-sources/",
    "incidents.AlertRule.name": "API POST /alert-sources/<id>/rules/",
    "incidents.AlertRule.matchers": "API POST /alert-sources/<id>/rules/ (a matcher's value)",
    "incidents.Alert.fingerprint": "POST /api/v1/alerts/<source>/ (the generic format's dedup_key)",
    "incidents.Alert.title": "POST /api/v1/alerts/<source>/",
    "incidents.Alert.labels": "POST /api/v1/alerts/<source>/ (keys and values)",
    "incidents.Alert.annotations": "POST /api/v1/alerts/<source>/",
    "incidents.Alert.url": "POST /api/v1/alerts/<source>/ (kept when http(s))",
    "incidents.AlertDelivery.alerts": "POST /api/v1/alerts/<source>/ (the delivery as parsed)",
    "incidents.Incident.title": "API POST /incidents/, one short text per incident",
    "incidents.Incident.summary": "API POST /incidents/",
    "incidents.Incident.public_title": "API POST /incidents/ and a published status-page update's public_title",
    "incidents.Incident.public_titles": "API POST /incidents/ (German) and published updates' translation titles",
    "incidents.Service.name": "API POST /services/, one short text per service",
    "incidents.Service.group": "API POST /services/",
    "incidents.Service.description": "API POST /services/",
    "incidents.Service.names": "API POST /services/ (its Chinese name, shown on the status page in Chinese)",
    "incidents.TimelineEntry.body": "API POST /incidents/<pk>/timeline/",
    "incidents.TimelineEntry.line": "system lines' parameters (impacts on payload-named services, mitigation titles)",
    "incidents.TimelineRevision.body": "API PUT /incidents/<pk>/timeline/<id>/ (the earlier text)",
    "incidents.Impact.regions": "API POST /incidents/<pk>/impacts/",
    "incidents.Communication.title": "API POST /incidents/<pk>/communications/",
    "incidents.Communication.body": "API POST /incidents/<pk>/communications/, then published",
    "incidents.Communication.public_title": "API POST /incidents/<pk>/communications/, then published",
    "incidents.CommunicationTranslation.title": "API POST .../communications/<id>/translations/",
    "incidents.CommunicationTranslation.body": "API POST .../communications/<id>/translations/",
    "incidents.CommunicationTemplate.name": "API POST /communication-templates/",
    "incidents.RecipientList.name": "API POST /recipient-lists/",
    "incidents.Recipient.name": "API POST /recipient-lists/<id>/members/",
    "incidents.AudienceDelivery.name": "the member's name, copied when a customer message to the list is published",
    "incidents.AudienceDelivery.list_name": "the list's name, copied when a customer message to it is published",
    "incidents.CommunicationTemplate.body": "API POST /communication-templates/",
    "incidents.Mitigation.title": "API POST /incidents/<pk>/mitigations/",
    "incidents.Mitigation.description": "API POST /incidents/<pk>/mitigations/",
    "incidents.Mitigation.affects": "API POST /incidents/<pk>/mitigations/",
    "incidents.Mitigation.public_explanation": "API POST /incidents/<pk>/mitigations/ (public)",
    "incidents.Mitigation.public_explanations": "API POST /incidents/<pk>/mitigations/ (public, German text)",
    "incidents.Review.body": "API PATCH /incidents/<pk>/review/",
    "incidents.ActionItem.title": "API POST /incidents/<pk>/action-items/",
    "incidents.ActionItem.description": "API POST /incidents/<pk>/action-items/",
    "incidents.ActionItem.tracker_url": "API POST /incidents/<pk>/action-items/ (a quote-breaking URL)",
    "incidents.Obligation.regime": "API POST /obligations/",
    "incidents.Obligation.recipient": "API POST /obligations/",
    "incidents.Obligation.clock_starts": "API POST /obligations/",
    "incidents.Obligation.notes": "API POST /obligations/",
    "incidents.Obligation.stages": "API POST /obligations/ (stage names)",
    "incidents.RegulatoryClock.not_required_reason": "API POST .../clocks/<id>/not-required/",
    "incidents.Submission.stage": "API POST .../clocks/<id>/submit/ (one of the obligation's stage names)",
    "incidents.Submission.reference": "API POST .../clocks/<id>/submit/",
    "incidents.Submission.notes": "API POST .../clocks/<id>/submit/",
    "incidents.Snooze.reason": "HTML form /incidents/<pk>/reminders/snooze/",
    "incidents.UserNotification.title": "the reminder sweep, from the incident's title (inbox)",
    "incidents.UserNotification.body": "the reminder sweep, from the incident's title (inbox)",
    "incidents.UserNotification.line": "the reminder sweep, from the incident's title (inbox, reader's language)",
    "runbooks.RunbookVersion.title": "API POST /runbooks/",
    "runbooks.RunbookVersion.summary": "API POST /runbooks/",
    "runbooks.RunbookVersion.tags": "API POST /runbooks/",
    "runbooks.RunbookStep.title": "API POST /runbooks/ (steps)",
    "runbooks.RunbookStep.body": "API POST /runbooks/ (steps)",
    "runbooks.StepRun.note": "API PATCH /step-runs/<id>/",
    "runbooks.StepRun.reason": "API PATCH /step-runs/<id>/ (blocked)",
    "statuspage.Maintenance.title": "HTML form /status/manage/maintenance/new/",
    "statuspage.Maintenance.body": "HTML form /status/manage/maintenance/new/",
    "statuspage.StatusPage.name": "statuspage.services.save_page (as the admin saves it), one short text per page",
    "statuspage.PageAccessLink.label": "statuspage.services.create_access_link (as the admin makes one)",
    "incidents.ApiToken.name": "API POST /tokens/, one short text per token",
    "incidents.AuditEvent.subject": "HTML form /login/: failed sign-ins with the payloads as usernames",
    "incidents.AuditEvent.detail": "API POST /tokens/ (the token's name in the creation's detail)",
}

# Text fields that hold nothing a person typed as free text, and why.
NOT_USER_TEXT = {
    "incidents.Incident.key": "an opaque identifier the model generates (letters and digits)",
    "incidents.AlertSource.secret_hash": "a SHA-256 the services compute",
    "incidents.AlertSource.secret_prefix": "the first characters of a generated secret",
    "incidents.AlertSource.signing_key": "a generated key",
    "incidents.AlertDelivery.idempotency_key": "a header's key, shown nowhere",
    "incidents.AlertDelivery.body_hash": "a SHA-256 the services compute",
    "incidents.Alert.note": "written by the services (why routing left the alert alone)",
    "incidents.Service.slug": "a slug: letters, digits, hyphens (validated)",
    "incidents.SignInIdentity.issuer": "the identity provider's issuer URL, from the settings and a verified ID token",
    "incidents.SignInIdentity.subject": "the provider's id for a person, from a verified ID token (admin only)",
    "incidents.LanguagePreference.language": "a code of settings.LANGUAGES (checked by the service)",
    "incidents.TimelineEntry.data": "structured change written by the services (ids, choice values)",
    "incidents.Communication.language": "a validated language code",
    "incidents.Communication.affected": "service slugs and levels, validated against the catalog",
    "incidents.Communication.contributors": "user ids the services record",
    "incidents.Communication.notifies_stage": "one of the clock's stage names, validated (the corpus writes those)",
    "incidents.Recipient.email": "a validated e-mail address",
    "incidents.Recipient.language": "a validated language code",
    "incidents.Recipient.webhook_url": "a validated public http(s) URL, only requested",
    "incidents.Recipient.secret": "generated",
    "incidents.AudienceDelivery.address": "the member's validated e-mail address or webhook URL",
    "incidents.AudienceDelivery.last_error": "written by the delivery code",
    "incidents.AudienceDelivery.member_ref": "written by the delivery code (subscriber:<id>)",
    "incidents.CommunicationTemplate.public_status": "validated against the status choices",
    "incidents.CommunicationTemplate.language": "a validated language code",
    "incidents.CommunicationTranslation.language": "a validated language code",
    "incidents.ExposureAssessment.categories": "choice values, validated",
    "incidents.ExposureAssessment.jurisdictions": "country codes, validated",
    "incidents.Obligation.key": "a slug",
    "incidents.Obligation.jurisdictions": "country codes, validated",
    "incidents.Obligation.data_categories": "choice values, validated",
    "incidents.IdempotencyKey.key": "a client's request key, never rendered",
    "incidents.IdempotencyKey.method": "an HTTP method, never rendered",
    "incidents.IdempotencyKey.path": "a request path, never rendered",
    "incidents.IdempotencyKey.body_hash": "a hash, never rendered",
    "incidents.IdempotencyKey.response_body": "the stored API answer, only replayed as JSON",
    "incidents.ApiToken.key_hash": "a hash",
    "incidents.ApiToken.prefix": "generated",
    "incidents.AuditEvent.actor_name": "the username of a signed-in account (validated by Django)",
    "incidents.AuditEvent.address": "the client address (REMOTE_ADDR or the proxy's hop)",
    "incidents.ReminderLedger.key": "generated by the reminder rules",
    "incidents.ReminderLedger.window": "generated by the reminder rules",
    "incidents.Snooze.key": "a reminder subject chosen from the rules",
    "incidents.IncidentWebhook.name": "set in the Django admin by staff, never rendered on a page",
    "incidents.IncidentWebhook.url": "set in the Django admin by staff, only requested",
    "incidents.IncidentWebhook.secret": "generated",
    "incidents.IncidentWebhook.disabled_reason": "written by the delivery code",
    "incidents.UserNotification.key": "generated",
    "incidents.UserNotification.subject": "generated (a reminder subject)",
    "incidents.UserNotification.url": "generated (a link to the incident)",
    "incidents.NotificationDelivery.key": "generated",
    "incidents.NotificationDelivery.payload": "the webhook body, sent as JSON, never rendered",
    "incidents.NotificationDelivery.last_error": "written by the delivery code",
    "runbooks.Runbook.slug": "a slug",
    "runbooks.RunbookVersion.kinds": "choice values, validated",
    "runbooks.RunbookVersion.checksum": "a hash",
    "statuspage.Maintenance.public_id": "generated",
    "statuspage.PublicIncident.public_id": "generated",
    "statuspage.PublicUpdate.public_id": "generated",
    "statuspage.PublicComponent.public_id": "generated",
    "statuspage.Subscriber.email": "a validated e-mail address, shown only to its owner",
    "statuspage.Subscriber.webhook_url": "a validated URL, shown only to its owner",
    "statuspage.Subscriber.secret": "generated",
    "statuspage.Subscriber.token": "generated",
    "statuspage.Subscriber.groups": "component group names chosen from the catalog",
    "statuspage.Subscriber.language": "a validated language code",
    "statuspage.StatusPage.slug": "a validated slug",
    "statuspage.StatusPage.host": "a validated host name",
    "statuspage.StatusPage.language": "a language code",
    "statuspage.StatusPage.logo_url": "a validated path on this site",
    "statuspage.StatusPage.groups": "component group names of the catalog",
    "statuspage.PageAccessLink.token_hash": "generated",
    "statuspage.Notification.key": "generated",
    "statuspage.Notification.payload": "the message, sent as JSON or rendered into the e-mail the corpus checks",
    "statuspage.Notification.last_error": "written by the delivery code",
}
