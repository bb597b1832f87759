package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// ServeOptions are the flags of shoebox serve.
type ServeOptions struct {
	Store             string
	Addr              string
	URL               string
	Policy            string
	Keys              []string
	InsecureNoVerify  bool
	View              string
	ReloadInterval    time.Duration
	DeepCheck         bool
	CheckBlobs        bool
	CacheDir          string
	CacheSize         string
	MemoryCache       string
	RehashAlways      bool
	RetainViews       int
	TLSCert, TLSKey   string
	MaxConcurrent     int
	MaxPerClient      int
	LogFormat         string
	AccessLog         bool
	PrintClientConfig bool
	DrainTimeout      time.Duration
	store             storeFlags

	// reload, when set (tests), replaces SIGHUP: a value forces a full
	// reload (every bundle checked again).
	reload <-chan struct{}
	// ready, when set (tests), is called with the listening address;
	// reloaded after every requested reload.
	ready    func(addr string)
	reloaded chan<- struct{}
	// listening, when set (tests), is called with the address as soon as
	// it is bound, before the first load.
	listening func(addr string)
	// missEvery, when set (tests), replaces the least time between two
	// reloads that misses trigger (1 s).
	missEvery *time.Duration
}

// serveHooks let tests drive a running server; see serveTestHooks.
type serveHooks struct {
	listening func(addr string)
	ready     func(addr string)
	reload    chan struct{}
	reloaded  chan struct{}
	// missEvery replaces the least time between reloads a miss triggers.
	missEvery *time.Duration
}

// serveTestHooks is set by tests only: it replaces SIGHUP and reports the
// listening address and finished reloads.
var serveTestHooks *serveHooks

