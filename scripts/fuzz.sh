#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS each, default 60).
# Stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags. Each run's full output goes to
# fuzz/logs/TARGET.log; only its summary is printed, or the log's end when the target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for t in $(cargo fuzz list); do
  echo "== fuzz $t for ${secs}s"
  mkdir -p "corpus/$t"
  if ! cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
      >"logs/$t.log" 2>&1; then
    tail -n 60 "logs/$t.log"
    echo "fuzz target $t failed: the crashing input is under fuzz/artifacts/$t" >&2
    exit 1
  fi
  grep -E "^Done|DONE" "logs/$t.log" | tail -n 2
done
