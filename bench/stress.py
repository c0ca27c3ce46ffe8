"""make stress: load and fault runs against Warroom in its production shape, on loopback.

The script starts everything it needs itself, in a temporary folder, and stops it at the end:
its own PostgreSQL cluster (initdb + pg_ctl on a free port; as the `postgres` user when run as
root), its own redis-server on a free port (broker and cache, append-only file on, as in
docker-compose.yml), an SMTP sink (aiosmtpd) that counts what arrives, gunicorn (3 sync
workers, config.wsgi:application), a Celery worker and Celery beat. It never touches another
PostgreSQL or Redis: a shared server on 5432/6379 is left alone.

Runs, each printing a table with its goals:

a. Load: 50 clients (one responder each, API token) append timeline entries to one incident
   through the API for 30 s, each with an Idempotency-Key, resending on a 503, 409 or lost
   connection. Every acknowledged entry is stored exactly once, each client's entries keep
   their order, no entry lacks its recorded answer; throughput and latency p50/p99.
b. PostgreSQL restart under the same load: the cluster is stopped (fast shutdown) for a few
   seconds and started again. Clients get quick 503s, nothing hangs, nothing is half written,
   Warroom recovers without a restart of its processes.
c. Redis stopped for 60 s while status-page updates are published through the API and a
   reminder falls due: the web keeps answering (timeline writes, the status page); once Redis
   is back every subscriber gets each update once and the reminder reaches its people once.
d. SIGKILL of a gunicorn worker and of the Celery worker (main process and pool) during load and
   while an update goes out to the subscribers; the worker is started again, as a supervisor
   would. Nothing acknowledged is lost or duplicated; every notification is sent.
e. Two commanders change the same incident's status at the same moment, 100 times: exactly one
   wins each round, the other gets 409 with the current state; the timeline replays to the
   final status.

Knobs (environment): STRESS_QUICK=1 (or --quick) for a short run of everything (about 2
minutes), STRESS_SECONDS (load of a), STRESS_CLIENTS, STRESS_REDIS_DOWN_SECONDS,
STRESS_PG_DOWN_SECONDS, STRESS_RACE_ROUNDS, STRESS_SUBSCRIBERS, STRESS_WEB_WORKERS. Exit status
1 when a goal is missed. Not part of `make test` or `make bench`.
"""

import asyncio
import contextlib
import email.parser
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _app import environment, manage  # noqa: E402

QUICK = os.environ.get("STRESS_QUICK") == "1" or "--quick" in sys.argv


def knob(name, full, quick):
    return type(full)(os.environ.get(name, quick if QUICK else full))


LOAD_SECONDS = knob("STRESS_SECONDS", 30.0, 8.0)
CLIENTS = knob("STRESS_CLIENTS", 50, 50)
PG_DOWN_SECONDS = knob("STRESS_PG_DOWN_SECONDS", 5.0, 3.0)
REDIS_DOWN_SECONDS = knob("STRESS_REDIS_DOWN_SECONDS", 60.0, 15.0)
RACE_ROUNDS = knob("STRESS_RACE_ROUNDS", 100, 25)
SUBSCRIBERS = knob("STRESS_SUBSCRIBERS", 300, 60)
WEB_WORKERS = knob("STRESS_WEB_WORKERS", 3, 3)
CELERY_CONCURRENCY = 2
ONCALL = 2  # people in the on-call group, paged by the reminder of run c
REQUEST_TIMEOUT = 15.0  # a client gives up on one request after this long: a "hang"
RETRY_PAUSE = 0.2  # seconds between resends of one entry
FAST_ERROR_GOAL = 2.0  # seconds an error answer may take beyond the slowest normal answer
RECOVERY_GOAL = 10.0  # seconds from PostgreSQL accepting connections to the next stored entry
DELIVERY_DEADLINE = 150.0  # seconds to wait for the work of an outage to be delivered
SMTP_DELAY = 0.005  # seconds the SMTP sink takes per message (run d: 0.05, so a delivery spans the kill)
MAIL_FLUSH_EVERY = 50  # statuspage.delivery: a mail batch records what it sent every 50 messages or second
RETRYABLE = {409, 429, 502, 503, "reset", "timeout"}

FAILURES = []


# Seeding (runs in a child process with the app's environment) --------------------------------


