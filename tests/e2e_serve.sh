#!/usr/bin/env bash
# e2e_serve.sh — `huginn serve` on the demo model, on a free port of
# 127.0.0.1: the official openai npm client streams a greedy chat completion
# and gets huginn run's text, token by token with the huginn data; 8
# concurrent clients all finish; a client dropped mid-stream (or mid-wait)
# frees its slot; bad requests get their 4xx; --api-key-file; SIGTERM stops
# it cleanly.  The openai package is installed once into build/node (skipped,
# with the reason, when node/npm or the registry are not there).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${HUGINN_BIN:-$ROOT/huginn}
MODEL=tests/fixtures/demo-huginn
passed=0 failed=0 skipped=0
ok()   { passed=$((passed + 1)); echo "ok   - $1"; }
bad()  { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "$2" | head -20; }
skip() { skipped=$((skipped + 1)); echo "skip - $1"; }
T=$(mktemp -d /tmp/huginn-serve.XXXXXX)
PIDS=()
finish() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${HUGINN_E2E_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
  echo "e2e_serve: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
trap finish EXIT
export HOME=$T/home XDG_CACHE_HOME=$T/cache

. "$ROOT/tests/lib/e2e_wait.sh"   # poll SECONDS CMD...
gone() { ! kill -0 "$1" 2>/dev/null; }
# start_server NAME ARGS...: starts huginn serve, sets SPID and URL (or fails)
start_server() {
  local name=$1; shift
  "$BIN" serve --model "$MODEL" --port 0 "$@" 2>"$T/$name.log" &
  SPID=$!
  PIDS+=("$SPID")
  URL=
  for _ in $(seq 150); do
    URL=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$T/$name.log" | head -1 | sed 's/listening on //')
    [ -n "$URL" ] && return 0
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
# stop_server PID: SIGTERM, then its exit status (124 when it did not stop within 30 s)
stop_server() {
  kill -TERM "$1" 2>/dev/null
  poll 30 gone "$1"
  if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; wait "$1" 2>/dev/null; return 124; fi
  wait "$1"
}
# post PATH JSON [curl args]: prints the body, then the status on the last line
post() {
  local path=$1 body=$2; shift 2
  curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' "$@" --data-binary "$body" "$URL$path"
}
status_of() { tail -n 1 <<< "$1"; }
health() { curl -s -m 5 "$URL/health"; }
idle_slots() { health | sed -n 's/.*"slots_idle":\([0-9]*\).*/\1/p'; }
is_idle() { [ "$(idle_slots)" = "$1" ]; }
# wait_idle N: up to 30 s for N idle slots
wait_idle() { poll 30 is_idle "$1"; }

if ! command -v curl >/dev/null; then skip "curl is not installed (make deps installs it)"; exit 0; fi

# ------------------------------------------------------------- the server
if start_server main --slots 2; then ok "serve --port 0 --slots 2: listening on $URL"
else bad "huginn serve did not start" "$(cat "$T/main.log")"; exit 1; fi
SERVER=$SPID

h=$(health)
case $h in *'"status":"ok"'*'"slots":2'*'"slots_idle":2'*) ok "GET /health: $h" ;; *) bad "GET /health" "$h" ;; esac
m=$(curl -s -m 5 "$URL/v1/models")
case $m in *'"object":"list"'*'"id":"demo-huginn"'*'"owned_by":"huginn"'*'"num_steps_default":8'*'"max_steps":'*)
  ok "GET /v1/models names demo-huginn with its step defaults" ;; *) bad "GET /v1/models" "$m" ;; esac

# --------------------------------------------- (a) the official openai client
PROMPT="Tell me about ravens."
want_chat=$("$BIN" run --model "$MODEL" --chat "$PROMPT" --greedy --steps 6 --max-new-tokens 40 --seed 5 2>/dev/null)
want_text=$("$BIN" run --model "$MODEL" --prompt "Once upon a time" --greedy --steps 12 --max-new-tokens 24 --seed 9 2>/dev/null)
NODE_DIR=$ROOT/build/node
node_ok=
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  skip "the openai npm client: node/npm are not installed (make deps installs them)"
elif [ -f "$NODE_DIR/node_modules/openai/package.json" ] ||
     timeout 120 npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error openai@4 >"$T/npm.log" 2>&1; then
  node_ok=1
