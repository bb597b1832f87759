package treehash

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
)

// tree is what a tar stream builds: the tree its entries make (last entry
// winning) and Tar.jl's record of every path an entry named, held
// compactly, since a tarball may have hundreds of thousands of entries in
// a few megabytes of gzip. A record per distinct path, explicit or
// implied, lives in chunked arrays (no copying as they grow) and is found
// by (parent, name) through an open-addressing index of record numbers;
// names are stored once, in a byte arena. A record outlives its path's
// place in the tree: a node replaced (a file by a directory, a directory
// by a file) is a new incarnation of the same record, and its former
// children, which no longer belong to the tree, keep their records, as
// Tar.jl's `paths` keeps their entries. About 50 bytes per record plus the
// name, where a map-of-maps tree took over 400 (allocations included).
type tree struct {
	recs  [][]record // chunks of recChunk records
	n     int32      // records in use
	ids   [][]byte   // per record, size bytes: a leaf's blob id, a directory's keep-empty id
	size  int        // id length
	names [][]byte   // arena chunks; a name is a uvarint length and its bytes
	index []int32    // open addressing: record number + 1, 0 for empty
	seed  maphash.Seed
	h     maphash.Hash
}

// record is one path.
type record struct {
	name uint64 // arena chunk << 32 | offset
	size int64  // of a file; for a directory, while hashing, its index among the directories
	// inc is the path's incarnation in the tree, bumped whenever an entry
	// gives it a new node; pinc is the parent's incarnation it was put
	// under. A record is in the tree when its parent is a directory in the
	// tree whose incarnation is pinc.
	inc, pinc uint32
	parent    int32    // -1 for the root
	kind      pathKind // its node's kind; 0 before it has one
	seen      pathKind // Tar.jl's paths[path]: the kind of the last entry naming it, 0 if none
	exec      bool
}

const (
	recChunk  = 4096
	nameChunk = 64 << 10
)

func newTree(idSize int) *tree {
	t := &tree{size: idSize, seed: maphash.MakeSeed(), index: make([]int32, 1024)}
	t.h.SetSeed(t.seed)
	root := t.add(-1, "")
	r := t.rec(root)
	r.kind, r.inc = kindDir, 1
	return t
}

func (t *tree) rec(i int32) *record { return &t.recs[i/recChunk][i%recChunk] }

func (t *tree) id(i int32) []byte {
	off := int(i%recChunk) * t.size
	return t.ids[i/recChunk][off : off+t.size]
}

func (t *tree) name(i int32) []byte {
	ref := t.rec(i).name
	chunk := t.names[ref>>32]
	off := int(ref & (1<<32 - 1))
	n, w := binary.Uvarint(chunk[off:])
	return chunk[off+w : off+w+int(n)]
}

func (t *tree) hash(parent int32, name string) uint64 {
	t.h.Reset()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(parent))
	t.h.Write(b[:])
	t.h.WriteString(name)
	return t.h.Sum64()
}

func (t *tree) hashBytes(parent int32, name []byte) uint64 {
	t.h.Reset()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(parent))
	t.h.Write(b[:])
	t.h.Write(name)
	return t.h.Sum64()
}

// find returns the record of parent's child name, or -1.
func (t *tree) find(parent int32, name string) int32 {
	mask := uint64(len(t.index) - 1)
	for i := t.hash(parent, name) & mask; ; i = (i + 1) & mask {
		v := t.index[i]
		if v == 0 {
			return -1
		}
		if r := v - 1; t.rec(r).parent == parent && string(t.name(r)) == name {
			return r
		}
	}
}

// child returns the record of parent's child name, adding it (with no
// node yet) if it is new.
func (t *tree) child(parent int32, name string) int32 {
	if r := t.find(parent, name); r >= 0 {
		return r
	}
	return t.add(parent, name)
}

