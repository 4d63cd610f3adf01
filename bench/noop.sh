#!/usr/bin/env bash
# A no-op re-sync of many small files against `find SRC -type f -printf
# '%s %T@\n'` over the same tree (the issue asks: at most 3x find's time).
# The first sync (which uploads every file into a local store) is not timed.
# Usage: bench/noop.sh [FILES]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/grsync-noop.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/grsync" ./cmd/grsync
echo "making $n files..."
python3 - "$work/src" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    if i < 100: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "w") as f: f.write("file %d\n" % i)
PY
echo "first sync (not timed)..."
start=$(date +%s)
"$work/grsync" --quiet --local-store "$work/store" --db "$work/db" --jobs 8 "$work/src" > "$work/first.txt" 2>&1 || { cat "$work/first.txt"; exit 1; }
echo "  took $(( $(date +%s) - start )) s: $(grep uploaded "$work/first.txt")"
best() { # best of 5 wall-clock runs, in seconds
  local b=999999 t
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%e' -o "$work/t" "$@" > /dev/null 2>&1
    t=$(tail -1 "$work/t")
    b=$(awk -v a="$b" -v c="$t" 'BEGIN{print (c<a)?c:a}')
  done
  echo "$b"
}
find_s=$(best find "$work/src" -type f -printf '%s %T@\n')
sync_s=$(best "$work/grsync" --quiet --local-store "$work/store" --db "$work/db" "$work/src")
"$work/grsync" --local-store "$work/store" --db "$work/db" "$work/src" 2>/dev/null | grep -E 'uploaded|unchanged'
echo "files=$n find=${find_s}s grsync_noop=${sync_s}s ratio=$(awk -v a="$sync_s" -v b="$find_s" 'BEGIN{printf "%.2f", a/b}')"
