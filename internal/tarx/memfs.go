package tarx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ReadTarball is ReadFiles of a compressed or plain tarball (Decompress)
// that then reads r to its end: when r verifies what it yields at EOF (a
// bundle item's reader checks its digest there), the tarball verified
// before ReadTarball returns, and bytes after the tar's end-of-archive
// marker never go unchecked.
func ReadTarball(r io.Reader, lim Limits) (fs.FS, error) {
	dec, _, err := Decompress(r)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	fsys, err := ReadFiles(dec, lim)
	if err != nil {
		return nil, fmt.Errorf("reading the tarball: %w", err)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return fsys, nil
}

// ReadFiles reads the uncompressed tar stream r into memory and returns the
// final tree as a read-only file system, without writing anything to disk.
// The tree is the one Tar.jl's tree hash describes: the last entry for a path
// wins and hard links are copies of earlier regular files. Regular files
// have mode 0644 or 0755 (the entry's owner-exec bit), directories
// fs.ModeDir|0755 and symlinks fs.ModeSymlink|0777; modification times are
// zero.
//
// The result implements fs.ReadFileFS, fs.ReadDirFS, fs.StatFS and
// fs.ReadLinkFS, and is safe for concurrent use. Open and Stat follow
// symlinks whose target stays inside the tree (relative targets); an
// absolute or escaping target, or a loop, gives fs.ErrNotExist, while
// ReadLink and Lstat report the link itself. Names need not be valid UTF-8
// (fs.ValidPath's other rules apply), so every listed entry can be opened.
//
// Errors are those of Extract: treehash.ErrTarEntry for entries Tar.jl
// rejects, ErrTooLarge beyond lim (whose defaults are lower than Extract's,
// as everything is held in memory).
func ReadFiles(r io.Reader, lim Limits) (fs.FS, error) {
	lim = lim.withDefaults(defaultReadFilesMaxByte, defaultReadFilesMaxFile)
	t := &tree{root: newDir()}
	w := newTarWalker(context.Background(), r, lim)
	for {
		e, err := w.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		parent, err := t.put(e)
		if err != nil {
			return nil, err
		}
		if parent == nil {
			continue // a directory
		}
		n := &tnode{exec: e.exec}
		switch e.typ {
		case treehash.TypeFile:
			n.kind, n.size = kindFile, e.size
			if n.data, err = readBody(w.tr, e.size); err != nil {
				return nil, err
			}
		case treehash.TypeHardlink:
			target, err := t.hardlinkTarget(e)
			if err != nil {
				return nil, err
			}
			n.kind, n.size, n.data = kindFile, target.size, target.data
		case treehash.TypeSymlink:
			n.kind, n.link = kindSymlink, e.link
		default:
			return nil, &treehash.EntryError{Path: e.path, Err: fmt.Errorf("unexpected entry type %v: %w", e.typ, treehash.ErrTarEntry)}
		}
		parent.children[e.parts[len(e.parts)-1]] = n
	}
	t.root.freeze()
	return memFS{t.root}, nil
}

// readBody reads a file body of size bytes. It allocates as the bytes
// arrive (beyond a first 1 MiB), so that a header claiming a large file in
// a short stream costs no more memory than the stream holds.
func readBody(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, min(size, 1<<20))
	for int64(len(b)) < size {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(size-int64(len(b)), int64(cap(b)))))
		}
		k, err := r.Read(b[len(b):min(int64(cap(b)), size)])
		b = b[:len(b)+k]
		if err == io.EOF && int64(len(b)) < size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	return b, nil
}

// memFS is the fs.FS of ReadFiles. It is never modified after ReadFiles
// returns, so it needs no lock.
type memFS struct{ root *tnode }

// maxHops bounds symlink resolution, as Linux's ELOOP limit does.
const maxHops = 40

var errLoop = errors.New("too many levels of symbolic links")

