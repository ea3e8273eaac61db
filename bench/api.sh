#!/usr/bin/env bash
# Management API latency: 500 create+describe pairs through the official SDK against `strait serve`
# in its own network namespace. Needs root and target/release/strait (or $STRAIT_BIN).
# Last line: p50_ms=X p99_ms=Y
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tests/api/bench_api.py
