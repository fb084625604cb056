#!/usr/bin/env bash
# e2e_tui.sh — the real ./huginn chat inside tmux (private socket, isolated
# XDG dirs, 100x30): a reply with gauge and status bar, hotkeys, the status
# bar's context figures during a speculative reply, Ctrl-C of a
# long reply, heatmap and help, resize, quit with the terminal restored and
# the session autosaved; then --resume of a hostile session file (repaired)
# and SIGTERM during a reply (terminal restored, saved, exit 143).  The
# program's stderr goes to a file that must hold no sanitizer report.  Polls with timeouts; prints "e2e_tui: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
E2E_NAME=e2e_tui
. tests/lib/e2e_tmux.sh
status_rows() { screen | tail -n 3; }

T -f /dev/null new-session -d -s e2e -x 100 -y 30 \
  "cd '$ROOT' && '$BIN' chat --model '$MODEL' --greedy --seed 1 --max-new-tokens 48 2>>'$TMP/stderr'; echo EXITED rc=\$?; sleep 60"
T set-option -t e2e window-size manual >/dev/null 2>&1

# 1. a message, its reply, the gauge and the status bar
if wait_for "Type a message" 20; then ok "the chat starts"; else bad "the chat starts" "$(screen)"; finish; fi
T send-keys -t e2e -l "What is a raven?"
T send-keys -t e2e Enter
if wait_re "▌ huginn +[0-9]+ tokens? · [0-9.]+ steps/token · [0-9.]+ tok/s" 30 && wait_for "› Type a message" 10; then
  s=$(screen)
  reply=$(echo "$s" | awk '/▌ huginn/ {getline; print; exit}' | sed 's/^ *//')
  if echo "$s" | grep -qE "▌ huginn  [0-9]+ tokens?" && [ -n "$reply" ] \
     && echo "$s" | grep -qE "compute \[[#.|]+\] step +[0-9]+/32" && echo "$s" | grep -qE "tokens +[▁▂▃▄▅▆▇█]+ last" \
     && echo "$s" | grep -qF "steps 32 │ kl 5e-4 │ cache latest-m4 │ warm off │ greedy" && echo "$s" | grep -qE "ctx [0-9]+/256" \
     && echo "$s" | grep -qE "KV [0-9.]+ (B|KiB|MiB)"; then
    ok "reply ('$reply'), gauge and status bar on screen"
  else bad "reply, gauge and status bar on screen" "$s"; fi
else bad "the reply finishes" "$(screen)"; fi

# 2. hotkeys change the status bar
T send-keys -t e2e M-=
if wait_for "steps 33 │" 5; then ok "Alt-= makes it steps 33"; else bad "Alt-= makes it steps 33" "$(screen)"; fi
T send-keys -t e2e M-c
if wait_for "│ argmax-stability 5 │" 5 && ! status_rows | grep -qF "kl 5e-4"; then ok "Alt-c cycles the criterion (kl -> argmax-stability)"
else bad "Alt-c cycles the criterion" "$(screen)"; fi

# 2b. a speculative reply is one engine call: the status bar's ctx and KV
#     still follow it (they stood at the previous figures, 0 on a first
#     turn).  /regen (the conversation stays as long), drafts at 256 steps
#     one at a time: a slow reply, stopped once the count has risen.
T send-keys -t e2e -l "/gen speculative 256 1"; T send-keys -t e2e Enter
if wait_for "spec D256×K1" 5; then
  T send-keys -t e2e -l "/regen"; T send-keys -t e2e Enter
  seen="" last="" rose=0 kv0=0 started=0
  now() { echo $(( $(date +%s%N) / 1000000 )); }
  t0=$(now)
  while [ $(now) -lt $((t0 + 60000)) ]; do
    s=$(screen)
    if echo "$s" | grep -qF "replying"; then started=1
    elif [ "$started" = 1 ] || [ $(now) -gt $((t0 + 10000)) ]; then break
    else sleep 0.02; continue; fi
    c=$(echo "$s" | tail -n 3 | grep -oE "ctx [0-9]+/256" | grep -oE "[0-9]+/" | tr -d /)
    echo "$s" | tail -n 3 | grep -qF "KV 0 B" && kv0=1
    if [ -n "$c" ] && [ "$c" != "$last" ]; then
      [ -n "$last" ] && [ "$c" -gt "$last" ] && rose=1
      seen="$seen $c"; last=$c
    fi
    [ "$rose" = 1 ] && break
    sleep 0.02
  done
  screen | grep -qF "replying" && T send-keys -t e2e C-c
  if wait_for "Type a message" 20 && [ "$rose" = 1 ] && [ "$kv0" = 0 ]; then
    ok "the status bar's ctx follows a speculative reply (ctx seen:$seen)"
  else bad "the status bar's ctx follows a speculative reply (ctx seen:$seen, KV 0 B seen: $kv0)" "$(screen)"; fi
  T send-keys -t e2e -l "/gen plain"; T send-keys -t e2e Enter
  wait_gone "spec D256×K1" 5 >/dev/null
