package treehash

import (
	"bufio"
	"io"
	"sync"
)

// TarHashes are the two git-sha1 tree hashes of one tar stream.
type TarHashes struct {
	// KeepEmpty is Tar.tree_hash with its default skip_empty=false: empty
	// directories count as empty trees. Pkg checks registry tarballs
	// against this hash.
	KeepEmpty Hash
	// SkipEmpty is Tar.tree_hash(skip_empty=true): directories with no file
	// or symlink below them are dropped, as git and Pkg's GitTools.tree_hash
	// do. Pkg checks packages and artifacts against this hash (of the
	// extracted directory, which also drops ".git" entries).
	SkipEmpty Hash
}

// Tar reads the uncompressed tar stream r to its end and returns its
// git-sha1 tree hashes under Tar.jl's rules, both semantics from one pass.
// A stream Tar.jl rejects gives an error wrapping ErrTarEntry that names
// the entry.
func Tar(r io.Reader) (TarHashes, error) {
	var h TarHashes
	keep, skip, err := TarSum(r, SHA1)
	if err != nil {
		return h, err
	}
	copy(h.KeepEmpty[:], keep)
	copy(h.SkipEmpty[:], skip)
	return h, nil
}

// TarSum is Tar for any algorithm; it returns raw ids of alg.Size() bytes.
func TarSum(r io.Reader, alg Algorithm) (keepEmpty, skipEmpty []byte, err error) {
	return tarSum(r, alg, nil)
}

// tarBuffers are the buffers of one tarSum.
type tarBuffers struct {
	br   *bufio.Reader
	copy []byte
}

var tarBufs = sync.Pool{New: func() any {
	return &tarBuffers{br: bufio.NewReaderSize(nil, tarBufSize), copy: make([]byte, 128<<10)}
}}

func tarSum(r io.Reader, alg Algorithm, visit func(*Entry) io.Writer) (keepEmpty, skipEmpty []byte, err error) {
	o, err := newObjectHasher(alg)
	if err != nil {
		return nil, nil, err
	}
	// A push hashes thousands of tarballs, most of them small: recycle
	// the buffers (allocating and clearing 192 KiB each was a visible
	// share of its CPU and GC).
	bufs := tarBufs.Get().(*tarBuffers)
	defer func() {
		bufs.br.Reset(nil)
		tarBufs.Put(bufs)
	}()
	bufs.br.Reset(r)
	tr := newTarReaderSum(bufs.br, o.size)
	buf := bufs.copy
	for {
		e, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		var w io.Writer
		if visit != nil {
			w = visit(e)
		}
		switch e.Type {
		case TypeFile:
			o.begin("blob", e.Size)
			dst := io.Writer(o.h)
			if w != nil {
				dst = io.MultiWriter(o.h, w)
			}
			if _, err := io.CopyBuffer(dst, tr, buf); err != nil {
				return nil, nil, err
			}
			id := o.sum()
			copy(tr.t.id(tr.node), id[:o.size])
		case TypeSymlink:
			id := o.blob(e.Link, int64(len(e.Link)))
			copy(tr.t.id(tr.node), id[:o.size])
		case TypeHardlink:
			copy(tr.t.id(tr.node), tr.t.id(tr.target))
		}
	}
	keep, skip := tr.t.sum(o)
	return keep[:o.size], skip[:o.size], nil
}
