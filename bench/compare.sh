#!/usr/bin/env bash
# grsync against restic and against the floor (one streaming pass:
# tar c SRC | zstd -3 | age -r RECIPIENT > FILE), side by side in one run,
# all three compressing and encrypting to a local folder:
#   - a BIG_MIB random file: first backup, full restore
#   - SMALL_N files of ~SMALL_KB (half text, half random): first backup,
#     no-op re-sync, full restore
#   - LARGE_N files of ~SMALL_KB: first backup
# grsync runs with its defaults (--jobs 4) and a key; restic 0.14 (Debian)
# with a version-2 repository and --compression auto, password from the
# environment (its key derivation is part of every restic command's time).
# Restores of the floor run age -d | zstd -d | tar x. Page cache is warm for
# everyone: each tree is read once before the first measurement.
# Prints a markdown table: time and peak RSS, ratios grsync/restic and
# grsync/floor (below 1 means grsync is faster).
# Every tree is measured REPEAT times, the tools taking turns (grsync,
# restic, floor, grsync, ...), each time into a fresh repository; a cell is
# the run of median time. The speed of the 2-core bench machine drifts
# within minutes (the same backup took 2.8-3.9 s in one session), and one
# run of each tool back to back measured the drift as much as the tools.
#
# Usage: bench/compare.sh
#   env: BIG_MIB (512), SMALL_N (5000), SMALL_KB (6), LARGE_N (50000; 0 skips),
#        REPEAT (3), BENCH_DIR (work folder's parent, default $TMPDIR or /tmp),
#        BENCH_KEEP=1
# CI-size run: BIG_MIB=32 SMALL_N=500 LARGE_N=0 bench/compare.sh
source "$(dirname "$0")/lib.sh"
big_mib=${BIG_MIB:-512}
small_n=${SMALL_N:-5000}
small_kb=${SMALL_KB:-6}
large_n=${LARGE_N:-50000}
repeat=${REPEAT:-3}

bench_init compare
restic_env
age_floor_key
"$grsync" keygen "$work/key" >/dev/null

# one_tree NAME SRC PHASES: runs grsync, restic and the floor on SRC.
# PHASES is a list of: first noop restore.
one_tree() {
  local name=$1 src=$2 phases=$3 tool rep
  warm "$src"
  for rep in $(seq "$repeat"); do
    for tool in grsync restic floor; do
      one_run "$name" "$src" "$phases" "$tool" ".r$rep"
    done
  done
  local m
  for m in "$work"/m/"$name".*.r1.s; do
    m=$(basename "$m" .r1.s)
    median_of "$m" "$repeat"
  done
}

# median_of NAME N: the measurement NAME.r1 ... NAME.rN of median time
# becomes NAME.
median_of() {
  local name=$1 n=$2 mid ext
  mid=$(for i in $(seq "$n"); do echo "$(secs "$name.r$i") $i"; done | sort -g | awk -v k=$(((n + 1) / 2)) 'NR == k {print $2}')
  for ext in s cpu rss time; do
    cp "$work/m/$name.r$mid.$ext" "$work/m/$name.$ext"
  done
}

