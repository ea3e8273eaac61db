#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs unit, interop, API, fuzz and bench checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --workspace --locked
cargo test --release --workspace --locked
python3 -m pytest -v -ra tests/
bash scripts/fuzz.sh
for b in bench/*.sh; do
  echo "== $b"
  bash "$b"
done
