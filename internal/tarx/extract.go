package tarx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Extract writes the tree of the uncompressed tar stream r into dir, which
// must be an empty directory or not exist (it is then created, with its
// parents). The tree is the one Tar.jl's tree hash describes (see the
// package documentation): directories 0755, files 0644 or 0755 by the
// entry's owner-exec bit, hard links materialised as copies of the earlier
// regular file, symlinks created as stored (absolute or ".." targets
// included) but only after every file is written, so that nothing is ever
// written through a symlink. All writes go through an os.Root on dir.
//
// Entries Tar.jl rejects give an error wrapping treehash.ErrTarEntry that
// names the entry; exceeding lim gives an error wrapping ErrTooLarge.
// Extract stops when ctx is done. On any error it removes what it wrote:
// dir is left absent, or empty if it existed.
func Extract(ctx context.Context, r io.Reader, dir string, lim Limits) (err error) {
	lim = lim.withDefaults(defaultExtractMaxBytes, defaultExtractMaxFile)
	created, err := prepareDir(dir)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() {
		root.Close()
		if err != nil {
			cleanup(dir, created)
		}
	}()
	x := &extractor{root: root}
	t := &tree{root: newDir(), h: x}
	w := newTarWalker(ctx, r, lim)
	for {
		e, err := w.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		parent, err := t.put(e)
		if err != nil {
			return err
		}
		if parent == nil {
			continue // a directory
		}
		n := &tnode{exec: e.exec, size: e.size}
		switch e.typ {
		case treehash.TypeFile:
			n.kind = kindFile
			err = x.writeFile(e.path, e.exec, e.size, w.tr)
		case treehash.TypeHardlink:
			var target *tnode
			if target, err = t.hardlinkTarget(e); err == nil {
				n.kind, n.size = kindFile, target.size
				err = x.copyFile(e.path, e.exec, e.link)
			}
		case treehash.TypeSymlink:
			n.kind, n.link = kindSymlink, e.link
		default:
			err = &treehash.EntryError{Path: e.path, Err: fmt.Errorf("unexpected entry type %v: %w", e.typ, treehash.ErrTarEntry)}
		}
		if err != nil {
			return err
		}
		parent.children[e.parts[len(e.parts)-1]] = n
	}
	t.root.freeze()
	return x.symlinks(ctx, t.root, "")
}

// prepareDir checks that dir is empty or absent, creating it if absent.
func prepareDir(dir string) (created bool, err error) {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, os.MkdirAll(dir, 0o755)
	case err != nil:
		return false, err
	case len(ents) > 0:
		return false, fmt.Errorf("%s: directory not empty", dir)
	}
	return false, nil
}

// cleanup removes what Extract wrote.
func cleanup(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(dir + string(os.PathSeparator) + e.Name())
	}
}

// extractor mirrors tree changes under root.
type extractor struct {
	root *os.Root
	buf  []byte
}

func (x *extractor) mkdir(p string) error { return x.root.Mkdir(p, 0o755) }

func (x *extractor) remove(p string, old *tnode) error {
	switch old.kind {
	case kindSymlink:
		return nil // not created yet
	case kindDir:
		return x.root.RemoveAll(p)
	}
	return x.root.Remove(p)
}

func fileMode(exec bool) fs.FileMode {
	if exec {
		return 0o755
	}
	return 0o644
}

// writeFile creates p (which must not exist) with exactly size bytes of r.
func (x *extractor) writeFile(p string, exec bool, size int64, r io.Reader) error {
	f, err := x.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode(exec))
	if err != nil {
		return err
	}
	if x.buf == nil {
		x.buf = make([]byte, 256<<10)
	}
	k, err := io.CopyBuffer(f, io.LimitReader(r, size), x.buf)
	if err == nil && k != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Chmod(fileMode(exec)) // exact, whatever the umask
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// copyFile materialises a hard link p as a copy of the regular file target.
func (x *extractor) copyFile(p string, exec bool, target string) error {
	src, err := x.root.Open(target)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	return x.writeFile(p, exec, info.Size(), src)
}

// symlinks creates every symlink of the final tree, in path order.
func (x *extractor) symlinks(ctx context.Context, n *tnode, prefix string) error {
	for _, name := range n.names {
		c := n.children[name]
		p := prefix + name
		switch c.kind {
		case kindSymlink:
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := x.root.Symlink(c.link, p); err != nil {
				return err
			}
		case kindDir:
			if err := x.symlinks(ctx, c, p+"/"); err != nil {
				return err
			}
		}
	}
	return nil
}
