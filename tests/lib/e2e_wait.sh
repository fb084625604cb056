# tests/lib/e2e_wait.sh — the end-to-end scripts' waits, sourced by them: poll for a
# state with a deadline on the clock, and look once more after the deadline
# (a script held up past it — a loaded machine, a process stopped for a
# while — must still see a state that has come).  The tmux scripts define
# screen() (their pane's text) before using the screen waits.

# poll SECONDS CMD...: until CMD succeeds; 1 when it still fails after SECONDS
poll() {
  local end=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
  while :; do
    "$@" && return 0
    [ $(( $(date +%s%N) / 1000000 )) -lt $end ] || return 1
    sleep 0.1
  done
}
shows()     { screen | grep -qF -- "$1"; }
shows_re()  { screen | grep -qE -- "$1"; }
not_shows() { ! screen | grep -qF -- "$1"; }
count_is()  { [ "$(screen | grep -cE -- "$1")" = "$2" ]; }
# wait_for TEXT [SECONDS]: the screen shows TEXT (a fixed string); default 10 s
wait_for()   { poll "${2:-10}" shows "$1"; }
# wait_re REGEX [SECONDS]: the same for an extended regular expression
wait_re()    { poll "${2:-10}" shows_re "$1"; }
# wait_gone TEXT [SECONDS]: TEXT is no longer on the screen
wait_gone()  { poll "${2:-10}" not_shows "$1"; }
# wait_count REGEX N [SECONDS]: the screen has N lines matching REGEX
wait_count() { poll "${3:-10}" count_is "$1" "$2"; }
