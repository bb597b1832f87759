package cli

import (
	"errors"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// Downloaded bytes that do not have the sha256 their Artifacts.toml entry
// promises failed verification.
func init() {
	verifyErrors = append(verifyErrors, func(err error) bool { return errors.Is(err, transfer.ErrChecksum) })
}
