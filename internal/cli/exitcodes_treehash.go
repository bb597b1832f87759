package cli

import (
	"errors"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// A tarball Tar.jl rejects, or a tree hash other than the expected one, is
// a verification failure (exit 3).
func init() {
	verifyErrors = append(verifyErrors,
		func(err error) bool { return errors.Is(err, treehash.ErrTarEntry) },
		func(err error) bool { return errors.Is(err, treehash.ErrMismatch) },
	)
}
