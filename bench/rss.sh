#!/usr/bin/env bash
# Peak memory of grsync syncing one large file, compressed and encrypted, to a
# local store: a 1 GiB and a 4 GiB file of random data. Memory must not grow
# with the file size (the issue asks: the two peaks differ by < 10%, both
# under 150 MiB). Needs /usr/bin/time (Debian package "time") and ~10 GiB of
# free disk in $BENCH_DIR (default: a temporary folder).
# Usage: bench/rss.sh [SIZES_IN_MIB...]   (default: 1024 4096)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); ((${#sizes[@]})) || sizes=(1024 4096)
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/grsync-rss.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/grsync" ./cmd/grsync
"$work/grsync" keygen "$work/k" >/dev/null
printf '%-10s %-12s %-10s %-12s\n' size_mib peak_rss_mib seconds MiB_per_s
for mib in "${sizes[@]}"; do
  mkdir -p "$work/src$mib"
  head -c "$((mib << 20))" /dev/urandom > "$work/src$mib/big.bin"
  /usr/bin/time -v -o "$work/time$mib" "$work/grsync" --quiet --local-store "$work/store$mib" --db "$work/db$mib" \
    --encryption-key-file "$work/k" --compress true --encrypt true "$work/src$mib" > "$work/out$mib"
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$work/time$mib")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time$mib")
  printf '%-10s %-12s %-10s %-12s\n' "$mib" "$((rss_kb / 1024))" "$secs" "$(awk -v m="$mib" -v s="$secs" 'BEGIN{printf "%.0f", m/s}')"
  rm -rf "$work/src$mib" "$work/store$mib"
done
