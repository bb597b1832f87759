package treehash

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// Options select the semantics of DirSum. The zero value is Pkg's
// GitTools.tree_hash with SHA-1, except for the symlink length (see
// SymlinkCharLength).
type Options struct {
	// Algorithm is SHA1 if empty.
	Algorithm Algorithm
	// KeepEmpty hashes directories with nothing below them as empty trees
	// instead of skipping them (Tar.tree_hash's default semantics, applied
	// to a directory). Entries named ".git" are skipped either way.
	KeepEmpty bool
	// SymlinkCharLength reproduces Pkg's bug of putting the number of
	// characters of a symlink's target, rather than of bytes, in the blob
	// header (pkg-protocol G15). It changes the hash only for non-ASCII
	// targets, and makes it differ from git's and Tar.jl's.
	SymlinkCharLength bool
}

// Dir returns the tree hash Pkg computes for an extracted package or
// artifact at path: git-sha1, ".git" entries skipped, empty directories
// skipped, symlinks hashed as git does (by byte length).
func Dir(path string) (Hash, error) {
	var h Hash
	id, err := DirSum(path, Options{})
	if err != nil {
		return h, err
	}
	copy(h[:], id)
	return h, nil
}

// DirSum returns the tree hash of the directory at path with the
// semantics opts selects, as a raw id of opts.Algorithm.Size() bytes.
// The root itself is followed if it is a symlink; nothing below it is.
func DirSum(path string, opts Options) ([]byte, error) {
	alg := opts.Algorithm
	if alg == "" {
		alg = SHA1
	}
	o, err := newObjectHasher(alg)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", path)
	}
	d := dirHasher{o: o, opts: opts, buf: make([]byte, 128<<10)}
	id, _, err := d.tree(path)
	if err != nil {
		return nil, err
	}
	return id[:o.size], nil
}

type dirHasher struct {
	o    *objectHasher
	opts Options
	buf  []byte
}

// tree hashes the directory at path and reports whether anything but
// directories lies below it (Pkg's contains_files, which counts ".git").
func (d *dirHasher) tree(path string) (oid, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return oid{}, false, err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return oid{}, false, fmt.Errorf("%s: reading directory: %w", path, err)
	}
	entries := make([]treeEntry, 0, len(ents))
	nonEmpty, hasGit := false, false
	for _, ent := range ents {
		name := ent.Name()
		p := filepath.Join(path, name)
		if name == ".git" {
			hasGit = true
			continue
		}
		switch t := ent.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return oid{}, false, err
			}
			n := int64(len(target))
			if d.opts.SymlinkCharLength {
				n = int64(utf8.RuneCountInString(target))
			}
			entries = append(entries, treeEntry{name, modeSymlink, d.o.blob(target, n)})
			nonEmpty = true
		case t.IsDir():
			id, ne, err := d.tree(p)
			if err != nil {
				return oid{}, false, err
			}
			if ne || d.opts.KeepEmpty {
				entries = append(entries, treeEntry{name, modeDir, id})
			}
			nonEmpty = nonEmpty || ne
		case t.IsRegular():
			id, exec, err := d.file(p)
			if err != nil {
				return oid{}, false, err
			}
			mode := modeFile
			if exec {
				mode = modeExec
			}
			entries = append(entries, treeEntry{name, mode, id})
			nonEmpty = true
		default:
			return oid{}, false, fmt.Errorf("%s: %v: %w", p, t.Type(), ErrUnsupportedFile)
		}
	}
	if !nonEmpty && hasGit {
		ne, err := containsFiles(filepath.Join(path, ".git"))
		if err != nil {
			return oid{}, false, err
		}
		nonEmpty = ne
	}
	return d.o.tree(entries), nonEmpty, nil
}

// file hashes the regular file at path as a blob, streaming it.
func (d *dirHasher) file(path string) (oid, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return oid{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return oid{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return oid{}, false, fmt.Errorf("%s: %v: %w", path, fi.Mode().Type(), ErrUnsupportedFile)
	}
	size := fi.Size()
	d.o.begin("blob", size)
	n, err := io.CopyBuffer(d.o.h, io.LimitReader(f, size+1), d.buf)
	if err != nil {
		return oid{}, false, fmt.Errorf("%s: reading: %w", path, err)
	}
	if n != size {
		return oid{}, false, fmt.Errorf("%s: size changed from %d to %d bytes while hashing", path, size, n)
	}
	return d.o.sum(), fi.Mode().Perm()&0o100 != 0, nil
}

// containsFiles reports whether anything but directories lies at or below
// path, without following symlinks (Pkg's contains_files).
func containsFiles(path string) (bool, error) {
	found := errors.New("found")
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return found
		}
		return nil
	})
	if err == found {
		return true, nil
	}
	return false, err
}
