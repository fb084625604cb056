#!/usr/bin/env bash
# Run every cmocka suite and end-to-end script; print a total line.
# usage: tests/run_all.sh BIN... -- SCRIPT...
# HUGINN_TEST_RUNNER (e.g. "qemu-aarch64 -L /") runs each BIN through it.
set -u
read -r -a runner <<< "${HUGINN_TEST_RUNNER:-}"
passed=0 failed=0 bad=()
bins=() scripts=() in_scripts=0
for a in "$@"; do
  if [ "$a" = "--" ]; then in_scripts=1; continue; fi
  if [ $in_scripts = 1 ]; then scripts+=("$a"); else bins+=("$a"); fi
done
log=$(mktemp)
for t in "${bins[@]}"; do
  echo "== $t"
  "${runner[@]}" "$t" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
  f=$(sed -n 's/^ \([0-9]*\) FAILED TEST(S)/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ]; then bad+=("$t"); [ -z "$f" ] && failed=$((failed + 1)); fi
done
for s in "${scripts[@]}"; do
  [ -e "$s" ] || continue
  echo "== $s"
  bash "$s" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  p=$(echo "$line" | sed -n 's/.*\b\([0-9]\+\) passed.*/\1/p')
  f=$(echo "$line" | sed -n 's/.* \([0-9]\+\) failed.*/\1/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ]; then bad+=("$s"); [ -z "$f" ] || [ "${f:-0}" = 0 ] && failed=$((failed + 1)); fi
done
rm -f "$log"
[ ${#bad[@]} -gt 0 ] && echo "failing: ${bad[*]}"
echo "$passed passed, $failed failed"
[ ${#bad[@]} -eq 0 ]
