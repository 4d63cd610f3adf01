#!/usr/bin/env bash
# grsync syncing a 1 GiB random file (compressed and encrypted) to moto's S3
# against `aws s3 cp` of the same file to the same server: wall time, the
# ratio, and the peak RSS of both (/usr/bin/time -v). moto runs on 127.0.0.1
# and keeps objects in memory.
# Usage: bench/s3.sh [SIZE_MIB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/grsync-s3.XXXXXX")
moto_pid=
trap '[ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/grsync" ./cmd/grsync
"$work/grsync" keygen "$work/k" >/dev/null
mkdir -p "$work/src"
head -c "$((mib << 20))" /dev/urandom > "$work/src/big.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.2; done
aws s3 mb s3://bench-grsync >/dev/null
aws s3 mb s3://bench-awscli >/dev/null

measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -v -o "$work/time.$name" "$@" > "$work/out.$name" 2>&1 || { cat "$work/out.$name"; exit 1; }
  local rss secs
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print int($2/1024)}' "$work/time.$name")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.$name")
  printf '%-8s %8s s %8.0f MiB/s %6s MiB peak RSS\n' "$name" "$secs" "$(awk -v m="$mib" -v s="$secs" 'BEGIN{print m/s}')" "$rss"
  echo "$secs" > "$work/secs.$name"
}
echo "upload of a ${mib} MiB random file to moto's S3 on loopback:"
measure grsync "$work/grsync" --quiet --db "$work/db" --bucket bench-grsync --region us-east-1 \
  --storage-class DEEP_ARCHIVE --encryption-key-file "$work/k" --compress true --encrypt true "$work/src"
measure awscli aws s3 cp --only-show-errors --storage-class DEEP_ARCHIVE "$work/src/big.bin" s3://bench-awscli/big.bin
awk -v g="$(cat "$work/secs.grsync")" -v a="$(cat "$work/secs.awscli")" 'BEGIN{printf "wall time grsync/aws-cli: %.2f\n", g/a}'