func (t *tree) add(parent int32, name string) int32 {
	if t.n%recChunk == 0 {
		t.recs = append(t.recs, make([]record, recChunk))
		t.ids = append(t.ids, make([]byte, recChunk*t.size))
	}
	r := t.n
	t.n++
	*t.rec(r) = record{parent: parent, name: t.storeName(name)}
	if int(t.n)*4 > len(t.index)*3 {
		t.grow()
	} else {
		t.put(r)
	}
	return r
}

func (t *tree) put(r int32) {
	mask := uint64(len(t.index) - 1)
	i := t.hashBytes(t.rec(r).parent, t.name(r)) & mask
	for t.index[i] != 0 {
		i = (i + 1) & mask
	}
	t.index[i] = r + 1
}

func (t *tree) grow() {
	t.index = make([]int32, 2*len(t.index))
	for r := int32(0); r < t.n; r++ {
		t.put(r)
	}
}

func (t *tree) storeName(name string) uint64 {
	need := binary.MaxVarintLen64 + len(name)
	last := len(t.names) - 1
	if last < 0 || cap(t.names[last])-len(t.names[last]) < need {
		t.names = append(t.names, make([]byte, 0, max(nameChunk, need)))
		last++
	}
	c := t.names[last]
	off := len(c)
	c = binary.AppendUvarint(c, uint64(len(name)))
	t.names[last] = append(c, name...)
	return uint64(last)<<32 | uint64(off)
}

// live reports whether record r is in the tree under dir (itself in it).
func (t *tree) live(r, dir int32) bool {
	rr := t.rec(r)
	return rr.kind != 0 && rr.pinc == t.rec(dir).inc
}

// renew gives r a new node of kind under dir: its former children leave
// the tree.
func (t *tree) renew(r, dir int32, kind pathKind) {
	rr := t.rec(r)
	rr.kind, rr.inc, rr.pinc = kind, rr.inc+1, t.rec(dir).inc
	rr.exec, rr.size = false, 0
	clear(t.id(r))
}

// seenKind is Tar.jl's paths[p] for the normalized path p: the kind of
// the last entry that named it, 0 if none did.
func (t *tree) seenKind(p string) pathKind {
	r := int32(0)
	for part := range splitParts(p) {
		if r = t.find(r, part); r < 0 {
			return 0
		}
	}
	return t.rec(r).seen
}

// lookup returns the record of the normalized path p in the tree, or -1.
func (t *tree) lookup(p string) int32 {
	r := int32(0)
	for part := range splitParts(p) {
		if t.rec(r).kind != kindDir {
			return -1
		}
		c := t.find(r, part)
		if c < 0 || !t.live(c, r) {
			return -1
		}
		r = c
	}
	return r
}

// splitParts yields the non-empty components of a normalized path.
func splitParts(p string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for len(p) > 0 {
			i := 0
			for i < len(p) && p[i] != '/' {
				i++
			}
			if i > 0 && !yield(p[:i]) {
				return
			}
			if i == len(p) {
				return
			}
			p = p[i+1:]
		}
	}
}

// insert records an entry at the normalized path p (not the root), last
// entry winning, and returns its record.
func (t *tree) insert(p string, kind pathKind, exec bool, size int64) int32 {
	dir := int32(0)
	rest := p
	for {
		i := 0
		for i < len(rest) && rest[i] != '/' {
			i++
		}
		part := rest[:i]
		last := i == len(rest)
		c := t.child(dir, part)
		switch {
		case !last || kind == kindDir:
			if !t.live(c, dir) || t.rec(c).kind != kindDir {
				t.renew(c, dir, kindDir)
			}
		default:
			t.renew(c, dir, kind)
			rc := t.rec(c)
			rc.exec, rc.size = exec, size
		}
		if last {
			t.rec(c).seen = kind
			return c
		}
		dir, rest = c, rest[i+1:]
	}
}

