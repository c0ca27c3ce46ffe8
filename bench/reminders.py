"""The reminder sweep with 10,000 open incidents, 100,000 runbook step runs and 20,000 action
items, against the same sweep with 10 incidents.

Seeds a throwaway database (a new PostgreSQL database next to DATABASE_URL's when that is
PostgreSQL, else a temporary SQLite file) with bulk_create: open incidents of every severity,
some acknowledged, some with a recent public update, each with a commander, a responder and
(for most) a comms lead and a deputy, a runbook run of 10 steps part done, a mitigation for
some, and two follow-up action items (one due some days ago, one due later or done); for
every ten open incidents a closed one with two action items due (follow-ups outlive the
incident), and for every twenty a resolved one without a published review. Then times
`incidents.reminders.sweep()` (the beat task, every 30 s) per size: the first sweep sends
what is due (a burst: every reminder of every incident at once, at most
`sweep_max_reminders` of them), the next ones, 30 s apart, the rest of the burst, and a last
one finds everything sent already (the steady state, what runs every 30 s). Delivery tasks
are not run: the sweep only writes the outbox and enqueues. Prints a table; the targets are
the steady-state sweep under 2 s at 10,000 incidents, and the same number of queries at both
sizes for each kind of sweep.

    .venv/bin/python bench/reminders.py [--incidents N] [--steps-per-incident N]
        [--without-follow-ups] [--sweep-max-reminders N (0: no limit)]
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _database import throwaway_database  # noqa: E402

TARGET_SECONDS = 2.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--steps-per-incident", type=int, default=10)
    parser.add_argument(
        "--without-follow-ups", action="store_true", help="no action items, closed or resolved incidents"
    )
    parser.add_argument("--sweep-max-reminders", type=int, help="override the setting (0: no limit)")
    args = parser.parse_args()

    url, cleanup = throwaway_database("reminders")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-use-0123456789")
    os.environ.setdefault("WARROOM_VAR_DIR", tempfile.mkdtemp(prefix="warroom-bench-var-"))
    try:
        ok = run(args, url)
    finally:
        cleanup()
    return 0 if ok else 1


class Seeder:
    def __init__(self, steps_per_incident, follow_ups=True):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from runbooks.fileformat import RunbookData, StepData
        from runbooks.services import save_runbook

        User = get_user_model()
        users = User.objects.bulk_create(
            [User(username=f"person{n}", email=f"person{n}@example.com") for n in range(60)]
        )
        self.users = users
        oncall, _ = Group.objects.get_or_create(name="oncall")
        oncall.user_set.add(*users[:3])
        steps = [
            StepData(title=f"Step {n}", role="responder", expected_minutes=15) for n in range(1, steps_per_incident + 1)
        ]
        self.version, _ = save_runbook(None, RunbookData(slug="bench", title="Bench", steps=steps))
        self.steps = list(self.version.steps.order_by("position"))
        self.made = 0
        self.follow_ups = follow_ups

    def add(self, count, now):
        """`count` more open incidents with their people, runs, steps, updates, mitigations."""
        from incidents.models import Communication, Incident, Membership, Mitigation
        from runbooks.models import RunbookRun, StepRun

        first = self.made
        indexes = range(first, first + count)
        self.made += count
        users = self.users

        def declared(i):
            return now - timedelta(minutes=5 + (i * 7) % 180)

        incidents = Incident.objects.bulk_create(
            [
                Incident(
                    title=f"Bench incident {i}",
                    severity=4 if i % 10 == 9 else 1 + i % 3,
                    status=("investigating", "identified", "monitoring")[i % 3],
                    confidential=i % 7 == 0,
                    started_at=declared(i),
                    declared_at=declared(i),
                    acknowledged_at=None if i % 4 == 0 else declared(i) + timedelta(minutes=2),
                    updated_at=now,
                )
                for i in indexes
            ],
            batch_size=2000,
        )
        members = []
        for i, incident in zip(indexes, incidents, strict=True):
            members.append(Membership(incident=incident, user=users[3 + i % 20], role="commander"))
            members.append(Membership(incident=incident, user=users[23 + i % 20], role="responder"))
            if i % 3:
                members.append(Membership(incident=incident, user=users[43 + i % 10], role="comms_lead"))
            if i % 2:
                members.append(Membership(incident=incident, user=users[53 + i % 7], role="deputy"))
        Membership.objects.bulk_create(members, batch_size=5000)
        Communication.objects.bulk_create(
            [
                Communication(
                    incident=incident,
                    audience="status_page",
                    body="Update",
                    status="published",
                    published_at=incident.declared_at + timedelta(minutes=3),
                )
                for i, incident in zip(indexes, incidents, strict=True)
                if i % 2 == 0
            ],
            batch_size=5000,
        )
        Mitigation.objects.bulk_create(
            [
                Mitigation(
                    incident=incident,
                    title="Sign-ups limited",
                    description="One country only.",
                    owner=users[23 + i % 20],
                    review_by=now - timedelta(minutes=1) if i % 10 == 0 else now + timedelta(hours=4),
                )
                for i, incident in zip(indexes, incidents, strict=True)
                if i % 5 == 0
            ],
            batch_size=5000,
        )
        runs = RunbookRun.objects.bulk_create(
            [
                RunbookRun(incident=incident, version=self.version, started_at=incident.declared_at)
                for incident in incidents
            ],
            batch_size=5000,
        )
        step_runs = []
        for i, run in zip(indexes, runs, strict=True):
            done = i % (len(self.steps) + 1)  # the first `done` steps are finished
            for step in self.steps:
                finished = step.position <= done
                step_runs.append(
                    StepRun(
                        run=run,
                        step=step,
                        position=step.position,
                        status="done" if finished else "pending",
                        assignee=users[23 + i % 20],
                        completed_at=now if finished else None,
                    )
                )
            if len(step_runs) >= 20_000:
                StepRun.objects.bulk_create(step_runs, batch_size=5000)
                step_runs = []
        StepRun.objects.bulk_create(step_runs, batch_size=5000)
        if self.follow_ups:
            self.add_follow_ups(indexes, incidents, now)

    def add_follow_ups(self, indexes, incidents, now):
        """Two action items per open incident; per ten of them a closed incident with two
        items due, per twenty a resolved one (half with a draft review)."""
        from incidents.models import ActionItem, Incident, Membership, Review

        users = self.users
        today = now.date()
        items = []
        for i, incident in zip(indexes, incidents, strict=True):
            # Due 0 to 29 days ago: reminded once to four times, or past its last reminder.
            fix = ActionItem(
                incident=incident, title=f"Fix {i}", owner=users[23 + i % 20], due_on=today - timedelta(days=i % 30)
            )
            done = i % 5 == 0
            alert = ActionItem(
                incident=incident,
                title=f"Alert on {i}",
                owner=users[43 + i % 10] if i % 2 else None,
                due_on=today + timedelta(days=1 + i % 20),
                status="done" if done else "open",
                completed_at=now if done else None,
            )
            items += [fix, alert]
        settled = [(i, "closed") for i in indexes if i % 10 == 0] + [(i, "resolved") for i in indexes if i % 20 == 5]
        past = Incident.objects.bulk_create(
            [
                Incident(
                    title=f"Past incident {i}",
                    severity=1 + i % 4,
                    status=status,
                    confidential=i % 7 == 0,
                    started_at=now - timedelta(days=8),
                    declared_at=now - timedelta(days=8),
                    acknowledged_at=now - timedelta(days=8),
                    resolved_at=now - timedelta(days=6),
                    closed_at=now - timedelta(days=2) if status == "closed" else None,
                    updated_at=now,
                )
                for i, status in settled
            ],
            batch_size=2000,
        )
        members, reviews = [], []
        for (i, status), incident in zip(settled, past, strict=True):
            members.append(Membership(incident=incident, user=users[3 + i % 20], role="commander"))
            members.append(Membership(incident=incident, user=users[23 + i % 20], role="responder"))
            if status == "closed":
                items += [
                    ActionItem(
                        incident=incident,
                        title=f"Follow up {i}.{j}",
                        owner=users[23 + i % 20],
                        due_on=today - timedelta(days=(i + 3 * j) % 10),
                    )
                    for j in range(2)
                ]
            elif i % 40 == 5:
                reviews.append(Review(incident=incident, owner=users[3 + i % 20], body="Draft"))
        Membership.objects.bulk_create(members, batch_size=5000)
        Review.objects.bulk_create(reviews, batch_size=5000)
        ActionItem.objects.bulk_create(items, batch_size=5000)


def measure(now):
    """(seconds, queries, result) of one sweep at `now`."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents.reminders import sweep as reminders

    with time_machine.travel(now, tick=True), CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = reminders.sweep()
        seconds = time.perf_counter() - started
    return seconds, len(ctx.captured_queries), result


