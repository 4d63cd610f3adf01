#!/bin/sh
# grsync-records.sh: read grsync version records (docs/FORMAT.md section 10)
# without grsync. A records object is a pack; unpack it first
# (sh grsync-pack.sh unpack RECORDS id.txt gives grsync/records.jsonl).
#   sh grsync-records.sh pieces PATH [DIR] < records.jsonl
#       the pieces of the latest version of PATH, in order, one
#       "PACK OFFSET LENGTH" line each, for grsync-pack.sh join; PACK is
#       DIR/OBJECT-ID (DIR defaults to "."), the pack downloaded from the
#       store under its id (a local store keeps it as archives/OBJECT-ID).
# PATH is matched as the records write it: as a JSON string, so a path with
# a quote, a backslash or a control character must be given escaped.
set -eu
case ${1:-} in
pieces) ;;
*) echo "usage: sh grsync-records.sh pieces PATH [DIR] < records.jsonl" >&2; exit 2 ;;
esac
path=$2 dir=${3:-.}
awk -v path="$path" -v dir="$dir" '
function field(line, name,    i, rest) {
    i = index(line, "\"" name "\":")
    if (i == 0) return ""
    rest = substr(line, i + length(name) + 3)
    if (substr(rest, 1, 1) == "\"") {
        rest = substr(rest, 2)
        return substr(rest, 1, index(rest, "\"") - 1)
    }
    match(rest, /^-?[0-9]+/)
    return substr(rest, 1, RLENGTH)
}
/^\{"blob":/ {
    len[field($0, "object") " " field($0, "offset")] = field($0, "length")
    next
}
/^\{"version":/ {
    if (index($0, "{\"version\":{\"path\":\"" path "\",") != 1) next
    last = $0
}
END {
    if (last == "") { print "no version of " path " in these records" > "/dev/stderr"; exit 1 }
    if (index(last, "\"deleted\":true")) { print path " was deleted in its latest version" > "/dev/stderr"; exit 1 }
    rest = last
    while ((i = index(rest, "{\"object\":\"")) > 0) {
        rest = substr(rest, i + 11)
        obj = substr(rest, 1, index(rest, "\"") - 1)
        off = field(rest, "offset")
        if (!((obj " " off) in len)) { print "a piece of " path " at " off " of " obj " is in no blob line" > "/dev/stderr"; exit 1 }
        print dir "/" obj, off, len[obj " " off]
    }
}'
