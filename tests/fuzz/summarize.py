"""Reads schemathesis's run reports for scripts/fuzz-api.

`summarize.py REPORT.json...` prints a short summary of each pass (`--report json`): its seed,
what it generated, and each distinct failure with the operations it was seen on.

`summarize.py engine-only PASS REPORT_DIR CONFIG.toml` exits 0 when a pass that exited non-zero
found nothing about reef: no check failed, no warning named in the config's `fail-on` was
raised, and every error was raised inside Hypothesis's own engine (its optimiser has been seen
to index past the end of a list on a fresh seed), which says nothing about the API under test.
It exits 1 otherwise, and prints why.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

# A traceback frame line as schemathesis prints it: `File "/.../pkg/mod.py", line 12, in f`.
FRAME = re.compile(r'File "([^"]+)", line \d+')


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


def raised_in_hypothesis_engine(message: str) -> bool:
    """Whether an error's innermost traceback frame lies in Hypothesis's internals."""
    frames = FRAME.findall(message)
    return bool(frames) and "/hypothesis/internal/" in frames[-1].replace("\\", "/")


def engine_only(name: str, report_dir: Path, config: Path) -> int:
    """The verdict described in the module's doc comment, printed, as an exit status."""
    try:
        report = json.loads((report_dir / f"{name}.json").read_text(encoding="utf-8"))
        junit = ElementTree.parse(report_dir / f"{name}.junit.xml")
        fail_on = tomllib.loads(config.read_text(encoding="utf-8")).get("warnings", {}).get("fail-on", [])
    except (OSError, ValueError, ElementTree.ParseError) as exc:
        print(f"fuzz-api: {name}: cannot read the reports ({exc})")
        return 1
    if (report.get("test_cases") or {}).get("unique_failures", 0) or report.get("failures"):
        return 1
    warnings = report.get("warnings") or {}
    raised = [w for w in fail_on if isinstance(warnings, dict) and warnings.get(w)]
    if raised:
        print(f"fuzz-api: {name}: warnings that fail the run: {', '.join(raised)}")
        return 1
    errors = [(case.get("name", "?"), e.get("message", "") + (e.text or "")) for case in junit.iter("testcase") for e in case.iter("error")]
    if not errors:
        print(f"fuzz-api: {name}: exited non-zero with no failure, error or warning in its reports")
        return 1
    others = [label for label, message in errors if not raised_in_hypothesis_engine(message)]
    if others:
        print(f"fuzz-api: {name}: errors outside Hypothesis's engine on {', '.join(others)}")
        return 1
    labels = ", ".join(label for label, _ in errors)
    print(f"fuzz-api: {name}: only Hypothesis's own engine failed (on {labels}); no finding about reef")
    return 0


def main() -> None:
    if sys.argv[1:2] == ["engine-only"] and len(sys.argv) == 5:
        sys.exit(engine_only(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
    for name in sys.argv[1:]:
        summarize(Path(name))


if __name__ == "__main__":
    main()