def run(args, url):
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from incidents.models import ActionItem, Incident
    from incidents.reminders import sweep as reminders
    from incidents.reminders import tasks
    from runbooks.models import StepRun

    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    # The sweep enqueues deliveries after commit; the bench times the sweep, not delivery.
    queued = []
    tasks.deliver_notifications.delay = lambda ids: queued.append(len(ids))

    if args.sweep_max_reminders is not None:
        most = args.sweep_max_reminders or None
        settings.WARROOM_REMINDERS = {**settings.WARROOM_REMINDERS, "sweep_max_reminders": most}
    count = args.incidents
    now = timezone.now()
    seeder = Seeder(args.steps_per_incident, follow_ups=not args.without_follow_ups)
    rows = []
    small = 10
    for size in (small, count):
        seeder.add(size - seeder.made, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        incidents = Incident.objects.exclude(status="closed").count()
        closed = Incident.objects.filter(status="closed").count()
        steps = StepRun.objects.count()
        items = ActionItem.objects.filter(status="open").count()
        sizes = (incidents, closed, steps, items)
        # The first sweep sends what is due, at most `sweep_max_reminders` of it; the next
        # ones, 30 s apart, the rest of the burst. Then a sweep that finds everything sent.
        at = now
        seconds, queries, result = measure(at)
        rows.append((sizes, "first (burst)", seconds, queries, result))
        rest = []
        while result["more"]:
            at += timedelta(seconds=30)
            seconds, queries, result = measure(at)
            rest.append((seconds, queries, result))
        if rest:
            total = {
                "due": rest[-1][2]["due"],
                "fired": sum(r["fired"] for _, _, r in rest),
                "notifications": sum(r["notifications"] for _, _, r in rest),
            }
            rows.append((sizes, f"next {len(rest)}, slowest", max(t for t, _, _ in rest), rest[0][1], total))
        seconds, queries, result = measure(at + timedelta(seconds=1))
        rows.append((sizes, "steady (every 30 s)", seconds, queries, result))

    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"\nReminder sweep ({backend}; delivery tasks not run, only enqueued)\n")
    print(
        f"| {'incidents':>9} | {'closed':>6} | {'step runs':>9} | {'open items':>10} | {'sweep':<19} "
        f"| {'time (s)':>8} | {'queries':>7} | {'due':>6} | {'sent now':>8} | {'notifications':>13} |"
    )
    print(
        f"|{'-' * 10}:|{'-' * 7}:|{'-' * 10}:|{'-' * 11}:|{'-' * 21}|{'-' * 9}:|{'-' * 8}:|{'-' * 7}:"
        f"|{'-' * 9}:|{'-' * 14}:|"
    )
    for (incidents, closed, steps, items), label, seconds, queries, result in rows:
        print(
            f"| {incidents:>9,} | {closed:>6,} | {steps:>9,} | {items:>10,} | {label:<19} | {seconds:>8.2f} "
            f"| {queries:>7} | {result['due']:>6,} | {result['fired']:>8,} | {result['notifications']:>13,} |"
        )
    print(
        "\nincidents: not closed (open and resolved); open items: action items not done; due: due and "
        "not sent by an earlier sweep; sent now: "
        f"reminders sent (at most {reminders.config()['sweep_max_reminders'] or 'any number of'} a sweep; "
        "the rest of a burst goes out in the next sweeps, 30 s apart)."
    )
    by_label = {}
    for _, label, seconds, queries, *_ in rows:
        if label in ("first (burst)", "steady (every 30 s)"):
            by_label.setdefault(label, []).append((seconds, queries))
    same_queries = all(len({q for _, q in runs}) == 1 for runs in by_label.values())
    steady = by_label["steady (every 30 s)"][-1][0]
    print(
        f"\nQueries equal at {small} and {count:,} incidents: {'yes' if same_queries else 'NO'}. "
        f"Steady-state sweep at {count:,} incidents: {steady:.2f} s "
        f"({'meets' if steady < TARGET_SECONDS else 'MISSES'} the {TARGET_SECONDS:.0f} s target)."
    )
    return same_queries and steady < TARGET_SECONDS


if __name__ == "__main__":
    sys.exit(main())
