// Package cli is the shoebox command line: argv, flags, prompts, output and
// exit codes. It is the only importer of cobra. Each command lives in its own
// file as XOptions + newXCmd(f, runF) + runX(ctx, opts) and calls into pkg/
// for all behaviour.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// Version is the shoebox version, set at build time with
// -ldflags "-X github.com/shoebox-jl/shoebox/internal/cli.Version=v1.2.3".
// When unset the module version from the build info is used.
var Version = ""

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InIsTerminal and ErrIsTerminal say whether In and Err are terminals,
	// which decides prompts and live progress.
	InIsTerminal  bool
	ErrIsTerminal bool
}

// OSStreams returns the process's standard streams.
func OSStreams() Streams {
	return Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InIsTerminal:  isTerminal(os.Stdin),
		ErrIsTerminal: isTerminal(os.Stderr),
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Factory carries what commands need from the outside world, so tests can
// swap it: streams, the clock, and the environment.
type Factory struct {
	Streams
	// Now returns the current time; tests pin it.
	Now func() time.Time
	// Getenv reads an environment variable; it is env.Get in production.
	Getenv func(string) string
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const rootLong = `shoebox carries Julia registries, packages and artifacts across an air gap
as signed OCI artifacts, and serves them to Julia's package manager inside.

Outside (online):
  shoebox push     collect what Manifest.toml files or package lists need
                   (registry snapshot, package versions, artifacts for the
                   chosen platforms) from a Pkg server or a depot, and write it
                   as a deduplicated OCI bundle into a layout (USB stick) or a
                   registry
  shoebox sign     sign the bundle (cosign-compatible, fully offline)

Inside (air-gapped):
  shoebox verify   check signatures against a trust policy, every digest and
                   every tree hash
  shoebox copy     move verified bundles with their signatures into the
                   internal registry (Harbor, distribution, zot)
  shoebox serve    answer Julia's Pkg protocol straight from the OCI store:
                   JULIA_PKG_SERVER=http://host:port

Stores are an OCI layout directory (oci-layout:PATH[:TAG], or a plain path)
or a registry repository (REGISTRY/REPO[:TAG]).

Exit codes:
  0    ok
  1    error
  2    usage error (bad flags or arguments)
  3    verification failed (signature, digest, tree hash, Tar.jl rules)
  4    not found (tag, bundle, item, file)
  130  cancelled (interrupt or SIGTERM)`

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "shoebox",
		Short:         "Carry Julia packages across an air gap as signed OCI artifacts",
		Long:          rootLong,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetVersionTemplate("shoebox {{.Version}}\n")
	for _, newCmd := range commands {
		root.AddCommand(newCmd(f))
	}
	return root
}

func init() {
	cobra.EnableCommandSorting = false // help lists commands in workflow order
}

// commands lists every subcommand constructor, in help order.
var commands = []func(*Factory) *cobra.Command{
	newPushCmd,
	newSignCmd,
	newVerifyCmd,
	newCopyCmd,
	newServeCmd,
	newLsCmd,
	newInspectCmd,
	newInventoryCmd,
	newTreehashCmd,
	newKeyCmd,
}

// Main runs shoebox with args and returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	f := &Factory{Streams: s, Now: time.Now, Getenv: os.Getenv}
	return run(ctx, f, args)
}

func run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(ctx, err)
	fmt.Fprintf(f.Err, "shoebox: %v\n", err)
	if code == ExitUsage {
		fmt.Fprintln(f.Err, "Run 'shoebox --help' for usage.")
	}
	return code
}