// sum returns the keep-empty and skip-empty tree ids of the root. Leaf ids
// must be set (Tar does, as the bodies stream by).
func (t *tree) sum(o *objectHasher) (keep, skip oid) {
	n := t.n
	// What is in the tree, and each directory's children: records come
	// after their parents, so one pass in order settles membership.
	in := make([]bool, n)
	in[0] = true
	count := make([]int32, n+1)
	dirs := int64(0)
	for r := int32(1); r < n; r++ {
		rr := t.rec(r)
		p := rr.parent
		if in[p] && t.rec(p).kind == kindDir && t.live(r, p) {
			in[r] = true
			count[p+1]++
		}
	}
	for r := int32(0); r < n; r++ {
		if in[r] && t.rec(r).kind == kindDir {
			t.rec(r).size = dirs
			dirs++
		}
		count[r+1] += count[r]
	}
	kids := make([]int32, count[n])
	fill := slices.Clone(count[:n])
	for r := int32(1); r < n; r++ {
		if in[r] {
			p := t.rec(r).parent
			kids[fill[p]] = r
			fill[p]++
		}
	}
	fill = nil
	skipIDs := make([]byte, dirs*int64(t.size))
	nonEmpty := make([]bool, dirs)
	// Directories in reverse order: a directory's children are done
	// before it.
	for r := n - 1; r >= 0; r-- {
		if !in[r] || t.rec(r).kind != kindDir {
			continue
		}
		ch := kids[count[r]:count[r+1]]
		slices.SortFunc(ch, func(a, b int32) int {
			return gitCompareBytes(t.name(a), t.rec(a).kind == kindDir, t.name(b), t.rec(b).kind == kindDir)
		})
		d := t.rec(r).size
		keepID := t.treeID(o, ch, skipIDs, nonEmpty, false)
		skipID := t.treeID(o, ch, skipIDs, nonEmpty, true)
		copy(t.id(r), keepID[:t.size])
		copy(skipIDs[d*int64(t.size):], skipID[:t.size])
		for _, c := range ch {
			if t.rec(c).kind != kindDir || nonEmpty[t.rec(c).size] {
				nonEmpty[d] = true
				break
			}
		}
	}
	copy(keep[:], t.id(0))
	copy(skip[:], skipIDs[t.rec(0).size*int64(t.size):])
	return keep, skip
}

// treeID hashes the tree object of one directory's sorted children,
// streamed (its length first) without building it: with skip, the
// skip-empty object, without the directories that hold nothing but
// directories.
func (t *tree) treeID(o *objectHasher, ch []int32, skipIDs []byte, nonEmpty []bool, skip bool) oid {
	entry := func(c int32) (mode string, id []byte, ok bool) {
		rc := t.rec(c)
		switch {
		case rc.kind == kindDir && skip:
			if !nonEmpty[rc.size] {
				return "", nil, false
			}
			return modeDir, skipIDs[rc.size*int64(t.size) : (rc.size+1)*int64(t.size)], true
		case rc.kind == kindDir:
			return modeDir, t.id(c), true
		case rc.kind == kindSymlink:
			return modeSymlink, t.id(c), true
		case rc.exec:
			return modeExec, t.id(c), true
		}
		return modeFile, t.id(c), true
	}
	var length int64
	for _, c := range ch {
		if mode, _, ok := entry(c); ok {
			length += int64(len(mode) + 1 + len(t.name(c)) + 1 + t.size)
		}
	}
	o.begin("tree", length)
	buf := o.body[:0]
	for _, c := range ch {
		mode, id, ok := entry(c)
		if !ok {
			continue
		}
		if len(buf) > 32<<10 {
			o.h.Write(buf)
			buf = buf[:0]
		}
		buf = append(buf, mode...)
		buf = append(buf, ' ')
		buf = append(buf, t.name(c)...)
		buf = append(buf, 0)
		buf = append(buf, id...)
	}
	o.h.Write(buf)
	o.body = buf
	return o.sum()
}

// gitCompareBytes is gitCompare on byte slices.
func gitCompareBytes(a []byte, aDir bool, b []byte, bDir bool) int {
	n := min(len(a), len(b))
	if c := bytes.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return keyByteOf(a, n, aDir) - keyByteOf(b, n, bDir)
}

func keyByteOf(name []byte, i int, dir bool) int {
	switch {
	case i < len(name):
		return int(name[i])
	case i == len(name) && dir:
		return '/'
	}
	return -1
}