# one_run NAME SRC PHASES TOOL SUFFIX: one tool's phases on SRC, in a fresh
# repository, measured as NAME.PHASE.TOOL.SUFFIX.
one_run() {
  local name=$1 src=$2 phases=$3 tool=$4 sfx=$5
  local dir=$work/$name.$tool
  rm -rf "$dir"
  mkdir -p "$dir"
  local g=("$grsync" --quiet --local-store "$dir/store" --db "$dir/db" --encryption-key-file "$work/key")
  local r=(restic --quiet --repo "$dir/repo")
  [ "$tool" = restic ] && restic init --quiet --repo "$dir/repo" --repository-version 2 >/dev/null
  case $phases in *first*)
    case $tool in
      grsync) measure "$name.first.$tool$sfx" "${g[@]}" "$src" ;;
      restic) measure "$name.first.$tool$sfx" "${r[@]}" backup --compression auto "$src" ;;
      floor) measure "$name.first.$tool$sfx" bash -c 'set -o pipefail; tar cf - -C "$1" . | zstd -3 -q | age -r "$2" > "$3"' \
        _ "$src" "$age_recipient" "$dir/floor.tar.zst.age" ;;
    esac ;;
  esac
  case $phases in *noop*)
    case $tool in
      grsync) measure "$name.noop.$tool$sfx" "${g[@]}" "$src" ;;
      restic) measure "$name.noop.$tool$sfx" "${r[@]}" backup --compression auto "$src" ;;
    esac ;;
  esac
  case $phases in *restore*)
    mkdir -p "$dir/out"
    case $tool in
      grsync) measure "$name.restore.$tool$sfx" "$grsync" restore --quiet --db "$dir/db" --encryption-key-file "$work/key" --output "$dir/out" ;;
      restic) measure "$name.restore.$tool$sfx" "${r[@]}" restore latest --target "$dir/out" ;;
      floor) measure "$name.restore.$tool$sfx" bash -c 'set -o pipefail; age -d -i "$1" < "$2" | zstd -d -q | tar xf - -C "$3"' \
        _ "$work/floor.id" "$dir/floor.tar.zst.age" "$dir/out" ;;
    esac
    check_restored "$src" "$dir/out" "$name.$tool"
    # A tree of many files is deleted with the tree, not now: ext4 skips
    # inodes freed in the last minute when it allocates new ones
    # (settle_fs), so the next tool's restore would pay for this one's
    # files. A big file goes at once: kept, its dirty pages would be
    # written back during the next restores.
    if [ "$(find "$dir/out" -type f | head -n 100 | wc -l)" -ge 100 ]; then
      mv "$dir/out" "$work/$name.restored.$tool$sfx"
    else
      rm -rf "$dir/out"
    fi
  ;; esac
  rm -rf "$dir"
}

# check_restored SRC OUT WHAT: the restored tree holds every file of SRC
# with the same bytes (found wherever the tool put SRC's path below OUT).
check_restored() {
  local src=$1 out=$2 what=$3 root
  root=$(find "$out" -type d -path "*${src}" -print -quit)
  [ -n "$root" ] || root=$out # the floor restores SRC's content at OUT
  diff -rq "$src" "$root" >/dev/null || { echo "bench: $what restored a tree that differs from the source" >&2; exit 1; }
}

row() { # label key
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(cell "$2.grsync")" "$(cell "$2.restic")" "$(cell "$2.floor")" \
    "$(ratio "$2.grsync" "$2.restic")" "$(ratio "$2.grsync" "$2.floor")"
}

echo "== ${big_mib} MiB random file" >&2
mkdir -p "$work/big"
head -c "$((big_mib << 20))" /dev/urandom >"$work/big/big.bin"
one_tree big "$work/big" "first restore"
rm -rf "$work/big" "$work"/big.*

echo "== $small_n files of ~${small_kb} KB" >&2
gen_tree "$work/small" "$small_n" "$((small_kb * 1024))"
settle_fs
one_tree small "$work/small" "first noop restore"
rm -rf "$work/small" "$work"/small.*

if [ "$large_n" -gt 0 ]; then
  echo "== $large_n files of ~${small_kb} KB" >&2
  gen_tree "$work/large" "$large_n" "$((small_kb * 1024))"
  one_tree large "$work/large" "first"
  rm -rf "$work/large" "$work"/large.*
fi

echo
echo "grsync $(git rev-parse --short HEAD) vs $(restic version | cut -d' ' -f1-2) vs tar|zstd -3|age; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); each cell the median of $repeat runs, the tools taking turns"
echo
echo "| workload | grsync | restic | floor | grsync/restic | grsync/floor |"
echo "|---|---|---|---|---|---|"
row "${big_mib} MiB random file, first backup" big.first
row "${big_mib} MiB restore" big.restore
row "$small_n files (~${small_kb} KB), first backup" small.first
row "same, no-op re-sync" small.noop
row "same, full restore" small.restore
[ "$large_n" -gt 0 ] && row "$large_n files (~${small_kb} KB), first backup" large.first
exit 0
