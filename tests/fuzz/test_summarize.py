"""Tests of summarize.py's verdict on a pass that exited non-zero (run by scripts/test)."""

from __future__ import annotations

import json
import tempfile
import unittest
from pathlib import Path
from xml.sax.saxutils import quoteattr

from summarize import engine_only, raised_in_hypothesis_engine

ENGINE_TRACEBACK = """Runtime Error

Index 32 out of range [-19, 19)

    Traceback (most recent call last):
      File "/lib/site-packages/schemathesis/engine/run/unit/_hypothesis_executor.py", line 51, in run_test
      File "/lib/site-packages/hypothesis/internal/conjecture/optimiser.py", line 185, in attempt_replace
      File "/lib/site-packages/hypothesis/internal/conjecture/data.py", line 579, in __getitem__
    IndexError: Index 32 out of range [-19, 19)"""

HOOK_TRACEBACK = """Runtime Error

boom

    Traceback (most recent call last):
      File "/lib/site-packages/hypothesis/internal/conjecture/engine.py", line 1018, in run
      File "/repo/tests/fuzz/hooks.py", line 40, in before_generate
    ValueError: boom"""

CONFIG = '[warnings]\nfail-on = ["missing_auth"]\n'


class EngineOnly(unittest.TestCase):
    def verdict(self, report: dict, errors: list[str], config: str = CONFIG) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            (directory / "fresh.json").write_text(json.dumps(report), encoding="utf-8")
            cases = "".join(
                f'<testcase name="GET /v1/op{i}"><error type="error" message={quoteattr(text)}>{text}</error></testcase>'
                for i, text in enumerate(errors)
            )
            (directory / "fresh.junit.xml").write_text(f"<testsuites><testsuite>{cases}</testsuite></testsuites>", encoding="utf-8")
            (directory / "config.toml").write_text(config, encoding="utf-8")
            return engine_only("fresh", directory, directory / "config.toml")

    def test_an_error_inside_the_engine_alone_is_no_finding(self) -> None:
        self.assertEqual(self.verdict({"test_cases": {"unique_failures": 0}}, [ENGINE_TRACEBACK]), 0)

    def test_a_check_failure_fails(self) -> None:
        self.assertEqual(self.verdict({"test_cases": {"unique_failures": 1}}, [ENGINE_TRACEBACK]), 1)

    def test_an_error_raised_in_other_code_fails(self) -> None:
        self.assertEqual(self.verdict({}, [ENGINE_TRACEBACK, HOOK_TRACEBACK]), 1)

    def test_a_fail_on_warning_fails(self) -> None:
        report = {"warnings": {"missing_auth": ["GET /v1/x"]}}
        self.assertEqual(self.verdict(report, [ENGINE_TRACEBACK]), 1)

    def test_a_non_zero_exit_with_nothing_reported_fails(self) -> None:
        self.assertEqual(self.verdict({}, []), 1)

    def test_missing_reports_fail(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(engine_only("fresh", Path(tmp), Path(tmp) / "none.toml"), 1)

    def test_an_error_without_a_traceback_is_not_the_engines(self) -> None:
        self.assertFalse(raised_in_hypothesis_engine("Network Error\n\nConnection refused"))


if __name__ == "__main__":
    unittest.main()
