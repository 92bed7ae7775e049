"""Schemathesis hooks of scripts/fuzz-api.

`PUT /v1/policies/{name}` takes an `application/wasm` body. Schemathesis has no strategy for that
media type of its own, so this registers one that mixes:

- random bytes, empty or not;
- the WebAssembly preambles (core module and component) alone or followed by garbage;
- real policy components, read from the files and directories named in `REEF_FUZZ_WASM`
  (separated by `:`; the script names the embedded default policy and the built plugins);
- real components cut short, with one byte changed, or with bytes appended.

Real components make some uploads pass validation (201), so that the versions they create feed
activate, shadow, canary, promote, abort and delete; the rest exercise the rejection paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

MODULE_PREAMBLE = b"\x00asm\x01\x00\x00\x00"
COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"


def _real_components() -> list[bytes]:
    found: dict[str, bytes] = {}
    for entry in filter(None, os.environ.get("REEF_FUZZ_WASM", "").split(os.pathsep)):
        path = Path(entry)
        files = sorted(path.glob("*.wasm")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                # Keyed by name: the embedded default and the built default are the same module.
                found.setdefault(file.name, file.read_bytes())
    # Sorted by name, so that a fixed seed draws the same components on every machine.
    return [found[name] for name in sorted(found)]


@st.composite
def _mutated(draw: st.DrawFn, components: list[bytes]) -> bytes:
    base = draw(st.sampled_from(components))
    how = draw(st.sampled_from(["truncate", "flip", "append"]))
    if how == "truncate":
        return base[: draw(st.integers(min_value=0, max_value=len(base) - 1))]
    if how == "flip":
        data = bytearray(base)
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[at] ^= draw(st.integers(min_value=1, max_value=255))
        return bytes(data)
    return base + draw(st.binary(min_size=1, max_size=64))


def wasm_bodies() -> st.SearchStrategy[bytes]:
    components = _real_components()
    options = [
        st.binary(max_size=2048),
        st.sampled_from([b"", MODULE_PREAMBLE, COMPONENT_PREAMBLE]),
        st.tuples(st.sampled_from([MODULE_PREAMBLE, COMPONENT_PREAMBLE]), st.binary(max_size=256)).map(
            lambda pair: pair[0] + pair[1]
        ),
    ]
    if components:
        options += [st.sampled_from(components), _mutated(components)]
    return st.one_of(*options)


schemathesis.openapi.media_type("application/wasm", wasm_bodies())
