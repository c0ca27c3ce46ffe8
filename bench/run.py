"""make bench: run every benchmark script in bench/ (each prints its own table), then the goals
they measured, gathered in one table (bench/_summary.py).

Benchmarks measure ratios against a baseline taken in the same run, so they compare across
machines; they are not part of `make test`. Run one alone with `python bench/<name>.py`, or some
of them with their summary: `python bench/run.py statuspage warroom`.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Not benchmarks: this runner, the load and fault runs of `make stress` (bench/stress.py), and
# the CPU count of an alert delivery (bench/ingest_cpu.py, for comparing versions).
SEPARATE = {"run.py", "stress.py", "ingest_cpu.py"}
sys.path.insert(0, str(HERE))
from _summary import table  # noqa: E402


def main(names):
    if {"-h", "--help"} & set(names):
        print(__doc__.strip())
        return 0
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SEPARATE and not p.name.startswith("_"))
    if names:
        unknown = set(names) - {p.stem for p in scripts}
        if unknown:
            print("No such benchmark:", ", ".join(sorted(unknown)), file=sys.stderr)
            return 2
        scripts = [p for p in scripts if p.stem in names]
    failed = []
    with tempfile.TemporaryDirectory(prefix="warroom-bench-summary-") as folder:
        summary = Path(folder) / "goals.jsonl"
        env = {**os.environ, "BENCH_SUMMARY": str(summary)}
        for script in scripts:
            print(f"== {script.name}", flush=True)
            started = time.monotonic()
            result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, env=env, check=False)
            outcome = "ok" if result.returncode == 0 else "FAILED"
            print(f"== {script.name}: {outcome} in {time.monotonic() - started:.1f} s\n")
            if result.returncode != 0:
                failed.append(script.name)
        # Neutral on purpose: the goals come from several issues (the status page's and the war
        # room's, the alert storm's, the replay's), and the replay's are times, not ratios.
        print("Goals measured in this run (each benchmark's table above gives the details):")
        print(table(summary), flush=True)
    if failed:
        print("\nFailed or below a goal:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
