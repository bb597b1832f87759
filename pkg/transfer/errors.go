package transfer

import "oras.land/oras-go/v2/errdef"

var errNotFoundBase = errdef.ErrNotFound