else bad "/gen speculative 256 1" "$(screen)"; fi

# 3. heatmap and help overlay
T send-keys -t e2e M-h
if wait_for "heat " 5 && wait_for "[heatmap]" 5; then ok "Alt-h shows the heatmap legend"; else bad "Alt-h shows the heatmap legend" "$(screen)"; fi
T send-keys -t e2e F1
if wait_for "huginn keys" 5 && wait_for "Alt-=, F6" 5; then ok "F1 opens the help from the key table"; else bad "F1 opens the help" "$(screen)"; fi
T send-keys -t e2e Escape
wait_gone "huginn keys" 5 >/dev/null

# 4. Ctrl-C stops a long reply; the app still answers
T send-keys -t e2e -l "/steps 256"; T send-keys -t e2e Enter
T send-keys -t e2e -l "/criterion none"; T send-keys -t e2e Enter
wait_for "steps 256 │" 5 >/dev/null
T send-keys -t e2e -l "Tell me a long story about ravens."
T send-keys -t e2e Enter
if wait_for "replying" 10 && wait_re "[0-9]+ tokens? · [0-9.]+ steps/token  …" 60; then
  T send-keys -t e2e C-c
  if wait_for "stopped after" 10 && wait_for "Type a message" 10; then
    n1=$(screen | grep -c "· stopped")
    s1=$(screen | grep -o "stopped after [0-9]* token")
    sleep 1
    s2=$(screen | grep -o "stopped after [0-9]* token")
    T send-keys -t e2e -l "/steps 4"; T send-keys -t e2e Enter
    if [ "$n1" -ge 1 ] && [ "$s1" = "$s2" ] && wait_for "steps 4 │" 5; then ok "Ctrl-C stopped the reply ($s1) and the app still answers"
    else bad "Ctrl-C stopped the reply and the app still answers" "$(screen)"; fi
  else bad "Ctrl-C stops the reply" "$(screen)"; fi
else bad "a long reply starts" "$(screen)"; fi

# 5. resize re-lays out everything (polled until the new layout is there:
#    right after the resize tmux shows the old frame cut to 72x22, which
#    already has a separator but no status bar)
T resize-window -t e2e -x 72 -y 22
relaid() { s=$(screen); echo "$s" | tail -n 3 | grep -qF "steps 4 │" && echo "$s" | grep -q "^── compute"; }
end=$(( $(date +%s%N) / 1000000 + 20000 ))
until relaid || [ $(( $(date +%s%N) / 1000000 )) -ge $end ]; do sleep 0.1; done
if relaid; then
  rows=$(echo "$s" | wc -l)
  widest=$(echo "$s" | sed 's/ *$//' | wc -L)
  sep=$(echo "$s" | grep -n "^── compute" | cut -d: -f1)
  if [ "$rows" -le 22 ] && [ "$widest" -le 72 ] && [ "$sep" -ge 8 ] && [ "$sep" -le 16 ] \
     && echo "$s" | tail -n 3 | grep -qF "steps 4 │" && echo "$s" | grep -q "^› " && echo "$s" | grep -q "▌ huginn"; then
    ok "resize to 72x22 re-lays out transcript, gauge, input and status bar"
  else bad "resize redraws the layout (rows=$rows widest=$widest separator at $sep)" "$s"; fi
