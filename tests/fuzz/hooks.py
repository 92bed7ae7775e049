"""Schemathesis hooks of scripts/fuzz-api: `application/wasm` bodies, and two checks.

`PUT /v1/policies/{name}` takes an `application/wasm` body. Schemathesis has no strategy for that
media type of its own, so this registers one that mixes:

- random bytes (never none: the coverage phase sends the request without a body);
- the WebAssembly preambles (core module and component) alone or followed by garbage;
- real policy components, read from the files and directories named in `REEF_FUZZ_WASM`
  (separated by `:`; the script names the embedded default policy and the built plugins);
- real components cut short, with one byte changed, or with bytes appended.

Real components make some uploads pass validation (201), so that the versions they create feed
activate, shadow, canary, promote, abort and delete; the rest exercise the rejection paths.

The checks: `schema_valid_not_malformed` (a request the document allows is refused only for
reasons no schema can state) and `non_utf8_path_segment` (a path segment that is not UTF-8 gets
a documented answer), both described where they are defined.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

MODULE_PREAMBLE = b"\x00asm\x01\x00\x00\x00"
COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"


def _real_components() -> list[bytes]:
    # Keyed by digest: the embedded default policy and the built one are the same bytes.
    found: dict[str, bytes] = {}
    for entry in filter(None, os.environ.get("REEF_FUZZ_WASM", "").split(os.pathsep)):
        path = Path(entry)
        for file in sorted(path.glob("*.wasm")) if path.is_dir() else [path]:
            if file.is_file():
                data = file.read_bytes()
                found.setdefault(hashlib.sha256(data).hexdigest(), data)
    # In digest order, so that a fixed seed draws the same components wherever the files are.
    return [found[digest] for digest in sorted(found)]


@st.composite
def _mutated(draw: st.DrawFn, components: list[bytes]) -> bytes:
    base = draw(st.sampled_from(components))
    how = draw(st.sampled_from(["truncate", "flip", "append"]))
    if how == "truncate":
        return base[: draw(st.integers(min_value=1, max_value=len(base) - 1))]
    if how == "flip":
        data = bytearray(base)
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[at] ^= draw(st.integers(min_value=1, max_value=255))
        return bytes(data)
    return base + draw(st.binary(min_size=1, max_size=64))


def wasm_bodies() -> st.SearchStrategy[bytes]:
    components = _real_components()
    options = [
        st.binary(min_size=1, max_size=2048),
        st.sampled_from([MODULE_PREAMBLE, COMPONENT_PREAMBLE]),
        st.tuples(st.sampled_from([MODULE_PREAMBLE, COMPONENT_PREAMBLE]), st.binary(max_size=256)).map(
            lambda pair: pair[0] + pair[1]
        ),
    ]
    if components:
        options += [st.sampled_from(components), _mutated(components)]
    return st.one_of(*options)


schemathesis.openapi.media_type("application/wasm", wasm_bodies())


# 422 problem types that a document cannot rule out: they depend on the configured runners'
# parameters, on the policy, on earlier requests or on the uploaded component's contents.
# `tests/fuzz/schemathesis.toml` lets `positive_data_acceptance` accept 422 for that reason; any
# other 422 (`invalid-request`: a rule about the request's own fields) is a rule the document
# should state, and this check reports it.
SEMANTIC_422 = {
    "invalid-param",
    "invalid-matrix",
    "rejected",
    "idempotency-key-reused",
    "policy-rejected",
    "policy-load",
    "config-invalid",
}


@schemathesis.check
def schema_valid_not_malformed(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case):
    """A request the document allows is refused only for reasons the document cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        problem = response.json()
    except ValueError:
        problem = None
    kind = problem.get("type", "") if isinstance(problem, dict) else ""
    kind = kind.rsplit("/", 1)[-1]
    if kind in SEMANTIC_422:
        return None
    detail = problem.get("detail") if isinstance(problem, dict) else response.text[:200]
    raise AssertionError(
        f"A request the document allows was refused as malformed (422 {kind or 'without a problem type'}): "
        f"{detail}\nThe document should state this rule (a pattern, bounds, an enum), or the server accept it."
    )


# Path parameters are generated as text, so their percent-escapes always decode to UTF-8: a path
# segment that is not UTF-8 (`/v1/jobs/%FF`) is never sent by schemathesis itself. This check
# sends one per path parameter of each operation, once per run, and requires a documented status
# code with a documented content type, and no 5xx.
NON_UTF8_SEGMENT = "%FF"
_probed: set[tuple[str, str]] = set()
_probed_lock = threading.Lock()


@schemathesis.check
def non_utf8_path_segment(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case):
    """A path segment that is not UTF-8 gets a documented answer."""
    names = sorted(case.path_parameters or {})
    with _probed_lock:
        todo = [name for name in names if (case.operation.label, name) not in _probed]
        _probed.update((case.operation.label, name) for name in todo)
    for name in todo:
        # The case's path and body with that one segment, and without its metadata: it is no
        # generated case, and its query could be refused before the path is read.
        probe = schemathesis.Case(
            operation=case.operation,
            method=case.method,
            path=case.path,
            path_parameters={**case.path_parameters, name: NON_UTF8_SEGMENT},
            body=case.body,
            media_type=case.media_type,
        )
        # With the run's token, whatever the case sent: the answer should be about the path.
        token = os.environ.get("REEF_FUZZ_TOKEN")
        answer = probe.call(headers={"Authorization": f"Bearer {token}"} if token else None)
        curl = probe.as_curl_command(headers={"Authorization": "Bearer $TOKEN"} if token else None)
        documented = case.operation.responses.find_by_status_code(answer.status_code)
        content_type = (answer.headers.get("content-type") or [""])[0].split(";")[0].strip()
        problems = []
        if answer.status_code >= 500:
            problems.append(f"a server error ({answer.status_code})")
        if documented is None:
            problems.append(f"an undocumented status code ({answer.status_code})")
        else:
            media_types = [m.split(";")[0].strip() for m in (documented.definition.get("content") or {})]
            if media_types and content_type not in media_types:
                problems.append(
                    f"an undocumented content type for {answer.status_code} ({content_type or 'none'}; "
                    f"documented: {', '.join(media_types)})"
                )
        if problems:
            raise AssertionError(
                f"`{name}` = {NON_UTF8_SEGMENT} (not UTF-8) got {' and '.join(problems)}: "
                f"{answer.text[:200]!r}\n\nReproduce with:\n\n    {curl}"
            )
    return None
