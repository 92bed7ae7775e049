#!/usr/bin/env bash
# Policy hot-swap benchmark: builds the workspace and the plugins in release and runs the
# `policy_swap` binary (tests/e2e/src/bin/policy_swap.rs): upload-to-active latency of each
# plugin, re-activation of stored versions, and decision latency under load with and without
# swaps.
#
# Usage: scripts/bench-policy-swap.sh [--swaps N] [--jobs M]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --workspace --bins
bash scripts/build-plugins.sh >/dev/null
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
exec "$target_dir/release/policy_swap" "$@"
