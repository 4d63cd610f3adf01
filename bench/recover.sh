#!/usr/bin/env bash
# Recovering a lost catalogue of FILES files (default 100000): grsync recover
# (the newest snapshot and the version records after it) against the
# inventory-only rebuild (inventory --rebuild: every records object, pack
# index and description), on a local store and on moto's S3 (STANDARD
# class, so the rebuild reads packs without a restore). Each is timed into
# a new catalogue; both give the same `ls --deleted`. The backup itself
# (two syncs: the files, then a tenth of them changed) is not timed.
# Usage: bench/recover.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/grsync-recover.XXXXXX")
moto_pid=
trap '[ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/grsync" ./cmd/grsync
g="$work/grsync"
"$g" keygen "$work/k" >/dev/null
touch_tenth() {
  python3 - "$work/src" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(0, n, 10):
    p = os.path.join(root, "d%03d" % (i % 100), "f%06d.txt" % i)
    with open(p, "a") as f: f.write("changed\n")
PY
}

secs() { /usr/bin/time -f '%e' -o "$work/t" "$@" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }; tail -1 "$work/t"; }

run() { # name, target flags...
  local name=$1; shift
  rm -rf "$work/src" && python3 - "$work/src" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    if i < 100: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "w") as f: f.write("file %d\n" % i)
PY
  local db="$work/$name.db"
  "$g" --quiet --db "$db" "$@" --encryption-key-file "$work/k" --jobs 8 "$work/src"
  touch_tenth
  "$g" --db "$db" "$@" --encryption-key-file "$work/k" "$work/src" 2>/dev/null | grep -E 'catalogue|uploaded' || true
  "$g" ls --deleted --db "$db" > "$work/$name.ls"
  local st=""
  if [[ $name == local ]]; then st=$(du -sh "$work/store" | cut -f1); fi
  local rec reb
  rec=$(secs "$g" recover --db "$work/$name-recovered.db" "$@" --encryption-key-file "$work/k")
  grep -E '^recover|recovered' "$work/out" | sed 's/^/    /'
  reb=$(secs "$g" inventory --rebuild --db "$work/$name-rebuilt.db" "$@" --encryption-key-file "$work/k")
  grep -E 'rebuilt' "$work/out" | sed 's/^/    /'
  cmp -s "$work/$name.ls" <("$g" ls --deleted --db "$work/$name-recovered.db") && same=same || same=DIFFERENT
  cmp -s "$work/$name.ls" <("$g" ls --deleted --db "$work/$name-rebuilt.db") && rsame=same || rsame=DIFFERENT
  printf '%-6s files=%d recover=%ss (ls --deleted %s) inventory-rebuild=%ss (ls --deleted %s) %s\n' "$name" "$n" "$rec" "$same" "$reb" "$rsame" "${st:+store=$st}"
}

echo "local store:"
run local --local-store "$work/store"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.2; done
python3 - "$AWS_ENDPOINT_URL" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/bench-recover", method="PUT")
urllib.request.urlopen(req).read()
PY
echo "moto S3 (STANDARD):"
run moto --bucket bench-recover --region us-east-1 --storage-class STANDARD
