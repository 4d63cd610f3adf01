#!/bin/sh
# grsync-pack.sh: read grsync packs (docs/FORMAT.md section 8).
#   sh grsync-pack.sh unpack PACK [IDENTITY]      extract every member
#   sh grsync-pack.sh join [IDENTITY] < LIST > FILE
#       concatenate chunks; LIST has one "PACK OFFSET LENGTH" per line
# Leave out IDENTITY (an age identity file) for an unencrypted pack.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# member PACK OFFSET LENGTH: the tar stream of one member, into $work/tar
member() {
    tail -c +"$(($2 + 1))" "$1" | head -c "$3" > "$work/stored"
    if [ "$(wc -c < "$work/stored")" -ne "$3" ]; then
        echo "$1: shorter than its index says" >&2
        exit 1
    fi
    if [ -n "$id" ]; then
        age -d -i "$id" -o "$work/zst" "$work/stored"
    else
        mv "$work/stored" "$work/zst"
    fi
    # -f passes an uncompressed member through unchanged
    zstd -d -q -f -c "$work/zst" > "$work/tar"
}

case ${1:-} in
unpack)
    pack=$2 id=${3:-}
    set -- $(tail -c 82 "$pack" | sed -n \
        's/^grsync-pack 2 index-offset=0*\([0-9][0-9]*\) index-length=0*\([0-9][0-9]*\)$/\1 \2/p')
    if [ $# -ne 2 ]; then
        echo "$pack: not a grsync pack of version 2" >&2
        exit 1
    fi
    member "$pack" "$1" "$2"
    tar -x -O -f "$work/tar" index.json > "$work/index.json"
    sed -n 's/^{"number":\([0-9]*\),"offset":\([0-9]*\),"length":\([0-9]*\),"kind":"\([a-z]*\)".*/\1 \2 \3 \4/p' \
        "$work/index.json" > "$work/members"
    while read -r n off len kind; do
        case $kind in
        file) member "$pack" "$off" "$len"; tar -x -f "$work/tar" ;;
        chunk) member "$pack" "$off" "$len"; tar -x -O -f "$work/tar" chunk > "chunk.$n" ;;
        esac # a void member holds nothing
    done < "$work/members"
    ;;
join)
    id=${2:-}
    while read -r pack off len; do
        member "$pack" "$off" "$len" < /dev/null
        tar -x -O -f "$work/tar" chunk
    done
    ;;
*)
    echo "usage: sh grsync-pack.sh unpack PACK [IDENTITY] | join [IDENTITY] < LIST" >&2
    exit 2
    ;;
esac
