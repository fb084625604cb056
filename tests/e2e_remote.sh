#!/usr/bin/env bash
# e2e_remote.sh — `huginn chat --server URL` inside tmux against scripted fake
# OpenAI-compatible servers on 127.0.0.1 (tests/fake_openai_server.py):
# a huginn server (per-token steps and progress: the gauge, the heatmap, the
# browse panel, /steps sent), a plain vLLM-like one (steps fixed on the
# server, /steps refused in one line), HTTP 500 and 401, a stream cut short, a
# malformed chunk, Ctrl-C mid-stream (the partial reply kept), the session
# saved with its server, --api-key-file sent as a Bearer header, a refused
# connection and the usage errors; then the real `huginn serve` on the demo
# model: the reply equals `huginn run --chat --greedy` with the same seed, the
# gauge shows its steps.  Polls with timeouts; prints
# "e2e_remote: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
E2E_NAME=e2e_remote
E2E_NEEDS="tmux python3"
. tests/lib/e2e_tmux.sh
say() { T send-keys -t e2e -l "$1"; T send-keys -t e2e Enter; }
# start_server FLAVOR: its port in $PORT (bounded wait).  The server lives as
# long as this script: the EXIT trap kills it (PIDS), it exits by itself if this
# shell is gone, and 900 s is only a safety cap, far over any run.
start_server() {
  python3 tests/fake_openai_server.py --flavor "$1" --log "$TMP/$1.log" --parent $$ --lifetime 900 > "$TMP/$1.port" 2>>"$TMP/server.err" &
  PIDS+=($!)
  local i
  for i in $(seq 50); do PORT=$(head -1 "$TMP/$1.port" 2>/dev/null); [ -n "$PORT" ] && return 0; sleep 0.1; done
  return 1
}
# the request bodies a server saw, one JSON per line
bodies() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"] == "/v1/chat/completions": print(json.dumps(r["body"], sort_keys=True))' "$TMP/$1.log"; }

start_server huginn || { bad "the fake huginn server starts"; finish; }
PH=$PORT
start_server plain || { bad "the fake plain server starts"; finish; }
PP=$PORT
printf '  sk-test-123\n' > "$TMP/key"

