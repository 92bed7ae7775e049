"""Prints a short summary of schemathesis JSON run reports (`--report json`), one per pass:
its seed, what it generated, and each distinct failure with the operations it was seen on.

Usage: python3 tests/fuzz/summarize.py REPORT.json...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def summarize(path: Path) -> None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"  {path.stem}: no report ({exc})")
        return
    cases = report.get("test_cases") or {}
    operations = report.get("operations") or {}
    print(
        f"  {path.stem}: seed {report.get('seed')}, {operations.get('tested', 0)}/{operations.get('selected', 0)} "
        f"operations, {cases.get('generated', 0)} test cases, {cases.get('unique_failures', 0)} unique failures, "
        f"{report.get('running_time', 0):.0f}s, stopped: {report.get('stop_reason')}"
    )
    for phase, state in (report.get("phases") or {}).items():
        if state.get("skip_reason"):
            print(f"    phase {phase}: {state.get('status')} ({state.get('skip_reason')})")
    for failure in report.get("failures") or []:
        print(f"    FAIL {failure['title']} [{failure['code']}] x{failure['count']}")
        for operation in failure.get("operations") or []:
            print(f"         {operation}")
    for error in report.get("errors") or []:
        print(f"    ERROR {error['title']} x{error['count']}")
    warnings = report.get("warnings") or {}
    for name, operations in warnings.items() if isinstance(warnings, dict) else []:
        if operations:
            print(f"    warning {name}: {', '.join(operations)}")


def main() -> None:
    for name in sys.argv[1:]:
        summarize(Path(name))


if __name__ == "__main__":
    main()
