#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS TARGET... — run each libFuzzer harness for SECONDS
# on its corpus (BUILD_DIR/corpus/TARGET, seeded from tests/fixtures and
# tests/fuzz/seeds), with its dictionary; report executions per target; exit
# non-zero when any target finds a crash, leak, UB report or timeout (the
# reproducer is left in BUILD_DIR/artifacts).
set -u
cd "$(dirname "$0")/../.."
B=$1 SECS=$2; shift 2
mkdir -p "$B/artifacts" "$B/logs"
seed() { # seed TARGET FILES...
  local t=$1; shift
  mkdir -p "$B/corpus/$t"
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$B/corpus/$t/$(echo "$f" | tr / _)"; done
  [ -d "tests/fuzz/seeds/$t" ] && cp -n tests/fuzz/seeds/$t/* "$B/corpus/$t/" 2>/dev/null
  return 0
}
fail=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for bin in "$@"; do
  t=${bin#fuzz_}
  maxlen=65536 dict=tests/fuzz/json.dict
  case $t in
    checkpoint) mkdir -p "$B/corpus/$t"; maxlen=1048576 ;;  # the harness seeds itself
    tokenizer_load) seed "$t" tests/fixtures/*/tokenizer.json tests/fixtures/tokenizers/*.tokenizer.json; maxlen=262144 ;;
    tokenize) seed "$t" tests/fixtures/tokenizers/tiny.golden.json tests/fixtures/tiny-huginn.chat.json; maxlen=8192; dict=tests/fuzz/text.dict ;;
    detokenize) mkdir -p "$B/corpus/$t"; maxlen=4096; dict= ;;  # the harness seeds itself (golden ids)
    session) seed "$t" ;;
    serve_request) seed "$t"; maxlen=16384 ;;
    theme) seed "$t" themes/*.json ;;
    sse) seed "$t" ;;   # tests/fuzz/seeds/sse: huginn and plain streams, a model list
  esac
  log=$B/logs/$t.log
  "$B/$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen -print_final_stats=1 \
    ${dict:+-dict=$dict} -artifact_prefix="$B/artifacts/$t-" "$B/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" | tail -1)
  if [ $rc -ne 0 ] || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$log"; then
    fail=1
    echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} executions; see $log"
    grep -E "ERROR:|runtime error:|SUMMARY|Test unit written" "$log" | head -8
  else
    echo "fuzz $t: ${execs:-?} executions in ${SECS}s, corpus $(ls "$B/corpus/$t" | wc -l) inputs, no finding"
  fi
done
exit $fail
