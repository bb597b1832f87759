package julia

import (
	"hash/crc32"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const slugChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Slug returns the 5-character directory name Pkg installs package uuid at
// tree hash into: <depot>/packages/<Name>/<slug> (pkg-protocol.md §9.4).
func Slug(uuid UUID, hash treehash.Hash) string { return SlugN(uuid, hash, 5) }

// SlugN is Julia's version_slug(uuid, sha1, n): crc32c over the uuid as a
// little-endian UInt128 (the canonical bytes reversed), continued over the
// 20 hash bytes, then n base-62 digits, least significant first. Pkg also
// looks for the 4-character form written by old versions. n ≤ 0 gives "".
func SlugN(uuid UUID, hash treehash.Hash, n int) string {
	var le [16]byte
	for i := range le {
		le[i] = uuid[15-i]
	}
	crc := crc32.Update(0, castagnoli, le[:])
	crc = crc32.Update(crc, castagnoli, hash[:])
	if n <= 0 {
		return ""
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = slugChars[crc%62]
		crc /= 62
	}
	return string(out)
}
