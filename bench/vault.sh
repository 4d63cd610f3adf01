#!/usr/bin/env bash
# A 1 GiB sync, compressed and encrypted, to the standalone Glacier emulator
# on loopback against the same sync to the local store: wall time,
# throughput ratio and peak RSS of grsync for both (/usr/bin/time -v).
# Usage: bench/vault.sh [SIZE_MIB] [PART_SIZE_BYTES]   (default 1024, 16777216)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
part=${2:-16777216}
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/grsync-vault.XXXXXX")
emu_pid=
trap '[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/grsync" ./cmd/grsync
go build -o "$work/glacier-emulator" ./cmd/glacier-emulator
"$work/grsync" keygen "$work/k" >/dev/null
mkdir -p "$work/src" "$work/emu"
head -c "$((mib << 20))" /dev/urandom > "$work/src/big.bin"

"$work/glacier-emulator" -listen 127.0.0.1:0 -dir "$work/emu" -log-level warn > "$work/emu.url" 2>"$work/emu.log" &
emu_pid=$!
for _ in $(seq 50); do [ -s "$work/emu.url" ] && break; sleep 0.1; done
url=$(head -1 "$work/emu.url")
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
curl -sf -X PUT -H "Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/glacier/aws4_request" \
  -H "x-amz-glacier-version: 2012-06-01" "$url/-/vaults/bench" >/dev/null

measure() { # name, then grsync target flags
  local name=$1; shift
  /usr/bin/time -v -o "$work/time.$name" "$work/grsync" --quiet --db "$work/$name.db" "$@" \
    --encryption-key-file "$work/k" --compress true --encrypt true --part-size "$part" "$work/src" > "$work/out.$name"
  local rss secs
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print int($2/1024)}' "$work/time.$name")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.$name")
  printf '%-8s %8s s %8.0f MiB/s %6s MiB peak RSS\n' "$name" "$secs" "$(awk -v m="$mib" -v s="$secs" 'BEGIN{print m/s}')" "$rss"
  echo "$secs" > "$work/secs.$name"
}
echo "sync of a ${mib} MiB random file, compressed and encrypted, part size $part:"
measure local --local-store "$work/store"
measure vault --vault bench --region us-east-1
awk -v l="$(cat "$work/secs.local")" -v v="$(cat "$work/secs.vault")" 'BEGIN{printf "throughput vault/local: %.2f\n", l/v}'
