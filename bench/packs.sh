#!/usr/bin/env bash
# Many small files on the local store and on moto's S3, grsync against restic
# (local repository; S3 repository on the same moto), in one run:
# objects stored, PUT-class requests, bytes stored, first-sync time, no-op
# re-sync time, full restore time, and the restore of one file (requests,
# bytes received, time). S3 requests are counted by benchtool's proxy between
# the tool and moto. grsync writes DEEP_ARCHIVE objects (moto thaws them at
# once; the RestoreObject requests are counted), restic the default class
# (restic cannot read archived objects). The one-file restore runs before
# the full restore, so it cannot reuse the full restore's thawed objects.
# Local objects: grsync's archives (not their .json sidecars), every file of
# restic's repository. Bytes stored: every file under the store or repository.
#
# Usage: bench/packs.sh
#   env: PACKS_N (20000 files), PACKS_KB (16, average size), PACKS_TARGETS
#        ("local s3"), BENCH_DIR, BENCH_KEEP=1
# CI-size run: PACKS_N=300 bench/packs.sh
source "$(dirname "$0")/lib.sh"
n=${PACKS_N:-20000}
kb=${PACKS_KB:-16}
targets=${PACKS_TARGETS:-local s3}

bench_init packs
restic_env
"$grsync" keygen "$work/key" >/dev/null
echo "== $n files of ~$kb KB" >&2
gen_tree "$work/src" "$n" "$((kb * 1024))"
src=$work/src
warm "$src"
settle_fs
one=$(find "$src" -name '*.bin' | sort | sed -n 2p) # the file of the one-file restore
case " $targets " in *" s3 "*)
  need_tool aws awscli
  start_moto
  start_proxy "$moto_url"
  aws --endpoint-url "$moto_url" s3 mb s3://grsync-bench >/dev/null
  aws --endpoint-url "$moto_url" s3 mb s3://restic-bench >/dev/null
;; esac

# record KEY VALUE: a figure of this run.
record() { echo "$2" >"$work/m/$1"; }
get() { cat "$work/m/$1" 2>/dev/null || echo "–"; }

# step TARGET TOOL PHASE CMD...: measures CMD; on S3, also the requests.
step() {
  local key=$1.$2.$3; shift 3
  [ -n "${proxy_url:-}" ] && proxy_reset
  measure "$key" "$@"
  if [ -n "${proxy_url:-}" ]; then
    proxy_stats "$work/m/$key.stats"
    record "$key.puts" "$(stats_puts "$work/m/$key.stats")"
    record "$key.requests" "$(stats_all "$work/m/$key.stats")"
    record "$key.received" "$(stats_received "$work/m/$key.stats")"
  fi
}

for target in $targets; do
  for tool in grsync restic; do
    d=$work/$target.$tool
    mkdir -p "$d"
    echo "== $tool to $target" >&2
    case $target.$tool in
      local.grsync) g=("$grsync" --quiet --db "$d/db" --encryption-key-file "$work/key")
        t=(--local-store "$d/store") ;;
      s3.grsync) g=("$grsync" --quiet --db "$d/db" --encryption-key-file "$work/key" --endpoint-url "$proxy_url")
        t=(--bucket grsync-bench --region us-east-1 --storage-class DEEP_ARCHIVE) ;;
      local.restic) r=(restic --quiet --repo "$d/repo") ;;
      s3.restic) r=(restic --quiet --repo "s3:$proxy_url/restic-bench" -o s3.region=us-east-1) ;;
    esac
    if [ "$tool" = grsync ]; then
      step "$target" grsync first "${g[@]}" "${t[@]}" "$src"
      step "$target" grsync noop "${g[@]}" "$src"
      step "$target" grsync one "${g[@]}" restore --wait --poll 1s --output "$d/one" "$one"
      step "$target" grsync restore "${g[@]}" restore --wait --poll 1s --output "$d/out"
    else
      "${r[@]}" init --repository-version 2 >/dev/null
      step "$target" restic first "${r[@]}" backup --compression auto "$src"
      step "$target" restic noop "${r[@]}" backup --compression auto "$src"
      step "$target" restic one "${r[@]}" restore latest --target "$d/one" --include "$one"
      step "$target" restic restore "${r[@]}" restore latest --target "$d/out"
    fi
    cmp "$one" "$d/one$one" || { echo "bench: $tool on $target: the one-file restore differs" >&2; exit 1; }
    diff -rq "$src" "$d/out$src" >/dev/null || { echo "bench: $tool on $target: the full restore differs" >&2; exit 1; }
    # Restored trees stay until the end: ext4 skips inodes freed in the last
    # 30 s when it allocates new ones (recently_deleted), so a restore run
    # right after 20,000 files were deleted spent 60% of its time in the
    # kernel there, and took twice as long.
    case $target.$tool in
      local.grsync) record "$target.$tool.objects" "$(find "$d/store/archives" -type f ! -name '*.json' | wc -l)"
        record "$target.$tool.bytes" "$(bytes_in "$d/store")" ;;
      local.restic) record "$target.$tool.objects" "$(files_in "$d/repo")"
        record "$target.$tool.bytes" "$(bytes_in "$d/repo")" ;;
      s3.*) record "$target.$tool.objects" "$(bucket_objects "$tool-bench")"
        record "$target.$tool.bytes" "$(bucket_bytes "$tool-bench")" ;;
    esac
  done
