package treehash

import (
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
)

// Algorithm names a tree hash algorithm, with the spelling Tar.jl uses for
// its algorithm keyword.
type Algorithm string

const (
	// SHA1 is git's default object format and the only one Pkg uses.
	SHA1 Algorithm = "git-sha1"
	// SHA256 is git's sha256 object format (Tar.tree_hash algorithm="git-sha256").
	SHA256 Algorithm = "git-sha256"
)

// Size returns the length in bytes of a's ids, or 0 for an unknown algorithm.
func (a Algorithm) Size() int {
	switch a {
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

func (a Algorithm) newHash() (hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New(), nil
	case SHA256:
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("%q: %w", string(a), ErrUnknownAlgorithm)
}

// oid holds an object id of either algorithm; only the first Size bytes count.
type oid [sha256.Size]byte

// git modes, as written in tree objects.
const (
	modeFile    = "100644"
	modeExec    = "100755"
	modeSymlink = "120000"
	modeDir     = "40000"
)

// objectHasher computes git object ids with one reusable hash.Hash.
// Not safe for concurrent use.
type objectHasher struct {
	h    hash.Hash
	size int
	hdr  []byte
	body []byte // scratch for tree bodies
	out  []byte // scratch for sums
}

func newObjectHasher(alg Algorithm) (*objectHasher, error) {
	h, err := alg.newHash()
	if err != nil {
		return nil, err
	}
	return &objectHasher{h: h, size: alg.Size()}, nil
}

// begin resets the hash and writes the object header "<kind> <n>\x00".
func (o *objectHasher) begin(kind string, n int64) {
	o.h.Reset()
	o.hdr = append(o.hdr[:0], kind...)
	o.hdr = append(o.hdr, ' ')
	o.hdr = strconv.AppendInt(o.hdr, n, 10)
	o.hdr = append(o.hdr, 0)
	o.h.Write(o.hdr)
}

func (o *objectHasher) sum() oid {
	var id oid
	o.out = o.h.Sum(o.out[:0]) // through a kept slice: id would escape
	copy(id[:], o.out)
	return id
}

// blob returns the id of a blob of data, with n in the header (n differs
// from len(data) only for Pkg's symlink character-length bug).
func (o *objectHasher) blob(data string, n int64) oid {
	o.begin("blob", n)
	o.h.Write([]byte(data))
	return o.sum()
}

// treeEntry is one child in a tree object.
type treeEntry struct {
	name string
	mode string
	id   oid
}

// tree sorts entries in git order and returns the tree object id.
func (o *objectHasher) tree(entries []treeEntry) oid {
	slices.SortFunc(entries, func(a, b treeEntry) int {
		return gitCompare(a.name, a.mode == modeDir, b.name, b.mode == modeDir)
	})
	body := o.body[:0]
	for _, e := range entries {
		body = append(body, e.mode...)
		body = append(body, ' ')
		body = append(body, e.name...)
		body = append(body, 0)
		body = append(body, e.id[:o.size]...)
	}
	o.body = body
	o.begin("tree", int64(len(body)))
	o.h.Write(body)
	return o.sum()
}

// gitCompare orders names as git orders tree entries: by bytes, where a
// directory's name is compared as if it ended in "/". Names never contain
// "/", so keys that differ only past that point are equal names.
func gitCompare(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return keyByte(a, n, aDir) - keyByte(b, n, bDir)
}

// keyByte is the byte at i of name's sort key, or -1 past its end.
func keyByte(name string, i int, dir bool) int {
	switch {
	case i < len(name):
		return int(name[i])
	case i == len(name) && dir:
		return '/'
	}
	return -1
}