# ------------------------------------------------------------ usage errors
out=$("$BIN" chat --server "http://127.0.0.1:$PH" --model x 2>&1); rc=$?
if [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -qF "not both"; then ok "--server with --model: one line, exit 2"
else bad "--server with --model: one line, exit 2 (rc=$rc)" "$out"; fi
out=$("$BIN" chat --server "http://127.0.0.1:$PH" --api-key-file "$TMP/none" 2>&1); rc=$?
: > "$TMP/empty"
out2=$("$BIN" chat --server "http://127.0.0.1:$PH" --api-key-file "$TMP/empty" 2>&1); rc2=$?
if [ $rc = 2 ] && [ $rc2 = 2 ] && echo "$out2" | grep -qF "holds no key" && [ "$(echo "$out$out2" | wc -l)" = 1 ]; then
  ok "an unreadable or empty --api-key-file: one line, exit 2"
else bad "an unreadable or empty --api-key-file (rc=$rc, $rc2)" "$out
$out2"; fi
out=$("$BIN" chat --remote-model m 2>&1); rc=$?
if [ $rc = 2 ] && echo "$out" | grep -qF "needs --server"; then ok "--remote-model without --server: exit 2"; else bad "--remote-model without --server" "$out"; fi

# ------------------------------------------------------- a refused connection
# a port that was free a moment ago: nothing listens there
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
out=$(printf 'hello\n' | timeout 20 "$BIN" chat --server "http://127.0.0.1:$DEAD" --plain 2>&1); rc=$?
n=$(echo "$out" | grep -c "cannot reach http://127.0.0.1:$DEAD/v1")
if [ $rc = 0 ] && [ "$n" -ge 2 ]; then ok "a refused connection: one line at start and one per message, no crash (rc 0)"
else bad "a refused connection (rc=$rc)" "$out"; fi

# ------------------------------------------------------------ a huginn server
T -f /dev/null new-session -d -s e2e -x 100 -y 30 \
  "cd '$ROOT' && '$BIN' chat --server http://127.0.0.1:$PH --api-key-file '$TMP/key' --greedy 2>>'$TMP/stderr'; echo EXITED rc=\$?; sleep 60"
T set-option -t e2e window-size manual >/dev/null 2>&1
if wait_for "Type a message" 15 && wait_for "connected to 127.0.0.1:$PH: fake-huginn (a huginn server" 5; then
  ok "the chat connects to the huginn server"
else bad "the chat connects to the huginn server" "$(screen)"; finish; fi
say "What is a raven?"
if wait_re "▌ huginn +6 tokens · 6\.17 steps/token · [0-9.]+ tok/s" 15 && wait_for "› Type a message" 10; then
  s=$(screen)
  HUGINN_SCREEN=$s
  if echo "$s" | grep -qF "Ravens are clever birds黒." && echo "$s" | grep -qE "compute \[[#.|]+\] step +1/32" \
     && echo "$s" | grep -qE "tokens +▂▅█▄▆▁ last 1" && echo "$s" | grep -qF "mode " \
     && echo "$s" | grep -qF "fake-huginn │ steps 32 │ kl 5e-4 │ cache latest-m4" && echo "$s" | grep -qF "server 127.0.0.1:$PH"; then
    ok "huginn stream: the reply, the gauge (steps of every token) and the status bar"
  else bad "huginn stream: reply, gauge and status bar" "$s"; fi
else bad "the huginn reply finishes" "$(screen)"; fi
b=$(bodies huginn | tail -1)
auth=$(grep -c '"auth": "Bearer sk-test-123"' "$TMP/huginn.log")
if echo "$b" | grep -qF '"num_steps": 32' && echo "$b" | grep -qF '"criterion": "kl"' && echo "$b" | grep -qF '"stream": true' \
   && echo "$b" | grep -qF '"model": "fake-huginn"' && [ "$auth" -ge 2 ]; then
  ok "the request carries the recurrence settings and Authorization: Bearer (from --api-key-file)"
else bad "the request to the huginn server" "$b auth=$auth"; fi

# the heatmap and the browse panel from the per-token data
T send-keys -t e2e M-b
if wait_re "token 6 of 6  «黒\.» +1 steps +id 4106" 5; then ok "browse: the token's steps and id from the server"
else bad "browse shows the server's token data" "$(screen)"; fi
T send-keys -t e2e Left
if wait_re "token 5 of 6  «» +9 steps +id 4105  kl: last 6\.17e-3, threshold 5e-4" 5; then
  ok "browse: an incomplete UTF-8 token and its convergence trace from the progress events"
else bad "browse: the trace from the progress events" "$(screen)"; fi
T send-keys -t e2e M-b   # leaves browse (Escape then "/" would read as Alt-/)
wait_for "[browse]" 1 >/dev/null; sleep 0.3

# /steps is sent, within the server's largest step count
say "/steps 200"
if wait_for "steps 128: the server allows at most 128" 5 && wait_for "steps 128 │" 5; then ok "/steps above the server's max_steps comes down to it"
else bad "/steps above the server's max_steps" "$(screen)"; fi
say "/steps 8"
wait_for "steps 8 │" 5 >/dev/null
say "Again, briefly."
if wait_re "▌ huginn +6 tokens · [0-9.]+ steps/token · [0-9.]+ tok/s" 15 && wait_for "› Type a message" 10 \
   && bodies huginn | tail -1 | grep -qF '"num_steps": 8' && screen | grep -qE "step +[0-9]+/8 "; then
  ok "/steps 8 is sent as num_steps and the gauge follows the budget"
else bad "/steps 8 is sent" "$(screen; bodies huginn | tail -1)"; fi

# a sweep: the last message again at each depth, one request per depth
say "/sweep 4,8"
if wait_re "▌ sweep · steps 8 +6 tokens" 15 && wait_for "› Type a message" 10 && screen | grep -qE "▌ sweep · steps 4 +6 tokens" \
   && [ "$(bodies huginn | tail -2 | grep -o '"num_steps": [0-9]*' | tr '\n' ' ')" = '"num_steps": 4 "num_steps": 8 ' ]; then
  ok "/sweep 4,8 on a huginn server: one request per depth"
else bad "/sweep on a huginn server" "$(screen; bodies huginn | tail -2)"; fi
say "/top-k 40"
if wait_for "/top-k: not sent to a server" 5; then ok "/top-k with a server: one line"; else bad "/top-k with a server" "$(screen)"; fi

# errors: one line each, the chat goes on
say "[500] please"
if wait_for "127.0.0.1:$PH: HTTP 500: the model fell over" 10 && wait_for "› Type a message" 5; then ok "HTTP 500 with an error object: one line"
else bad "HTTP 500: one line" "$(screen)"; fi
say "[401] please"
if wait_for "HTTP 401 (unauthorized: check --api-key-file): invalid api key" 10; then ok "HTTP 401: one line"
else bad "HTTP 401: one line" "$(screen)"; fi
say "[cut] please"
if wait_for "closed the connection mid-reply" 10 && wait_for "› Type a message" 5 && screen | grep -qF "Ravens are"; then
  ok "a stream cut short: one line, the partial reply kept"
else bad "a stream cut short" "$(screen)"; fi
say "[badjson] please"
if wait_for "malformed JSON in a streamed chunk" 10 && wait_for "› Type a message" 5; then ok "a malformed chunk: one line"
else bad "a malformed chunk: one line" "$(screen)"; fi

# Ctrl-C mid-stream keeps the partial reply
say "[slow] tell me everything"
if wait_re "[0-9]+ tokens? · [0-9.]+ steps/token  …" 15 && wait_for "caw caw caw" 10; then
  T send-keys -t e2e C-c
  if wait_for "stopped after" 5 && wait_for "› Type a message" 5; then
    s1=$(screen | grep -o "stopped after [0-9]* token")
    sleep 0.5
    s2=$(screen | grep -o "stopped after [0-9]* token")
    if [ -n "$s1" ] && [ "$s1" = "$s2" ] && screen | grep -qF "· stopped" && screen | grep -qF "caw caw"; then
      ok "Ctrl-C mid-stream: $s1, the partial reply kept"
    else bad "Ctrl-C keeps the partial reply" "$(screen)"; fi
  else bad "Ctrl-C stops the stream" "$(screen)"; fi
else bad "a slow reply starts" "$(screen)"; fi

# quit: the session is saved with its server and model
T send-keys -t e2e C-d
if wait_for "EXITED rc=0" 10; then
  sess=$(ls -t "$XDG_STATE_HOME"/huginn/sessions/*.json 2>/dev/null | head -1)
  if [ -n "$sess" ] && grep -qE "\"server\":[[:space:]]*\"http://127.0.0.1:$PH/v1\"" "$sess" && grep -qE '"model":[[:space:]]*"fake-huginn"' "$sess" \
     && grep -qF "Ravens are clever birds" "$sess" && grep -q '"steps"' "$sess" && grep -q '"stopped"' "$sess"; then
    ok "the session is saved with its server, model, steps and the stopped reply"
  else bad "the session is saved" "$(cat "$sess" 2>/dev/null | head -40)"; fi
else bad "Ctrl-D quits" "$(screen)"; fi
T kill-session -t e2e 2>/dev/null

# ---------------------------------------------------- a plain (vLLM-like) server
T -f /dev/null new-session -d -s e2e -x 100 -y 30 \
  "cd '$ROOT' && '$BIN' chat --server http://127.0.0.1:$PP/v1/ 2>>'$TMP/stderr'; echo EXITED rc=\$?; sleep 60"
T set-option -t e2e window-size manual >/dev/null 2>&1
if wait_for "Type a message" 15 && wait_for "steps: fixed on server" 5; then ok "plain server: the status bar says the steps are fixed on the server"
else bad "plain server: steps fixed on server" "$(screen)"; fi
say "Hello?"
if wait_for "Hello from a plain server." 15 && wait_re "▌ huginn · [0-9.]+ tok/s" 10 && wait_for "› Type a message" 10; then
  PLAIN_SCREEN=$(screen)
  if ! screen | grep -qF "steps/token" && screen | grep -qF "steps fixed on server (127.0.0.1:$PP is not a huginn server"; then
    ok "plain stream: the reply, no per-token steps"
  else bad "plain stream: no per-token steps" "$(screen)"; fi
else bad "plain stream: the reply" "$(screen)"; fi
b=$(bodies plain | tail -1)
if ! echo "$b" | grep -qE '"(num_steps|criterion|cache|warmstart|generator)"' && echo "$b" | grep -qF '"include_usage": true' \
   && echo "$b" | grep -qF '"model": "tomg-group-umd/huginn-0125"'; then ok "plain server: only OpenAI fields are sent"
else bad "plain server: only OpenAI fields" "$b"; fi
say "/steps 8"
if wait_for "/steps: not supported by this server" 5; then ok "/steps on a plain server: one line"; else bad "/steps on a plain server" "$(screen)"; fi
T send-keys -t e2e M-=
if wait_for "steps: fixed on server (not a huginn server" 5; then ok "Alt-= on a plain server: one line"; else bad "Alt-= on a plain server" "$(screen)"; fi
say "/export $TMP/plain.md"
if wait_for "exported" 5 && grep -qF "Server: \`http://127.0.0.1:$PP/v1\`" "$TMP/plain.md" && grep -qF "Hello from a plain server." "$TMP/plain.md"; then
  ok "/export records the server"
else bad "/export records the server" "$(screen; cat "$TMP/plain.md" 2>/dev/null)"; fi
T send-keys -t e2e C-d
wait_for "EXITED rc=0" 10 >/dev/null || bad "Ctrl-D quits (plain server)" "$(screen)"

# ------------------------------------------------ the real `huginn serve`
# the demo model served on a free port; the chat against it shows the reply
# (the same greedy text as `huginn run --chat`) with its per-token gauge
"$BIN" serve --model tests/fixtures/demo-huginn --port 0 --slots 1 2>"$TMP/serve.log" &
PIDS+=($!)
URL=""
for i in $(seq 100); do
  URL=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/serve.log" 2>/dev/null | head -1 | sed 's/listening on //')
  [ -n "$URL" ] && break; sleep 0.1
done
if [ -z "$URL" ]; then bad "huginn serve starts" "$(cat "$TMP/serve.log")"
else
  want=$("$BIN" run --model tests/fixtures/demo-huginn --chat "What is a raven?" --greedy --steps 8 --seed 7 2>/dev/null | head -1 | cut -c1-40)
  T kill-session -t e2e 2>/dev/null
  T -f /dev/null new-session -d -s e2e -x 100 -y 30 \
    "cd '$ROOT' && '$BIN' chat --server $URL --greedy --steps 8 --seed 7 2>>'$TMP/stderr'; echo EXITED rc=\$?; sleep 60"
  T set-option -t e2e window-size manual >/dev/null 2>&1
  if wait_for "Type a message" 15 && wait_re "connected to 127\.0\.0\.1:[0-9]+: demo-huginn \(a huginn server" 10; then
    ok "the chat connects to huginn serve (a huginn server)"
  else bad "the chat connects to huginn serve" "$(screen)"; fi
  say "What is a raven?"
  if wait_re "▌ huginn +[0-9]+ tokens · [0-9.]+ steps/token" 30 && wait_for "› Type a message" 10; then
    s=$(screen)
    SERVE_SCREEN=$s
    if [ -n "$want" ] && echo "$s" | tr -d '\n' | grep -qF -- "$want" && echo "$s" | grep -qE "compute \[[#.|]+\] step +[0-9]+/8" \
       && echo "$s" | grep -qE "^ tokens " && echo "$s" | grep -qF "steps 8"; then
      ok "huginn serve: the reply (= huginn run --chat --greedy) with its gauge and steps"
    else bad "huginn serve: the reply with its gauge (want: $want)" "$s"; fi
  else bad "huginn serve: a reply" "$(screen)"; fi
  T send-keys -t e2e C-d
  wait_for "EXITED rc=0" 10 >/dev/null || bad "Ctrl-D quits (huginn serve)" "$(screen)"
  T kill-session -t e2e 2>/dev/null
fi

# the fake servers last the whole test however long it takes (they used to
# exit after a fixed 90 s, and vanished mid-test on a loaded machine)
alive=0
for p in "$PH" "$PP"; do
  python3 -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/v1/models" % sys.argv[1], timeout=10).read()' "$p" 2>/dev/null && alive=$((alive + 1))
done
if [ "$alive" = 2 ]; then ok "the fake servers answer until the end of the test ($SECONDS s)"
else bad "the fake servers answer until the end of the test ($SECONDS s): $alive of 2" "$(cat "$TMP/server.err")"; fi

echo "---- huginn server:"; echo "${HUGINN_SCREEN:-}"
echo "---- huginn serve:"; echo "${SERVE_SCREEN:-}"
echo "---- plain server:"; echo "${PLAIN_SCREEN:-}"
