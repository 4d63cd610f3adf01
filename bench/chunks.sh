#!/usr/bin/env bash
# A large file that changes a little, grsync against restic, both compressing
# and encrypting to a local folder, in one run. A CHUNKS_MIB random file is
# backed up, then changed three times in a row, each change followed by a
# backup with both tools:
#   (a) 1 MiB overwritten in the middle, (b) 1 MiB appended,
#   (c) one byte inserted at the start.
# For every backup: bytes added to the store or repository, time, peak RSS.
# The first backup is also made by grsync without chunking (--pack-threshold
# 2G: the file stored whole, hashed and then streamed into its pack), to a
# store of its own, for the time chunking costs.
# Then the latest version is restored by both and compared with the file.
#
# Usage: bench/chunks.sh
#   env: CHUNKS_MIB (1024), BENCH_DIR (needs ~6x CHUNKS_MIB free), BENCH_KEEP=1
# CI-size run: CHUNKS_MIB=64 bench/chunks.sh
source "$(dirname "$0")/lib.sh"
mib=${CHUNKS_MIB:-1024}

bench_init chunks
restic_env
"$grsync" keygen "$work/key" >/dev/null
mkdir -p "$work/src"
f=$work/src/big.bin
head -c "$((mib << 20))" /dev/urandom >"$f"
restic init --quiet --repo "$work/repo" --repository-version 2 >/dev/null
mkdir -p "$work/store"

# backup STEP: both tools back the tree up; records the bytes each added.
backup() {
  local step=$1 before
  cat "$f" >/dev/null
  before=$(bytes_in "$work/store")
  measure "$step.grsync" "$grsync" --quiet --local-store "$work/store" --db "$work/db" --encryption-key-file "$work/key" "$work/src"
  echo $(($(bytes_in "$work/store") - before)) >"$work/m/$step.grsync.added"
  before=$(bytes_in "$work/repo")
  measure "$step.restic" restic --quiet --repo "$work/repo" backup --compression auto "$work/src"
  echo $(($(bytes_in "$work/repo") - before)) >"$work/m/$step.restic.added"
}

echo "== first backup of a $mib MiB random file" >&2
backup first
echo "== first backup without chunking (--pack-threshold 2G)" >&2
cat "$f" >/dev/null
measure whole.grsync "$grsync" --quiet --pack-threshold 2G --local-store "$work/store-whole" --db "$work/db-whole" --encryption-key-file "$work/key" "$work/src"
bytes_in "$work/store-whole" >"$work/m/whole.grsync.added"
rm -rf "$work/store-whole" "$work/db-whole"*
echo "== (a) 1 MiB overwritten in the middle" >&2
dd if=/dev/urandom of="$f" bs=1M seek=$((mib / 2)) count=1 conv=notrunc status=none
backup a
echo "== (b) 1 MiB appended" >&2
head -c 1M /dev/urandom >>"$f"
backup b
echo "== (c) one byte inserted at the start" >&2
{ printf x; cat "$f"; } >"$f.new"
mv "$f.new" "$f"
backup c
echo "== restore of the latest version" >&2
measure restore.grsync "$grsync" restore --quiet --db "$work/db" --encryption-key-file "$work/key" --output "$work/out.g"
cmp "$f" "$work/out.g$f" || { echo "bench: grsync restored a different file" >&2; exit 1; }
rm -rf "$work/out.g"
measure restore.restic restic --quiet --repo "$work/repo" restore latest --target "$work/out.r"
cmp "$f" "$work/out.r$f" || { echo "bench: restic restored a different file" >&2; exit 1; }
rm -rf "$work/out.r"

added() { human "$(cat "$work/m/$1.added")"; }
aratio() { xratio "$(cat "$work/m/$1.grsync.added")" "$(cat "$work/m/$1.restic.added")"; }
row() {
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(added "$2.grsync")" "$(added "$2.restic")" "$(aratio "$2")" \
    "$(cell "$2.grsync")" "$(cell "$2.restic")" "$(ratio "$2.grsync" "$2.restic")"
}
echo
echo "$mib MiB random file, local store/repository; grsync $(git rev-parse --short HEAD), $(restic version | cut -d' ' -f1-2); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| backup | grsync added | restic added | ratio | grsync time, RSS | restic time, RSS | time ratio |"
echo "|---|---|---|---|---|---|---|"
row "first backup" first
printf '| first backup without chunking (--pack-threshold 2G) | %s | | | %s | | |\n' "$(added whole.grsync)" "$(cell whole.grsync)"
row "(a) 1 MiB overwritten in the middle" a
row "(b) 1 MiB appended" b
row "(c) one byte inserted at the start" c
printf '| restore of the latest version | | | | %s | %s | %s |\n' "$(cell restore.grsync)" "$(cell restore.restic)" "$(ratio restore.grsync restore.restic)"
echo
echo "First backup with chunking over without: $(ratio first.grsync whole.grsync) wall time (without chunking the file is read twice: hashed, then streamed into its pack)."
exit 0
