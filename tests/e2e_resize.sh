#!/usr/bin/env bash
# e2e_resize.sh — the real ./huginn chat inside tmux (private socket,
# isolated XDG dirs) resized as a user does: idle with CJK and emoji in the
# transcript, while a plain, a speculative and a diffusion reply stream, with
# the help, browse and a long input line (cursor in the middle) on screen,
# at tiny sizes (1x1, one column, one row) and very wide (300x80), and while
# $EDITOR runs (Ctrl-X Ctrl-E).  After every resize the screen must come to
# hold exactly the frame the chat drew at the new size (HUGINN_CANVAS_DUMP:
# no stale fragment of the old layout), with the input line, the status bar
# and a whole separator where they belong, nothing past the right edge; the
# transcript as a fresh chat at that size shows it; the chat never crashes
# and still answers keys.  Polls with timeouts; prints "e2e_resize: N passed,
# M failed".
set -u
cd "$(dirname "$0")/.."
E2E_NAME=e2e_resize
. tests/lib/e2e_tmux.sh
S=e2e
rsz() { T resize-window -t "$S" -x "$1" -y "$2"; }
trimmed() { sed 's/ *$//'; }

# settled W H [SECONDS]: poll until the pane is WxH and shows exactly the
# frame the chat drew last (its canvas, written to $TMP/frame), a frame of H
# rows no wider than W.  On timeout SHOT holds the difference.
SHOT=""
settled() {
  local w=$1 h=$2 i s f
  for ((i = 0; i < ${3:-20} * 10; i++)); do
    if [ "$(T display-message -p -t "$S" '#{pane_width}x#{pane_height}')" = "${w}x$h" ] && [ -s "$TMP/frame" ]; then
      f=$(trimmed < "$TMP/frame")
      s=$(screen | trimmed)
      if [ "$s" = "$f" ] && [ "$(wc -l < "$TMP/frame")" = "$h" ] && [ "$(trimmed < "$TMP/frame" | wc -L)" -le "$w" ]; then
        SHOT=$s; return 0
      fi
    fi
    sleep 0.1
  done
  SHOT="pane $(T display-message -p -t "$S" '#{pane_width}x#{pane_height}'), want ${w}x$h; screen vs the chat's frame:
$(diff <(screen | trimmed) <(trimmed < "$TMP/frame"))
screen:
$(screen)"
  return 1
}

# layout_ok W H [MODE]: nothing past the right edge; the input line (its
# first row, "› ") right above the status bar, which is at the bottom; a
# separator (if any) whole.  MODE help: the help box covers the middle rows
# (the help on screen, edge and rows only); long: a long input line may have
# scrolled its first row away (the status bar at the bottom, under an input
# row).
WHY=""
layout_ok() {
  local w=$1 h=$2 mode=${3:-} s in_row st_row
  s=$(screen)
  WHY=""
  [ "$(printf '%s\n' "$s" | trimmed | wc -L)" -le "$w" ] || WHY="$WHY text past the right edge;"
  [ "$(printf '%s\n' "$s" | wc -l)" -le "$h" ] || WHY="$WHY more than $h rows;"
  if [ "$mode" = help ]; then
    [ "$w" -lt 14 ] || printf '%s\n' "$s" | grep -qF "huginn keys" || WHY="$WHY the help is not on screen;"
    [ -z "$WHY" ]; return
  fi
  in_row=$(printf '%s\n' "$s" | grep -n "^›" | tail -1 | cut -d: -f1)
  [ -n "$in_row" ] || [ "$mode" = long ] || WHY="$WHY no input line;"
  if [ "$h" -ge 2 ] && [ "$w" -ge 13 ]; then
    st_row=$(printf '%s\n' "$s" | grep -n "^ demo-huginn" | tail -1 | cut -d: -f1)
    if [ -z "$st_row" ] || [ "$st_row" -lt $((h - 2)) ]; then WHY="$WHY no status bar at the bottom;"
    elif [ -n "$in_row" ] && { [ "$in_row" -ge "$st_row" ] || { [ $((st_row - in_row)) -gt 1 ] \
           && printf '%s\n' "$s" | sed -n "$((in_row + 1)),$((st_row - 1))p" | grep -qv "^  "; }; }; then
      WHY="$WHY the input (row $in_row) is not right above the status bar (row $st_row);"
    elif [ -z "$in_row" ] && ! printf '%s\n' "$s" | sed -n "$((st_row - 1))p" | grep -q "^  [^ ]"; then
      WHY="$WHY no input row above the status bar;"
    fi
  fi
  if [ "$w" -ge 12 ] && printf '%s\n' "$s" | grep "^─" | trimmed | grep -qvE "^── compute ─*( heat [0-9 -]+ steps─*)?$"; then
    WHY="$WHY separator drawn over;"
  fi
  [ -z "$WHY" ]
}

