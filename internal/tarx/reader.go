package tarx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ErrTooLarge is wrapped by the errors of Extract and ReadFiles when a tar
// stream exceeds one of its Limits.
var ErrTooLarge = errors.New("tarball exceeds limit")

// Limits bounds what Extract and ReadFiles accept from one tar stream, so
// that a decompression bomb fails early. A field that is 0 or negative takes
// its default; the defaults differ because ReadFiles holds every file in
// memory.
type Limits struct {
	// MaxBytes bounds the uncompressed tar stream: headers, data, padding
	// and anything after the end-of-archive marker (which is read, as
	// Tar.jl reads it), and also the total size of the files the tree
	// holds, hard-link copies included. Default: 64 GiB for Extract, 1 GiB
	// for ReadFiles (General in April 2024: 43,903 files, 17.9 MB of
	// content, a 60 MB tar).
	MaxBytes int64

	// MaxEntries bounds the number of tar entries, extension headers not
	// counted. Default: 1,000,000.
	MaxEntries int

	// MaxFileBytes bounds the size of any one file. Default: 32 GiB for
	// Extract, 256 MiB for ReadFiles.
	MaxFileBytes int64
}

const (
	defaultMaxEntries       = 1_000_000
	defaultExtractMaxBytes  = 64 << 30
	defaultExtractMaxFile   = 32 << 30
	defaultReadFilesMaxByte = 1 << 30
	defaultReadFilesMaxFile = 256 << 20
)

func (l Limits) withDefaults(maxBytes, maxFile int64) Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = maxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = defaultMaxEntries
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = maxFile
	}
	return l
}

