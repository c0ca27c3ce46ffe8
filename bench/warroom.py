"""Benchmark: the war-room page of a long incident, and the exported status page through nginx.

War room. Seeds a throwaway database (SQLite in a temporary directory, or BENCH_DATABASE_URL
for a PostgreSQL database you can throw away) with two incidents, one of 10 timeline entries
and one of 10,000 (Markdown notes of about 300 characters), starts gunicorn on the loopback
interface and measures, as a signed-in commander whose browser accepts gzip:
requests per second of each war-room page with concurrent keep-alive clients, the server time
of one request (median of sequential requests as the client sees it, and the CPU time the
server spent per request), and the size on the wire. Goals: the page of the 10,000-entry
incident within 1.5x of the 10-entry one in requests/s (the page draws the newest entries only,
and each process remembers drawn entries: incidents/entry_html.py, so its cost does not grow
with the incident), under 60 ms of server CPU a request and under 60 KB compressed.

nginx. Exports the status page of the same database (`manage.py export_statuspage`, which
writes a gzipped copy next to every file) and serves it with Debian's nginx (installed with
`apt-get install -y nginx` when missing: the benchmark needs root for that, or nginx already
there) in three ways: a plain file of the same size as the exported index.html (the baseline),
/status/ with `gzip_static on` (as docs/statuspage.md configures it), and /status/ compressed
on every request (`gzip on` alone, the configuration before). The same client loads every URL:
`wrk` (installed with apt-get when missing and run as root), otherwise Python processes of
threads with keep-alive connections (a slower client: near its ceiling both sides of the ratio
measure the client, so the table says which one ran). After a warm-up, BENCH_NGINX_ROUNDS
rounds (default 9) of BENCH_NGINX_SECONDS (default 2) per URL, in alternating order; the median
of the per-round ratios is reported, of requests per second as the client got them and of
requests per second of nginx's own CPU time (read from /proc). The first swings with whatever
else the machine runs; the second is what nginx sustains when it has the machine, and the goal
is on it: the exported /status/ at least 0.9x of the plain file.

Run by bench/run.py, the goals also go to the summary table printed at the end of `make bench`.

Environment knobs: BENCH_DATABASE_URL, BENCH_SECONDS (per round and URL, default 1),
BENCH_THREADS (concurrent clients, default 8), BENCH_WORKERS (gunicorn workers, default 2),
BENCH_ROUNDS (default 5; medians are reported), BENCH_NGINX_ROUNDS, BENCH_NGINX_SECONDS,
BENCH_SKIP_NGINX=1 to measure the war room only.
"""

import http.client
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _app import cpu_seconds, environment, manage  # noqa: E402
from _summary import record  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "1"))
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# nginx answers in tens of microseconds, so a second of load is at the mercy of whatever else
# the machine does; more and longer rounds, and the median of per-round ratios, keep the ratio
# from swinging from run to run.
NGINX_ROUNDS = int(os.environ.get("BENCH_NGINX_ROUNDS", "9"))
NGINX_SECONDS = float(os.environ.get("BENCH_NGINX_SECONDS", "2"))
WAR_ROOM_RATIO_GOAL = 1.5
WAR_ROOM_SIZE_GOAL = 60_000
WAR_ROOM_TIME_GOAL = 60  # ms
NGINX_GOAL = 0.9
SIZES = (10, 10_000)
HEADERS = {"Accept-Encoding": "gzip, deflate, br", "Accept-Language": "en"}


