"""The peer of the `listing` benchmark: the same jobs and queries in SQLite, with the same
indexes (runner, label, state, each ending with the job id), read in-process with no HTTP, the
rows as JSON text as reef stores them.

Usage: python3 listing_sqlite.py JOBS ROUNDS
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    jobs, rounds = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "jobs.sqlite")
        db.executescript(
            """
            PRAGMA journal_mode = WAL;
            CREATE TABLE jobs (id TEXT PRIMARY KEY, runner TEXT, state TEXT, body TEXT);
            CREATE TABLE labels (key TEXT, value TEXT, id TEXT, PRIMARY KEY (key, value, id));
            CREATE INDEX by_runner ON jobs (runner, id);
            CREATE INDEX by_state ON jobs (state, id);
            """
        )
        started = time.perf_counter()
        n = 0

        def insert(runner: str, sweep: str, benchmarks: int) -> None:
            nonlocal n
            rows, labels = [], []
            for b in range(benchmarks):
                for a in range(5):
                    n += 1
                    job_id = f"{n:026d}"
                    state = "running" if n == 1 else "queued"
                    params = {"benchmark": f"b{b}", "agent": f"a{a}"}
                    body = {"id": job_id, "runner": runner, "params": params, "labels": {"reef.sweep": sweep}, "state": state}
                    rows.append((job_id, runner, state, json.dumps(body)))
                    labels.append(("reef.sweep", sweep, job_id))
            with db:  # one transaction per sweep, as reef does
                db.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?)", rows)
                db.executemany("INSERT INTO labels VALUES (?, ?, ?)", labels)

        left, s = jobs, 0
        while left > 0:
            cells = min(left, 10_000)
            insert("bench", f"S{s}", cells // 5)
            left -= cells
            s += 1
        insert("other", "small", 20)
        filled = time.perf_counter() - started
        print(f"  filled: {n} jobs in {filled:.1f} s ({n / filled:.0f} jobs/s, each sweep one transaction)")

        def page(sql: str, *args: object) -> list:
            return [json.loads(body) for (body,) in db.execute(sql, args)]

        def results(runner: str) -> dict:
            groups: dict[str, int] = {}
            for (body,) in db.execute("SELECT body FROM jobs WHERE runner = ? ORDER BY id DESC", (runner,)):
                job = json.loads(body)
                groups[job["params"]["agent"]] = groups.get(job["params"]["agent"], 0) + 1
            return groups

        queries = [
            ("page of 50, no filter", lambda: page("SELECT body FROM jobs ORDER BY id DESC LIMIT 50"), 50),
            ("page of 50, label (100 of all)", lambda: page(
                "SELECT j.body FROM labels l JOIN jobs j ON j.id = l.id WHERE l.key = 'reef.sweep' AND l.value = 'small' ORDER BY l.id DESC LIMIT 50"), 50),
            ("page of 50, runner (100 of all)", lambda: page("SELECT body FROM jobs WHERE runner = 'other' ORDER BY id DESC LIMIT 50"), 50),
            ("state running (1 of all)", lambda: page("SELECT body FROM jobs WHERE state = 'running' ORDER BY id DESC LIMIT 50"), 1),
            ("label + state, none match", lambda: page(
                "SELECT j.body FROM labels l JOIN jobs j ON j.id = l.id WHERE l.key = 'reef.sweep' AND l.value = 'small' AND j.state = 'failed' ORDER BY l.id DESC LIMIT 50"), 0),
            ("results, runner of 100", lambda: [None] * sum(results("other").values()), 100),
            ("results, runner of all", lambda: [None] * sum(results("bench").values()), jobs),
        ]
        print(f"  {'peer: SQLite ' + sqlite3.sqlite_version + ' (in-process)':<34} {'p50':>12} {'p95':>12}")
        for name, query, expected in queries:
            took = []
            for _ in range(rounds):
                t = time.perf_counter()
                got = query()
                took.append(time.perf_counter() - t)
                assert len(got) == expected, (name, len(got), expected)
            took.sort()
            p95 = took[min(len(took) - 1, max(0, -(-95 * len(took) // 100) - 1))]
            print(f"  {name:<34} {statistics.median_low(took) * 1000:>9.2f} ms {p95 * 1000:>9.2f} ms")


if __name__ == "__main__":
    main()
