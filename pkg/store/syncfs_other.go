//go:build !linux

package store

import "errors"

// syncFS is not available here; callers fall back to an fsync per file.
func syncFS(string) error { return errors.ErrUnsupported }
