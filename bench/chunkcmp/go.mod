module github.com/grsync/grsync/bench/chunkcmp

go 1.26.0

require (
	github.com/PlakarKorp/go-cdc-chunkers v1.1.0
	github.com/jotfs/fastcdc-go v0.2.0
	github.com/restic/chunker v0.4.0
)

require (
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/zeebo/blake3 v0.2.4 // indirect
)