# check NAME W H [help]: resize, then settled and layout_ok.
check() {
  local name=$1 w=$2 h=$3 help=${4:-}
  rsz "$w" "$h"
  if ! settled "$w" "$h"; then bad "$name: ${w}x$h redrawn whole" "$SHOT"; return 1; fi
  if [ "$w" -ge 2 ] && [ "$h" -ge 2 ] && ! layout_ok "$w" "$h" "$help"; then bad "$name: ${w}x$h layout:$WHY" "$SHOT"; return 1; fi
  return 0
}
# sweep NAME [help] SIZE...: check each size; one ok for the lot.
sweep() {
  local name=$1 help=$2 sz n=0; shift 2
  for sz in "$@"; do check "$name" "${sz%x*}" "${sz#*x}" "$help" || return 1; n=$((n + 1)); done
  ok "$name: $n sizes ($*), each redrawn whole with its layout"
}
alive() {   # the chat still answers: a command changes the status bar
  T send-keys -t "$S" -l "/steps $1"; T send-keys -t "$S" Enter
  wait_for "steps $1 │" 10
}

# the external editor: records its file, waits for the go file, then writes
cat > "$TMP/ed.sh" <<EOF
#!/bin/sh
echo "\$1" > "$TMP/ed.path"
i=0; while [ ! -e "$TMP/ed.go" ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
printf 'edited in the editor 编辑' > "\$1"
EOF
chmod +x "$TMP/ed.sh"

T -f /dev/null new-session -d -s "$S" -x 100 -y 30 \
  "cd '$ROOT' && VISUAL='$TMP/ed.sh' HUGINN_CANVAS_DUMP='$TMP/frame' '$BIN' chat --model '$MODEL' --greedy --seed 1 --max-new-tokens 24 2>>'$TMP/stderr'; echo EXITED rc=\$?; sleep 60"
T set-option -t "$S" window-size manual >/dev/null 2>&1

if wait_for "Type a message" 20; then ok "the chat starts"; else bad "the chat starts" "$(screen)"; finish; fi

# 1. idle, empty chat: small sizes keep the input line and a whole separator
sweep "empty chat" "" 40x8 20x5 10x3 60x1 30x2 100x30

# 2. a reply with wide characters, then idle resizes down to 1x1 and back
rsz 100 30
T send-keys -t "$S" -l "漢字かな交じり文 and emoji 🐦🦅 — tell me about ravens 乌鸦"
T send-keys -t "$S" Enter
if wait_re "steps/token · [0-9.]+ tok/s" 60 && wait_for "› Type a message" 10; then ok "a reply to CJK and emoji"
else bad "a reply to CJK and emoji" "$(screen)"; fi
sweep "idle" "" 72x22 40x8 20x5 10x3 4x12 1x10 2x2 60x1 300x80 31x12 100x30
# 1x1: the pane shows the chat's frame, its one cell blank (ncurses cannot
# write a one-column screen's bottom-right cell: it sent a stray character)
if check "idle" 1 1 && [ -z "$(screen | trimmed)" ]; then ok "1x1: the pane is the chat's frame, nothing stray"
else bad "1x1: the pane is the chat's frame, nothing stray" "${SHOT:-$(screen)}"; fi
rsz 100 30
if settled 100 30 && alive 30; then ok "1x1 and back: no crash, the chat answers"; else bad "1x1 and back" "$SHOT"; fi

# 2b. a notice at 50x10 (no room for the gauge): on its own row, right
#     above the input (shown 8 s: asked again if the chat was held up)
rsz 50 10
shown=0
for steps in 31 29 27; do
  T send-keys -t "$S" -l "/steps $steps"; T send-keys -t "$S" Enter
  wait_for "steps $steps │" 10 >/dev/null
  if settled 50 10 && printf '%s\n' "$SHOT" | grep -n "^›" | cut -d: -f1 | {
       read -r r && [ -n "$r" ] && [ "$(printf '%s\n' "$SHOT" | sed -n "$((r - 1))p" | trimmed)" = " steps $steps" ]; }; then
    shown=1; break
  fi
done
if [ $shown = 1 ]; then ok "50x10: the notice on its own row above the input"; else bad "50x10: the notice on its own row above the input" "$SHOT"; fi
rsz 100 30

# 3. the transcript as a fresh chat at the same size lays it out
cmp_fresh() {
  local w=$1 h=$2 a b
  rsz "$w" "$h"; settled "$w" "$h" || { bad "fresh comparison: ${w}x$h redrawn whole" "$SHOT"; return; }
  a=$(screen | sed '/^── compute/,$d' | trimmed)
  T -f /dev/null new-session -d -s fresh -x "$w" -y "$h" \
    "cd '$ROOT' && '$BIN' chat --model '$MODEL' --resume 2>>'$TMP/stderr'; sleep 60"
  T set-option -t fresh window-size manual >/dev/null 2>&1
  local i
  b=""
  for ((i = 0; i < 100; i++)); do
    b=$(T capture-pane -p -t fresh | sed '/^── compute/,$d' | trimmed)
    [ "$a" = "$b" ] && break
    sleep 0.2
  done
  T kill-session -t fresh
  if [ "$a" = "$b" ]; then ok "resized to ${w}x$h, the transcript reads as in a fresh chat of that size"
  else bad "resized to ${w}x$h, the transcript differs from a fresh chat's" "$(diff <(echo "$a") <(echo "$b"))"; fi
}
cmp_fresh 37 14
cmp_fresh 100 30

# 4. while a reply streams (plain, speculative, diffusion): rapid resizes,
#    then stopped; the screen is the chat's last frame, the layout whole
stream_resizes() {
  local gen=$1
  T send-keys -t "$S" -l "/gen $gen"; T send-keys -t "$S" Enter
  T send-keys -t "$S" -l "Tell me a long story about ravens 鸦 and crows 🦅"; T send-keys -t "$S" Enter
  if ! wait_for "replying" 20 || ! wait_re "▌ huginn  [0-9]+ tokens? ·" 60; then bad "$gen: a reply starts" "$(screen)"; return; fi
  local sz i
  for i in 1 2; do
    for sz in 72x22 40x8 20x5 10x3 1x1 3x30 60x1 300x80 31x12 15x16; do rsz "${sz%x*}" "${sz#*x}"; sleep 0.05; done
  done
  rsz 57 19
  local streaming=0
  screen | grep -qF "replying" && streaming=1
  T send-keys -t "$S" C-c
  if wait_for "Type a message" 30 && check "$gen reply" 57 19; then
    ok "$gen: resized 20 times while streaming (still streaming at the end: $streaming), redrawn whole"
    check "$gen reply" 100 30 >/dev/null || bad "$gen: back to 100x30" "$SHOT"
  else bad "$gen: resized while streaming" "$SHOT"; fi
}
T send-keys -t "$S" -l "/steps 128"; T send-keys -t "$S" Enter
T send-keys -t "$S" -l "/criterion none"; T send-keys -t "$S" Enter
wait_for "steps 128 │" 10 >/dev/null
stream_resizes plain
stream_resizes "speculative 64 4"
stream_resizes "diffusion 8"
T send-keys -t "$S" -l "/gen plain"; T send-keys -t "$S" Enter
if alive 4; then ok "the chat still answers after the streaming resizes"; else bad "the chat answers after the streaming resizes" "$(screen)"; fi

# 5. the help overlay open: shown at every size, descriptions wrapped
T send-keys -t "$S" F1
if wait_for "huginn keys" 10; then
  sweep "help open" help 60x20 30x10 22x6 14x4 14x1 100x30
  if wait_for "latent-diff, minp-kl, cosine" 5; then ok "help: a long description wraps inside the box, not cut"
  else bad "help: a long description wraps inside the box" "$(screen)"; fi
  T send-keys -t "$S" Escape
  wait_gone "huginn keys" 5 >/dev/null
else bad "F1 opens the help" "$(screen)"; fi

# 6. browse and heatmap on
T send-keys -t "$S" M-b
if wait_for "[browse]" 10; then
  sweep "browse" "" 80x24 40x12 20x6 100x30
  T send-keys -t "$S" Escape
  wait_gone "[browse]" 5 >/dev/null
  T send-keys -t "$S" M-h
  wait_gone "[heatmap]" 5 >/dev/null
else bad "Alt-b browses" "$(screen)"; fi

# 7. a long input line, the cursor in the middle (on the Q): it stays on
#    its character at every width
long="$(printf 'word%02d ' $(seq 1 40))中文字符 Q 表情🐦🦅 $(printf 'tail%02d ' $(seq 1 30))"
T send-keys -t "$S" -l "$long"
back=$(( $(printf '%s' "${long#*Q}" | wc -m) + 1 ))
keys=""; for i in $(seq 1 $back); do keys="$keys Left"; done
T send-keys -t "$S" $keys
cursor_on_q() {
  local x y line
  x=$(T display-message -p -t "$S" '#{cursor_x}'); y=$(T display-message -p -t "$S" '#{cursor_y}')
  line=$(screen | sed -n "$((y + 1))p")
  case "$line" in *Q*) ;; *) return 1;; esac
  [ "$(printf '%s' "${line%%Q*}" | wc -L)" = "$x" ]
}
n=0
for sz in 100x30 60x20 23x12 9x12 6x8 100x30; do
  check "long input" "${sz%x*}" "${sz#*x}" long || break
  if ! cursor_on_q; then bad "long input: ${sz}: the cursor is on its character" "$(screen)"; break; fi
  n=$((n + 1))
