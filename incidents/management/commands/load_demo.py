"""Load the demo once: a service catalog for an AI chat platform, one resolved incident with a
full timeline, an ongoing one, and the recipient lists of customer and regulator messages.
Running it again changes nothing. (The demo's private status page and its access link come
from statuspage's `load_statuspage_demo`: incidents/ never imports statuspage/.)"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents.models import (
    ActionItem,
    Impact,
    Incident,
    Membership,
    Recipient,
    RecipientList,
    Review,
    Service,
    TimelineEntry,
)
from incidents.review import services as review

SERVICES = [
    ("Web chat", "web-chat", "Product", "The chat in the browser.", "网页聊天"),
    ("Mobile app", "mobile-app", "Product", "iOS and Android apps.", "移动应用"),
    ("Public API", "public-api", "Platform", "The developer API and its keys.", "公共 API"),
    (
        "Login and sign-up",
        "login-signup",
        "Platform",
        "Accounts, sign-in, registration and phone verification.",
        "登录和注册",
    ),
    ("Payments", "payments", "Platform", "Subscriptions and billing.", "支付"),
    ("Model inference", "inference", "Internal", "GPU inference fleet behind chat and API.", "模型推理"),
]

# kim is the second comms member: make run gives her a password (printed next to the admin's),
# so one person trying Warroom can approve, as kim, an update they wrote as admin.
PEOPLE = [("maya", "commander"), ("li", "responder"), ("sam", "comms"), ("kim", "comms"), ("noor", "security")]

# Who customer and regulator messages go to (example.com addresses: nothing leaves for real).
RECIPIENT_LISTS = [
    (
        "Enterprise customers",
        "customers",
        [("ops@acme.example.com", "Acme operations", ""), ("it@globex.example.com", "Globex IT", "zh-hans")],
    ),
    (
        "Data-protection authorities",
        "regulators",
        [("breach@dpa.example.com", "Lead supervisory authority", ""), ("incidents@cac.example.com", "", "zh-hans")],
    ),
]


class Command(BaseCommand):
    help = "Load the demo service catalog and example incident (idempotent)."

    @transaction.atomic
    def handle(self, **options):
        for position, (name, slug, group, description, chinese) in enumerate(SERVICES):
            Service.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "names": {"zh-hans": chinese},
                    "group": group,
                    "description": description,
                    "position": position,
                    "public": group != "Internal",
                },
            )
        User = get_user_model()
        people = {}
        for username, group in PEOPLE:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            if created:
                user.set_unusable_password()
                user.save()
                user.groups.add(Group.objects.get(name=group))
            people[username] = user
        if Incident.objects.filter(title__startswith="[demo]").exists():
            return
        self._example(people)
        self._ongoing(people)
        self._recipient_lists()
        self.stdout.write("Demo data loaded.")

    def _recipient_lists(self):
        for name, audience, members in RECIPIENT_LISTS:
            recipient_list, _created = RecipientList.objects.get_or_create(name=name, defaults={"audience": audience})
            for address, person, language in members:
                Recipient.objects.get_or_create(
                    recipient_list=recipient_list,
                    kind=Recipient.Kind.EMAIL,
                    email=address,
                    defaults={"name": person, "language": language},
                )

    def _example(self, people):
        services = {s.slug: s for s in Service.objects.all()}
        t0 = (timezone.now() - timedelta(days=3)).replace(hour=1, minute=12, second=0, microsecond=0)

        def at(minutes):
            return t0 + timedelta(minutes=minutes)

        incident = Incident.objects.create(
            title="[demo] Chat and sign-up failing under traffic flood",
            public_title="Errors and time-outs in chat and sign-up",
            public_titles={"zh-hans": "聊天和注册出现错误与超时"},
            summary=(
                "A large volumetric attack on the public API and sign-up endpoints caused errors "
                "and time-outs worldwide. New registrations were temporarily limited to verified "
                "phone numbers while filtering was tightened."
            ),
            severity=1,
            kind=Incident.Kind.AVAILABILITY,
            status=Incident.Status.RESOLVED,
            created_by=people["maya"],
            started_at=at(0),
            detected_at=at(4),
            declared_at=at(9),
            acknowledged_at=at(11),
            mitigated_at=at(95),
            resolved_at=at(240),
            updated_at=at(240),
        )
        incident.services.set([services["web-chat"], services["public-api"], services["login-signup"]])
        Membership.objects.create(incident=incident, user=people["maya"], role=Membership.Role.COMMANDER)
        Membership.objects.create(incident=incident, user=people["sam"], role=Membership.Role.COMMS_LEAD)
        Membership.objects.create(incident=incident, user=people["li"], role=Membership.Role.RESPONDER)
        Impact.objects.create(
            incident=incident, service=services["public-api"], level=Impact.Level.MAJOR_OUTAGE,
            regions=[], started_at=at(0), ended_at=at(180),
        )  # fmt: skip
        Impact.objects.create(
            incident=incident, service=services["login-signup"], level=Impact.Level.PARTIAL_OUTAGE,
            regions=["global"], started_at=at(2), ended_at=at(240),
        )  # fmt: skip
        K = TimelineEntry.Kind
        lines = [
            (9, "maya", K.DECLARED, "Declared as SEV1 (availability), commander maya.", {}),
            (11, "maya", K.FIELD, "Acknowledged by maya.", {"field": "acknowledged_at"}),
            (12, "li", K.NOTE, "Edge error rate 38%, p99 latency 14 s. Requests/s on `/v1/chat` up 40x, mostly from residential proxies.", {}),
            (14, "maya", K.IMPACT, "Impact: Public API major outage.", {"field": "impact", "service": "public-api", "old": None, "new": "major_outage"}),
            (15, "maya", K.IMPACT, "Impact: Login and sign-up partial outage in global.", {"field": "impact", "service": "login-signup", "old": None, "new": "partial_outage"}),
            (18, "maya", K.ROLE, "sam joined as comms lead.", {"field": "comms_lead", "old": None, "new": "sam"}),
            (25, "sam", K.NOTE, "First public update posted: investigating elevated errors on chat and API.", {}),
            (41, "li", K.NOTE, "Sign-up flood: 92% of new registrations in the last hour fail phone verification. Proposal: restrict sign-ups to verified phone numbers temporarily.", {}),
            (47, "maya", K.STATUS, "Status changed: investigating → identified.", {"field": "status", "old": "investigating", "new": "identified"}),
            (52, "maya", K.NOTE, "Decision: new registrations limited to verified phone numbers; review in 24 h.", {}),
            (95, "li", K.NOTE, "Rate limits and bot filtering tightened at the edge; error rate down to 2%.", {}),
            (96, "maya", K.STATUS, "Status changed: identified → monitoring.", {"field": "status", "old": "identified", "new": "monitoring"}),
            (180, "maya", K.IMPACT, "Impact on Public API ended.", {"field": "impact.ended_at", "service": "public-api"}),
            (240, "maya", K.STATUS, "Status changed: monitoring → resolved.", {"field": "status", "old": "monitoring", "new": "resolved"}),
        ]  # fmt: skip
        TimelineEntry.objects.bulk_create(
            TimelineEntry(
                incident=incident,
                occurred_at=at(minute),
                recorded_at=at(minute),
                author=people[who],
                kind=kind,
                body=body,
                data=data,
            )
            for minute, who, kind, body, data in lines
        )
        self._review(incident, people, at(24 * 60))

    def _review(self, incident, people, when):
        """The review in progress, drafted from the timeline, with follow-ups."""
        maya, li, sam = people["maya"], people["li"], people["sam"]
        Review.objects.create(
            incident=incident,
            owner=maya,
            body=review.draft(incident),
            meeting_at=when + timedelta(days=1),
            created_by=maya,
            created_at=when,
            updated_by=maya,
            updated_at=when,
        )
        today = timezone.localdate()
        for title, owner, due, priority, done in [
            ("Rate-limit sign-ups per network (ASN) at the edge", li, today + timedelta(days=7), "high", False),
            ("Page the comms lead from the first SEV1 alert", sam, today + timedelta(days=14), "medium", False),
            ("Add the phone-number restriction to the DDoS runbook", li, today - timedelta(days=1), "low", True),
        ]:
            ActionItem.objects.create(
                incident=incident,
                title=title,
                owner=owner,
                due_on=due,
                priority=priority,
                status=ActionItem.Status.DONE if done else ActionItem.Status.OPEN,
                completed_at=when if done else None,
                completed_by=owner if done else None,
                created_by=maya,
                created_at=when,
                updated_at=when,
            )

    def _ongoing(self, people):
        """An incident in progress, run through the same services the app uses, with a
        published status-page update and a public mitigation."""
        from incidents import services
        from incidents.comms import services as communications
        from incidents.models import Mitigation

        maya, li, sam = people["maya"], people["li"], people["sam"]
        services_by_slug = {s.slug: s for s in Service.objects.all()}
        signup = services_by_slug["login-signup"]
        incident = services.declare(
            maya,
            title="[demo] Sign-up codes not arriving for some countries",
            summary="SMS verification codes are delayed or missing for new registrations in several countries.",
            severity=2,
            kind=Incident.Kind.AVAILABILITY,
            services=[signup],
            started_at=timezone.now() - timedelta(minutes=48),
        )
        services.acknowledge(incident, maya)
        services.assign_role(incident, sam, Membership.Role.COMMS_LEAD, maya)
        services.assign_role(incident, li, Membership.Role.RESPONDER, maya)
        services.add_impact(incident, maya, service=signup, level=Impact.Level.PARTIAL_OUTAGE, regions=["EU", "APAC"])
        services.log_entry(
            incident, li, "SMS provider dashboard shows 60% delivery failures to +49, +33 and +81 numbers."
        )
        services.change_status(incident, Incident.Status.IDENTIFIED, maya)
        services.log_entry(incident, maya, "Decision: switch these prefixes to the secondary SMS provider.")
        Mitigation.objects.create(
            incident=incident,
            title="Sign-ups from affected prefixes use the secondary SMS provider",
            description="Route +49, +33, +81 verification SMS via the secondary provider.",
            affects="New users registering with German, French and Japanese numbers",
            owner=li,
            review_by=timezone.now() + timedelta(hours=4),
            public=True,
            public_explanation="New sign-ups from some countries may take up to two minutes to receive their code.",
            created_by=maya,
        )
        update = communications.draft(
            incident,
            sam,
            audience="status_page",
            body=(
                "Some new users are not receiving their sign-up code by SMS. We have identified the cause "
                "with one of our SMS providers and are moving affected countries to another provider. "
                "Existing accounts are not affected."
            ),
            public_status="identified",
            affected=[{"service": signup.slug, "level": Impact.Level.PARTIAL_OUTAGE}],
            # What the public reads, not the internal "[demo] ..." title; and a partial outage in
            # a few countries is a minor impact for the public whatever its internal severity.
            public_title="Sign-up codes delayed in some countries",
            public_impact="minor",
        )
        communications.set_translation(
            update,
            sam,
            "zh-hans",
            "部分新用户未能通过短信收到注册验证码。我们已查明原因在于一家短信服务商，正在将受影响国家的短信"
            "切换到另一家服务商。现有账户不受影响。",
            title="部分国家的注册验证码延迟",
        )
        update.refresh_from_db()
        communications.submit(update, sam)
        communications.approve(update, maya, update.content_version)
        communications.publish_now(update.pk, maya.pk)
