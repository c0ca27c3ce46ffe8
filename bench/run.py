"""make bench: run every benchmark script in bench/ (each prints its own table).

Benchmarks measure ratios against a baseline taken in the same run, so they compare across
machines; they are not part of `make test`. Run one alone with `python bench/<name>.py`.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        outcome = "ok" if result.returncode == 0 else "FAILED"
        print(f"== {script.name}: {outcome} in {time.monotonic() - started:.1f} s\n")
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print("Failed:", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
