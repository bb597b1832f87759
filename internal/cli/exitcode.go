package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"oras.land/oras-go/v2/errdef"
)

// Exit codes, decided here and nowhere else.
const (
	ExitOK        = 0
	ExitError     = 1
	ExitUsage     = 2
	ExitVerify    = 3
	ExitNotFound  = 4
	ExitCancelled = 130
)

// usageError marks bad flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error with a formatted message.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// verifyErrors are the sentinels and types that mean "verification failed".
// Packages register theirs in exitcodes_*.go files next to the commands
// that use them, by appending to this list in an init function.
var verifyErrors []func(error) bool

// ExitCode maps an error to the documented exit code.
func ExitCode(ctx context.Context, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return ExitCancelled
	case errors.As(err, &ue):
		return ExitUsage
	}
	for _, is := range verifyErrors {
		if is(err) {
			return ExitVerify
		}
	}
	if errors.Is(err, errdef.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return ExitNotFound
	}
	return ExitError
}

// errNotFoundCLI is a not-found condition the CLI itself detects.
var errNotFoundCLI = fmt.Errorf("not found%.0w", errdef.ErrNotFound)
