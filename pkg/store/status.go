package store

import (
	"errors"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

// HTTPStatus returns the HTTP status code of the registry response an error
// reports, or 0 when err carries none (a connection reset, a layout error).
// Callers use it to tell a permanent refusal (4xx) from a transient one.
func HTTPStatus(err error) int {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	return 0
}
