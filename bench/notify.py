"""Time to notify 100,000 e-mail subscribers of one status-page update.

Seeds confirmed e-mail subscribers into a throwaway database (a new PostgreSQL database next
to DATABASE_URL's when that is PostgreSQL, else a temporary SQLite file), publishes one
update, then times what the worker does: after_publication (build the payload once, write the
outbox rows in batches) and the delivery tasks (claim, render, send through Django's locmem
mail backend, one connection per batch of 500), spread over one process per CPU the way a
Celery worker's prefork pool spreads them. Prints a table; the target is the whole run in
under 60 s.

    .venv/bin/python bench/notify.py [--subscribers N] [--workers N]
"""

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _database import throwaway_database  # noqa: E402

TARGET_SECONDS = 60


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="delivery processes (default: one per CPU)"
    )
    args = parser.parse_args()

    url, cleanup = throwaway_database("notify")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-use-0123456789")
    os.environ.setdefault("WARROOM_VAR_DIR", tempfile.mkdtemp(prefix="warroom-bench-var-"))
    os.environ["STATUSPAGE_EXPORT_DIR"] = ""
    try:
        run(args.subscribers, url, max(1, args.workers))
    finally:
        cleanup()


def _deliver_batch(ids):
    from django.core import mail

    from statuspage import tasks

    tasks.deliver(ids)
    mail.outbox.clear()  # locmem keeps copies; the bench measures sending, not memory


def run(count, url, workers):
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from config.celery import app
    from incidents import services
    from incidents.comms import services as communications
    from incidents.models import Service
    from statuspage import tasks
    from statuspage.models import Notification, Subscriber

    # No line per task run in this process, nor about the embedded broker URL.
    logging.getLogger("celery").setLevel(logging.WARNING)
    logging.getLogger("kombu").setLevel(logging.ERROR)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.WARROOM_COMMS_SELF_APPROVAL = True
    app.conf.task_always_eager = True
    call_command("migrate", verbosity=0)

    # The incident and its update, published while nobody is subscribed yet.
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    incident = services.declare(user, title="Chat replies time out", severity=2)
    comm = communications.draft(
        incident,
        user,
        audience="status_page",
        body="We are looking into **slow replies** for some users. Next update within 30 minutes.",
        public_status="investigating",
        affected=[{"service": "web-chat", "level": "partial_outage"}],
        public_title="Slow replies in web chat",
    )
    communications.submit(comm, user)
    communications.approve(comm, user, comm.content_version)
    communications.publish_now(comm.pk, user.pk)

    started = time.perf_counter()
    now = timezone.now()
    for start in range(0, count, 10_000):
        Subscriber.objects.bulk_create(
            [
                Subscriber(kind="email", email=f"user{n}@example.com", confirmed_at=now)
                for n in range(start, min(start + 10_000, count))
            ],
            batch_size=5_000,
        )
    seeded = time.perf_counter() - started

    # The worker's part. Delivery batches are collected, then run in queue order.
    batches = []
    deliver_delay = tasks.deliver.delay
    tasks.deliver.delay = lambda ids: batches.append(ids)
    try:
        started = time.perf_counter()
        queued = tasks.after_publication(comm.pk)
        fan_out = time.perf_counter() - started
    finally:
        tasks.deliver.delay = deliver_delay

    # Delivery batches go to `workers` processes, as to a Celery worker's prefork pool.
    connections.close_all()  # each process opens its own
    started = time.perf_counter()
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(_deliver_batch, batches, chunksize=1)
    else:
        for ids in batches:
            _deliver_batch(ids)
    sending = time.perf_counter() - started
    sent = Notification.objects.filter(status="sent").count()
    total = fan_out + sending

    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(
        f"\nNotify {count:,} e-mail subscribers of one update "
        f"({backend}, locmem mail, {len(batches)} batches of {tasks.EMAIL_BATCH}, {workers} delivery processes)"
    )
    print(f"(seeding the subscribers took {seeded:.1f} s, not counted)\n")
    rows = [
        ("after_publication (payload + outbox rows)", fan_out, queued),
        (f"delivery tasks (claim, render, send) x{workers}", sending, sent),
        ("total", total, sent),
    ]
    print(f"| {'phase':<42} | {'time (s)':>8} | {'notifications/s':>15} | {'of 60 s target':>14} |")
    print(f"|{'-' * 44}|{'-' * 10}:|{'-' * 16}:|{'-' * 15}:|")
    for name, seconds, n in rows:
        rate = n / seconds if seconds else 0
        print(f"| {name:<42} | {seconds:>8.1f} | {rate:>15,.0f} | {seconds / TARGET_SECONDS:>14.2f} |")
    verdict = "meets" if total < TARGET_SECONDS and sent == count else "MISSES"
    print(f"\n{sent:,} of {count:,} sent; {verdict} the target (under {TARGET_SECONDS} s).")
    return total


if __name__ == "__main__":
    main()
