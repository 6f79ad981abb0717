#!/bin/sh
# Builds the libFuzzer target without cargo-fuzz and runs it for $1 seconds (default 600).
set -eu
cd "$(dirname "$0")"
secs=${1:-600}
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions" \
    cargo +nightly build --release --target x86_64-unknown-linux-gnu --bin load
mkdir -p corpus/load artifacts/load
cases=../../shared/compose-conformance/cases
if [ -d "$cases" ] && [ -z "$(ls -A corpus/load)" ]; then
    i=0
    find "$cases" -name '*.y*ml' | while IFS= read -r f; do i=$((i+1)); cp "$f" "corpus/load/seed$i"; done
fi
exec ./target/x86_64-unknown-linux-gnu/release/load corpus/load regressions \
    -artifact_prefix=artifacts/load/ -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192
