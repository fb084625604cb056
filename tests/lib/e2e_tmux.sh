# tests/lib/e2e_tmux.sh — what the chat's end-to-end scripts share, sourced
# after `cd` to the source tree with E2E_NAME set (and E2E_NEEDS, the tools
# they need, default tmux): ok/bad count the checks; the EXIT trap kills the
# private tmux server and the PIDS started, fails on a sanitizer report in
# $TMP/stderr (the chat's stderr) and prints "NAME: N passed, M failed";
# isolated XDG dirs under $TMP; T runs tmux on the private socket, screen
# prints the pane e2e; the waits of e2e_wait.sh.
ROOT=$PWD
BIN=${HUGINN_BIN:-$ROOT/huginn}
MODEL=${E2E_MODEL:-$ROOT/tests/fixtures/demo-huginn}
export LANG=C.UTF-8 LC_ALL=C.UTF-8
passed=0 failed=0
PIDS=()
ok()  { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && { echo "---- screen:"; echo "$2"; echo "----"; }; }
finish() {
  tmux -L "$SOCK" kill-server 2>/dev/null
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -s "$TMP/stderr" ] && grep -qE "Sanitizer|runtime error" "$TMP/stderr"; then
    failed=$((failed + 1)); echo "FAIL - sanitizer report on the chat's stderr:"; cat "$TMP/stderr"
  fi
  rm -rf "$TMP"
  echo "$E2E_NAME: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
for t in ${E2E_NEEDS:-tmux}; do
  if ! command -v "$t" >/dev/null; then echo "$E2E_NAME: $t missing"; echo "$E2E_NAME: 0 passed, 1 failed"; exit 1; fi
done
if [ ! -x "$BIN" ]; then echo "$E2E_NAME: $BIN missing (make huginn)"; echo "$E2E_NAME: 0 passed, 1 failed"; exit 1; fi
TMP=$(mktemp -d "/tmp/huginn-$E2E_NAME.XXXXXX")
SOCK=huginn-$E2E_NAME-$$
export XDG_STATE_HOME=$TMP/state XDG_CONFIG_HOME=$TMP/config XDG_CACHE_HOME=$TMP/cache
mkdir -p "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
trap finish EXIT

T() { tmux -L "$SOCK" "$@"; }
screen() { T capture-pane -p -t e2e 2>/dev/null; }
. "$ROOT/tests/lib/e2e_wait.sh"