// limitReader fails with ErrTooLarge once more than n bytes are read, and
// with the context's error once ctx is done.
type limitReader struct {
	ctx  context.Context
	r    io.Reader
	n    int64 // bytes left
	max  int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	if l.n <= 0 {
		// Distinguish "exactly at the limit" from "over it".
		var one [1]byte
		if k, err := l.r.Read(one[:]); k == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("tar stream over %d bytes: %w", l.max, ErrTooLarge)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	l.read += int64(k)
	return k, err
}

// kind is the type of a node of the tree being read.
type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

// tnode is one node of the tree a tar stream describes, after Tar.jl's
// rules: last entry wins, intermediate directories are implicit.
type tnode struct {
	kind     kind
	exec     bool
	size     int64
	link     string            // symlink target, as stored
	data     []byte            // file content (ReadFiles only)
	children map[string]*tnode // kindDir only
	names    []string          // sorted child names, set by freeze
}

func newDir() *tnode { return &tnode{kind: kindDir, children: map[string]*tnode{}} }

// hooks mirrors tree changes on disk (Extract); nil for ReadFiles.
type hooks interface {
	mkdir(p string) error
	remove(p string, old *tnode) error
}

// entry is a treehash entry with its path split.
type entry struct {
	path  string   // normalised by treehash: no "." or empty parts
	parts []string // path split on "/"
	typ   treehash.EntryType
	exec  bool
	size  int64
	link  string
}

// tarWalker drives a treehash.TarReader over a limited stream.
type tarWalker struct {
	lr      *limitReader
	tr      *treehash.TarReader
	lim     Limits
	entries int
	files   int64 // bytes of the files and hard-link copies so far
}

func newTarWalker(ctx context.Context, r io.Reader, lim Limits) *tarWalker {
	lr := &limitReader{ctx: ctx, r: r, n: lim.MaxBytes, max: lim.MaxBytes}
	return &tarWalker{lr: lr, tr: treehash.NewTarReader(lr), lim: lim}
}

// next returns the next entry; io.EOF at the end of the archive, after
// whatever follows it was read (and limited).
func (w *tarWalker) next() (*entry, error) {
	for {
		e, err := w.tr.Next()
		if errors.Is(err, io.EOF) {
			if _, err := io.Copy(io.Discard, w.lr); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		w.entries++
		if w.entries > w.lim.MaxEntries {
			return nil, fmt.Errorf("more than %d entries: %w", w.lim.MaxEntries, ErrTooLarge)
		}
		if e.Type == treehash.TypeFile || e.Type == treehash.TypeHardlink {
			if err := w.account(e); err != nil {
				return nil, &treehash.EntryError{Path: e.Path, Err: err}
			}
		}
		parts := splitPath(e.Path) // already normalised; never empty
		if len(parts) == 0 {
			continue
		}
		return &entry{
			path: strings.Join(parts, "/"), parts: parts,
			typ: e.Type, exec: e.Exec, size: e.Size, link: e.Link,
		}, nil
	}
}

// readAhead is how far treehash.TarReader may have read past its current
// position (the size of its bufio.Reader), for the early size checks.
const readAhead = 64 << 10

// account checks a file or hardlink entry against the limits before any of
// its bytes are read or written: its own size, the bytes left in the stream
// (a File's body must fit in them), and the total of the files the tree
// materialises, hard-link copies included (so that a million hard links to
// one large file cannot fill a disk).
func (w *tarWalker) account(e *treehash.Entry) error {
	if e.Size > w.lim.MaxFileBytes {
		return fmt.Errorf("file of %d bytes, over the %d-byte file limit: %w", e.Size, w.lim.MaxFileBytes, ErrTooLarge)
	}
	if e.Type == treehash.TypeFile && e.Size > w.lr.n+readAhead {
		return fmt.Errorf("file of %d bytes, over the %d-byte stream limit: %w", e.Size, w.lim.MaxBytes, ErrTooLarge)
	}
	w.files += e.Size
	if w.files > w.lim.MaxBytes {
		return fmt.Errorf("files over %d bytes in total: %w", w.lim.MaxBytes, ErrTooLarge)
	}
	return nil
}

// splitPath splits a tar path on "/" and drops empty and "." parts, as
// Tar.jl normalises paths.
func splitPath(p string) []string {
	var parts []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return parts
}

// tree is the state of the tree read so far.
type tree struct {
	root *tnode
	h    hooks
}

// parent returns the directory that holds e, creating the missing
// intermediate directories and replacing non-directories on the way (a
// path under an existing file replaces the file, as in Tar.jl).
func (t *tree) parent(e *entry) (*tnode, error) {
	n := t.root
	for i, name := range e.parts[:len(e.parts)-1] {
		c := n.children[name]
		switch {
		case c != nil && c.kind == kindDir:
		case c != nil && c.kind == kindSymlink:
			// treehash.TarReader rejects this first; never write through it.
			return nil, &treehash.EntryError{Path: e.path, Err: fmt.Errorf("path below symlink %q: %w", strings.Join(e.parts[:i+1], "/"), treehash.ErrTarEntry)}
		default:
			p := strings.Join(e.parts[:i+1], "/")
			if c != nil && t.h != nil {
				if err := t.h.remove(p, c); err != nil {
					return nil, err
				}
			}
			c = newDir()
			n.children[name] = c
			if t.h != nil {
				if err := t.h.mkdir(p); err != nil {
					return nil, err
				}
			}
		}
		n = c
	}
	return n, nil
}

// lookup returns the node at the normalised path of link, or nil.
func (t *tree) lookup(link string) *tnode {
	n := t.root
	for _, name := range splitPath(link) {
		if n.kind != kindDir {
			return nil
		}
		if n = n.children[name]; n == nil {
			return nil
		}
	}
	return n
}

// put applies a directory entry, or prepares the place of any other entry
// (removing what was there) and returns the directory that will hold it.
// For a directory entry it returns nil.
func (t *tree) put(e *entry) (*tnode, error) {
	dir, err := t.parent(e)
	if err != nil {
		return nil, err
	}
	name := e.parts[len(e.parts)-1]
	old := dir.children[name]
	if e.typ == treehash.TypeDir && old != nil && old.kind == kindDir {
		return nil, nil // a directory entry keeps an existing directory
	}
	if old != nil {
		delete(dir.children, name)
		if t.h != nil {
			if err := t.h.remove(e.path, old); err != nil {
				return nil, err
			}
		}
	}
	if e.typ == treehash.TypeDir {
		dir.children[name] = newDir()
		if t.h != nil {
			if err := t.h.mkdir(e.path); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	return dir, nil
}

// hardlinkTarget returns the regular file a hardlink entry names.
func (t *tree) hardlinkTarget(e *entry) (*tnode, error) {
	target := t.lookup(e.link)
	if target == nil || target.kind != kindFile {
		// treehash.TarReader rejects this first.
		return nil, &treehash.EntryError{Path: e.path, Err: fmt.Errorf("hardlink to %q, not an earlier regular file: %w", e.link, treehash.ErrTarEntry)}
	}
	return target, nil
}

// freeze sorts every directory's child names, for ReadDir and for the
// deterministic creation of symlinks.
func (n *tnode) freeze() {
	if n.kind != kindDir {
		return
	}
	n.names = n.names[:0]
	for name, c := range n.children {
		n.names = append(n.names, name)
		c.freeze()
	}
	slices.Sort(n.names)
}