else
  skip "the openai npm client: npm install openai@4 failed (offline?): $(tail -1 "$T/npm.log")"
fi
if [ -n "$node_ok" ]; then
  cat > "$T/client.cjs" <<'EOF'
const OpenAI = require('openai');
const [url, mode, prompt, steps, maxTokens, seed] = process.argv.slice(2);
const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 30000 });
(async () => {
  if (mode === 'chat') {
    const stream = await client.chat.completions.create({
      model: 'demo-huginn', messages: [{ role: 'user', content: prompt }], stream: true,
      temperature: 0, max_tokens: +maxTokens, seed: +seed, num_steps: +steps });
    let text = '', tokens = 0, withHuginn = 0, usage = null, finish = null, role = null, bad = 0;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content !== undefined) text += c.delta.content;
      if (chunk.huginn && chunk.huginn.token_id !== undefined) {
        tokens++;
        if (chunk.huginn.steps === +steps && chunk.huginn.num_steps === +steps && 'exit' in chunk.huginn) withHuginn++;
        else bad++;
      }
      if (c.finish_reason) { finish = c.finish_reason; usage = chunk.usage; }
    }
    console.log(JSON.stringify({ text, tokens, withHuginn, bad, usage, finish, role }));
  } else {
    const r = await client.completions.create({
      model: 'demo-huginn', prompt, temperature: 0, max_tokens: +maxTokens, seed: +seed, num_steps: +steps });
    console.log(JSON.stringify({ text: r.choices[0].text, usage: r.usage, finish: r.choices[0].finish_reason,
                                 steps: r.huginn.steps }));
  }
})().catch(e => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
EOF
  jget() { node -e 'const o=JSON.parse(process.argv[1]); const v=process.argv[2].split(".").reduce((a,k)=>a==null?a:a[k],o); process.stdout.write(typeof v==="string"?v:JSON.stringify(v))' "$1" "$2"; }
  out=$(NODE_PATH=$NODE_DIR/node_modules timeout 60 node "$T/client.cjs" "$URL" chat "$PROMPT" 6 40 5 2>&1)
  got=$(jget "$out" text 2>/dev/null)
  if [ -n "$want_chat" ] && [ "$got" = "$want_chat" ]; then
    ok "openai npm client, streamed greedy chat = huginn run --chat --greedy ('$(echo "$want_chat" | head -c 40)…')"
  else bad "streamed chat text differs from huginn run" "want: $want_chat"$'\n'"got:  $out"; fi
  tokens=$(jget "$out" tokens 2>/dev/null) with=$(jget "$out" withHuginn 2>/dev/null)
  ct=$(jget "$out" usage.completion_tokens 2>/dev/null) ms=$(jget "$out" usage.mean_steps 2>/dev/null)
  if [ -n "$tokens" ] && [ "$tokens" -gt 0 ] && [ "$tokens" = "$with" ] && [ "$tokens" = "$ct" ] && [ "$ms" = 6 ] &&
     [ "$(jget "$out" role)" = assistant ] && [ -n "$(jget "$out" finish)" ]; then
    ok "one chunk per token ($tokens), each with huginn {token_id, steps, exit, num_steps}; usage and finish_reason"
  else bad "stream chunks and usage" "$out"; fi
  out=$(NODE_PATH=$NODE_DIR/node_modules timeout 60 node "$T/client.cjs" "$URL" text "Once upon a time" 12 24 9 2>&1)
  got=$(jget "$out" text 2>/dev/null)
  fin=$(jget "$out" finish 2>/dev/null) n=$(jget "$out" usage.completion_tokens 2>/dev/null)
  if [ -n "$want_text" ] && [ "$got" = "$want_text" ] && { [ "$fin" = stop ] || { [ "$fin" = length ] && [ "$n" = 24 ]; }; }; then
    ok "openai npm client, whole greedy completion = huginn run --prompt --greedy"
  else bad "completion text differs from huginn run" "want: $want_text"$'\n'"got:  $out"; fi
fi

# a progress comment arrives while a slow token is computed, and curl sees SSE
out=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"stream":true,"max_tokens":3,"num_steps":256,"temperature":0}')
if grep -q '^: {"object":"huginn.progress","huginn":{"step":' <<< "$out" && grep -q '^data: \[DONE\]' <<< "$out" &&
   [ "$(grep -c '"token_id"' <<< "$out")" = 3 ]; then ok "progress comments while computing; 3 token chunks; data: [DONE]"
