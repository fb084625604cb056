#!/usr/bin/env bash
# e2e_install.sh — `make install PREFIX=<temp>`: the files land where they
# should; the installed huginn, run from / with no --model, opens the
# installed demo model (and so does a copy elsewhere, through the compiled-in
# data directory); --version names the kernels; bash completion offers
# subcommands and values; `make uninstall` leaves nothing behind.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "$2"; }
T=$(mktemp -d /tmp/huginn-install.XXXXXX)
P=$T/prefix
finish() {
  make -s --no-print-directory all >/dev/null 2>&1 # back to the default data directory
  rm -rf "$T"
  echo "e2e_install: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit $?
}
trap finish EXIT
export HOME=$T/home XDG_STATE_HOME=$T/state XDG_CONFIG_HOME=$T/config XDG_CACHE_HOME=$T/cache

if out=$(make -s --no-print-directory install PREFIX="$P" 2>&1); then ok "make install PREFIX=$P"
else bad "make install" "$out"; exit 1; fi
missing=
for f in bin/huginn share/man/man1/huginn.1 share/huginn/themes/default.json share/huginn/themes/light.json \
         share/huginn/demo/default.txt share/huginn/demo-huginn/config.json share/huginn/demo-huginn/model.safetensors \
         share/huginn/demo-huginn/tokenizer.json share/bash-completion/completions/huginn share/zsh/site-functions/_huginn; do
  [ -f "$P/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "binary, man page, themes, demo script and model, completions installed" || bad "installed files missing:$missing"

out=$(cd / && timeout 60 "$P/bin/huginn" run --chat Hi --max-new-tokens 4 2>&1); rc=$?
[ $rc = 0 ] && [ -n "$out" ] && ok "from /: installed huginn run --chat Hi uses the installed demo model ('$(echo $out | head -c 40)')" \
  || bad "installed huginn run --chat Hi from / (exit $rc)" "$out"
mkdir -p "$T/elsewhere" && cp "$P/bin/huginn" "$T/elsewhere/huginn"
out=$(cd / && timeout 60 "$T/elsewhere/huginn" run --chat Hi --max-new-tokens 2 2>&1); rc=$?
[ $rc = 0 ] && ok "a copy outside the prefix finds the data through the compiled-in DATADIR" || bad "copy outside the prefix (exit $rc)" "$out"
out=$(cd / && printf 'Hi\n' | timeout 60 "$P/bin/huginn" chat --plain --max-new-tokens 3 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "tokens" && ok "installed huginn chat (plain) with no --model" || bad "installed chat --plain (exit $rc)" "$out"

v=$("$P/bin/huginn" --version)
echo "$v" | grep -qE "^huginn [0-9]" && echo "$v" | grep -qE "^kernels: [a-z0-9]+" && ok "--version: $(echo $v)" || bad "--version" "$v"
man -l "$P/share/man/man1/huginn.1" >/dev/null 2>&1 || command -v man >/dev/null || true

# bash completion: subcommands, options and values
comp() { # comp WORDS...: COMPREPLY for completing the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _huginn; echo "${COMPREPLY[*]}"' _ \
    "$P/share/bash-completion/completions/huginn" "$@"
}
c1=$(comp huginn r) c2=$(comp huginn run --crit) c3=$(comp huginn run --criterion "") c4=$(comp huginn chat --cache latest)
c5=$(comp huginn run --weights q) c6=$(HUGINN_THEMES= comp huginn chat --theme l)
if [ "$c1" = run ] && [ "$c2" = --criterion ] && echo "$c3" | grep -q "argmax-stability" && echo "$c4" | grep -q "latest-m4-compress-s16" \
   && [ "$c5" = q8_0 ] && echo "$c6" | grep -q light; then ok "bash completion: commands, options, criteria, caches, weights, themes"
else bad "bash completion" "r:'$c1' --crit:'$c2' criterion:'$c3' cache:'$c4' weights:'$c5' theme:'$c6'"; fi
if command -v zsh >/dev/null; then
  zsh -n "$P/share/zsh/site-functions/_huginn" && ok "zsh completion parses" || bad "zsh completion parses"
fi

if out=$(make -s --no-print-directory uninstall PREFIX="$P" 2>&1); then
  left=$( [ -e "$P" ] && find "$P" -mindepth 1 )
  [ -z "$left" ] && ok "make uninstall leaves nothing behind" || bad "make uninstall left:" "$left"
else bad "make uninstall" "$out"; fi