// resolve returns the node at name, following symlinks in every component
// but the last, and in the last one too if follow is set. It returns the
// resolved path along with the node.
func (m memFS) resolve(op, name string, follow bool) (*tnode, string, error) {
	if !validPath(name) {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	hops := 0
	cur := name
restart:
	n := m.root
	if cur == "." {
		return n, cur, nil
	}
	parts := strings.Split(cur, "/")
	for i, p := range parts {
		if n.kind != kindDir {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		c := n.children[p]
		if c == nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		last := i == len(parts)-1
		if c.kind == kindSymlink && (!last || follow) {
			if hops++; hops > maxHops {
				return nil, "", &fs.PathError{Op: op, Path: name, Err: errLoop}
			}
			if path.IsAbs(c.link) || c.link == "" {
				return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
			}
			next := path.Join(strings.Join(parts[:i], "/"), c.link)
			if next == ".." || strings.HasPrefix(next, "../") {
				return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
			}
			if rest := parts[i+1:]; len(rest) > 0 {
				next = path.Join(next, strings.Join(rest, "/"))
			}
			cur = next
			goto restart
		}
		n = c
	}
	return n, cur, nil
}

// validPath is fs.ValidPath without its UTF-8 rule: tar entry names, like
// Linux file names, are bytes, and every name ReadDir lists must open.
func validPath(name string) bool {
	if name == "." {
		return true
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}

func (m memFS) Open(name string) (fs.File, error) {
	n, _, err := m.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi := info{name: path.Base(name), n: n}
	if n.kind == kindDir {
		return &memDir{info: fi}, nil
	}
	return &memFile{info: fi, r: bytes.NewReader(n.data)}, nil
}

// ReadFile implements fs.ReadFileFS. The caller may modify the result.
func (m memFS) ReadFile(name string) ([]byte, error) {
	n, _, err := m.resolve("readfile", name, true)
	if err != nil {
		return nil, err
	}
	if n.kind == kindDir {
		return nil, &fs.PathError{Op: "readfile", Path: name, Err: errIsDir}
	}
	return bytes.Clone(n.data), nil
}

var errIsDir = errors.New("is a directory")

// ReadDir implements fs.ReadDirFS: the entries sorted by name.
func (m memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, _, err := m.resolve("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.kind != kindDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return dirEntries(n, 0, len(n.names)), nil
}

var errNotDir = errors.New("not a directory")

func dirEntries(n *tnode, from, to int) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, to-from)
	for _, name := range n.names[from:to] {
		out = append(out, fs.FileInfoToDirEntry(info{name: name, n: n.children[name]}))
	}
	return out
}

// Stat implements fs.StatFS, following symlinks.
func (m memFS) Stat(name string) (fs.FileInfo, error) {
	n, _, err := m.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(name), n: n}, nil
}

// Lstat implements fs.ReadLinkFS: a symlink is described, not followed.
func (m memFS) Lstat(name string) (fs.FileInfo, error) {
	n, _, err := m.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return info{name: path.Base(name), n: n}, nil
}

// ReadLink implements fs.ReadLinkFS: the target exactly as stored.
func (m memFS) ReadLink(name string) (string, error) {
	n, _, err := m.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.kind != kindSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.link, nil
}

// info is the fs.FileInfo of a node.
type info struct {
	name string
	n    *tnode
}

func (i info) Name() string { return i.name }
func (i info) Size() int64 {
	if i.n.kind == kindSymlink {
		return int64(len(i.n.link))
	}
	return i.n.size
}
func (i info) Mode() fs.FileMode {
	switch i.n.kind {
	case kindDir:
		return fs.ModeDir | 0o755
	case kindSymlink:
		return fs.ModeSymlink | 0o777
	}
	return fileMode(i.n.exec)
}
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.n.kind == kindDir }
func (i info) Sys() any           { return nil }

// memFile is an open regular file.
type memFile struct {
	info
	r *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	return f.r.ReadAt(p, off)
}
func (f *memFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
func (f *memFile) Close() error                              { return nil }

// memDir is an open directory.
type memDir struct {
	info
	off int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}
func (d *memDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *memDir) ReadDir(count int) ([]fs.DirEntry, error) {
	names := d.n.names
	rest := len(names) - d.off
	if count > 0 && rest == 0 {
		return nil, io.EOF
	}
	if count > 0 && count < rest {
		rest = count
	}
	out := dirEntries(d.n, d.off, d.off+rest)
	d.off += rest
	return out, nil
}