else bad "progress comments / [DONE]" "$(head -c 600 <<< "$out")"; fi

# an exit criterion: every token chunk carries the criterion's value
out=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"What is a raven?"}],"stream":true,"max_tokens":12,"num_steps":32,"criterion":"kl","temperature":0}')
nex=$(grep -c '"steps":[0-9]*,"exit":[0-9]' <<< "$out")
[ "$nex" -gt 0 ] && [ "$nex" = "$(grep -c '"token_id"' <<< "$out")" ] && ok "criterion kl: each of $nex token chunks has its exit value" \
  || bad "exit values with a criterion" "$(head -c 600 <<< "$out")"

# a stop string cuts the reply where it first appears
if [ -n "$node_ok" ] && [ ${#want_chat} -gt 20 ]; then
  stop=${want_chat:12:4}
  esc=$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$stop")
  r=$(post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$PROMPT\"}],\"temperature\":0,\"max_tokens\":40,\"seed\":5,\"num_steps\":6,\"stop\":[$esc]}")
  got=$(jget "$(head -n -1 <<< "$r")" choices.0.message.content 2>/dev/null)
  fin=$(jget "$(head -n -1 <<< "$r")" choices.0.finish_reason 2>/dev/null)
  [ "$got" = "${want_chat%%"$stop"*}" ] && [ "$fin" = stop ] && ok "stop [$esc] cuts the reply before it (finish_reason stop)" \
    || bad "stop string" "stop $esc, want '${want_chat%%"$stop"*}', got '$got' ($fin)"
fi

# ------------------------------------------------ (b) 8 concurrent clients
for i in $(seq 8); do
  s=$([ $((i % 2)) = 0 ] && echo true || echo false)
  curl -s -m 40 -H 'Content-Type: application/json' \
    --data-binary "{\"messages\":[{\"role\":\"user\",\"content\":\"Question $i about birds?\"}],\"max_tokens\":24,\"stream\":$s,\"temperature\":0.8,\"seed\":$i}" \
    "$URL/v1/chat/completions" > "$T/c$i.out" 2>&1 &
  CP[$i]=$!
done
done_ok=0
for i in $(seq 8); do
  wait "${CP[$i]}" && { grep -q '^data: \[DONE\]' "$T/c$i.out" || grep -q '"object":"chat.completion"' "$T/c$i.out"; } &&
    grep -q '"finish_reason":"\(stop\|length\)"' "$T/c$i.out" && done_ok=$((done_ok + 1))
done
[ $done_ok = 8 ] && ok "8 concurrent clients on 2 slots all finished" || bad "$done_ok of 8 concurrent clients finished" "$(head -c 300 "$T/c1.out")"
wait_idle 2 && ok "both slots idle again" || bad "slots not idle after the concurrent clients: $(health)"

# ------------------------------------------- (c) clients that go away
long='{"messages":[{"role":"user","content":"Write a long story."}],"max_tokens":200,"num_steps":256,"stream":true}'
curl -s -N -m 30 -H 'Content-Type: application/json' --data-binary "$long" "$URL/v1/chat/completions" > "$T/drop.out" 2>&1 & D=$!
poll 60 grep -q '"token_id"' "$T/drop.out"   # the first tokens are out
kill "$D" 2>/dev/null; wait "$D" 2>/dev/null
got_some=$(grep -c '"token_id"' "$T/drop.out")
if [ "$got_some" -gt 0 ] && ! grep -q '\[DONE\]' "$T/drop.out" && wait_idle 2; then
  ok "a client dropped mid-stream (after $got_some tokens) frees its slot"
else bad "dropped stream: $got_some tokens, health $(health)"; fi
curl -s -m 1.5 -H 'Content-Type: application/json' --data-binary "${long/\"stream\":true/\"stream\":false}" "$URL/v1/chat/completions" >/dev/null 2>&1
wait_idle 2 && ok "a client dropped while waiting for a whole reply frees its slot" || bad "dropped whole reply: $(health)"
# two long streams take both slots; a third waits in the queue and goes away
curl -s -m 20 -H 'Content-Type: application/json' --data-binary "$long" "$URL/v1/chat/completions" >/dev/null 2>&1 & L1=$!
curl -s -m 20 -H 'Content-Type: application/json' --data-binary "$long" "$URL/v1/chat/completions" >/dev/null 2>&1 & L2=$!
poll 30 is_idle 0
curl -s -m 1 -H 'Content-Type: application/json' --data-binary "$long" "$URL/v1/chat/completions" >/dev/null 2>&1
unqueued() { q=$(health); case $q in *'"queued":0'*) return 0 ;; esac; return 1; }
poll 30 unqueued
kill "$L1" "$L2" 2>/dev/null; wait "$L1" "$L2" 2>/dev/null
case $q in *'"queued":0'*) wait_idle 2 && ok "a queued client that goes away leaves the queue; killed streams free both slots" \
  || bad "slots after killing the streams: $(health)" ;; *) bad "queued client still queued" "$q" ;; esac
