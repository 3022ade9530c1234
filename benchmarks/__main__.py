"""``python -m benchmarks [area ...]``: every area, each in its own process, then a summary.

Exit status 1 when any bar fails (or an area crashes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

#: (module, databases) in run order; "-" for areas without a database.
AREAS = [
    ("crypto", ["-"]),
    ("memory", ["sqlite", "postgres"]),
    ("status", ["sqlite", "postgres"]),
    ("deadlines", ["sqlite", "postgres"]),
    ("lti", ["sqlite"]),
    ("callback", ["postgres"]),
]


def main(argv: list[str]) -> int:
    wanted = set(argv) or {name for name, _ in AREAS}
    handle, results = tempfile.mkstemp(prefix="bench_", suffix=".jsonl")
    os.close(handle)
    env = {**os.environ, "BENCH_RESULTS": results, "DJANGO_SETTINGS_MODULE": "benchmarks.settings"}
    crashed = []
    for name, dbs in AREAS:
        if name not in wanted:
            continue
        for db in dbs:
            command = [sys.executable, "-m", f"benchmarks.{name}"]
            if db != "-":
                command += ["--db", db]
            print(f"\n=== {name}{'' if db == '-' else ' on ' + db}", flush=True)
            code = subprocess.call(command, env=env)
            if code not in (0, 1):
                crashed.append(f"{name} ({db}): exit {code}")
    with open(results) as fh:
        figures = [json.loads(line) for line in fh]
    os.unlink(results)
    print("\n=== summary")
    for fig in figures:
        verdict = "PASS" if fig["passed"] else "FAIL"
        where = f" [{fig['db']}]" if fig.get("db", "-") != "-" else ""
        print(f"  {verdict}  {fig['area']}{where}: {fig['name']}")
        print(f"        ratio {fig['ratio']:.3f}  bar: {fig['bar']}")
    for crash in crashed:
        print(f"  FAIL  crashed: {crash}")
    failed = [f for f in figures if not f["passed"]]
    print(f"\n{len(figures) - len(failed)} of {len(figures)} figures meet their bars.")
    return 1 if failed or crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
