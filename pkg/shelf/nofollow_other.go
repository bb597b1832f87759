//go:build !unix

package shelf

import (
	"errors"
	"os"
)

// openNoFollow opens a file of the server's own directory for reading,
// refusing a symbolic link in its place.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New(path + ": not a regular file")
	}
	return os.Open(path)
}
