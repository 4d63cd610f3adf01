# Shared helpers for the bench/ scripts; sourced, not run. Each script calls
# bench_init NAME first: it makes a work folder under $BENCH_DIR (default
# $TMPDIR or /tmp), builds grsync and benchtool once, and removes the folder
# and stops every server it started on exit, whatever happens.
#
# measure NAME CMD...  runs CMD under /usr/bin/time -v (output to
#   $work/out.NAME), fails the script if CMD fails, and records the wall time
#   in seconds, the CPU time (user + system) and the peak RSS in MiB:
#   secs NAME, cpu NAME, rss NAME, cell NAME.
#   For a pipeline (bash -c '...'), the RSS is that of its largest process.

set -euo pipefail

bench_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local base=${BENCH_DIR:-${TMPDIR:-/tmp}}
  work=$(mktemp -d "$base/grsync-$1.XXXXXX")
  bench_pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  need_tool /usr/bin/time time
  echo "building grsync and benchtool..." >&2
  go build -o "$work/grsync" ./cmd/grsync
  go build -o "$work/benchtool" ./bench/benchtool
  grsync=$work/grsync
  benchtool=$work/benchtool
  mkdir -p "$work/m"
  echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git log -1 --format=%cs 2>/dev/null || echo '?'))" >&2
}

bench_cleanup() {
  local pid
  for pid in "${bench_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${work:-}" ] && [ -z "${BENCH_KEEP:-}" ]; then
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  fi
}

# need_tool COMMAND [DEBIAN_PACKAGE]: installs the package when the command
# is missing (apt-get; root on the bench machines).
need_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local pkg=${2:-$1}
  echo "installing $pkg..." >&2
  apt-get install -y "$pkg" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$pkg" >/dev/null; } ||
    { echo "bench: cannot install $pkg (apt-get install -y $pkg)" >&2; exit 1; }
}

measure() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$work/m/$name.time" "$@" >"$work/out.$name" 2>&1; then
    echo "bench: $name failed: $*" >&2
    tail -20 "$work/out.$name" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  # wall time from the shell's clock (time -v rounds to 10 ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.3f\n", (b-a)/1e9 }' >"$work/m/$name.s"
  awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f\n", s}' "$work/m/$name.time" >"$work/m/$name.cpu"
  awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); printf "%d\n", $2/1024}' "$work/m/$name.time" >"$work/m/$name.rss"
  echo "  $name: $(cell "$name")" >&2
}
secs() { cat "$work/m/$1.s"; }
rss() { cat "$work/m/$1.rss"; }
cpu() { cat "$work/m/$1.cpu"; }
# cell NAME: "wall s, RSS MiB (cpu user+system s)" for a table.
cell() { [ -f "$work/m/$1.s" ] && echo "$(fmt_secs "$(secs "$1")") s, $(rss "$1") MiB (cpu $(fmt_secs "$(cpu "$1")"))" || echo "–"; }
fmt_secs() { awk -v s="$1" 'BEGIN{ printf (s < 10 ? "%.2f" : "%.1f"), s }'; }
# ratio A B: A's time / B's time, "–" when either was not measured.
ratio() {
  [ -f "$work/m/$1.s" ] && [ -f "$work/m/$2.s" ] || { echo "–"; return; }
  awk -v a="$(secs "$1")" -v b="$(secs "$2")" 'BEGIN{ if (b <= 0) b = 0.01; printf "%.2fx", a/b }'
}
# xratio A B: A/B as "12x", "1.5x" or "0.22x".
xratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) { print "–"; exit } r = a/b; printf (r >= 10 ? "%.0fx" : "%.2fx"), r }'; }
# growth A B: B's value / A's value for files m/A.EXT and m/B.EXT.
growth() {
  awk -v a="$(cat "$work/m/$1.$3")" -v b="$(cat "$work/m/$2.$3")" 'BEGIN{ if (a <= 0) a = 0.01; printf "%.1fx", b/a }'
}

