package cli

import (
	"math"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// batchMemoryLimit is the Go runtime's soft memory limit the commands that
// walk a whole store (push, verify, copy, inventory, prune, ls, …) run
// with unless GOMEMLIMIT sets one: the garbage collector works harder as
// the heap nears it, instead of letting the heap grow to twice what is
// live, so that a General-sized store (125,000 items) stays under 512 MiB
// of resident memory (README, General scale). It is soft: a store whose
// live data needs more gets more, at the cost of more collection. serve
// keeps the runtime's default (its memory cache is sized by a flag).
const batchMemoryLimit = 400 << 20

// applyMemoryLimit sets batchMemoryLimit for every command but serve, when
// GOMEMLIMIT set no limit (the runtime reads it at start; MaxInt64 is
// "none").
func applyMemoryLimit(cmd *cobra.Command) {
	if cmd.Name() == "serve" || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return
	}
	debug.SetMemoryLimit(batchMemoryLimit)
}
