#!/usr/bin/env bash
# Throughput benchmark: builds the workspace in release and runs the `throughput` binary
# (tests/e2e/src/bin/throughput.rs), which pushes trivial `/bin/true` jobs through reef's HTTP API
# and compares the rate with `xargs -P C` running the same commands directly.
#
# Usage: scripts/bench-throughput.sh [--jobs N] [--concurrency C] [--clients K]
# Works with or without CARGO_TARGET_DIR set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --workspace --bins

# Ask cargo where the target directory is, so CARGO_TARGET_DIR and config overrides are honoured.
metadata="$(cargo metadata --format-version 1 --no-deps)"
if command -v python3 >/dev/null 2>&1; then
    target_dir="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
        <<<"$metadata")"
else
    target_dir="$(sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p' <<<"$metadata")"
fi
if [[ -z "$target_dir" ]]; then
    echo "bench-throughput: could not find the target directory in cargo metadata" >&2
    exit 1
fi

exec "$target_dir/release/throughput" "$@"
