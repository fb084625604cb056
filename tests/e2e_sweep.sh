#!/usr/bin/env bash
# e2e_sweep.sh — depth sweeps, traces and exports in the real ./huginn chat
# inside tmux (private socket, isolated XDG dirs, 110x60): a message, then
# /sweep 2,8,32 shows three runs under their headers; /trace writes the last
# reply's trace; Ctrl-C stops a long sweep and the chat still answers; the
# session keeps the sweeps, and `huginn export` turns it into Markdown and
# HTML.  Prints "e2e_sweep: N passed, M failed".
set -u
cd "$(dirname "$0")/.."
E2E_NAME=e2e_sweep
. tests/lib/e2e_tmux.sh
cmd() { T send-keys -t e2e -l "$1"; T send-keys -t e2e Enter; }

T -f /dev/null new-session -d -s e2e -x 110 -y 60 \
  "cd '$TMP' && '$BIN' chat --model '$MODEL' --greedy --seed 1 --max-new-tokens 16; echo EXITED rc=\$?; sleep 60"
T set-option -t e2e window-size manual >/dev/null 2>&1

if wait_for "Type a message" 20; then ok "the chat starts"; else bad "the chat starts" "$(screen)"; finish; fi
cmd "What is a raven?"
if wait_re "▌ huginn +[0-9]+ tokens? · [0-9.]+ steps/token · [0-9.]+ tok/s" 30 && wait_for "› Type a message" 10; then
  ok "a reply"
else bad "a reply" "$(screen)"; finish; fi
reply_tokens=$(screen | sed -n 's/.*▌ huginn  \([0-9]*\) tokens\{0,1\} ·.*/\1/p' | head -1)

# 1. /sweep 2,8,32: three headers, each with a reply, in order
cmd "/sweep 2,8,32"
# (persistent marks, not the notices, which fade after 8 s)
if wait_re "▌ sweep · steps 32  [0-9]+ tokens? · [0-9.]+ steps/token · [0-9.]+ tok/s" 90 && wait_for "› Type a message" 10; then
  s=$(screen)
  hdr() { echo "$s" | grep -nE "▌ sweep · steps $1  [0-9]+ tokens? · [0-9.]+ steps/token · [0-9.]+ tok/s" | head -1 | cut -d: -f1; }
  l2=$(hdr 2); l8=$(hdr 8); l32=$(hdr 32)
  text_after() { echo "$s" | sed -n "$(( $1 + 1 ))p" | sed 's/^ *//'; }
  if [ -n "$l2" ] && [ -n "$l8" ] && [ -n "$l32" ] && [ "$l2" -lt "$l8" ] && [ "$l8" -lt "$l32" ] \
     && [ -n "$(text_after "$l2")" ] && [ -n "$(text_after "$l8")" ] && [ -n "$(text_after "$l32")" ]; then
    ok "/sweep 2,8,32 shows three runs: 'sweep · steps 2/8/32' with replies ('$(text_after "$l2")' / '$(text_after "$l32")')"
  else bad "/sweep 2,8,32 shows three headers with replies (lines $l2 $l8 $l32)" "$s"; fi
  # the original reply is still there, once, above the sweep
  if [ "$(echo "$s" | grep -c "▌ huginn")" = 1 ] && [ "$(echo "$s" | grep -c "▌ you")" = 1 ]; then
    ok "the conversation keeps its one reply"
  else bad "the conversation keeps its one reply" "$s"; fi
  # the run at 2 steps uses at most 2 steps per token
  m2=$(echo "$s" | sed -n "${l2}p" | sed -n 's/.* · \([0-9.]*\) steps\/token.*/\1/p')
  if awk -v m="$m2" 'BEGIN { exit !(m > 0 && m <= 2) }'; then ok "the 2-step run took $m2 steps/token"
  else bad "the 2-step run takes at most 2 steps per token (got '$m2')" "$s"; fi
else bad "the sweep finishes" "$(screen)"; fi

# 2. /trace: one JSON line per token of the last reply
cmd "/trace $TMP/last.jsonl"
if wait_for "wrote the trace of" 10 && [ -s "$TMP/last.jsonl" ]; then
  n=$(wc -l < "$TMP/last.jsonl")
  if [ "$n" = "$reply_tokens" ] && head -1 "$TMP/last.jsonl" | grep -qE '^\{"index": 0, "id": [0-9]+, "text": ".*", "steps": [0-9]+, "exit_values": \[.*\]\}$'; then
    ok "/trace wrote $n lines, one per token of the reply"
  else bad "/trace writes one line per token ($n lines, reply has $reply_tokens tokens)" "$(head -2 "$TMP/last.jsonl")"; fi
else bad "/trace writes the file" "$(screen)"; fi
cmd "/trace $TMP"
if wait_for "/trace: $TMP: is a directory" 5; then ok "/trace to a directory: one-line error"; else bad "/trace to a directory" "$(screen)"; fi