else bad "resize redraws the layout" "$(screen)"; fi
T resize-window -t e2e -x 100 -y 30

# 6. quit: the terminal is restored and the session saved
T send-keys -t e2e C-d
if wait_for "EXITED rc=0" 10; then
  alt=$(T display-message -p -t e2e '#{alternate_on}')
  cur=$(T display-message -p -t e2e '#{cursor_flag}')
  sess=$(ls "$XDG_STATE_HOME"/huginn/sessions/*.json 2>/dev/null | head -1)
  if [ "$alt" = 0 ] && [ "$cur" = 1 ] && ! screen | grep -qF "── compute"; then ok "Ctrl-D quits and restores the terminal"
  else bad "the terminal is restored (alternate_on=$alt cursor=$cur)" "$(screen)"; fi
  if [ -n "$sess" ] && grep -qF "What is a raven?" "$sess" && grep -q '"steps"' "$sess" && [ -s "$XDG_STATE_HOME/huginn/history" ]; then
    ok "session autosaved ($(basename "$sess")) and history kept"
  else bad "session autosaved" "$(ls -R "$XDG_STATE_HOME")"; fi
else bad "Ctrl-D quits" "$(screen)"; fi

# 7. --resume of a hostile session file: repaired with a notice, still answers;
#    SIGTERM during a reply restores the terminal, saves and exits 143
T kill-session -t e2e 2>/dev/null
S=$XDG_STATE_HOME/huginn/sessions
printf '{"messages": [{"role": "user", "content": "cut \342\200"}, {"role": "Huginn", "content": "ok", "ids": [1], "steps": [2147483647], "offsets": [0]}, {"role": "wizard", "content": "boo"}]}' > "$S/29991231-000000-1.json"
touch -d '+1 hour' "$S/29991231-000000-1.json"
T -f /dev/null new-session -d -s e2e -x 100 -y 30 \
  "cd '$ROOT' && sh -c 'echo \$\$ > \"$TMP/pid\"; exec \"$BIN\" chat --model \"$MODEL\" --resume --greedy --max-new-tokens 200 2>>\"$TMP/stderr\"'; echo EXITED2 rc=\$?; sleep 60"
if wait_for "repaired" 20 && wait_for "Type a message" 10; then
  s=$(screen)
  if echo "$s" | grep -qF "cut �" && ! echo "$s" | grep -qF "boo" && ! echo "$s" | grep -qE "[0-9]{4,}(\.[0-9]+)? steps"; then
    ok "a hostile session is repaired on --resume (cut UTF-8, steps INT_MAX, unknown role)"
  else bad "a hostile session is repaired on --resume" "$s"; fi
  T send-keys -t e2e -l "/steps 256"; T send-keys -t e2e Enter
  T send-keys -t e2e -l "/criterion none"; T send-keys -t e2e Enter
  wait_for "steps 256 │" 5 >/dev/null
  T send-keys -t e2e -l "$(printf 'Tell me a long story \342\200')"
  T send-keys -t e2e Enter
  if wait_for "replying" 20 && wait_re "[0-9]+ tokens? · [0-9.]+ steps/token  …" 60; then
    kill -TERM "$(cat "$TMP/pid")"
    if wait_for "EXITED2 rc=143" 15; then
      alt=$(T display-message -p -t e2e '#{alternate_on}')
      if [ "$alt" = 0 ] && grep -qF "Tell me a long story" "$S/29991231-000000-1.json" \
         && grep -q '"stopped"' "$S/29991231-000000-1.json"; then
        ok "SIGTERM during a reply: terminal restored, conversation saved, exit 143"
      else bad "SIGTERM: terminal restored and saved (alternate_on=$alt)" "$(screen; cat "$S/29991231-000000-1.json")"; fi
    else bad "SIGTERM ends the chat with 143" "$(screen)"; fi
  else bad "a reply to a message ending in a cut UTF-8 sequence" "$(screen)"; fi
else bad "--resume of a hostile session" "$(screen)"; fi
