"""The reminder sweep with 10,000 open incidents and 100,000 runbook step runs, against the
same sweep with 10 incidents.

Seeds a throwaway database (a new PostgreSQL database next to DATABASE_URL's when that is
PostgreSQL, else a temporary SQLite file) with bulk_create: open incidents of every severity,
some acknowledged, some with a recent public update, each with a commander, a responder and
(for most) a comms lead and a deputy, a runbook run of 10 steps part done, and a mitigation
for some. Then times `incidents.reminders.sweep()` (the beat task, every 30 s) twice per size:
the first sweep sends what is due (a burst: every reminder of every incident at once), the
second finds everything sent already (the steady state, what runs every 30 s). Delivery tasks
are not run: the sweep only writes the outbox and enqueues. Prints a table; the targets are
the steady-state sweep under 2 s at 10,000 incidents, and the same number of queries at both
sizes for each kind of sweep.

    .venv/bin/python bench/reminders.py [--incidents N] [--steps-per-incident N]
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
    args = parser.parse_args()

    url, cleanup = throwaway_database("reminders")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-use-0123456789")
    os.environ.setdefault("WARROOM_VAR_DIR", tempfile.mkdtemp(prefix="warroom-bench-var-"))
    try:
        ok = run(args.incidents, args.steps_per_incident, url)
    finally:
        cleanup()
    return 0 if ok else 1


class Seeder:
    def __init__(self, steps_per_incident):
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


def measure(now):
    """(seconds, queries, result) of one sweep at `now`."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from incidents import reminders

    with time_machine.travel(now, tick=True), CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        result = reminders.sweep()
        seconds = time.perf_counter() - started
    return seconds, len(ctx.captured_queries), result


def run(count, steps_per_incident, url):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from incidents import tasks
    from incidents.models import Incident
    from runbooks.models import StepRun

    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    # The sweep enqueues deliveries after commit; the bench times the sweep, not delivery.
    queued = []
    tasks.deliver_notifications.delay = lambda ids: queued.append(len(ids))

    now = timezone.now()
    seeder = Seeder(steps_per_incident)
    rows = []
    small = 10
    for size in (small, count):
        started = time.perf_counter()
        seeder.add(size - seeder.made, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        seeded = time.perf_counter() - started
        incidents = Incident.objects.count()
        steps = StepRun.objects.count()
        for label, at in (("first (burst)", now), ("steady (every 30 s)", now + timedelta(seconds=30))):
            seconds, queries, result = measure(at)
            rows.append((incidents, steps, label, seconds, queries, result, seeded))

    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"\nReminder sweep ({backend}; delivery tasks not run, only enqueued)\n")
    print(
        f"| {'incidents':>9} | {'step runs':>9} | {'sweep':<19} | {'time (s)':>8} | {'queries':>7} "
        f"| {'due':>6} | {'sent now':>8} | {'notifications':>13} |"
    )
    print(f"|{'-' * 10}:|{'-' * 10}:|{'-' * 21}|{'-' * 9}:|{'-' * 8}:|{'-' * 7}:|{'-' * 9}:|{'-' * 14}:|")
    for incidents, steps, label, seconds, queries, result, _ in rows:
        print(
            f"| {incidents:>9,} | {steps:>9,} | {label:<19} | {seconds:>8.2f} | {queries:>7} | "
            f"{result['due']:>6,} | {result['fired']:>8,} | {result['notifications']:>13,} |"
        )
    by_label = {}
    for incidents, _, label, seconds, queries, *_ in rows:
        by_label.setdefault(label, []).append((incidents, seconds, queries))
    same_queries = all(len({q for _, _, q in runs}) == 1 for runs in by_label.values())
    steady = by_label["steady (every 30 s)"][-1][1]
    print(
        f"\nQueries equal at {small} and {count:,} incidents: {'yes' if same_queries else 'NO'}. "
        f"Steady-state sweep at {count:,} incidents: {steady:.2f} s "
        f"({'meets' if steady < TARGET_SECONDS else 'MISSES'} the {TARGET_SECONDS:.0f} s target)."
    )
    return same_queries and steady < TARGET_SECONDS


if __name__ == "__main__":
    sys.exit(main())
