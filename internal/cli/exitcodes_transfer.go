package cli

import (
	"errors"

	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// Content a source gave that fails verification (a corrupt gzip stream, a
// tar entry Tar.jl rejects, the wrong tree hash, downloaded bytes without
// the sha256 their Artifacts.toml entry promises) failed verification.
func init() {
	verifyErrors = append(verifyErrors,
		func(err error) bool { return errors.Is(err, upstream.ErrChecksum) },
		func(err error) bool { return errors.Is(err, upstream.ErrBadContent) },
	)
}
