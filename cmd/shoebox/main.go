// Command shoebox carries Julia packages, artifacts and registry snapshots
// across an air gap as signed OCI artifacts. See internal/cli for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoebox-jl/shoebox/internal/cli"
)

func main() {
	registerKMS()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.OSStreams())
	stop()
	os.Exit(code)
}