def seed():
    """Runs in a child process with the bench environment (python bench/warroom.py --seed).
    Prints the session cookie of a signed-in commander and the two incidents' ids."""
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from incidents.models import Incident, Membership, Service, TimelineEntry

    user = get_user_model().objects.create_superuser("bench", password="bench-" + os.urandom(8).hex())
    services = [Service.objects.create(name=f"Service {n}", slug=f"service-{n}") for n in range(5)]
    now = timezone.now()
    ids = []
    for count in SIZES:
        started = now - timedelta(days=3)
        incident = Incident.objects.create(
            title=f"Errors and time-outs ({count} entries)",
            severity=1,
            started_at=started,
            declared_at=started,
            created_by=user,
        )
        incident.services.set(services[:2])
        Membership.objects.create(incident=incident, user=user, role="commander")
        TimelineEntry.objects.bulk_create(
            TimelineEntry(
                incident=incident,
                author=user,
                occurred_at=started + timedelta(seconds=20 * n),
                body=f"Note {n}: **edge nodes** in region {n % 7} shed load again; rate limits at "
                f"{1000 + n % 500} req/s per ASN, blocklist now {n * 3} prefixes. Next check in "
                f"{n % 15 + 1} minutes; see the [dashboard](https://grafana.example.com/d/{n}).",
            )
            for n in range(count)
        )
        ids.append(incident.pk)
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    print(f"{name}={client.cookies[name].value}", *ids)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(conn, url, headers):
    conn.request("GET", url, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, body, response.getheader("Content-Encoding")


def wait_until_up(port, process, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited early")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if fetch(conn, "/healthz", {})[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not answer in time")


def _client_process(port, url, headers, threads, seconds, queue):
    done = [0] * threads
    errors = []
    stop = time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # keep-alive
        while time.monotonic() < stop:
            status = fetch(conn, url, headers)[0]
            if status != 200:
                errors.append(status)
                return
            done[i] += 1

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put((sum(done), errors[:1]))


def interleaved(rounds, names):
    """(round, name) for every round, in the names' order in even rounds and reversed in odd
    ones: whatever drifts during a run (another process, CPU frequency) hits every name alike."""
    for n in range(rounds):
        for name in names if n % 2 == 0 else reversed(names):
            yield n, name


def load(port, url, headers, processes=1, seconds=SECONDS, use_wrk=False):
    """Requests per second of `url` with THREADS keep-alive clients: wrk's, or Python threads
    spread over `processes`."""
    if use_wrk:
        return wrk(port, url, headers, seconds)
    queue = multiprocessing.Queue()
    per = max(1, THREADS // processes)
    procs = [
        multiprocessing.Process(target=_client_process, args=(port, url, headers, per, seconds, queue))
        for _ in range(processes)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    for _count, errors in results:
        if errors:
            raise SystemExit(f"{url} answered {errors[0]}")
    return sum(count for count, _ in results) / elapsed


def wrk(port, url, headers, seconds):
    args = ["wrk", "-t2", f"-c{THREADS}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}{url}"], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def server_time(port, url, headers, server_pid, count=50):
    """The time of one request, sequential on one keep-alive connection, in ms: (median as the
    client sees it, CPU time the server spent per request). On a machine busy with other work the
    first includes waiting for a CPU; the second is the server's own cost."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    cpu = cpu_seconds(server_pid)
    for _ in range(count):
        started = time.perf_counter()
        fetch(conn, url, headers)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), (cpu_seconds(server_pid) - cpu) * 1000 / count


def bench_war_room(env, tmp):
    out = subprocess.run(
        [sys.executable, __file__, "--seed"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    session, ids = out[0], out[1:]
    headers = {**HEADERS, "Cookie": session}
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            # Its own control socket: other gunicorns of this user (another bench) keep theirs.
            "--control-socket",
            str(tmp / "gunicorn.ctl"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port, server)
        urls = {count: f"/incidents/{pk}/" for count, pk in zip(SIZES, ids, strict=True)}
        sizes, encodings, times, cpu = {}, {}, {}, {}
        for count, url in urls.items():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(WORKERS * 3):  # warm every worker
                status, body, encoding = fetch(conn, url, headers)
                if status != 200:
                    raise SystemExit(f"{url} answered {status} (not signed in?)")
            sizes[count], encodings[count] = len(body), encoding
            times[count], cpu[count] = server_time(port, url, headers, server.pid)
        rates = {count: [] for count in SIZES}
        for _, count in interleaved(ROUNDS, SIZES):
            rates[count].append(load(port, urls[count], headers))
    finally:
        server.terminate()
        server.wait(timeout=10)
    small, big = SIZES
    ratio = statistics.median(s / b for s, b in zip(rates[small], rates[big], strict=True))
    print(f"\nWar-room page under gunicorn ({WORKERS} workers, {THREADS} clients), medians of {ROUNDS} rounds")
    print(f"{'entries':>8} {'req/s':>9} {'ms/request':>11} {'CPU ms/req':>11} {'bytes on wire':>14} {'encoding':>9}")
    for count in SIZES:
        print(
            f"{count:>8} {statistics.median(rates[count]):>9.0f} {times[count]:>11.1f} {cpu[count]:>11.1f} "
            f"{sizes[count]:>14} {encodings[count] or 'none':>9}"
        )
    ok_ratio = ratio <= WAR_ROOM_RATIO_GOAL
    ok_size = sizes[big] < WAR_ROOM_SIZE_GOAL
    # The server's own time: on a busy machine the client's clock also counts waiting for a CPU.
    ok_time = cpu[big] < WAR_ROOM_TIME_GOAL
    print(
        f"10 vs 10,000 entries: {ratio:.2f}x (goal <= {WAR_ROOM_RATIO_GOAL}x) {'' if ok_ratio else 'BELOW GOAL'}; "
        f"at 10,000 entries {sizes[big]} bytes (goal < {WAR_ROOM_SIZE_GOAL}) {'' if ok_size else 'BELOW GOAL'}, "
        f"{cpu[big]:.1f} ms of server CPU a request (goal < {WAR_ROOM_TIME_GOAL}) {'' if ok_time else 'BELOW GOAL'}"
    )
    record("war_room_ratio", ratio, ok_ratio)
    record("war_room_time", cpu[big], ok_time)
    record("war_room_size", sizes[big], ok_size)
    return ok_ratio and ok_size and ok_time


def ensure_nginx():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        return nginx
    print("nginx is missing: apt-get install -y nginx", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("nginx") or "/usr/sbin/nginx"


def ensure_wrk():
    """Whether wrk is there (installed with apt-get when missing and this runs as root). A Python
    client tops out at a few thousand requests per second, near what nginx does with one file:
    both sides of the ratio would then measure the client."""
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL)
    return bool(shutil.which("wrk"))


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 2;
user {user};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    gzip_types application/json application/atom+xml text/css application/javascript image/svg+xml;
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ return 200 "ok"; }}
        location = /plain.html {{ root {site}; gzip off; }}
        # As docs/statuspage.md configures it.
        location /status/ {{
            root {site};
            gzip_static on;
            gzip on;
            gzip_vary on;
            try_files $uri $uri/index.html =404;
        }}
        # The configuration before: compressed on every request.
        location /dynamic/ {{
            alias {site}/status/;
            gzip_static off;
            gzip on;
            try_files $uri $uri/index.html =404;
        }}
    }}
}}
"""


def bench_nginx(env, tmp):
    nginx = ensure_nginx()
    site = tmp / "site"
    site.mkdir()
    manage(env, "export_statuspage", str(site / "status"))
    index = (site / "status" / "index.html").read_bytes()
    # The baseline: a file of the same size, served as it is.
    (site / "plain.html").write_bytes(os.urandom(len(index) // 2).hex().encode()[: len(index)])
    for path in [tmp, *site.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else 0o644)
    port = free_port()
    conf = tmp / "nginx.conf"
    user = "root" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(tmp=tmp, site=site, port=port, user=user or "nobody"))
    if not user:
        conf.write_text(conf.read_text().replace("user nobody;\n", ""))
    server = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL)
    urls = {
        "plain file": "/plain.html",
        "/status/ (gzip_static)": "/status/",
        "/status/ (gzip per request)": "/dynamic/",
    }
    use_wrk = ensure_wrk()
    try:
        wait_until_up(port, server)
        wire = {}
        for name, url in urls.items():
            status, body, encoding = fetch(http.client.HTTPConnection("127.0.0.1", port, timeout=10), url, HEADERS)
            if status != 200:
                raise SystemExit(f"nginx answered {status} for {url}")
            wire[name] = (len(body), encoding or "none")
        for url in urls.values():  # warm: nginx's open files, the page cache, the client
            load(port, url, HEADERS, processes=2, seconds=1, use_wrk=use_wrk)
        # The same client, connections and duration for every URL, rounds interleaved.
        rates = {name: [] for name in urls}
        per_cpu = {name: [] for name in urls}  # requests per second of nginx's own CPU time
        for _, name in interleaved(NGINX_ROUNDS, list(urls)):
            cpu = cpu_seconds(server.pid)
            rate = load(port, urls[name], HEADERS, processes=2, seconds=NGINX_SECONDS, use_wrk=use_wrk)
            cpu = cpu_seconds(server.pid) - cpu
            rates[name].append(rate)
            per_cpu[name].append(rate * NGINX_SECONDS / max(cpu, 1 / os.sysconf("SC_CLK_TCK")))
    finally:
        server.terminate()
        server.wait(timeout=10)
    client = "wrk, 2 threads" if use_wrk else "Python keep-alive clients in 2 processes"
    print(
        f"\nExported status page through nginx ({client}, {THREADS} connections), "
        f"medians of {NGINX_ROUNDS} rounds of {NGINX_SECONDS:g} s per URL"
    )
    print(f"index.html is {len(index)} bytes; the plain file too")
    print(
        "req/s is what the client got; on a machine busy with other work it swings with the other work.\n"
        "req/CPU-s is requests per second of nginx's own CPU time: what nginx sustains when it has the\n"
        "machine, the same whatever else runs. The goal is on that one."
    )
    print(
        f"{'what':<30} {'req/s':>9} {'vs plain':>9} {'req/CPU-s':>10} {'vs plain':>9} {'bytes on wire':>14}"
        f" {'encoding':>9} {'goal':>7}"
    )
    good = True
    for name in urls:
        ratio = statistics.median(v / b for v, b in zip(rates[name], rates["plain file"], strict=True))
        cpu_ratio = statistics.median(v / b for v, b in zip(per_cpu[name], per_cpu["plain file"], strict=True))
        goal = f">={NGINX_GOAL}" if name == "/status/ (gzip_static)" else ""
        ok = not goal or cpu_ratio >= NGINX_GOAL
        good &= ok
        if goal:
            record("nginx_export", cpu_ratio, ok)
        size, encoding = wire[name]
        print(
            f"{name:<30} {statistics.median(rates[name]):>9.0f} {ratio:>9.2f} {statistics.median(per_cpu[name]):>10.0f}"
            f" {cpu_ratio:>9.2f} {size:>14} {encoding:>9} {goal:>7} {'' if ok else 'BELOW GOAL'}"
        )
    return good


def main():
    if "--seed" in sys.argv:
        seed()
        return 0
    with tempfile.TemporaryDirectory(prefix="warroom-bench-") as name:
        tmp = Path(name)
        env = environment(tmp)
        manage(env, "migrate", "--noinput")
        manage(env, "createcachetable")
        manage(env, "collectstatic", "--noinput")
        good = bench_war_room(env, tmp)
        if not os.environ.get("BENCH_SKIP_NGINX"):
            good &= bench_nginx(env, tmp)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
