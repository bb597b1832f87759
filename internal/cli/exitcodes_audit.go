package cli

import "errors"

// An audit whose findings reach --fail-on fails like a verification
// (exit 3).
func init() {
	verifyErrors = append(verifyErrors, func(err error) bool {
		var ae *auditFailedError
		return errors.As(err, &ae)
	})
}
