//go:build !linux

package store

import (
	"errors"
	"os"
)

// setDirectIO is Linux's O_DIRECT toggle; elsewhere blobs are written
// through the page cache.
func setDirectIO(*os.File, bool) error { return errors.ErrUnsupported }
