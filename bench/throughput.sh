#!/usr/bin/env bash
# Large-file throughput and memory, compressed and encrypted, in one run:
#   1. THROUGHPUT_MIB random file to the project's Glacier emulator
#      (cmd/glacier-emulator, archive data in files) against the local store;
#      once per part size in VAULT_PART_SIZES ("default" = grsync's default).
#   2. the same file to moto's S3 (DEEP_ARCHIVE) against `aws s3 cp` of the
#      plain file to the same moto: over HTTP (step s3), and over HTTPS as
#      AWS serves it (step s3tls, a self-signed certificate).
#   3. peak RSS flat with the file size: the local-store run of step 1 against
#      the same run with RSS_MIB files (memory must not grow with the size).
# Throughput ratios: grsync's MiB/s on the slower path / its reference's
# (1.00 = as fast). grsync runs with its defaults unless a part size is given.
#
# Usage: bench/throughput.sh
#   env: THROUGHPUT_MIB (1024), VAULT_PART_SIZES ("default 16777216"),
#        RSS_MIB ("4096"; "" skips), THROUGHPUT_STEPS ("vault s3 s3tls rss"),
#        BENCH_DIR (needs ~2x the largest size free), BENCH_KEEP=1
# CI-size run: THROUGHPUT_MIB=64 RSS_MIB=256 bench/throughput.sh
source "$(dirname "$0")/lib.sh"
mib=${THROUGHPUT_MIB:-1024}
read -r -a parts <<<"${VAULT_PART_SIZES-default 16777216}"
read -r -a rss_sizes <<<"${RSS_MIB-4096}"
steps=${THROUGHPUT_STEPS:-vault s3 s3tls rss}

bench_init throughput
"$grsync" keygen "$work/key" >/dev/null
mkdir -p "$work/src"
head -c "$((mib << 20))" /dev/urandom >"$work/src/big.bin"
g=("$grsync" --quiet --encryption-key-file "$work/key")

# mibps NAME SIZE_MIB
mibps() { awk -v m="$2" -v s="$(secs "$1")" 'BEGIN{ printf "%.0f", m/s }'; }
# speed SLOW FAST: SLOW's throughput as a fraction of FAST's (= FAST's time / SLOW's time)
speed() { awk -v a="$(secs "$1")" -v b="$(secs "$2")" 'BEGIN{ printf "%.2f", b/a }'; }
rows=()

cat "$work/src/big.bin" >/dev/null
echo "== $mib MiB to the local store" >&2
measure local "${g[@]}" --db "$work/local.db" --local-store "$work/store" "$work/src"
rm -rf "$work/store"
rows+=("| $mib MiB → local store | $(cell local) | $(mibps local "$mib") MiB/s | reference |")

case " $steps " in *" vault "*)
  go build -o "$work/glacier-emulator" ./cmd/glacier-emulator
  mkdir -p "$work/emu"
  "$work/glacier-emulator" -listen 127.0.0.1:0 -dir "$work/emu" -log-level warn >"$work/emu.url" 2>"$work/emu.log" &
  bench_pids+=($!)
  for _ in $(seq 100); do [ -s "$work/emu.url" ] && break; sleep 0.1; done
  emu=$(head -1 "$work/emu.url")
  [ -n "$emu" ] || { echo "bench: the Glacier emulator did not start" >&2; cat "$work/emu.log" >&2; exit 1; }
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
  for p in "${parts[@]}"; do
    aws --endpoint-url "$emu" --region us-east-1 glacier create-vault --account-id - --vault-name "bench$p" >/dev/null
    flags=(); [ "$p" = default ] || flags=(--part-size "$p")
    echo "== $mib MiB to the Glacier emulator, part size $p" >&2
    measure "vault.$p" "${g[@]}" --db "$work/vault$p.db" --vault "bench$p" --region us-east-1 --endpoint-url "$emu" "${flags[@]}" "$work/src"
    label=$p; [ "$p" = default ] || label=$(human "$p")
    rows+=("| $mib MiB → Glacier emulator (part size $label) | $(cell "vault.$p") | $(mibps "vault.$p" "$mib") MiB/s | $(speed "vault.$p" local) of local |")
  done
;; esac

for proto in s3 s3tls; do
  case " $steps " in *" $proto "*) ;; *) continue ;; esac
  need_tool aws awscli
  label=HTTP
  if [ $proto = s3tls ]; then start_moto tls; label=HTTPS; else start_moto; fi
  aws --endpoint-url "$moto_url" s3 mb s3://grsync-bench >/dev/null
  aws --endpoint-url "$moto_url" s3 mb s3://awscli-bench >/dev/null
  echo "== $mib MiB to moto S3 over $label: grsync, then aws s3 cp" >&2
  measure $proto.grsync "${g[@]}" --db "$work/$proto.db" --bucket grsync-bench --region us-east-1 --endpoint-url "$moto_url" \
    --storage-class DEEP_ARCHIVE "$work/src"
  measure $proto.awscli aws --endpoint-url "$moto_url" s3 cp --only-show-errors --storage-class DEEP_ARCHIVE "$work/src/big.bin" s3://awscli-bench/big.bin
  rows+=("| $mib MiB → moto S3 over $label, grsync (encrypted) | $(cell $proto.grsync) | $(mibps $proto.grsync "$mib") MiB/s | $(speed $proto.grsync $proto.awscli) of aws s3 cp |")
  rows+=("| $mib MiB → moto S3 over $label, aws s3 cp (plain) | $(cell $proto.awscli) | $(mibps $proto.awscli "$mib") MiB/s | reference |")
  unset AWS_CA_BUNDLE
done

case " $steps " in *" rss "*)
  rm -f "$work/src/big.bin"
  for s in "${rss_sizes[@]}"; do
    echo "== $s MiB to the local store (peak RSS)" >&2
    head -c "$((s << 20))" /dev/urandom >"$work/src/big.bin"
    measure "rss.$s" "${g[@]}" --db "$work/rss$s.db" --local-store "$work/store$s" "$work/src"
    rm -rf "$work/store$s" "$work/src/big.bin"
    rows+=("| $s MiB → local store (peak RSS) | $(cell "rss.$s") | $(mibps "rss.$s" "$s") MiB/s | RSS $(awk -v a="$(rss local)" -v b="$(rss "rss.$s")" 'BEGIN{ printf "%+.0f%%", 100*(b-a)/a }') vs $mib MiB |")
  done
;; esac

echo
echo "random (incompressible) files, compressed and encrypted; grsync $(git rev-parse --short HEAD); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | time, peak RSS | throughput | ratio |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit 0
