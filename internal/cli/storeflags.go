package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shoebox-jl/shoebox/internal/cli/env"
	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// storeFlags are the flags every command that opens a store shares:
// registry TLS and credentials (Harbor robot accounts, docker config), and
// the layout lock wait.
type storeFlags struct {
	plainHTTP     bool
	insecure      bool
	caFile        string
	username      string
	passwordStdin bool
	lockWait      time.Duration
	stallTimeout  time.Duration
	password      string // read once from stdin
	// lazyGraph opens layouts with store.Options.LazyGraph (set by the
	// command, not a flag).
	lazyGraph bool
}

func (s *storeFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&s.plainHTTP, "plain-http", false, "talk to the registry over plain HTTP (labs only)")
	fs.BoolVar(&s.insecure, "insecure", false, "skip TLS certificate verification (labs only)")
	fs.StringVar(&s.caFile, "ca-file", "", "PEM file of extra CA certificates for the registry's TLS")
	fs.StringVar(&s.username, "username", "", "registry user name (e.g. a Harbor robot account), with --password-stdin; default: docker config credentials")
	fs.BoolVar(&s.passwordStdin, "password-stdin", false, "read the registry password (or token) of --username from standard input")
	fs.DurationVar(&s.lockWait, "lock-wait", 0, "how long to wait for another shoebox writing the same layout (0: fail at once)")
	fs.DurationVar(&s.stallTimeout, "stall-timeout", httpx.DefaultStallTimeout,
		"give up on a network transfer (registry, Pkg server, download) that sends no byte for this long, then resume it or try the next source")
}

// network is the network policy of the command: the stall timeout from
// the flag, the default retries (httpx.Policy), f's clock for waits.
func (s *storeFlags) network(f *Factory) httpx.Policy {
	return httpx.Policy{StallTimeout: s.stallTimeout, Sleep: f.Sleep}
}

// options turns the flags into store options, reading the password from
// stdin once when asked.
func (s *storeFlags) options(f *Factory, readOnly bool) (store.Options, error) {
	if s.passwordStdin && s.username == "" {
		// Never send a password to a registry without a user name: it
		// may be a key's, meant for --key-password-stdin.
		return store.Options{}, usagef("--password-stdin is the registry's password and needs --username (a key's password: --key-password-stdin)")
	}
	if s.passwordStdin && s.password == "" {
		line, err := bufio.NewReader(f.In).ReadString('\n')
		if err != nil && line == "" {
			return store.Options{}, usagef("--password-stdin: nothing on standard input")
		}
		s.password = strings.TrimRight(line, "\r\n")
	}
	if s.username != "" && s.password == "" {
		return store.Options{}, usagef("--username needs --password-stdin")
	}
	dockerDir := f.Getenv(string(env.DockerConfig))
	if dockerDir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dockerDir = filepath.Join(home, ".docker")
		}
	}
	return store.Options{
		ReadOnly:        readOnly,
		PlainHTTP:       s.plainHTTP,
		Insecure:        s.insecure,
		CAFile:          s.caFile,
		Username:        s.username,
		Password:        s.password,
		DockerConfigDir: dockerDir,
		LockWait:        s.lockWait,
		// Read-only opens never walk a layout's manifests up front: every
		// reader reads the bundle graphs it needs itself (and verifies
		// them), so an up-front walk only doubles time and memory.
		LazyGraph: s.lazyGraph || readOnly,
		Network:   s.network(f),
		Logger:    f.Log,
	}, nil
}

// open parses ref and opens the store.
func (s *storeFlags) open(ctx context.Context, f *Factory, ref string, readOnly bool) (*store.Store, store.Reference, error) {
	r, err := store.ParseReference(ref)
	if err != nil {
		return nil, r, usageError{err}
	}
	opts, err := s.options(f, readOnly)
	if err != nil {
		return nil, r, err
	}
	st, err := store.Open(ctx, r, opts)
	if err != nil {
		return nil, r, err
	}
	return st, r, nil
}

// hiddenAlias adds the hidden flag --alias, set whenever --name is: an old
// name kept working after a rename.
func hiddenAlias(fs *pflag.FlagSet, alias, name string) {
	fl := fs.Lookup(name)
	a := *fl
	a.Name, a.Shorthand = alias, ""
	a.Usage = "old name of --" + name
	a.Hidden = true
	fs.AddFlag(&a)
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