def seed():
    """Users, tokens, the incidents and subscribers of the runs; prints them as JSON."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from incidents import services
    from incidents.credentials import issue_token
    from incidents.models import Membership
    from statuspage.models import Subscriber

    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("commander", "responder", "oncall")}

    def person(name, *group_names, mail=""):
        user = User.objects.create_user(name, email=mail, password=os.urandom(16).hex())
        user.groups.set([groups[g] for g in group_names])
        return user, issue_token(user)[1]

    alice, alice_token = person("alice", "commander")
    bob, bob_token = person("bob", "commander")
    responders = [person(f"responder{n:02}", "responder") for n in range(CLIENTS)]
    oncall = [person(f"oncall{n}", "oncall", mail=f"oncall{n}@example.test") for n in range(ONCALL)]

    def incident(title, severity=3):
        found = services.declare(alice, title=title, severity=severity, commander=alice)
        services.assign_role(found, bob, Membership.Role.DEPUTY, alice)
        services.acknowledge(found, alice)
        return found.pk

    now = timezone.now()
    Subscriber.objects.bulk_create(
        Subscriber(kind=Subscriber.Kind.EMAIL, email=f"subscriber{n}@example.test", confirmed_at=now)
        for n in range(SUBSCRIBERS)
    )
    print(
        json.dumps(
            {
                "alice": alice_token,
                "bob": bob_token,
                "responders": [token for _, token in responders],
                "oncall": [user.email for user, _ in oncall],
                "load": incident("Stress: errors and time-outs worldwide"),
                "race": incident("Stress: two commanders"),
                "comms": incident("Stress: updates during a Redis outage"),
            }
        )
    )


def due_reminder():
    """A SEV1 incident declared 5 minutes ago that nobody acknowledged: its page to the on-call
    group is due now. Prints its id."""
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from incidents import services
    from incidents.models import Incident

    alice = get_user_model().objects.get(username="alice")
    found = services.declare(alice, title="Stress: nobody acknowledged this", severity=1, commander=alice)
    late = timezone.now() - timedelta(minutes=settings.WARROOM_REMINDERS["ack_after_minutes"], seconds=1)
    Incident.objects.filter(pk=found.pk).update(declared_at=late, started_at=late)
    print(found.pk)


# Services the run starts itself --------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up within {seconds:.0f} s")


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Postgres:
    """A PostgreSQL cluster of our own: initdb into a temporary folder, pg_ctl on a free port."""

    def __init__(self):
        pg_config = shutil.which("pg_config")
        self.bin = Path(
            subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
            if pg_config
            else "/nonexistent"
        )
        if not (self.bin / "pg_ctl").exists():
            found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
            if not found:
                raise SystemExit("PostgreSQL's server binaries (pg_ctl, initdb) are not installed")
            self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="warroom-stress-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/warroom"

    def _run(self, *args):
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def init(self):
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "warroom")

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server of our own on a free port, append-only file on (docker-compose.yml)."""

    def __init__(self, tmp):
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
            + ["--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: answers(self.port), 10, "redis-server")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


class SmtpSink:
    """An SMTP server on loopback that records (recipient, X-Warroom-Notification) of each message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.received = []
        self.delay = SMTP_DELAY
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                headers = email.parser.BytesHeaderParser().parsebytes(envelope.content)
                await asyncio.sleep(sink.delay)
                with sink.lock:
                    for rcpt in envelope.rcpt_tos:
                        sink.received.append((rcpt, headers.get("X-Warroom-Notification"), headers.get("Subject")))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, predicate):
        with self.lock:
            return [item for item in self.received if predicate(item[0])]

    def stop(self):
        self.controller.stop()


class Warroom:
    """gunicorn, a Celery worker and Celery beat on the run's database and broker."""

    def __init__(self, env, tmp):
        self.env, self.tmp = env, tmp
        self.port = free_port()
        self.web = self.worker = self.beat = None
        self.logs = {name: open(tmp / f"{name}.log", "ab") for name in ("web", "worker", "beat")}  # noqa: SIM115

    def _spawn(self, name, args):
        return subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=self.logs[name], stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self):
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.web = self._spawn(
            "web",
            [str(gunicorn), "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
            + ["--workers", str(WEB_WORKERS), "--control-socket", str(self.tmp / "gunicorn.ctl")],
        )
        self.start_worker()
        self.beat = self._spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "config.celery", "beat", "--loglevel", "WARNING"]
            + ["--schedule", str(self.tmp / "celerybeat-schedule")],
        )
        wait_for(lambda: self.get("/healthz")[0] == 200, 30, "gunicorn")

    def start_worker(self):
        self.worker = self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "config.celery", "worker", "--loglevel", "WARNING"]
            + ["--concurrency", str(CELERY_CONCURRENCY), "--hostname", f"stress-{time.monotonic_ns()}@%h"],
        )

    def get(self, path):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return None, b""

    def web_workers(self):
        return children(self.web.pid)

    def kill_worker(self):
        """SIGKILL the Celery worker: its main process and its pool, as the OOM killer or a
        lost container would."""
        pids = [self.worker.pid, *children(self.worker.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.worker.wait(timeout=10)
        return len(pids)

    def stop(self):
        for process in (self.beat, self.worker, self.web):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (self.beat, self.worker, self.web):
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        for log in self.logs.values():
            log.close()


def children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


# The API, as a client sees it ----------------------------------------------------------------


class Client:
    """One person's keep-alive connection to the API."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        """(status or "reset"/"timeout", JSON body or None, seconds taken)."""
        started = time.monotonic()
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        sent = {"Authorization": f"Token {self.token}", "Accept": "application/json", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, payload, sent)
            response = self.conn.getresponse()
            raw = response.read()
        except TimeoutError:
            self.close()
            return "timeout", None, time.monotonic() - started
        except (OSError, http.client.HTTPException):
            self.close()
            return "reset", None, time.monotonic() - started
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return response.status, data, time.monotonic() - started

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Load:
    """CLIENTS responders appending entries to one incident for `seconds`. Each entry carries
    an Idempotency-Key and is resent until it is acknowledged (201) or the run is over."""

    def __init__(self, port, tokens, incident, label, seconds):
        self.port, self.tokens, self.incident, self.label = port, tokens, incident, label
        self.seconds = seconds
        self.acked = defaultdict(list)  # client -> [n]
        self.in_doubt = defaultdict(list)  # client -> [n]: sent, never acknowledged
        self.requests = []  # (started at, status, seconds)
        self.lock = threading.Lock()

    def run(self, during=None):
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds
        threads = [threading.Thread(target=self._client, args=(c,)) for c in range(len(self.tokens))]
        for t in threads:
            t.start()
        if during is not None:
            during(self)
        for t in threads:
            t.join()
        self.elapsed = time.monotonic() - self.started
        return self

    def _client(self, c):
        client = Client(self.port, self.tokens[c])
        path = f"/api/v1/incidents/{self.incident}/timeline/"
        n = 0
        while time.monotonic() < self.deadline:
            key = f"{self.label}-{c}-{n}"
            body = {"body": f"stress {self.label} c{c} n{n}"}
            while True:
                at = time.monotonic() - self.started
                status, _, took = client.call("POST", path, body, {"Idempotency-Key": key})
                with self.lock:
                    self.requests.append((at, status, took))
                if status == 201:
                    self.acked[c].append(n)
                    break
                if time.monotonic() > self.deadline + REQUEST_TIMEOUT:
                    self.in_doubt[c].append(n)
                    break
                time.sleep(RETRY_PAUSE)
            n += 1
        client.close()

    def total(self):
        return sum(len(v) for v in self.acked.values())

    def latencies(self, status=201):
        return sorted(took for _, s, took in self.requests if s == status)

    def statuses(self):
        return Counter(s for _, s, _ in self.requests)


def percentile(values, p):
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def check_stored(db, load):
    """What the database holds for a load run: (stored once, duplicates, lost, order broken,
    half written, in doubt stored)."""
    pattern = re.compile(rf"^stress {re.escape(load.label)} c(\d+) n(\d+)$")
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, seq, body FROM incidents_timelineentry WHERE incident_id = %s AND body LIKE %s",
            [load.incident, f"stress {load.label} %"],
        )
        entries = cur.fetchall()
        cur.execute("SELECT response_body->>'id' FROM incidents_idempotencykey WHERE key LIKE %s", [f"{load.label}-%"])
        answered = {int(row[0]) for row in cur.fetchall()}
        cur.execute(
            "SELECT i.version, max(e.seq), count(e.id), count(DISTINCT e.seq) FROM incidents_incident i "
            "JOIN incidents_timelineentry e ON e.incident_id = i.id WHERE i.id = %s GROUP BY i.version",
            [load.incident],
        )
        version, top_seq, count, distinct_seq = cur.fetchone()
    copies = Counter()
    seqs = defaultdict(dict)
    for _pk, seq, body in entries:
        c, n = map(int, pattern.match(body).groups())
        copies[(c, n)] += 1
        seqs[c][n] = seq
    acked = {(c, n) for c, ns in load.acked.items() for n in ns}
    stored_once = sum(1 for item in acked if copies[item] == 1)
    duplicates = sum(count - 1 for count in copies.values() if count > 1)
    lost = sum(1 for item in acked if copies[item] == 0)
    order_kept = sum(1 for c in seqs if _increasing([seqs[c][n] for n in sorted(seqs[c])]))
    half = sum(1 for pk, _, _ in entries if pk not in answered)
    consistent = version == top_seq and count == distinct_seq
    return {
        "acked": len(acked),
        "stored_once": stored_once,
        "duplicates": duplicates,
        "lost": lost,
        "order_kept": order_kept,
        "clients": len(seqs),
        "half_written": half,
        "consistent": consistent,
    }


def _increasing(values):
    return all(a < b for a, b in zip(values, values[1:], strict=False))


# Reporting -----------------------------------------------------------------------------------


def table(title, rows):
    """rows: (measure, value, goal or "", ok or None)."""
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [("measure", "value", "goal"), *rows]) for i in range(3)]
    line = f"| {'measure':<{widths[0]}} | {'value':>{widths[1]}} | {'goal':<{widths[2]}} |    |"
    print(line)
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|{'-' * (widths[2] + 2)}|----|")
    for measure, value, goal, ok in rows:
        mark = "" if ok is None else ("ok" if ok else "FAIL")
        if ok is False:
            FAILURES.append(f"{title}: {measure}")
        print(f"| {measure:<{widths[0]}} | {value!s:>{widths[1]}} | {goal:<{widths[2]}} | {mark:<2} |")
    sys.stdout.flush()


def stored_rows(stored):
    return [
        (
            "acknowledged entries stored exactly once",
            f"{stored['stored_once']}/{stored['acked']}",
            "all",
            stored["stored_once"] == stored["acked"],
        ),
        ("acknowledged entries lost", stored["lost"], "0", stored["lost"] == 0),
        ("entries stored twice", stored["duplicates"], "0", stored["duplicates"] == 0),
        (
            "clients whose entries kept their order",
            f"{stored['order_kept']}/{stored['clients']}",
            "all",
            stored["order_kept"] == stored["clients"],
        ),
        ("entries without their recorded answer", stored["half_written"], "0", stored["half_written"] == 0),
        (
            "incident version = last entry, no seq twice",
            "yes" if stored["consistent"] else "no",
            "yes",
            stored["consistent"],
        ),
    ]


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def breakdown(statuses):
    """The answers other than 201, e.g. "503: 12, reset: 1" (reset: the connection was cut)."""
    others = sorted((str(k), v) for k, v in statuses.items() if k != 201)
    return ", ".join(f"{k}: {v}" for k, v in others) or "none"


def other_errors(statuses, allowed):
    return sum(count for status, count in statuses.items() if status != 201 and status not in allowed)


# The runs -------------------------------------------------------------------------------------


def run_load(ctx):
    """a: concurrent timeline writes."""
    load = Load(ctx.app.port, ctx.seed["responders"], ctx.seed["load"], "a", LOAD_SECONDS).run()
    stored = check_stored(ctx.db, load)
    statuses = load.statuses()
    ok = load.latencies()
    table(
        f"a. {len(load.tokens)} clients appending timeline entries through the API for {LOAD_SECONDS:.0f} s "
        f"(gunicorn {WEB_WORKERS} workers, PostgreSQL, Redis)",
        [
            ("entries acknowledged (201)", load.total(), "", None),
            ("throughput", f"{load.total() / load.elapsed:.0f}/s", "", None),
            ("latency p50", ms(percentile(ok, 50)), "", None),
            ("latency p99", ms(percentile(ok, 99)), "", None),
            ("slowest answer", ms(max(t for _, _, t in load.requests)), f"< {REQUEST_TIMEOUT:.0f} s", None),
            ("answers other than 201", other_errors(statuses, ()), "0", other_errors(statuses, ()) == 0),
            *stored_rows(stored),
        ],
    )


def run_postgres_restart(ctx):
    """b: PostgreSQL restarted under load."""
    seconds = max(LOAD_SECONDS, PG_DOWN_SECONDS + 12)
    workers_before = ctx.app.web_workers()
    marks = {}

    def restart(load):
        time.sleep(min(5.0, seconds / 4))
        marks["stop"] = time.monotonic() - load.started
        ctx.pg.stop()
        time.sleep(PG_DOWN_SECONDS)
        ctx.pg.start()
        marks["up"] = time.monotonic() - load.started

    load = Load(ctx.app.port, ctx.seed["responders"], ctx.seed["load"], "b", seconds).run(during=restart)
    stored = check_stored(ctx.db_reconnect(), load)
    outage = Counter(s for at, s, _ in load.requests if marks["stop"] <= at < marks["up"])
    errors = sorted(took for _, s, took in load.requests if s != 201)
    normal = sorted(took for at, s, took in load.requests if s == 201 and not marks["stop"] <= at < marks["up"] + 2)
    # An error must come at least as fast as a normal answer of the same run (the clients
    # queue for the same workers) and within FAST_ERROR_GOAL of the slowest of those.
    error_goal = percentile(normal, 100) + FAST_ERROR_GOAL
    after = [at for at, s, _ in load.requests if s == 201 and at >= marks["up"]]
    recovery = (min(after) - marks["up"]) if after else float("inf")
    hung = sum(1 for _, s, _ in load.requests if s == "timeout")
    unexpected = other_errors(Counter(s for _, s, _ in load.requests), {503, "reset"})
    workers_after = ctx.app.web_workers()
    ready = ctx.app.get("/readyz")[0]
    table(
        f"b. PostgreSQL stopped (fast shutdown) at {marks['stop']:.1f} s, started again {PG_DOWN_SECONDS:.0f} s "
        f"later, under the load of a ({seconds:.0f} s)",
        [
            ("requests while it was down or restarting", sum(outage.values()), "", None),
            ("... answered 503 with Retry-After", outage.get(503, 0), "", None),
            ("... connection cut by the server", outage.get("reset", 0), "", None),
            ("answers other than 201, 503 or a cut connection", unexpected, "0", unexpected == 0),
            ("error answers p50 / p99", f"{ms(percentile(errors, 50))} / {ms(percentile(errors, 99))}", "", None),
            (
                "201 answers p99 / slowest, outside the outage",
                f"{ms(percentile(normal, 99))} / {ms(normal[-1])}",
                "",
                None,
            ),
            (
                "slowest error answer",
                ms(errors[-1] if errors else 0),
                f"< slowest 201 + {FAST_ERROR_GOAL:.0f} s",
                (errors[-1] if errors else 0) < error_goal,
            ),
            ("requests that hung (no answer in 15 s)", hung, "0", hung == 0),
            (
                "first entry stored after it was back",
                f"{recovery:.1f} s",
                f"< {RECOVERY_GOAL:.0f} s",
                recovery < RECOVERY_GOAL,
            ),
            (
                "gunicorn workers replaced",
                len(set(workers_before) - set(workers_after)),
                "0 (no restart)",
                workers_before == workers_after,
            ),
            ("/readyz afterwards", ready, "200", ready == 200),
            ("entries acknowledged", load.total(), "", None),
            *stored_rows(stored),
        ],
    )


def publish_update(ctx, body, public_status):
    """Draft (alice), submit, approve (bob, the version read), publish (alice), through the
    API. Returns (communication id or None, {status: count} of the answers)."""
    alice = Client(ctx.app.port, ctx.seed["alice"])
    bob = Client(ctx.app.port, ctx.seed["bob"])
    base = f"/api/v1/incidents/{ctx.seed['comms']}/communications/"
    answers_ = Counter()
    status, comm, _ = alice.call(
        "POST",
        base,
        {"audience": "status_page", "public_status": public_status, "body": body, "public_title": "Slow replies"},
    )
    answers_[status] += 1
    if status != 201:
        return None, answers_
    for who, step, data in (
        (alice, "submit", None),
        (bob, "approve", {"version": comm["version"]}),
        (alice, "publish", None),
    ):
        status, _, _ = who.call("POST", f"{base}{comm['id']}/{step}/", data)
        answers_[status] += 1
    alice.close()
    bob.close()
    return (comm["id"] if status == 202 else None), answers_


def subscriber_mails(ctx):
    return ctx.smtp.to(lambda rcpt: rcpt.startswith("subscriber"))


def run_redis_outage(ctx):
    """c: Redis stopped while updates go out and a reminder falls due."""
    updates, baseline = 3, 5.0
    published, steps, page = [], Counter(), Counter()
    marks = {}
    before = len(subscriber_mails(ctx))

    def outage(load):
        time.sleep(baseline)
        ctx.redis.stop()
        marks["down"] = time.monotonic() - load.started
        marks["reminder"] = int(
            subprocess.run(
                [sys.executable, __file__, "--due-reminder"], cwd=ROOT, env=ctx.env, check=True, capture_output=True
            ).stdout
        )
        for n in range(updates):
            comm, answered = publish_update(ctx, f"Stress update {n}: we are on it.", "investigating")
            steps.update(answered)
            if comm is not None:
                published.append(comm)
            page[ctx.app.get("/status/")[0]] += 1
        while time.monotonic() - load.started - marks["down"] < REDIS_DOWN_SECONDS:
            page[ctx.app.get("/status/")[0]] += 1
            time.sleep(0.5)
        ctx.redis.start()
        marks["up"] = time.monotonic() - load.started
        load.deadline = time.monotonic()  # the writers stop once Redis is back

    clients = ctx.seed["responders"][:10]
    load = Load(ctx.app.port, clients, ctx.seed["load"], "c", REDIS_DOWN_SECONDS + baseline + 30)
    load.run(during=outage)
    back = load.started + marks["up"]
    stored = check_stored(ctx.db, load)
    statuses = load.statuses()
    calm = sorted(t for at, s, t in load.requests if s == 201 and at < marks["down"])
    down = sorted(t for at, s, t in load.requests if s == 201 and marks["down"] <= at < marks["up"])
    expected = SUBSCRIBERS * len(published)

    def delivered():
        mails = subscriber_mails(ctx)[before:]
        return mails, {(r, n) for r, n, _ in mails}, ctx.smtp.to(lambda rcpt: rcpt.startswith("oncall"))

    deadline = time.monotonic() + DELIVERY_DEADLINE
    while time.monotonic() < deadline:
        mails, distinct, pages = delivered()
        if len(distinct) >= expected and len({r for r, _, _ in pages}) >= ONCALL:
            break
        time.sleep(0.5)
    took = time.monotonic() - back
    time.sleep(5)  # anything sent twice would arrive now
    mails, distinct, pages = delivered()
    per_subscriber = Counter(r for r, _ in distinct)
    everyone = all(per_subscriber[f"subscriber{n}@example.test"] == len(published) for n in range(SUBSCRIBERS))
    with ctx.db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM incidents_communication WHERE status = 'published' AND id = ANY(%s)", [published]
        )
        (out,) = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM incidents_usernotification WHERE incident_id = %s AND kind = 'unacknowledged'",
            [marks["reminder"]],
        )
        (inbox,) = cur.fetchone()
    steps_ok = sum(c for s, c in steps.items() if s in (200, 201, 202))
    unexpected = other_errors(statuses, ())
    latency_goal = 2 * percentile(calm, 99)
    table(
        f"c. Redis (broker and cache) stopped for {REDIS_DOWN_SECONDS:.0f} s while {updates} updates are published "
        f"through the API and a reminder falls due; {len(clients)} clients writing to the timeline",
        [
            ("timeline entries acknowledged while it was down", len(down), "", None),
            ("timeline answers other than 201", unexpected, "0", unexpected == 0),
            (
                "timeline p99 before / while down",
                f"{ms(percentile(calm, 99))} / {ms(percentile(down, 99))}",
                "< 2x before",
                percentile(down, 99) < latency_goal,
            ),
            (
                "status page /status/ answered 200",
                f"{page.get(200, 0)}/{sum(page.values())}",
                "all",
                page.get(200, 0) == sum(page.values()),
            ),
            (
                "comms API calls answered 2xx (draft, submit, approve, publish)",
                f"{steps_ok}/{sum(steps.values())}",
                "all",
                steps_ok == sum(steps.values()) == 4 * updates,
            ),
            ("updates published after Redis was back", f"{out}/{updates}", "all", out == updates),
            (
                "subscriber e-mails delivered (distinct)",
                f"{len(distinct)}/{expected}",
                "all",
                len(distinct) == expected and everyone,
            ),
            ("subscriber e-mails received twice", len(mails) - len(distinct), "0", len(mails) == len(distinct)),
            ("reminder in the on-call inboxes", f"{inbox}/{ONCALL}", "all, once", inbox == ONCALL),
            ("reminder e-mails received", f"{len(pages)}/{ONCALL}", "all, once", len(pages) == ONCALL),
            (
                "everything delivered, after Redis was back",
                f"{took:.0f} s",
                f"< {DELIVERY_DEADLINE:.0f} s",
                took < DELIVERY_DEADLINE,
            ),
            *stored_rows(stored)[:3],
        ],
    )


def run_kills(ctx):
    """d: SIGKILL of a web worker and of the Celery worker."""
    seconds = max(LOAD_SECONDS * 2 / 3, 12.0)
    before = len(subscriber_mails(ctx))
    ctx.smtp.delay = 0.05  # a slower mail server: the delivery is still going when the worker dies
    comm, _ = publish_update(ctx, "Stress: cause identified.", "identified")
    marks = {}

    def kills(load):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(subscriber_mails(ctx)) - before < SUBSCRIBERS // 4:
            time.sleep(0.02)
        marks["sent_at_kill"] = len(subscriber_mails(ctx)) - before
        marks["killed"] = ctx.app.kill_worker()
        marks["worker"] = time.monotonic() - load.started
        time.sleep(max(0.0, seconds / 3 - (time.monotonic() - load.started)))
        victim = ctx.app.web_workers()[0]
        os.kill(victim, signal.SIGKILL)
        marks["web"] = time.monotonic() - load.started
        time.sleep(2)
        ctx.app.start_worker()  # what docker's restart policy or systemd does
        marks["restarted"] = time.monotonic()

    load = Load(ctx.app.port, ctx.seed["responders"], ctx.seed["load"], "d", seconds).run(during=kills)
    stored = check_stored(ctx.db, load)
    statuses = load.statuses()
    rows = sent = 0
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while time.monotonic() < deadline:
        with ctx.db.cursor() as cur:
            cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM statuspage_notification "
                "WHERE payload->>'communication' = %s",
                [str(comm)],
            )
            rows, sent = cur.fetchone()
        if rows == SUBSCRIBERS and sent == SUBSCRIBERS:
            break
        time.sleep(0.5)
    took = time.monotonic() - marks["restarted"]
    time.sleep(3)
    ctx.smtp.delay = SMTP_DELAY
    mails = subscriber_mails(ctx)[before:]
    distinct = len({(r, n) for r, n, _ in mails})
    repeats = len(mails) - distinct
    repeat_goal = MAIL_FLUSH_EVERY * CELERY_CONCURRENCY
    unexpected = other_errors(statuses, {"reset", 503})
    table(
        f"d. SIGKILL of the Celery worker ({marks['killed']} processes) at {marks['worker']:.1f} s, while it sends "
        f"an update to {SUBSCRIBERS} subscribers, and of a gunicorn worker at {marks['web']:.1f} s; "
        f"{len(load.tokens)} clients writing for {seconds:.0f} s",
        [
            ("entries acknowledged", load.total(), "", None),
            ("requests cut off by the killed web worker (resent)", statuses.get("reset", 0), "", None),
            ("answers other than 201", breakdown(statuses), "", None),
            ("answers other than 201, 503 or a cut connection", unexpected, "0", unexpected == 0),
            *stored_rows(stored),
            ("e-mails sent when the Celery worker was killed", marks["sent_at_kill"], "", None),
            (
                "notification rows (one per subscriber), sent",
                f"{rows}, {sent}",
                f"{SUBSCRIBERS}, {SUBSCRIBERS}",
                sent == SUBSCRIBERS and rows == SUBSCRIBERS,
            ),
            ("subscribers who got the update", f"{distinct}/{SUBSCRIBERS}", "all", distinct == SUBSCRIBERS),
            (
                "e-mails received twice (same X-Warroom-Notification)",
                repeats,
                f"<= {repeat_goal} (unrecorded tail)",
                repeats <= repeat_goal,
            ),
            (
                "all sent, after the worker was started again",
                f"{took:.0f} s",
                f"< {DELIVERY_DEADLINE:.0f} s",
                took < DELIVERY_DEADLINE,
            ),
        ],
    )


def run_race(ctx):
    """e: two commanders change the status at once."""
    incident = ctx.seed["race"]
    path = f"/api/v1/incidents/{incident}/"
    people = [Client(ctx.app.port, ctx.seed["alice"]), Client(ctx.app.port, ctx.seed["bob"])]
    moves = {
        "investigating": ("identified", "monitoring"),
        "identified": ("monitoring", "investigating"),
        "monitoring": ("resolved", "identified"),
        "resolved": ("investigating", "investigating"),
    }
    outcomes = Counter()
    clean = winners = 0

    def change(person, barrier, target, current, answers_, i):
        barrier.wait()
        answers_[i] = person.call("PATCH", path, {"status": target, "from_status": current})

    for _ in range(RACE_ROUNDS):
        current = people[0].call("GET", path)[1]["status"]
        targets = moves[current]
        barrier, answers_ = threading.Barrier(2), [None, None]
        threads = [
            threading.Thread(target=change, args=(people[i], barrier, targets[i], current, answers_, i)) for i in (0, 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes[" + ".join(sorted(str(a[0]) for a in answers_))] += 1
        won = [targets[i] for i in (0, 1) if answers_[i][0] == 200]
        lost = [answers_[i][1] for i in (0, 1) if answers_[i][0] == 409]
        winners += len(won)
        final = people[0].call("GET", path)[1]["status"]
        if len(won) == 1 and len(lost) == 1 and final == won[0] and lost[0]["incident"]["status"] == final:
            clean += 1
    with ctx.db.cursor() as cur:
        cur.execute(
            "SELECT data FROM incidents_timelineentry WHERE incident_id = %s AND kind = 'status' ORDER BY seq",
            [incident],
        )
        chain = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT status FROM incidents_incident WHERE id = %s", [incident])
        (final,) = cur.fetchone()
    linked = all(a["new"] == b["old"] for a, b in zip(chain, chain[1:], strict=False))
    replays = bool(chain) and linked and chain[0]["old"] == "investigating" and chain[-1]["new"] == final
    table(
        f"e. Two commanders change the same incident's status at the same moment, {RACE_ROUNDS} times "
        "(PATCH status with the from_status each read)",
        [
            *[(f"rounds answered {key}", count, "", None) for key, count in sorted(outcomes.items())],
            (
                "rounds: one 200, one 409 carrying the winner's state",
                f"{clean}/{RACE_ROUNDS}",
                "all",
                clean == RACE_ROUNDS,
            ),
            ("status entries in the timeline", len(chain), f"{winners} (one per 200)", len(chain) == winners),
            ("timeline replays to the final status", "yes" if replays else "no", "yes", replays),
        ],
    )


STEPS = (run_load, run_postgres_restart, run_redis_outage, run_kills, run_race)
ONLY = set(filter(None, os.environ.get("STRESS_ONLY", "").split(",")))


class Context:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pg = Postgres()
        self.redis = Redis(tmp)
        self.smtp = None
        self.app = None
        self._db = None

    @property
    def db(self):
        if self._db is None or self._db.closed:
            import psycopg

            self._db = psycopg.connect(self.pg.url, autocommit=True)
        return self._db

    def db_reconnect(self):
        if self._db is not None:
            self._db.close()
        self._db = None
        return self.db


def main():
    if "--seed" in sys.argv:
        return seed()
    if "--due-reminder" in sys.argv:
        return due_reminder()
    for program in ("redis-server",):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is not installed (apt-get install redis-server)")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="warroom-stress-"))
    ctx = Context(tmp)
    try:
        ctx.pg.init()
        ctx.redis.start()
        ctx.smtp = SmtpSink()
        env = environment(tmp)
        env.update(
            DATABASE_URL=ctx.pg.url,
            CELERY_BROKER_URL=f"redis://127.0.0.1:{ctx.redis.port}/0",
            CACHE_URL=f"redis://127.0.0.1:{ctx.redis.port}/1",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(ctx.smtp.port),
            EMAIL_USE_TLS="False",
            SITE_URL="http://127.0.0.1",
        )
        if QUICK:
            env["STRESS_QUICK"] = "1"  # the --seed child seeds as many subscribers as the run expects
        ctx.env = env
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        ctx.seed = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--seed"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        ctx.app = Warroom(env, tmp)
        ctx.app.start()
        print(
            f"Warroom under stress{' (quick)' if QUICK else ''}: gunicorn ({WEB_WORKERS} sync workers), Celery worker "
            f"(concurrency {CELERY_CONCURRENCY}) and beat, PostgreSQL {ctx.pg.port}, Redis {ctx.redis.port}, "
            f"all on loopback; {os.cpu_count()} CPUs",
            flush=True,
        )
        for step in STEPS:
            if not ONLY or step.__name__[4:] in ONLY or step.__doc__[0] in ONLY:
                step(ctx)
    finally:
        if ctx.app is not None:
            ctx.app.stop()
        if ctx.smtp is not None:
            ctx.smtp.stop()
        if ctx._db is not None:
            ctx._db.close()
        ctx.redis.stop()
        if os.environ.get("STRESS_KEEP"):
            print(f"PostgreSQL left running: {ctx.pg.url} (data in {ctx.pg.dir})")
        else:
            ctx.pg.remove()
        if FAILURES or os.environ.get("STRESS_KEEP"):
            print(f"\nLogs of the processes kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nWhole run: {time.monotonic() - started:.0f} s")
    if FAILURES:
        print("Goals missed:\n  " + "\n  ".join(FAILURES))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
