package cli

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/spf13/cobra"
)

func Test_applyMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	for _, tt := range []struct {
		cmd         string
		before, got int64
	}{
		{"verify", math.MaxInt64, batchMemoryLimit},
		{"push", math.MaxInt64, batchMemoryLimit},
		{"serve", math.MaxInt64, math.MaxInt64},
		{"verify", 1 << 30, 1 << 30}, // GOMEMLIMIT set: kept
	} {
		debug.SetMemoryLimit(tt.before)
		applyMemoryLimit(&cobra.Command{Use: tt.cmd})
		if got := debug.SetMemoryLimit(-1); got != tt.got {
			t.Errorf("%s with limit %d: limit %d, want %d", tt.cmd, tt.before, got, tt.got)
		}
	}
}
