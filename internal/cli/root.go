// Package cli is the shoebox command line: argv, flags, prompts, output and
// exit codes. It is the only importer of cobra. Each command lives in its own
// file as XOptions + newXCmd(f, runF) + runX(ctx, opts) and calls into pkg/
// for all behaviour.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoebox-jl/shoebox/internal/cli/env"
)

// Version and Commit are set at build time with
// -ldflags "-X github.com/shoebox-jl/shoebox/internal/cli.Version=v1.2.3
// -X github.com/shoebox-jl/shoebox/internal/cli.Commit=<sha>" (make build).
// When unset, the build info's module version and VCS revision are used.
var (
	Version = ""
	Commit  = ""
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InIsTerminal, OutIsTerminal and ErrIsTerminal say whether In, Out
	// and Err are terminals, which decides prompts, colour and live
	// progress.
	InIsTerminal  bool
	OutIsTerminal bool
	ErrIsTerminal bool
}

// OSStreams returns the process's standard streams.
func OSStreams() Streams {
	return Streams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InIsTerminal:  isTerminal(os.Stdin),
		OutIsTerminal: isTerminal(os.Stdout),
		ErrIsTerminal: isTerminal(os.Stderr),
	}
}

// isTerminal reports whether f is a terminal: not merely a character
// device (/dev/null is one too, and a command whose input is /dev/null
// must not prompt).
func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// Factory carries what commands need from the outside world, so tests can
// swap it: streams, the clock, and the environment.
type Factory struct {
	Streams
	// Now returns the current time; tests pin it.
	Now func() time.Time
	// Getenv reads an environment variable; it is env.Get in production.
	Getenv func(string) string
	// Sleep waits between retries of network requests; nil means a timer.
	// Tests account for the waits instead of spending them.
	Sleep func(ctx context.Context, d time.Duration) error

	// Log receives diagnostics (retries, lock waits, warnings) at the
	// level of --log-level / --debug, as text on standard error, above a
	// live progress line. NewRootCmd sets it.
	Log *slog.Logger
	// logLevel is the level --log-level chose.
	logLevel slog.LevelVar
	// live is the progress line drawn on standard error, if any: log
	// lines clear it first.
	live atomic.Pointer[progress]
	// wroteJSON says a JSON document went to standard output.
	wroteJSON bool
	// setMemoryLimit lets commands set the process's soft memory limit
	// (applyMemoryLimit); Main sets it, tests running commands in their
	// own process do not.
	setMemoryLimit bool
}

// liveOutput reports whether standard error takes a live progress line
// (carriage returns and erase-line escapes): a terminal whose TERM is not
// "dumb".
func (f *Factory) liveOutput() bool {
	return f.ErrIsTerminal && f.Getenv(string(env.Term)) != "dumb"
}

// colour reports whether a stream may be coloured: a terminal whose
// TERM is not "dumb", without NO_COLOR (https://no-color.org: set and not
// empty).
func (f *Factory) colour(terminal bool) bool {
	return terminal && f.Getenv(string(env.Term)) != "dumb" && f.Getenv(string(env.NoColor)) == ""
}

// paint wraps s in an SGR colour code when colour is allowed.
func (f *Factory) paint(terminal bool, code, s string) string {
	if !f.colour(terminal) {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}

// okWord and failedWord are the verdicts on standard output: green and
// red on a colour terminal.
func (f *Factory) okWord() string     { return f.paint(f.OutIsTerminal, "32", "ok") }
func (f *Factory) failedWord() string { return f.paint(f.OutIsTerminal, "1;31", "FAILED") }

// logWriter writes log records to standard error, clearing a live progress
// line first (the next progress update draws it again).
type logWriter struct {
	f  *Factory
	mu sync.Mutex
}

func (w *logWriter) Write(b []byte) (int, error) {
	if p := w.f.live.Load(); p != nil {
		return p.writeAbove(b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Err.Write(b)
}

// parseLogLevel reads --log-level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usagef("--log-level %q: want debug, info, warn or error", s)
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
	f.logLevel.Set(slog.LevelInfo)
	f.Log = slog.New(slog.NewTextHandler(&logWriter{f: f}, &slog.HandlerOptions{Level: &f.logLevel}))
	var logLevel string
	var debugLog bool
	root := &cobra.Command{
		Use:           "shoebox",
		Short:         "Carry Julia packages across an air gap as signed OCI artifacts",
		Long:          rootLong,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Runnable, so that an unknown command is a usage error (exit 2)
		// rather than cobra's plain one; without arguments, the help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageError{fmt.Errorf("%s", msg)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lv, err := parseLogLevel(logLevel)
			if err != nil {
				return err
			}
			if debugLog {
				if cmd.Flags().Changed("log-level") && lv != slog.LevelDebug {
					return usagef("--debug and --log-level %s disagree", logLevel)
				}
				lv = slog.LevelDebug
			}
			f.logLevel.Set(lv)
			if f.setMemoryLimit {
				applyMemoryLimit(cmd)
			}
			return nil
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetVersionTemplate("shoebox {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&logLevel, "log-level", "info", "diagnostics on standard error (retries, lock waits, warnings): debug, info, warn or error")
	pf.BoolVar(&debugLog, "debug", false, "log everything (--log-level debug)")
	root.RegisterFlagCompletionFunc("log-level", fixedValues("debug", "info", "warn", "error"))
	root.CompletionOptions.DisableDefaultCmd = true // ours documents itself: newCompletionCmd
	for _, newCmd := range commands {
		root.AddCommand(newCmd(f))
	}
	registerCompletions(root)
	return root
}

func init() {
	cobra.EnableCommandSorting = false // help lists commands in workflow order
}

// commands lists every subcommand constructor, in help order.
var commands = []func(*Factory) *cobra.Command{
	newPushCmd,
	newSignCmd,
	newAttestCmd,
	newVerifyCmd,
	newCopyCmd,
	newServeCmd,
	newLsCmd,
	newInspectCmd,
	newSBOMCmd,
	newAuditCmd,
	newInventoryCmd,
	newPruneCmd,
	newTreehashCmd,
	newKeyCmd,
	newVersionCmd,
	newCompletionCmd,
	newManCmd,
}

// Main runs shoebox with args and returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	f := &Factory{Streams: s, Now: time.Now, Getenv: func(k string) string { return env.Get(env.Variable(k)) }, setMemoryLimit: true}
	return run(ctx, f, args)
}

func run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(ctx, err)
	msg, hints := explain(cmd, err)
	fmt.Fprintf(f.Err, "%s %s\n", f.paint(f.ErrIsTerminal, "1;31", "shoebox:"), msg)
	for _, h := range hints {
		fmt.Fprintf(f.Err, "hint: %s\n", h)
	}
	if code == ExitUsage {
		fmt.Fprintln(f.Err, "Run 'shoebox --help' for usage.")
	}
	// Under --json, a command that failed before printing its JSON prints
	// the error as JSON, so that a script reading standard output always
	// gets a document.
	if fl := cmd.Flags().Lookup("json"); fl != nil && fl.Value.String() == "true" && !f.wroteJSON {
		writeJSON(f, errorJSON{Error: msg, Hints: hints, ExitCode: code})
	}
	return code
}

// errorJSON is what a command run with --json prints on standard output
// when it fails before printing its own document.
type errorJSON struct {
	Error    string   `json:"error"`
	Hints    []string `json:"hints,omitempty"`
	ExitCode int      `json:"exitCode"`
}
