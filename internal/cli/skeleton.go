package cli

import "errors"

// errNotBuilt is returned by commands whose implementation has not landed.
// TODO(skeleton): remove once every command is built.
var errNotBuilt = errors.New("this command is not built yet")