# 3. Ctrl-C stops a long sweep; the chat still answers
cmd "/criterion none"
cmd "/sweep 256,256,256,256"
if wait_re "▌ sweep · steps 256  [0-9]+ tokens? · [0-9.]+ steps/token  …" 60; then
  T send-keys -t e2e C-c
  if wait_re "▌ sweep · steps 256  [0-9]+ tokens? · [0-9.]+ steps/token.* · stopped" 30 && wait_for "› Type a message" 10; then
    s=$(screen)
    n256=$(echo "$s" | grep -c "▌ sweep · steps 256")
    # on a loaded machine the key may land in a later run; never all four
    if [ "$n256" -ge 1 ] && [ "$n256" -lt 4 ] && echo "$s" | grep -E "▌ sweep · steps 256" | tail -1 | grep -qF "· stopped"; then
      ok "Ctrl-C stopped the sweep (in run $n256 of 4)"
    else bad "Ctrl-C stops the sweep ($n256 runs shown)" "$s"; fi
    cmd "/criterion kl"
    cmd "/steps 8"
    cmd "And a crow?"
    if wait_count "▌ huginn +[0-9]+ tokens? · [0-9.]+ steps/token · [0-9.]+ tok/s" 2 30 && wait_for "› Type a message" 10 \
       && [ "$(screen | grep -c '▌ you')" = 2 ]; then
      ok "after the stopped sweep the chat still answers"
    else bad "after the stopped sweep the chat still answers" "$(screen)"; fi
  else bad "Ctrl-C stops the sweep" "$(screen)"; fi
else bad "a long sweep starts" "$(screen)"; fi

# 4. the session keeps the sweeps (not fed to the model), export turns them into Markdown and HTML
cmd "/save $TMP/s.json"
wait_for "saved $TMP/s.json" 10 >/dev/null
if [ -s "$TMP/s.json" ]; then
  roles=$(grep -o '"role":[[:space:]]*"[a-zA-Z]*"' "$TMP/s.json" | sed 's/.*"\([a-zA-Z]*\)"$/\1/' | tr '\n' ' ')
  if echo "$roles" | grep -qxE "user Huginn sweep sweep sweep (sweep ){1,3}user Huginn "; then ok "the session holds the reply, the sweep runs, the next turn ($roles)"
  else bad "session roles: $roles"; fi
else bad "/save wrote the session" "$(screen)"; fi
cmd "/export $TMP/s.md"
if wait_for "exported $TMP/s.md" 10 && grep -q "^### Sweep 1 · steps 2$" "$TMP/s.md" && grep -q "^### Sweep 2 · steps 256$" "$TMP/s.md"; then
  ok "/export FILE.md has the sweeps"
else bad "/export FILE.md has the sweeps" "$(grep -n Sweep "$TMP/s.md" 2>&1)"; fi

cmd "/export $TMP/chat.html"
wait_for "exported $TMP/chat.html (HTML)" 10 >/dev/null

T send-keys -t e2e C-d
if wait_for "EXITED rc=0" 10; then ok "Ctrl-D quits"; else bad "Ctrl-D quits" "$(screen)"; fi

# 5. HTML: /export FILE.html and `huginn export SESSION FILE.html` parse, one data-steps element per reply token
if "$BIN" export "$TMP/s.json" "$TMP/cli.html" && [ -s "$TMP/cli.html" ] && [ -s "$TMP/chat.html" ]; then
  ok "huginn export SESSION.json FILE.html and /export FILE.html write pages"
  if command -v python3 >/dev/null; then
    for page in chat.html cli.html; do
      if out=$(python3 - "$TMP/$page" "$TMP/s.json" <<'PY'
import html.parser, json, sys
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.steps, self.errors, self.fetch = [], 0, [], 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-steps" in a:
            self.steps += 1
            if not a["data-steps"].isdigit(): self.errors.append("data-steps=%r" % a["data-steps"])
        if "src" in a or "href" in a: self.fetch += 1
        if tag not in VOID: self.stack.append(tag)
    def handle_startendtag(self, tag, attrs): self.errors.append("self-closing <%s/>" % tag)
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag: self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
        else: self.stack.pop()
page = open(sys.argv[1], encoding="utf-8").read()
p = P(); p.feed(page); p.close()
sess = json.load(open(sys.argv[2]))
want = sum(len(m.get("ids", [])) for m in sess["messages"] if m["role"] in ("Huginn", "sweep"))
if page.count("<script") != 1 or p.fetch or "http://" in page.replace("http://www.w3.org/2000/svg", ""): p.errors.append("not self-contained")
if p.stack: p.errors.append("unclosed: %s" % p.stack)
if p.steps != want: p.errors.append("%d data-steps elements, %d reply tokens" % (p.steps, want))
print("; ".join(p.errors) if p.errors else "%d data-steps elements = %d reply tokens" % (p.steps, want))
sys.exit(1 if p.errors else 0)
PY
); then ok "$page parses (python3 html.parser): $out"; else bad "$page parses: $out"; fi
    done
  else echo "skip - python3 missing: the pages are checked by test_ui_export only"; fi
else bad "huginn export SESSION.json FILE.html"; fi
