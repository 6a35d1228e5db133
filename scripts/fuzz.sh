#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ for a bounded time each, starting from the committed
# seeds (fuzz/seeds/<target>/, read only) and the kept crash inputs of earlier findings
# (fuzz/regressions/<target>/, replayed first), plus a scratch corpus (fuzz/corpus/<target>/,
# gitignored) that keeps what earlier runs found.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 600 s, every target)
#
# Needs a nightly toolchain (`cargo +nightly`) and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Exits non-zero if any target crashed (panic, abort, sanitizer report, timeout
# or out-of-memory) and prints where each crash input was written (fuzz/artifacts/<target>/);
# replay one with `cargo +nightly fuzz run <target> <file>`.
#
# Environment:
#   FUZZ_KEEP_GOING=1      keep fuzzing after a crash (libFuzzer fork mode), to collect
#                          several distinct crashes in one run
#   FUZZ_SANITIZER=none    build without AddressSanitizer (faster; default: address)
#   FUZZ_SEED=N            libFuzzer's random seed (default: from the clock); CI fixes it
#   FUZZ_CODEGEN_UNITS=16  faster build, slightly slower fuzzing (default: cargo-fuzz's 1)
#   SHRINK_FUZZ_HUGE_DIMS=0       the kernels target decodes only small dimensions
#   SHRINK_FUZZ_ALLOW_NONFINITE=1 the loader targets accept Ok with NaN/Inf outputs
#                                 (both: see fuzz/fuzz_targets/common.rs; for looking past
#                                 known findings)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=(load_mlp load_encoder load_hf_bert kernels)
fi
# Build options, the same for `build` and `run` (a difference would rebuild).
build=(--sanitizer "${FUZZ_SANITIZER:-address}")
if [ -n "${FUZZ_CODEGEN_UNITS:-}" ]; then
  build+=(--codegen-units "$FUZZ_CODEGEN_UNITS")
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is needed (cargo install cargo-fuzz --locked)" >&2
  exit 2
fi

# Release with debug assertions and overflow checks (cargo-fuzz's default).
for t in "${targets[@]}"; do
  cargo +nightly fuzz build "${build[@]}" "$t"
done

extra=()
if [ -n "${FUZZ_SEED:-}" ]; then
  extra+=(-seed="$FUZZ_SEED")
fi
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
  extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

failed=()
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  before=$(ls "$artifacts")
  echo "== fuzz $t for ${secs}s"
  # The whole log goes to fuzz/artifacts/<target>.log; the summary lines to the terminal.
  set +e +o pipefail
  # The kept crash inputs (fuzz/regressions/<target>/) run first, as part of the corpus.
  regressions=()
  [ -d "fuzz/regressions/$t" ] && regressions=("fuzz/regressions/$t")
  cargo +nightly fuzz run "${build[@]}" "$t" "$corpus" "fuzz/seeds/$t" "${regressions[@]}" -- \
    -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    "${extra[@]}" 2>&1 | tee "fuzz/artifacts/$t.log" | grep --line-buffered -E \
    "^(#[0-9]+ *(INITED|DONE)|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+== ?ERROR|SUMMARY|.*panicked at|.*Test unit written|INFO: (seed corpus|fork))"
  codes=("${PIPESTATUS[@]}")
  set -e -o pipefail
  status=${codes[0]}
  new=$(comm -13 <(echo "$before") <(ls "$artifacts") | sed "s|^|$artifacts/|")
  if [ "$status" -ne 0 ] || [ -n "$new" ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); full log: fuzz/artifacts/$t.log"
    if [ -n "$new" ]; then
      echo "!! crash inputs:"
      echo "$new" | sed 's/^/   /'
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${targets[*]} (${secs}s each)"
