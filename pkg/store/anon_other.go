//go:build !linux

package store

import (
	"errors"
	"os"
)

// openAnon is Linux's O_TMPFILE; elsewhere blobs go through named
// temporary files.
func openAnon(dir string, _ os.FileMode) (*os.File, error) {
	return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: errors.ErrUnsupported}
}

func linkAnon(f *os.File, path string) error {
	return &os.LinkError{Op: "linkat", Old: f.Name(), New: path, Err: errors.ErrUnsupported}
}
