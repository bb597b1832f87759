package treehash

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTarEntry is wrapped by every error that reports a tar stream Tar.jl
// (and therefore Pkg) rejects: a malformed header block, an unsupported
// entry type, an unsafe path, a symlink-prefix attack, a bad hard link.
// Such errors are *EntryError values naming the entry.
var ErrTarEntry = errors.New("tar entry rejected by Tar.jl rules")

// ErrMismatch is for callers that compare a computed tree hash with an
// expected one; nothing in this package returns it.
var ErrMismatch = errors.New("tree hash mismatch")

// ErrUnsupportedFile is returned by Dir and DirSum for a directory entry
// that is not a regular file, directory or symlink (FIFO, socket, device).
var ErrUnsupportedFile = errors.New("unsupported file type")

// ErrUnknownAlgorithm is returned for an Algorithm other than SHA1 and SHA256.
var ErrUnknownAlgorithm = errors.New("unknown tree hash algorithm")

// EntryError reports a problem with one tar entry. Path is the entry's path
// as found in the stream (after pax and GNU long-name headers, before
// normalization), or the raw header name when the header block itself is
// malformed.
type EntryError struct {
	Path string
	Err  error
}

func (e *EntryError) Error() string { return fmt.Sprintf("tar entry %q: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *EntryError) Unwrap() error { return e.Err }

// ruleError is one or more Tar.jl rule violations; it matches ErrTarEntry.
type ruleError struct{ msgs []string }

func (e *ruleError) Error() string {
	if len(e.msgs) == 1 {
		return e.msgs[0]
	}
	return "multiple errors: " + strings.Join(e.msgs, "; ")
}

func (e *ruleError) Is(target error) bool { return target == ErrTarEntry }

func ruleErrorf(format string, a ...any) error {
	return &ruleError{[]string{fmt.Sprintf(format, a...)}}
}

func entryErr(path string, err error) error { return &EntryError{Path: path, Err: err} }