const serveLong = `Serve Julia's Pkg server protocol straight from an OCI store, so that
users set JULIA_PKG_SERVER=http://host:port and Pkg.add / Pkg.instantiate
work as on the internet, for what was carried.

The store is an OCI layout (a USB stick: oci-layout:PATH or a plain path)
or a registry repository (REGISTRY/REPO, with --ca-file, --plain-http,
--username/--password-stdin or docker config credentials), given as the
STORE argument or with --store. Every tagged bundle of the store is
considered (STORE:TAG serves one tag).

Only bundles that verify are served: their signatures must satisfy the
trust policy (--policy FILE, or --key PUB for "any of these keys"; a
policy with tags accepts only signatures made for a matching tag, read
from the signed data, never from the store's tag names), and every index
of the bundle must be present, match its digest and be well formed. The
signature covers the top index's digest, and the indexes carry the digest
and size of every tarball served, so this digest chain pins every byte a
client can get. Tarball bytes are not read at start (--check-blobs reads
and hashes every manifest and blob of a new bundle before serving it, and
again on SIGHUP; --deep-check also re-hashes every tree under Tar.jl's
rules). --insecure-no-verify skips the signatures, for labs only; it is
logged loudly. A store with nothing verified serves nothing: /healthz and
/registries answer 503 and the log says why.

Every byte served, for full and Range requests alike, belongs to a tarball
whose whole digest was checked and which cannot have changed since:
  - a tarball that verified in full is answered from memory (at most 1 MiB
    each, --memory-cache in all) or from a verified private copy in the
    server's own directory (--cache-dir, default a fresh directory under
    $TMPDIR removed at exit; --cache-size in all), sent by sendfile(2):
    nothing on the stick or in the registry can change these;
  - anything else is read from its start to its end through the digest,
    whatever the range asked, and the end of the answer (its last 64 KiB,
    or all of it when the blob file has other hard links) is held back
    until the whole tarball verified; a failure cuts the answer, which is
    never complete.
Blob files of a layout are opened without following symbolic links, and
must be regular files of exactly their descriptor's size, checked on the
open descriptor; symbolic links, FIFOs, devices and directories are
refused unopened. An item whose read fails (digest mismatch, wrong size,
not a regular file, I/O error) is withdrawn: 404 until its blob file
changes and verifies again (or SIGHUP finds it verifying), logged once
with the item and the cause, counted in /metrics.

Verification runs at start and at every reload: every --reload-interval
the store is polled (a layout costs one stat of index.json; a registry a
tag listing), and bundles added meanwhile by shoebox copy or push are
verified and served without a restart; SIGHUP forces a full reload that
verifies every bundle, and every withdrawn item, again.

Slow clients cannot starve others: a client address streams at most
--max-per-client bodies at once (of --max-concurrent in all; more wait up
to 10 s, then 503), a client that takes less than 512 KiB in 20 s is cut
off, and answers from memory (small tarballs, registry views) take no slot.

Each registry is advertised as its available view (--registry-view
available, the default): the newest verified snapshot with every package
version the store lacks removed, so Pkg's resolver never picks what cannot
be downloaded; yanked versions that are held stay. --registry-view full
serves the snapshots unchanged. Serve General under its real uuid so that
users can start from an empty depot (see --print-client-config).

A view stays downloadable after a reload advertises a newer one (a client
between /registries and the download, a depot holding the older view,
another replica): the last --retain-views views are kept, in memory and
under --cache-dir/views. Views are a function of the verified bundles in
creation order, so a server that verified bundle k (after a restart, or
another replica) also makes the view as of any bundle up to k again when it
is asked for it. A registry, package or artifact this server does not have
makes it reload the store first (at most once a second): with several
replicas over one registry, one that has not reloaded yet serves what
another already advertised.

Endpoints: /registries (+ .eager, .conservative), /registry/<uuid>/<hash>,
/package/<uuid>/<hash>, /artifact/<hash> (GET and HEAD, single Range
requests, immutable caching, ETag = tree hash, application/x-gzip, never a
Content-Encoding), /healthz, /meta (JSON), /metrics (Prometheus).

A --cache-dir kept across runs is the server's own: its copies are
verified again before they are trusted. --rehash-always keeps no memory
cache and no private copies: every response reads the store through the
digest.

Start-up: the address is bound first, so that a load balancer sees 503
("not loaded yet") while the store loads, never a refused connection. A
first load that cannot succeed without a change of flags or store (a tag
the store does not have, plain HTTP against HTTPS or back, an untrusted
certificate, refused credentials, bundles signed only by keys the policy
does not trust) stops serve with the cause and a non-zero exit; a store
that fails transiently (a registry down, 5xx) is retried every
--reload-interval while /healthz answers 503 with the cause.

/metrics (Prometheus text format): requests and bytes by resource kind and
status, a latency histogram by kind
(shoebox_serve_request_duration_seconds), reloads, in-flight transfers,
shoebox_build_info, and the Go runtime and process metrics. The access log
(--log-format json for one JSON object per line) names units
(duration_ms) and records the client's User-Agent and Julia-Version.

SIGTERM or Ctrl-C: stop accepting, let transfers in flight finish for up to
--drain-timeout, close the rest, and exit 0.`

