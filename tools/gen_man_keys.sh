#!/usr/bin/env bash
# Regenerate the KEYS section of man/huginn.1 from the key table (ui/keys.c):
# everything between the lines '.\" BEGIN KEYS' and '.\" END KEYS'.
# usage: tools/gen_man_keys.sh [--check]   (--check: exit 1 when out of date)
set -euo pipefail
cd "$(dirname "$0")/.."
man=man/huginn.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -x ./huginn ] && ./huginn chat --keys-man > "$tmp/keys" 2>/dev/null; then :; else
  printf '#include "keys.h"\nint main(void) { uk_man(stdout); return 0; }\n' > "$tmp/gen.c"
  ${CC:-cc} -std=gnu11 -Iui -o "$tmp/gen" "$tmp/gen.c" ui/keys.c
  "$tmp/gen" > "$tmp/keys"
fi
grep -q '^\.\\" BEGIN KEYS$' "$man" && grep -q '^\.\\" END KEYS$' "$man" || {
  echo "gen_man_keys: $man lacks the BEGIN KEYS / END KEYS markers" >&2; exit 2; }
awk -v keys="$tmp/keys" '
  /^\.\\" BEGIN KEYS$/ { print; while ((getline l < keys) > 0) print l; skip = 1; next }
  /^\.\\" END KEYS$/   { skip = 0 }
  !skip { print }' "$man" > "$tmp/man"
if [ "${1:-}" = --check ]; then
  cmp -s "$man" "$tmp/man" || { echo "gen_man_keys: $man KEYS section is out of date" >&2; exit 1; }
  exit 0
fi
cmp -s "$man" "$tmp/man" || cp "$tmp/man" "$man"
echo "gen_man_keys: $man KEYS section up to date"