done

src_bytes=$(bytes_in "$src")
rate() { awk -v n="$n" -v s="$(secs "$1")" 'BEGIN{ printf "%.0f", n/s }'; }
echo
echo "$n files, $(human "$src_bytes") (~$kb KB each, half text, half random); grsync $(git rev-parse --short HEAD), $(restic version | cut -d' ' -f1-2); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | $(for t in $targets; do printf 'grsync %s | restic %s | ratio | ' "$t" "$t"; done | sed 's/ | $//') |"
echo "|---|$(for t in $targets; do printf -- '---|---|---|'; done)"
line() { # label, then a function printing one target's three cells
  local label=$1 f=$2 t
  printf '| %s |' "$label"
  for t in $targets; do printf ' %s |' "$("$f" "$t")"; done
  echo
}
c_objects() { local g r; g=$(get "$1.grsync.objects"); r=$(get "$1.restic.objects")
  printf '%s | %s | %s' "$(awk -v g="$g" -v n="$n" 'BEGIN{ printf "%d (%.1f%% of files)", g, 100*g/n }')" "$r" "$(xratio "$g" "$r")"; }
c_puts() { [ "$1" = s3 ] || { echo "– | – | –"; return; }
  local g r; g=$(get "$1.grsync.first.puts"); r=$(get "$1.restic.first.puts")
  printf '%s | %s | %s' "$g" "$r" "$(xratio "$g" "$r")"; }
c_reqs() { [ "$1" = s3 ] || { echo "– | – | –"; return; }
  local g r; g="$(get "$1.grsync.first.requests") / $(get "$1.grsync.restore.requests")"
  r="$(get "$1.restic.first.requests") / $(get "$1.restic.restore.requests")"
  printf '%s | %s | %s' "$g" "$r" "$(xratio "$(get "$1.grsync.restore.requests")" "$(get "$1.restic.restore.requests")")"; }
c_bytes() { local g r; g=$(get "$1.grsync.bytes"); r=$(get "$1.restic.bytes")
  printf '%s | %s | %s' "$(human "$g")" "$(human "$r")" "$(xratio "$g" "$r")"; }
c_time() { printf '%s | %s | %s' "$(cell "$1.grsync.$phase")" "$(cell "$1.restic.$phase")" "$(ratio "$1.grsync.$phase" "$1.restic.$phase")"; }
c_first() { printf '%s (%s files/s) | %s (%s files/s) | %s' "$(cell "$1.grsync.first")" "$(rate "$1.grsync.first")" \
  "$(cell "$1.restic.first")" "$(rate "$1.restic.first")" "$(ratio "$1.grsync.first" "$1.restic.first")"; }
c_one() { [ "$1" = s3 ] || { c_time "$1"; return; }
  printf '%s req, %s, %s | %s req, %s, %s | %s' "$(get "$1.grsync.one.requests")" "$(human "$(get "$1.grsync.one.received")")" \
    "$(fmt_secs "$(secs "$1.grsync.one")") s" "$(get "$1.restic.one.requests")" "$(human "$(get "$1.restic.one.received")")" \
    "$(fmt_secs "$(secs "$1.restic.one")") s" "$(ratio "$1.grsync.one" "$1.restic.one")"; }
line "objects stored" c_objects
line "PUT-class requests, first sync" c_puts
line "all requests: first sync / full restore" c_reqs
line "bytes stored" c_bytes
line "first sync: time, peak RSS" c_first
phase=noop line "no-op re-sync" c_time
phase=restore line "full restore" c_time
phase=one line "one-file restore (S3: requests, bytes received, time)" c_one
exit 0