# bytes_in DIR: apparent size of everything under DIR; files_in DIR: count.
bytes_in() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}'; }
files_in() { find "$1" -type f | wc -l; }
# human BYTES
human() { awk -v b="$1" 'BEGIN{ split("B KiB MiB GiB TiB", u); i=1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf (i==1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

# warm DIR: reads every file once, so every tool finds them in the page cache.
warm() { find "$1" -type f -exec cat {} + >/dev/null; }

# settle_fs: before timing restores of many files, let the file system
# forget recent deletions. ext4 skips inodes freed in the last 60 s (6 min
# while their inode table block is unwritten) when it allocates new ones
# (recently_deleted, when the file system has no journal, as this
# machine's): a 20,000-file restore run right after another benchmark's
# trees were deleted spent 60% of its time there and took 2-3x as long,
# whichever tool it was. BENCH_SETTLE=0 skips the wait.
settle_fs() {
  sync
  local s=${BENCH_SETTLE:-61}
  [ "$s" -gt 0 ] && { echo "== waiting ${s}s for the file system to settle (see settle_fs)" >&2; sleep "$s"; }
  return 0
}

# gen_tree DIR FILES AVG_BYTES [SEED]: mixed text and random small files.
gen_tree() { "$benchtool" gentree -dir "$1" -n "$2" -size "$3" -seed "${4:-1}"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_moto [tls]: a fresh moto S3 on 127.0.0.1; sets moto_url and the AWS_*
# variables (dummy credentials) for grsync, restic and the AWS CLI. With
# "tls" it serves HTTPS, as AWS does, with a self-signed certificate that
# AWS_CA_BUNDLE makes grsync and the AWS CLI trust (over HTTPS the SDKs
# send UNSIGNED-PAYLOAD or aws-chunked bodies instead of hashing each body
# to sign it, so the two protocols cost client and server differently).
start_moto() {
  python3 -c 'import moto' 2>/dev/null || { echo "bench: moto is not installed (pip install 'moto[server]')" >&2; exit 1; }
  local port; port=$(free_port)
  local tls=() scheme=http log=$work/moto.log
  if [ "${1-}" = tls ]; then
    need_tool openssl openssl
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/moto-tls.key" -out "$work/moto-tls.crt" -days 2 \
      -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    tls=(-c "$work/moto-tls.crt" -k "$work/moto-tls.key") scheme=https log=$work/moto-tls.log
    export AWS_CA_BUNDLE=$work/moto-tls.crt
  fi
  python3 -m moto.server -H 127.0.0.1 -p "$port" "${tls[@]}" >"$log" 2>&1 &
  bench_pids+=($!)
  moto_url=$scheme://127.0.0.1:$port
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true
  local i
  for i in $(seq 150); do curl -sf ${AWS_CA_BUNDLE:+--cacert "$AWS_CA_BUNDLE"} "$moto_url/moto-api/" >/dev/null && return 0; sleep 0.2; done
  echo "bench: moto did not start on $moto_url" >&2; cat "$log" >&2; exit 1
}

# start_proxy TARGET_URL: a request-counting proxy in front of TARGET; sets proxy_url.
start_proxy() {
  rm -f "$work/proxy.addr"
  "$benchtool" proxy -target "$1" -addr-file "$work/proxy.addr" 2>"$work/proxy.log" &
  bench_pids+=($!)
  local i
  for i in $(seq 100); do [ -s "$work/proxy.addr" ] && break; sleep 0.05; done
  proxy_url=$(head -1 "$work/proxy.addr")
}
proxy_reset() { curl -sf -X POST "$proxy_url/__bench/reset" >/dev/null; }
# proxy_stats FILE: one line per S3 operation: op count bytes_sent bytes_received.
proxy_stats() { curl -sf "$proxy_url/__bench/stats" >"$1"; }
# Billing classes from a stats file: PUT, COPY, POST and LIST requests; GET
# and everything else; bytes received from the server.
stats_puts() { awk '$1 ~ /^(PutObject|UploadPart|CreateMultipartUpload|CompleteMultipartUpload|CopyObject|ListObjects|ListParts|ListMultipartUploads|RestoreObject|Post)$/ {s+=$2} END {print s+0}' "$1"; }
stats_gets() { awk '$1 !~ /^(PutObject|UploadPart|CreateMultipartUpload|CompleteMultipartUpload|CopyObject|ListObjects|ListParts|ListMultipartUploads|RestoreObject|Post)$/ {s+=$2} END {print s+0}' "$1"; }
stats_all() { awk '{s+=$2} END {print s+0}' "$1"; }
stats_received() { awk '{s+=$4} END {print s+0}' "$1"; }
stats_op() { awk -v op="$2" '$1 == op {s+=$2} END {print s+0}' "$1"; }

# bucket_objects BUCKET / bucket_bytes BUCKET (needs the AWS CLI and moto_url).
# (s3 ls pages through the whole listing; s3api --query would sum per page.)
bucket_objects() { aws --endpoint-url "$moto_url" s3 ls --recursive --summarize "s3://$1" | awk '/Total Objects:/ {print $3}'; }
bucket_bytes() { aws --endpoint-url "$moto_url" s3 ls --recursive --summarize "s3://$1" | awk '/Total Size:/ {print $3}'; }

# restic setup: a password in the environment, a cache inside the work folder.
restic_env() {
  need_tool restic
  export RESTIC_PASSWORD=bench-password RESTIC_CACHE_DIR=$work/restic-cache
}

# age_floor_key: an X25519 identity for the floor pipeline; sets age_recipient.
age_floor_key() {
  need_tool age
  need_tool zstd
  [ -f "$work/floor.id" ] || age-keygen -o "$work/floor.id" 2>/dev/null
  age_recipient=$(age-keygen -y "$work/floor.id")
}
