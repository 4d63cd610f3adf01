#!/usr/bin/env bash
# Builds grsync and runs a real backup and restore on a local directory store:
# no AWS account needed. Everything goes into a fresh temporary folder, which
# is printed at the end so you can look around.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/grsync-demo.XXXXXX")
run() { printf '\n$ %s\n' "$*"; "$@"; }

printf 'building grsync into %s\n' "$work"
printf '(the first build on a machine downloads and compiles the dependencies, the AWS SDK\n'
printf ' and a pure-Go SQLite among them: a few minutes; go prints each package it builds)\n'
printf '\n$ go build -v -o %s ./cmd/grsync\n' "$work/grsync"
go build -v -o "$work/grsync" ./cmd/grsync 2>&1 | sed -u 's/^/  /'
printf 'built %s\n' "$work/grsync"
g="$work/grsync"
# Something to back up: this repository's docs and sources, plus an odd name.
mkdir -p "$work/src"
cp -r docs internal "$work/src/"
printf 'hello from grsync\n' > "$work/src/a file with spaces | and a pipe.txt"

run "$g" keygen "$work/demo.key"
run "$g" --local-store "$work/store" --db "$work/demo.db" --encryption-key-file "$work/demo.key" "$work/src"
printf '\n# a second run uploads nothing that is unchanged:'
run "$g" --local-store "$work/store" --db "$work/demo.db" --encryption-key-file "$work/demo.key" "$work/src"
run "$g" ls --db "$work/demo.db" "$work/src/docs"
run "$g" restore --db "$work/demo.db" --encryption-key-file "$work/demo.key" --output "$work/restored"
run diff -r "$work/src" "$work/restored$work/src"
printf '\nrestored tree is identical to the source. Everything is in %s\n' "$work"
