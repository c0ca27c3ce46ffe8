"""The goals of `make bench`, gathered into one table at the end of the run. bench/run.py skips
this module.

Each benchmark script prints its own detailed table and, for each goal it measures, calls
`record(key, measured, met)`; when bench/run.py started it (BENCH_SUMMARY names a file), the
result goes to that file as one JSON line. bench/run.py then prints every goal below in this
order, "not measured" for one whose script failed or was skipped.
"""

import json
import os

# key: (what is measured, the target as printed, how the measured value is printed)
GOALS = {
    "status_while_writing": (
        "/status/ vs /healthz (req/CPU-s of gunicorn), while 10 timeline entries/s are written",
        ">= 0.9x",
        "{:.2f}x",
    ),
    "summary_while_writing": (
        "summary.json vs /healthz (req/CPU-s of gunicorn), while 10 timeline entries/s are written",
        ">= 0.9x",
        "{:.2f}x",
    ),
    "status_three_pages": ("/status/ vs /healthz, with three status pages defined", ">= 0.7x", "{:.2f}x"),
    "summary_three_pages": ("summary.json vs /healthz, with three status pages defined", ">= 0.7x", "{:.2f}x"),
    "war_room_ratio": ("war room req/s, 10 entries vs 10,000 entries", "<= 1.5x", "{:.2f}x"),
    "war_room_time": ("war room at 10,000 entries, server CPU time of one request", "< 60 ms", "{:.1f} ms"),
    "war_room_size": ("war room at 10,000 entries, bytes on the wire (gzip)", "< 60,000 B", "{:,.0f} B"),
    "nginx_export": ("exported /status/ through nginx vs a plain file of its size", ">= 0.9x", "{:.2f}x"),
    "alert_ingest": (
        "alert deliveries vs /healthz, 10,000 posts, zero duplicates (issue #11)",
        ">= 0.5x",
        "{:.2f}x",
    ),
    "alert_routing": ("alert deliveries routed per second by 4 workers, the same storm", ">= 200/s", "{:.0f}/s"),
    "replay_declare": ("replay: declare + 3 events, keystroke-level estimate (<= 6 actions)", "< 45 s", "{:.1f} s"),
    "replay_first_update": (
        "replay: declare to first approved public update, estimate (<= 12 actions)",
        "< 60 s",
        "{:.1f} s",
    ),
    "replay_notified": ("replay: “Submit for review” to the approver's “To approve” badge", "<= 5 s", "{:.1f} s"),
}


def record(key, measured, met, what=None):
    """Note a goal's result for bench/run.py's summary (nothing when run alone); `what` replaces
    the goal's description (to say what the run really did, such as the writes per second)."""
    if key not in GOALS:
        raise KeyError(f"unknown goal {key!r}: add it to bench/_summary.py")
    path = os.environ.get("BENCH_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "measured": measured, "met": bool(met), "what": what}) + "\n")


def table(path):
    """The summary table, as text, from the results recorded in the file `path`."""
    results = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                result = json.loads(line)
                results[result["key"]] = result
    described = {key: (results.get(key) or {}).get("what") or what for key, (what, _, _) in GOALS.items()}
    width = max(len(what) for what in described.values())
    rows = [f"{'goal':<{width}}  {'measured':>12}  {'target':>10}  met", "-" * (width + 33)]
    for key, (_, target, shown) in GOALS.items():
        what, result = described[key], results.get(key)
        if result is None:
            rows.append(f"{what:<{width}}  {'not measured':>12}  {target:>10}  no")
        else:
            measured = shown.format(result["measured"])
            rows.append(f"{what:<{width}}  {measured:>12}  {target:>10}  {'yes' if result['met'] else 'NO'}")
    return "\n".join(rows)
