#!/usr/bin/env bash
# What restoring the latest version of a big file costs after many daily
# versions of it, each changing a little: a VERSIONS_MIB random file is
# backed up to moto's S3 in DEEP_ARCHIVE, then on each of VERSIONS_DAYS
# days VERSIONS_PCT percent of it is overwritten (blocks of 64 KiB to
# 1 MiB at random places) and backed up again. Then the restore plan of the
# latest version: objects (packs) to thaw, bytes to retrieve, packs per
# restored GiB, and its price from the built-in price table (Bulk and
# Standard tiers); then the restore itself (moto thaws at once), timed and
# compared with the file. Bytes stored per backup are printed too.
#
# Usage: bench/versions.sh
#   env: VERSIONS_MIB (1024), VERSIONS_DAYS (30), VERSIONS_PCT (1),
#        BENCH_DIR (needs ~3x VERSIONS_MIB free), BENCH_KEEP=1
# CI-size run: VERSIONS_MIB=64 VERSIONS_DAYS=5 bench/versions.sh
source "$(dirname "$0")/lib.sh"
bench_init versions
mib=${VERSIONS_MIB:-1024}
days=${VERSIONS_DAYS:-30}
pct=${VERSIONS_PCT:-1}
need_tool aws awscli
need_tool python3
start_moto
aws --endpoint-url "$moto_url" s3 mb s3://grsync-versions >/dev/null
"$grsync" keygen "$work/key" >/dev/null
mkdir -p "$work/src"
file=$work/src/disk.img
echo "== a $mib MiB random file, $days days of $pct% changes" >&2
head -c "$((mib << 20))" /dev/urandom >"$file"
g=("$grsync" --quiet --db "$work/db" --encryption-key-file "$work/key" --endpoint-url "$moto_url")
t=(--bucket grsync-versions --region us-east-1 --storage-class DEEP_ARCHIVE)

# change DAY: overwrites pct% of the file in random blocks (seeded by DAY).
change() {
  python3 - "$file" "$pct" "$1" <<'EOF'
import os, random, sys
path, pct, day = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
size = os.path.getsize(path)
rnd = random.Random(day)
left = int(size * pct / 100)
with open(path, "r+b") as f:
    while left > 0:
        n = min(left, rnd.randint(64 << 10, 1 << 20))
        f.seek(rnd.randrange(0, size - n))
        f.write(os.urandom(n))
        left -= n
EOF
}

stored() { bucket_bytes grsync-versions; }
measure day0 "${g[@]}" "${t[@]}" "$work/src"
prev=$(stored)
echo "| day | bytes stored by the backup | time |" >"$work/days.md"
echo "|---|---|---|" >>"$work/days.md"
echo "| 0 (first backup) | $(human "$prev") | $(cell day0) |" >>"$work/days.md"
total_daily=0
for d in $(seq "$days"); do
  change "$d"
  measure "day$d" "${g[@]}" "$work/src"
  now=$(stored)
  added=$((now - prev))
  total_daily=$((total_daily + added))
  prev=$now
  echo "| $d | $(human "$added") | $(cell "day$d") |" >>"$work/days.md"
done

plan() { "${g[@]}" restore --dry-run --json --tier "$1" --output "$work/out" "$file" 2>/dev/null | grep '"restore_plan"'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get(sys.argv[1], "–"))' "$1"; }
bulk=$(plan Bulk)
standard=$(plan Standard)
measure restore "${g[@]}" restore --tier Bulk --wait --poll 1s --output "$work/out" "$file"
cmp "$file" "$work/out$file"

objects=$(echo "$bulk" | field archives)
bytes=$(echo "$bulk" | field bytes)
per_gib=$(echo "$bulk" | field objects_per_gib)
price() { echo "$1" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); e=d.get("estimate") or {}; print("$%.4f" % e.get("total_usd", 0) if e else "–")'; }

echo
echo "$mib MiB random file, $days daily versions with $pct% overwritten each day, moto S3 DEEP_ARCHIVE; grsync $(git rev-parse --short HEAD); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$work/days.md"
echo
echo "| restore of the latest version | figure |"
echo "|---|---|"
echo "| objects (packs) to thaw | $objects |"
echo "| bytes to retrieve | $(human "$bytes") (the file is $mib MiB) |"
echo "| packs per restored GiB | $(awk -v x="$per_gib" 'BEGIN{printf "%.1f", x}') |"
echo "| price, Bulk tier | $(price "$bulk") |"
echo "| price, Standard tier | $(price "$standard") |"
echo "| restore (moto thaws at once) | $(cell restore) |"
echo "| stored in all | $(human "$(stored)") after $days days (daily average $(human $((total_daily / days)))) |"