done
[ $n = 6 ] && ok "long input, cursor in the middle: on its character at 6 sizes, down to 6x8"
T send-keys -t "$S" C-c
wait_for "Type a message" 5 >/dev/null

# 8. resized while $EDITOR runs: the edit comes back, the screen at the new size
T send-keys -t "$S" -l "abc"
T send-keys -t "$S" C-x C-e
for ((i = 0; i < 100; i++)); do [ -s "$TMP/ed.path" ] && break; sleep 0.1; done
if [ -s "$TMP/ed.path" ]; then
  rsz 50 15; sleep 0.3; rsz 45 14; sleep 0.3
  touch "$TMP/ed.go"
  if wait_for "edited in the editor 编辑" 20 && settled 45 14 && layout_ok 45 14 && [ ! -e "$(cat "$TMP/ed.path")" ]; then
    ok "resized while \$EDITOR ran: the edit is back, the chat at 45x14, the file removed"
  else bad "resized while \$EDITOR ran (file left: $(ls "$(cat "$TMP/ed.path")" 2>/dev/null))" "$SHOT
$(screen)"; fi
else bad "Ctrl-X Ctrl-E starts \$EDITOR" "$(screen)"; fi
T send-keys -t "$S" C-c
rm -f "$(cat "$TMP/ed.path" 2>/dev/null)"

# 9. quit: exit status 0
rsz 100 30
T send-keys -t "$S" C-c; T send-keys -t "$S" C-d
if wait_for "EXITED rc=0" 10; then ok "Ctrl-D quits with status 0 after it all"; else bad "Ctrl-D quits with status 0" "$(screen)"; fi