r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}')
[ "$(status_of "$r")" = 200 ] && ok "a new request succeeds after the drops" || bad "request after drops" "$r"

# ------------------------------------------------ (d) bad requests
expect() { # expect STATUS TYPE DESCRIPTION RESPONSE
  local st; st=$(status_of "$4")
  if [ "$st" = "$1" ] && grep -q "{\"error\":{\"message\":\".*\",\"type\":\"$2\"" <<< "$4"; then ok "$3 -> $1 $2"
  else bad "$3: expected $1 $2" "$4"; fi
}
expect 400 invalid_request_error "malformed JSON" "$(post /v1/chat/completions '{"messages":[')"
expect 400 invalid_request_error "max_tokens of the wrong type" \
  "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":"ten"}')"
expect 400 invalid_request_error "num_steps out of range" "$(post /v1/completions '{"prompt":"Hi","num_steps":100000}')"
expect 400 invalid_request_error "temperature below 0" "$(post /v1/completions '{"prompt":"Hi","temperature":-1}')"
expect 400 invalid_request_error "an unknown criterion" "$(post /v1/completions '{"prompt":"Hi","criterion":"nope"}')"
longp=$(printf 'word %.0s' $(seq 400))
r=$(post /v1/completions "{\"prompt\":\"$longp\"}")
expect 400 invalid_request_error "a prompt longer than the context" "$r"
grep -q 'the context holds 256' <<< "$r" || bad "the too-long message names the context" "$r"
head -c 1100000 /dev/zero | tr '\0' ' ' > "$T/big.json"
expect 413 invalid_request_error "a body over --max-body (Content-Length)" \
  "$(curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary @"$T/big.json" "$URL/v1/chat/completions")"
expect 413 invalid_request_error "a body over --max-body (chunked upload)" \
  "$(curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.json" "$URL/v1/chat/completions")"
expect 404 invalid_request_error "an unknown path" "$(curl -s -m 5 -w '\n%{http_code}' "$URL/v1/nothing")"
expect 405 invalid_request_error "GET on /v1/chat/completions" "$(curl -s -m 5 -w '\n%{http_code}' "$URL/v1/chat/completions")"
expect 405 invalid_request_error "POST on /v1/models" "$(post /v1/models '{}')"
[ "$(idle_slots)" = 2 ] && kill -0 "$SERVER" && ok "the server is alive and idle after the bad requests" || bad "server after bad requests: $(health)"

