package cli

import (
	"errors"

	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// Every signature or trust-policy failure (unsigned, unknown keys, bad
// signature, below threshold) is a verification failure (exit 3).
func init() {
	verifyErrors = append(verifyErrors, func(err error) bool {
		var ve *trust.VerificationError
		return errors.As(err, &ve)
	})
}