func newServeCmd(f *Factory) *cobra.Command {
	opts := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve [flags] STORE[:TAG] (--policy FILE | --key PUB | --insecure-no-verify)",
		Short: "Serve the Pkg protocol (JULIA_PKG_SERVER) from verified bundles",
		Long:  serveLong,
		Example: `  shoebox serve /media/stick --key team.pub --addr 0.0.0.0:8000
  shoebox serve harbor.example.org/julia/bundles --policy policy.toml \
      --ca-file ca.pem --cache-dir /var/cache/shoebox --cache-size 50GiB
  shoebox serve /media/stick --key team.pub --print-client-config`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return usagef("%s takes one STORE[:TAG] (got %d arguments)", cmd.CommandPath(), len(args))
			case len(args) == 1 && opts.Store != "" && opts.Store != args[0]:
				return usagef("STORE %q and --store %q disagree: give one", args[0], opts.Store)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Store = args[0]
			}
			return runServe(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Store, "store", "", "the store, as the STORE argument (either one)")
	fl.StringVar(&opts.Addr, "addr", "127.0.0.1:8000", "address to listen on")
	fl.StringVar(&opts.URL, "url", "", "the URL clients use (for --print-client-config); default from --addr")
	fl.StringVar(&opts.Policy, "policy", "", "trust policy file (TOML) the bundles' signatures must satisfy")
	fl.StringSliceVar(&opts.Keys, "key", nil, "trusted public key file (PEM); any one signature by one of them suffices (repeatable)")
	fl.BoolVar(&opts.InsecureNoVerify, "insecure-no-verify", false, "serve bundles without checking signatures (labs only; integrity is still checked)")
	fl.StringVar(&opts.View, "registry-view", "available", "registry trees to advertise: available (only what the store holds) or full")
	fl.DurationVar(&opts.ReloadInterval, "reload-interval", 10*time.Second, "how often to poll the store for new bundles (0: only on SIGHUP)")
	fl.BoolVar(&opts.CheckBlobs, "check-blobs", false, "at start and on SIGHUP, read and hash every manifest and blob of every bundle (bundle.Check) before serving it")
	fl.BoolVar(&opts.DeepCheck, "deep-check", false, "like --check-blobs, and also re-hash every tarball's tree and apply Tar.jl's rules")
	fl.StringVar(&opts.CacheDir, "cache-dir", "", "directory of verified private copies, kept across runs (default: a fresh one under $TMPDIR, removed at exit)")
	fl.StringVar(&opts.CacheSize, "cache-size", "10GiB", "size limit of the verified private copies (e.g. 500MiB, 50GiB; 0: none)")
	fl.BoolVar(&opts.RehashAlways, "rehash-always", false, "read and hash the store's tarball on every request: no memory cache, no private copies")
	fl.IntVar(&opts.RetainViews, "retain-views", pkgserver.DefaultRetainedViews, "registry views kept downloadable after newer ones are advertised (in memory, then under --cache-dir)")
	fl.StringVar(&opts.MemoryCache, "memory-cache", "256MiB", "in-memory cache of verified tarballs of at most 1 MiB each (0: none)")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "private key of --tls-cert (PEM)")
	fl.IntVar(&opts.MaxConcurrent, "max-concurrent", 64, "tarball downloads streamed at once; more wait up to 10 s, then get 503 (answers from memory take no slot)")
	fl.IntVar(&opts.MaxPerClient, "max-per-client", 8, "tarball downloads streamed at once to one client address (of --max-concurrent)")
	fl.StringVar(&opts.LogFormat, "log-format", "text", "log format on standard error: text or json")
	fl.BoolVar(&opts.AccessLog, "access-log", true, "log every request")
	fl.DurationVar(&opts.DrainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM or Ctrl-C: how long transfers in flight may finish before the rest are cut (then exit 0)")
	fl.BoolVar(&opts.PrintClientConfig, "print-client-config", false, "print what Julia users set (JULIA_PKG_SERVER, first-run steps) and exit")
	opts.store.register(fl)
	if h := serveTestHooks; h != nil {
		opts.ready, opts.reload, opts.reloaded, opts.listening = h.ready, h.reload, h.reloaded, h.listening
		opts.missEvery = h.missEvery
	}
	return cmd
}

