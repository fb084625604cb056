#!/usr/bin/env bash
# e2e_bench.sh — `make bench`'s script (tests/bench_cpu.sh) on the tiny shape:
# a line per figure with numbers in it (decode and prefill of each weight
# type, the wave passes), and its errors: no binary, a bad BENCH_THREADS, a
# weight type bench refuses, no weight type at all.  Prints "e2e_bench: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${HUGINN_BIN:-$ROOT/huginn}
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && { echo "---- output:"; echo "$2"; echo "----"; }; }
if [ ! -x "$BIN" ]; then echo "e2e_bench: $BIN missing (make huginn)"; echo "e2e_bench: 0 passed, 1 failed"; exit 1; fi

out=$(BENCH_SHAPE=tiny BENCH_WEIGHTS="q8_0 bf16" sh tests/bench_cpu.sh "$BIN" 2>&1)
rc=$?
[ $rc = 0 ] && ok "bench_cpu.sh on the tiny shape exits 0" || bad "bench_cpu.sh exit $rc" "$out"
echo "$out" | grep -q '^cpu: .* shape tiny · 2 threads' && ok "names the CPU, shape and threads" || bad "cpu line" "$out"
for w in q8_0 bf16; do
  echo "$out" | grep -Eq "^decode  $w +[a-z0-9]+ +[0-9]+\.[0-9]+ s/token  bound [0-9]+\.[0-9]+ s \(probe [0-9.]+/[0-9.]+ GB/s\) +[0-9]+% of the bound$" &&
    ok "decode $w: s/token, bound, probes, ratio" || bad "decode $w line" "$out"
  echo "$out" | grep -Eq "^prefill $w +[a-z0-9]+ +[0-9]+\.[0-9] GFLOP/s.*FMA peak [0-9]+\.[0-9] GFLOP/s +[0-9]+% of the peak$" &&
    ok "prefill $w: GFLOP/s, peak, ratio" || bad "prefill $w line" "$out"
done
echo "$out" | grep -Eq '^passes  q8_0 +width:ms 1:[0-9.]+ 2:[0-9.]+ 4:[0-9.]+ 8:[0-9.]+ 16:[0-9.]+  \(4 positions cost [0-9.]+x one\)$' &&
  ok "wave passes for widths 1..16 with the 4/1 ratio" || bad "passes line" "$out"

out=$(sh tests/bench_cpu.sh /nonexistent/huginn 2>&1)
rc=$?
[ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q 'no such executable' &&
  ok "a missing binary: one line, exit 2" || bad "missing binary (exit $rc)" "$out"
out=$(BENCH_THREADS=two sh tests/bench_cpu.sh "$BIN" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'BENCH_THREADS must be a number' && ok "BENCH_THREADS=two: exit 2" ||
  bad "bad BENCH_THREADS (exit $rc)" "$out"
out=$(BENCH_WEIGHTS=" " sh tests/bench_cpu.sh "$BIN" 2>&1)
rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'BENCH_WEIGHTS names no weight type' && ok "an empty BENCH_WEIGHTS: exit 2" ||
  bad "empty BENCH_WEIGHTS (exit $rc)" "$out"
out=$(BENCH_SHAPE=tiny BENCH_WEIGHTS=f64 BENCH_WAVES=0 sh tests/bench_cpu.sh "$BIN" 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q '^bench_cpu.sh: huginn bench .*f64' && ok "a weight type bench refuses: its error, exit 1" ||
  bad "BENCH_WEIGHTS=f64 (exit $rc)" "$out"

echo "e2e_bench: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
