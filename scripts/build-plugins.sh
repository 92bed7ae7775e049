#!/usr/bin/env bash
# Builds every policy plugin in plugins/ to a WebAssembly component (wasm32-wasip2, release).
# Paths are remapped so the output does not depend on where the checkout or the cargo home
# lives: the same sources give the same bytes, which is how the embedded default policy is
# checked to be current.
#
# Usage: scripts/build-plugins.sh [--update-embedded]
#   --update-embedded  also copy the default policy to host/policy/assets/default-policy.wasm
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target list --installed | grep -qx wasm32-wasip2

export CARGO_TARGET_DIR="$root/plugins/target"
export RUSTFLAGS="--remap-path-prefix=$root=/reef --remap-path-prefix=$cargo_home=/cargo"
cargo build --manifest-path plugins/Cargo.toml --release --target wasm32-wasip2 --workspace --quiet

out="$root/plugins/target/wasm32-wasip2/release"
if [[ "${1:-}" == "--update-embedded" ]]; then
    mkdir -p host/policy/assets
    cp "$out/reef_default_policy.wasm" host/policy/assets/default-policy.wasm
    echo "updated host/policy/assets/default-policy.wasm"
fi
ls "$out"/*.wasm
