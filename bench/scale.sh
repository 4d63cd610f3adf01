#!/usr/bin/env bash
# How grsync's cost grows with the tree: first sync, no-op re-sync and full
# restore of 10,000 and 100,000 small files (1,000,000 with SCALE_MAX),
# compressed and encrypted to a local store; time and peak RSS for each, and
# the growth factor per 10x (10x means linear). The no-op re-sync is also
# set against `find SRC -type f -printf '%s %T@\n'` over the same tree
# (a no-op re-sync cannot do much less than that walk).
# Sources are generated on the fly under SCALE_SRC_DIR (default /dev/shm, a
# tmpfs, when writable); the catalogue, the store and the restored files
# are under BENCH_DIR (a disk), where fsync costs what it costs users.
#
# Usage: bench/scale.sh
#   env: SCALE_COUNTS ("10000 100000"), SCALE_MAX (set 1000000 to add that
#        count), SCALE_BYTES (1024, average file size), SCALE_SRC_DIR,
#        BENCH_DIR, BENCH_KEEP=1
# CI-size run: SCALE_COUNTS="1000 10000" bench/scale.sh
source "$(dirname "$0")/lib.sh"
read -r -a counts <<<"${SCALE_COUNTS:-10000 100000}"
# SCALE_MAX is added unless it is one of the counts already (each count runs once).
[ -n "${SCALE_MAX:-}" ] && [[ " ${counts[*]} " != *" $SCALE_MAX "* ]] && counts+=("$SCALE_MAX")
size=${SCALE_BYTES:-1024}
srcbase=${SCALE_SRC_DIR:-/dev/shm}
[ -d "$srcbase" ] && [ -w "$srcbase" ] || srcbase=${BENCH_DIR:-${TMPDIR:-/tmp}}

bench_init scale
srcdir=$(mktemp -d "$srcbase/grsync-scale-src.XXXXXX")
trap 'rm -rf "$srcdir"; bench_cleanup' EXIT
"$grsync" keygen "$work/key" >/dev/null

for n in "${counts[@]}"; do
  echo "== $n files of ~$size bytes" >&2
  src=$srcdir/t$n
  gen_tree "$src" "$n" "$size"
  warm "$src"
  g=("$grsync" --quiet --db "$work/db$n" --encryption-key-file "$work/key")
  measure "first.$n" "${g[@]}" --local-store "$work/store$n" "$src"
  stored=$(bytes_in "$work/store$n")
  measure "noop.$n" "${g[@]}" "$src"
  # a no-op re-sync stores nothing (the restore below checks the first sync)
  [ "$(bytes_in "$work/store$n")" = "$stored" ] || { echo "bench: the no-op re-sync of $n files stored something" >&2; exit 1; }
  measure "find.$n" find "$src" -type f -printf '%s %T@\n'
  measure "restore.$n" "${g[@]}" restore --output "$work/out$n"
  diff -rq "$src" "$work/out$n$src" >/dev/null || { echo "bench: the restore of $n files differs from the source" >&2; exit 1; }
  rm -rf "$src" "$work/out$n" "$work/store$n"
done

echo
echo "files of ~$size bytes (half text, half random), local store; grsync $(git rev-parse --short HEAD); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| files | first sync | no-op re-sync | find (walk only) | no-op/find | full restore |"
echo "|---|---|---|---|---|---|"
prev=
for n in "${counts[@]}"; do
  printf '| %s | %s | %s | %s | %s | %s |\n' "$n" "$(cell "first.$n")" "$(cell "noop.$n")" "$(cell "find.$n")" \
    "$(ratio "noop.$n" "find.$n")" "$(cell "restore.$n")"
  if [ -n "$prev" ]; then
    printf '| growth %s→%s (%sx files): time, RSS | %s, %s | %s, %s | %s | | %s, %s |\n' "$prev" "$n" "$((n / prev))" \
      "$(growth "first.$prev" "first.$n" s)" "$(growth "first.$prev" "first.$n" rss)" \
      "$(growth "noop.$prev" "noop.$n" s)" "$(growth "noop.$prev" "noop.$n" rss)" \
      "$(growth "find.$prev" "find.$n" s)" \
      "$(growth "restore.$prev" "restore.$n" s)" "$(growth "restore.$prev" "restore.$n" rss)"
  fi
  prev=$n
done
exit 0