# ------------------------------------------------ --api-key-file
printf 'sekrit-key\n' > "$T/key"
MAIN_URL=$URL
if start_server keyed --api-key-file "$T/key" --queue 0; then
  KEYED=$SPID
  expect 401 authentication_error "no Authorization header" "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}]}')"
  expect 401 authentication_error "a wrong key" "$(post /v1/completions '{"prompt":"Hi"}' -H 'Authorization: Bearer sekrit-kez')"
  expect 401 authentication_error "a key prefix" "$(curl -s -m 5 -w '\n%{http_code}' -H 'Authorization: Bearer sekrit' "$URL/v1/models")"
  r=$(post /v1/completions '{"prompt":"Hi","max_tokens":2}' -H 'Authorization: Bearer sekrit-key')
  [ "$(status_of "$r")" = 200 ] && ok "the right key (without the file's newline) -> 200" || bad "right key" "$r"
  [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] && ok "/health needs no key" || bad "/health with a key file"
  # --queue 0: while its one slot is busy, the next request is refused at once
  curl -s -N -m 30 -H 'Authorization: Bearer sekrit-key' -H 'Content-Type: application/json' --data-binary "$long" \
    "$URL/v1/chat/completions" >/dev/null 2>&1 & B=$!
  poll 30 is_idle 0
  r=$(post /v1/completions '{"prompt":"Hi","max_tokens":2}' -H 'Authorization: Bearer sekrit-key')
  kill "$B" 2>/dev/null; wait "$B" 2>/dev/null
  expect 503 server_error "a full queue (--queue 0, the slot busy)" "$r"
  stop_server "$KEYED"
else bad "serve --api-key-file did not start" "$(cat "$T/keyed.log")"; fi
: > "$T/empty"
"$BIN" serve --model "$MODEL" --port 0 --api-key-file "$T/empty" 2>"$T/err" & p=$!; PIDS+=("$p")
( sleep 10; kill -9 $p 2>/dev/null ) & w=$!
wait $p; rc=$?; kill $w 2>/dev/null
[ $rc = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] && ok "an empty key file: exit 2, '$(cat "$T/err")'" || bad "empty key file: exit $rc" "$(cat "$T/err")"
timeout 10 "$BIN" serve --model "$MODEL" --port 0 --api-key-file "$T/none" 2>"$T/err"; rc=$?
[ $rc = 2 ] && ok "a missing key file: exit 2" || bad "missing key file: exit $rc" "$(cat "$T/err")"
timeout 10 "$BIN" serve --slots 0 2>"$T/err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] && ok "--slots 0: exit 2 with one line" || bad "--slots 0: exit $rc" "$(cat "$T/err")"
timeout 10 "$BIN" serve --bogus 2>"$T/err"; rc=$?
[ $rc = 2 ] && ok "an unknown option: exit 2" || bad "unknown option: exit $rc" "$(cat "$T/err")"

# ------------------------------------------------ (e) SIGTERM
URL=$MAIN_URL
curl -s -m 20 -H 'Content-Type: application/json' --data-binary "$long" "$URL/v1/chat/completions" > "$T/term.out" 2>&1 & C=$!
poll 30 is_idle 1   # it runs
sleep 0.3
t0=$(date +%s%N)
stop_server "$SERVER"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $C
[ $rc = 0 ] && ok "SIGTERM during a stream: exit 0 in $ms ms" || bad "SIGTERM: exit $rc" "$(tail -3 "$T/main.log")"
grep -q '^data: \[DONE\]' "$T/term.out" && ok "the running stream was ended ([DONE])" || bad "stream at SIGTERM" "$(tail -c 300 "$T/term.out")"
grep -q 'stopping' "$T/main.log" && ! grep -qi 'sanitizer\|runtime error' "$T/main.log" && ok "the server said it stopped, no error" \
  || bad "server log at exit" "$(tail -5 "$T/main.log")"
