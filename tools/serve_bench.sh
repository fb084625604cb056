#!/usr/bin/env bash
# serve_bench.sh BIN SLOTS CLIENTS [REQUESTS] [MODEL] — throughput of
# `huginn serve`: CLIENTS concurrent clients each send REQUESTS (default 4)
# greedy completions of 48 tokens at num_steps 32 (ignore_eos: exactly 48);
# prints the tokens generated, the wall time and the
# tokens per second over all clients.
set -u
BIN=$1 SLOTS=$2 CLIENTS=$3 REQS=${4:-4} MODEL=${5:-$(dirname "$0")/../tests/fixtures/demo-huginn}
T=$(mktemp -d /tmp/huginn-sbench.XXXXXX)
"$BIN" serve --model "$MODEL" --port 0 --slots "$SLOTS" 2>"$T/log" & S=$!
trap 'kill $S 2>/dev/null; wait $S 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$T/log" | head -1); [ -n "$URL" ] && break; sleep 0.1; done
[ -n "$URL" ] || { cat "$T/log"; exit 1; }
client() { # client N
  for r in $(seq "$REQS"); do
    curl -s -m 120 -H 'Content-Type: application/json' --data-binary \
      "{\"prompt\":[$((100 + $1)),$((200 + r)),300,400],\"max_tokens\":48,\"num_steps\":32,\"temperature\":0,\"init_scale\":0,\"ignore_eos\":true}" \
      "$URL/v1/completions" | grep -o '"completion_tokens":[0-9]*' | grep -o '[0-9]*$'
  done > "$T/c$1"
}
client 0 >/dev/null # warm up
t0=$(date +%s%N)
P=()
for c in $(seq "$CLIENTS"); do client "$c" & P+=($!); done
wait "${P[@]}"
t1=$(date +%s%N)
tok=$(cat "$T"/c[1-9]* | awk '{s += $1} END {print s + 0}')
awk -v tok="$tok" -v ns=$((t1 - t0)) -v s="$SLOTS" -v c="$CLIENTS" \
  'BEGIN {printf "slots %d, clients %d: %d tokens in %.3f s = %.1f tokens/s\n", s, c, tok, ns / 1e9, tok / (ns / 1e9)}'