func runServe(ctx context.Context, f *Factory, opts *ServeOptions) error {
	if opts.Store == "" {
		return usagef("serve needs a STORE: oci-layout:PATH[:TAG], a path, or REGISTRY/REPO[:TAG]")
	}
	view := pkgserver.ViewMode(opts.View)
	if view != pkgserver.ViewAvailable && view != pkgserver.ViewFull {
		return usagef("--registry-view %q: want available or full", opts.View)
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if opts.LogFormat != "text" && opts.LogFormat != "json" {
		return usagef("--log-format %q: want text or json", opts.LogFormat)
	}
	if opts.ReloadInterval < 0 {
		return usagef("--reload-interval %s: must not be negative", opts.ReloadInterval)
	}
	if opts.DrainTimeout < 0 {
		return usagef("--drain-timeout %s: must not be negative", opts.DrainTimeout)
	}
	var cacheSize int64
	if opts.CacheSize != "0" {
		var err error
		if cacheSize, err = parseSize(opts.CacheSize); err != nil || cacheSize < 0 {
			return usagef("--cache-size %q: want a size such as 500M or 50GiB, or 0", opts.CacheSize)
		}
	}
	var memSize int64
	if opts.MemoryCache != "0" {
		var err error
		if memSize, err = parseSize(opts.MemoryCache); err != nil || memSize < 0 {
			return usagef("--memory-cache %q: want a size such as 256MiB, or 0", opts.MemoryCache)
		}
	}
	policy, err := servePolicy(opts)
	if err != nil {
		return err
	}

	var h slog.Handler
	hopts := &slog.HandlerOptions{Level: &f.logLevel}
	if opts.LogFormat == "json" {
		h = slog.NewJSONHandler(f.Err, hopts)
	} else {
		h = slog.NewTextHandler(f.Err, hopts)
	}
	log := slog.New(h)
	if opts.InsecureNoVerify {
		log.Warn("INSECURE: --insecure-no-verify: bundles are served WITHOUT signature verification; use only in a lab")
	}

	ref, err := store.ParseReference(opts.Store)
	if err != nil {
		return usageError{err}
	}
	sopts, err := opts.store.options(f, true)
	if err != nil {
		return err
	}
	// Serving reads tags, indexes and blobs only: the manifest graph is
	// walked only if signature verification asks for predecessors.
	sopts.LazyGraph = true
	sopts.Logger = log
	st, err := store.Open(ctx, ref, sopts)
	if err != nil {
		return err
	}
	defer st.Close()
	if opts.RehashAlways {
		memSize, cacheSize = 0, 0
	}
	copyDir := opts.CacheDir
	if copyDir == "" && cacheSize > 0 && !opts.PrintClientConfig {
		// The server's own directory of verified copies, for this run.
		if copyDir, err = os.MkdirTemp("", "shoebox-serve-"); err != nil {
			return fmt.Errorf("--cache-dir: %w", err)
		}
		defer os.RemoveAll(copyDir)
	}
	set, err := shelf.NewSet(st, shelf.SetOptions{Policy: policy, Tag: ref.Tag, CheckBlobs: opts.CheckBlobs || opts.DeepCheck,
		Deep: opts.DeepCheck, MemoryCache: memSize, CopyDir: copyDir, CopySize: cacheSize, Logger: log, Now: f.Now})
	if err != nil {
		return err
	}
	if opts.RetainViews < 1 {
		return usagef("--retain-views %d: want at least 1", opts.RetainViews)
	}
	viewDir := ""
	if copyDir != "" {
		viewDir = filepath.Join(copyDir, "views")
	}
	retained, err := pkgserver.NewViewStore(pkgserver.ViewStoreOptions{Dir: viewDir, Max: opts.RetainViews, Logger: log})
	if err != nil {
		return err
	}
	l := &serveLoader{set: set, ref: ref, view: view, log: log, retained: retained, ctx: ctx, missEvery: time.Second}
	if opts.missEvery != nil {
		l.missEvery = *opts.missEvery
	}

	if opts.PrintClientConfig {
		src, err := l.load(ctx, true)
		if err != nil {
			return err
		}
		return printClientConfig(f.Out, opts, src)
	}

	srvLog := log
	if !opts.AccessLog {
		srvLog = slog.New(levelFilter{h, slog.LevelWarn})
	}
	var srv *pkgserver.Server
	srv = pkgserver.New(nil, pkgserver.Options{Logger: srvLog, MaxConcurrent: opts.MaxConcurrent, MaxPerClient: opts.MaxPerClient,
		Version: version(), View: string(view), Stats: set.Stats, Now: f.Now, Gatherer: serveMetrics(),
		OnMiss: func(ctx context.Context) bool { return l.onMiss(srv) }})

	// Listen before the first load, so that a load balancer sees 503
	// ("not loaded yet") rather than a refused connection while a large
	// store loads.
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	errLog := slog.NewLogLogger(h, slog.LevelWarn)
	hs := srv.FastHTTPServer(errLog.Printf)
	scheme := "http"
	if opts.TLSCert != "" {
		scheme = "https"
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	errc := make(chan error, 1)
	go func() {
		if opts.TLSCert != "" {
			errc <- hs.ServeTLS(ln, opts.TLSCert, opts.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.DrainTimeout)
		err := hs.ShutdownWithContext(sctx)
		cancel()
		if err != nil {
			log.Warn("shutdown: closed the connections still open after --drain-timeout", slog.String("error", err.Error()),
				slog.Int64("drain_timeout_ms", opts.DrainTimeout.Milliseconds()))
		}
	}
	if opts.listening != nil {
		opts.listening(ln.Addr().String())
	}

	// Reading 100k-item indexes makes garbage at a high rate (index bytes,
	// decoded documents) while the routing table grows: give it back once
	// loaded. (Collecting more eagerly while loading, GOGC 50, kept the
	// peak 35 MiB lower at 125,000 items but cost 0.15 s of a 1.9 s start.)
	err = l.reloadOnce(ctx, srv, true)
	debug.FreeOSMemory()
	if err == nil {
		err = l.neverServable()
	}
	if err != nil && ctx.Err() == nil && l.permanentLoadError(err) {
		// A first load that can never succeed: say why and stop, rather
		// than answer 503 forever.
		log.Error("first load failed; it cannot succeed without a change of flags or store", slog.String("store", ref.String()), slog.String("error", err.Error()))
		shutdown()
		return fmt.Errorf("serve %s: %w", ref, err)
	}
	log.Info("serving", slog.String("url", scheme+"://"+ln.Addr().String()), slog.String("store", ref.String()),
		slog.String("view", string(view)), slog.Int64("reload_interval_ms", opts.ReloadInterval.Milliseconds()))
	if opts.ready != nil {
		opts.ready(ln.Addr().String())
	}

	reload := opts.reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		ch := make(chan struct{})
		go func() {
			for {
				select {
				case <-hup:
					select {
					case ch <- struct{}{}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		reload = ch
	}
	var tick <-chan time.Time
	if opts.ReloadInterval > 0 {
		t := time.NewTicker(opts.ReloadInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-errc:
			if err == nil {
				return nil
			}
			return fmt.Errorf("serving on %s: %w", opts.Addr, err)
		case <-tick:
			l.reloadOnce(ctx, srv, false)
		case <-reload:
			log.Info("reload requested: checking every bundle again")
			l.reloadOnce(ctx, srv, true)
			if opts.reloaded != nil {
				opts.reloaded <- struct{}{}
			}
		case <-ctx.Done():
			log.Info("shutting down", slog.Int64("drain_timeout_ms", opts.DrainTimeout.Milliseconds()))
			shutdown()
			return nil
		}
	}
}

// servePolicy builds the trust policy from --policy or --key; nil with
// --insecure-no-verify.
func servePolicy(opts *ServeOptions) (*trust.Policy, error) {
	n := 0
	for _, set := range []bool{opts.Policy != "", len(opts.Keys) > 0, opts.InsecureNoVerify} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, usagef("serve needs a trust policy: --policy FILE or --key PUB (or --insecure-no-verify, labs only)")
	case n > 1:
		return nil, usagef("--policy, --key and --insecure-no-verify exclude each other")
	case opts.InsecureNoVerify:
		return nil, nil
	case opts.Policy != "":
		fh, err := os.Open(opts.Policy)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		defer fh.Close()
		p, err := trust.ParsePolicy(fh, filepath.Dir(opts.Policy))
		if err != nil {
			return nil, usagef("policy %s: %v", opts.Policy, err)
		}
		return p, nil
	default:
		var pems [][]byte
		for _, k := range opts.Keys {
			b, err := os.ReadFile(k)
			if err != nil {
				return nil, fmt.Errorf("key: %w", err)
			}
			pems = append(pems, b)
		}
		p, err := trust.PolicyFromKeys(pems...)
		if err != nil {
			return nil, usagef("--key: %v", err)
		}
		return p, nil
	}
}

// levelFilter drops records below a level (the access log when it is off).
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (l levelFilter) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

// serveLoader hands what the verified set (shelf.Set) loads to the
// server, with the registry views built over it.
type serveLoader struct {
	set      *shelf.Set
	ref      store.Reference
	view     pkgserver.ViewMode
	log      *slog.Logger
	retained *pkgserver.ViewStore
	// ctx is serve's: a reload a request triggers outlives the request.
	ctx context.Context
	// missEvery is the least time between two reloads misses trigger.
	missEvery time.Duration

	// mu serialises loads (the main loop's and those misses trigger) and
	// guards src, status and missAt.
	mu     sync.Mutex
	src    *pkgserver.BundleSource // what the server serves
	status pkgserver.Status
	missAt time.Time     // when a miss last made a reload
	gen    atomic.Uint64 // bumped when the server gets a new source
}

// errNoKeyMatches says every bundle of the store is signed, but by none of
// the keys the policy trusts.
var errNoKeyMatches = errors.New("no trusted key signed any bundle")

// A serve that stops because no trusted key signed anything failed
// verification (exit 3).
func init() {
	verifyErrors = append(verifyErrors, func(err error) bool { return errors.Is(err, errNoKeyMatches) })
}

// neverServable returns errNoKeyMatches (wrapped, with the load's reason)
// when the last load verified nothing because every bundle's signatures
// were made by keys the policy does not trust: a wrong --key or --policy,
// which no reload will cure. An empty store, or unsigned bundles, may
// still be filled or signed while serving.
func (l *serveLoader) neverServable() error {
	if sh := l.set.Current(); sh != nil && sh.Reason() != "" && sh.Found() > 0 && sh.Rejections(trust.OutcomeUnknownKeys) == sh.Found() {
		return fmt.Errorf("%w (check --key / --policy): %s", errNoKeyMatches, sh.Reason())
	}
	return nil
}

// permanentLoadError reports whether a failed load cannot succeed later
// without a change of flags or store: refused credentials, plain HTTP
// against HTTPS (or back), an untrusted certificate, a tag the store does
// not have, no trusted key. A registry that is down or answers 5xx is
// transient: serve keeps retrying.
func (l *serveLoader) permanentLoadError(err error) bool {
	msg := err.Error()
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.Is(err, errNoKeyMatches) || errors.Is(err, store.ErrUnauthorized) ||
		l.ref.Tag != "" && errors.Is(err, errdef.ErrNotFound) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client") ||
		strings.Contains(msg, "Client sent an HTTP request to an HTTPS server") ||
		strings.Contains(msg, "x509: ")
}

// load loads the set and builds the source when it changed (or force).
func (l *serveLoader) load(ctx context.Context, force bool) (*pkgserver.BundleSource, error) {
	sh, changed, err := l.set.Load(ctx, force)
	if err != nil {
		return nil, err
	}
	if !changed && !force && l.src != nil {
		return l.src, nil
	}
	src, err := pkgserver.NewBundleSource(ctx, sh, pkgserver.SourceOptions{View: l.view, Logger: l.log, Previous: l.src, Retained: l.retained})
	if err != nil {
		return nil, err
	}
	l.src = src
	l.status = pkgserver.Status{Bundles: sh.Bundles(), Items: src.Counts(), Reloaded: sh.Loaded(), Reason: sh.Reason()}
	return src, nil
}

// reloadOnce reloads and hands the result to srv; on failure srv keeps
// what it serves. It returns the load's error.
func (l *serveLoader) reloadOnce(ctx context.Context, srv *pkgserver.Server, force bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reloadLocked(ctx, srv, force)
}

// onMiss is pkgserver.Options.OnMiss: a resource this replica does not
// have may be one another replica over the same store advertised after a
// reload this one has not made yet. It reloads (one at a time, at most
// once per missEvery: misses in between wait for the reload in flight, or
// find nothing new) and reports whether the server got a new source.
func (l *serveLoader) onMiss(srv *pkgserver.Server) bool {
	gen := l.gen.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen.Load() != gen {
		return true // a reload finished while this miss waited
	}
	if time.Since(l.missAt) < l.missEvery {
		return false
	}
	l.missAt = time.Now()
	if err := l.reloadLocked(l.ctx, srv, false); err != nil {
		return false
	}
	if l.gen.Load() != gen {
		l.log.Info("reloaded: a request asked for what this replica did not have yet")
		return true
	}
	return false
}

// reloadLocked is reloadOnce with l.mu held.
func (l *serveLoader) reloadLocked(ctx context.Context, srv *pkgserver.Server, force bool) error {
	prev := l.src
	src, err := l.load(ctx, force)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		l.log.Error("reload failed; serving what was verified before", slog.String("store", l.ref.String()), slog.String("error", err.Error()))
		st := l.status
		st.ReloadError = err.Error()
		if l.src == nil {
			st.Reason = "store " + l.ref.String() + " could not be read: " + err.Error()
			srv.Update(nil, st)
			return err
		}
		srv.Update(l.src, st)
		return err
	}
	if src == prev && !force {
		return nil
	}
	srv.Update(src, l.status)
	l.gen.Add(1)
	return nil
}

// printClientConfig prints what users set to use this server.
func printClientConfig(w io.Writer, opts *ServeOptions, src *pkgserver.BundleSource) error {
	u := opts.URL
	if u == "" {
		host, port, err := net.SplitHostPort(opts.Addr)
		if err != nil {
			return usagef("--addr %q: %v", opts.Addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			if host, err = os.Hostname(); err != nil {
				host = "localhost"
			}
		}
		scheme := "http"
		if opts.TLSCert != "" {
			scheme = "https"
		}
		u = scheme + "://" + net.JoinHostPort(host, port)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return usagef("--url %q: want http://host:port or https://host:port", u)
	}
	u = strings.TrimRight(u, "/")
	var b strings.Builder
	fmt.Fprintf(&b, "JULIA_PKG_SERVER=%s\n\n", u)
	fmt.Fprintf(&b, "Set it for every Julia user; keep the explicit %s:// (without a scheme Pkg assumes https):\n", pu.Scheme)
	fmt.Fprintf(&b, "  export JULIA_PKG_SERVER=%s                 # sh, bash, zsh\n", u)
	fmt.Fprintf(&b, "  ENV[\"JULIA_PKG_SERVER\"] = \"%s\"         # ~/.julia/config/startup.jl\n\n", u)
	var views []pkgserver.View
	if src != nil {
		views = src.Views()
	}
	if len(views) == 0 {
		b.WriteString("No registry is served yet (nothing verified); see the server's log.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "Registries served (%s view):\n", opts.View)
	general := false
	for _, v := range views {
		fmt.Fprintf(&b, "  %-20s %s  %s\n", v.Name, v.UUID, v.Hash)
		if v.UUID.String() == generalUUID {
			general = true
		}
	}
	b.WriteString("\nFirst run from an empty depot:\n")
	if general {
		b.WriteString("  General is served under its real uuid: Pkg installs it, and every registry above,\n")
		b.WriteString("  from this server on first use. Nothing else to do.\n")
	} else {
		b.WriteString("  General is not served, so Pkg would try to git clone it from GitHub and fail offline.\n")
		b.WriteString("  Add the served registries first:\n")
		for _, v := range views {
			fmt.Fprintf(&b, "    julia -e 'using Pkg; Pkg.Registry.add(uuid=\"%s\")'   # %s\n", v.UUID, v.Name)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

const generalUUID = "23338594-aafe-5451-b93e-139f81909106"

// serveMetrics are the metrics serve adds to the server's own: the Go
// runtime's, the process's, and shoebox_build_info.
func serveMetrics() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	bi := buildInfo()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoebox_build_info",
			Help: "Always 1; the labels say which shoebox is running.",
			ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion,
				"platform": bi.Platform},
		}, func() float64 { return 1 }))
	return reg
}
