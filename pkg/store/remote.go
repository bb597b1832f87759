package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// remoteRepo is a registry repository. It embeds the oras repository, so
// that registry.Referrers finds its referrers API (with the tag-schema
// fallback for registries without one), and wraps the calls whose errors
// need a registry name.
type remoteRepo struct {
	*remote.Repository
	log     *slog.Logger
	network httpx.Policy
}

func openRemote(ref Reference, opts Options, log *slog.Logger) (*remoteRepo, error) {
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", ref.Location(), err, ErrInvalidReference)
	}
	repo.PlainHTTP = opts.PlainHTTP
	// A referrer pushed to a registry without the referrers API updates
	// the "sha256-<hex>" index; the index it replaces is left to the
	// registry's garbage collection rather than deleted: a registry that
	// refuses deletes (distribution's default) would fail the push of a
	// bundle's second referrer (a signature beside its provenance record).
	repo.SkipReferrersGC = true
	client, err := newAuthClient(ref.Registry, opts)
	if err != nil {
		return nil, err
	}
	repo.Client = client
	return &remoteRepo{Repository: repo, log: log, network: opts.Network}, nil
}

// newAuthClient builds the HTTP stack: TLS (system roots plus CAFile, or
// no verification when Insecure) → httpx.Transport under opts.Network (the
// one retry policy: backoff on 408, 429, 5xx, resets and cut bodies, within
// a budget shared with the caller's retries through the context; requests
// with a body are sent again only when it can be rewound; no headers or no
// body progress for the stall timeout cancels the request) → auth (static
// basic credentials, or the docker config credential store).
func newAuthClient(host string, opts Options) (*auth.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry %s: reading CA file: %w", host, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry %s: CA file %s: no PEM certificate found", host, opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	tlsConf.InsecureSkipVerify = opts.Insecure //nolint:gosec // explicit user choice
	base.TLSClientConfig = tlsConf

	c := &auth.Client{
		Client: &http.Client{Transport: httpx.NewTransport(base, opts.Network)},
		Cache:  auth.NewCache(),
	}
	c.SetUserAgent("shoebox")
	switch {
	case opts.Username != "" || opts.Password != "":
		c.Credential = auth.StaticCredential(host, auth.Credential{Username: opts.Username, Password: opts.Password})
	case opts.DockerConfigDir != "":
		cs, err := credentials.NewStore(filepath.Join(opts.DockerConfigDir, "config.json"), credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("registry %s: credential store in %s: %w", host, opts.DockerConfigDir, err)
		}
		c.Credential = credentials.Credential(cs)
	}
	if isLoopbackHost(host) {
		// A registry on this machine may hand out a token realm on this
		// machine too; the default realm denylist would refuse it.
		c.BlockedRealmPrefixes = []netip.Prefix{}
	}
	return c, nil
}

func isLoopbackHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// mapErr names the registry on authentication failures.
func (r *remoteRepo) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var er *errcode.ErrorResponse
	isResp := errors.As(err, &er)
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound),
		isResp && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden):
		return fmt.Errorf("registry %s: repository %s: %w (check the username/password or the docker config credentials): %w",
			r.Reference.Registry, r.Reference.Repository, ErrUnauthorized, err)
	case isResp && er.StatusCode == http.StatusNotFound && !errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("registry %s: repository %s: %w: %w", r.Reference.Registry, r.Reference.Repository, errdef.ErrNotFound, err)
	}
	return err
}

func (r *remoteRepo) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.Repository.Fetch(ctx, target)
	return rc, r.mapErr(err)
}

func (r *remoteRepo) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	ok, err := r.Repository.Exists(ctx, target)
	return ok, r.mapErr(err)
}

func (r *remoteRepo) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	return r.mapErr(r.Repository.Push(ctx, expected, content))
}

func (r *remoteRepo) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	return r.mapErr(r.Repository.Tag(ctx, desc, reference))
}

func (r *remoteRepo) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	d, err := r.Repository.Resolve(ctx, reference)
	return d, r.mapErr(err)
}

func (r *remoteRepo) Predecessors(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	d, err := r.Repository.Predecessors(ctx, desc)
	return d, r.mapErr(err)
}

func (r *remoteRepo) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	return r.mapErr(r.Repository.Referrers(ctx, desc, artifactType, fn))
}

// tags lists every tag, including the "sha256-<hex>" tags of the referrers
// tag schema and cosign's "sha256-<hex>.sig" tags. A repository that does
// not exist (nothing pushed yet) has no tags.
func (r *remoteRepo) tags(ctx context.Context) ([]string, error) {
	t, err := registry.Tags(ctx, r.Repository)
	if err != nil {
		var er *errcode.ErrorResponse
		if errors.Is(err, errdef.ErrNotFound) || errors.As(err, &er) && er.StatusCode == http.StatusNotFound {
			// A repository nothing was pushed to yet ("name unknown") has no tags.
			return nil, nil
		}
		return nil, r.mapErr(err)
	}
	slices.Sort(t)
	return t, nil
}

func (r *remoteRepo) close() error { return nil }

// ingest spools the stream to opts.TempDir (oras pushes a blob with one
// monolithic PUT that needs the digest up front, and the registry must not
// receive a blob that fails Verify), then pushes each part not already in
// the repository, then removes the spool.
func (r *remoteRepo) ingest(ctx context.Context, mediaType string, rd io.Reader, opts IngestOptions) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	dir := opts.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	whole, parts, err := spool(ctx, namedTemps(dir, "shoebox-ingest-"), false, mediaType, rd, opts.MaxPartSize, opts.Annotations)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("registry %s: spooling to %s: %w", r.Reference.Registry, dir, err)
	}
	defer removeSpooled(parts)
	if err := verifyWhole(opts, whole); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	for _, p := range parts {
		ok, err := r.Exists(ctx, p.desc)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if ok {
			continue
		}
		if err := r.pushFile(ctx, p.path, p.desc); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("%s: pushing: %w", p.desc.Digest, err)
		}
	}
	return whole, partDescs(parts), nil
}

// pushFile uploads a spooled file. The registry client's transport cannot
// replay a streamed PUT body; a spooled file can be reopened and sent
// again in a new upload session, within the operation's budget (the
// caller's, through ctx, or one of its own).
func (r *remoteRepo) pushFile(ctx context.Context, path string, desc ocispec.Descriptor) error {
	b := httpx.BudgetFrom(ctx)
	if b == nil {
		b = r.network.Start()
		ctx = httpx.WithBudget(ctx, b)
	}
	for {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = r.Push(ctx, desc, f)
		f.Close()
		if err == nil || !transient(ctx, err) {
			return err
		}
		r.log.Info("retrying blob upload", "registry", r.Reference.Registry, "digest", desc.Digest, "error", err)
		if rerr := b.Retry(ctx, "uploading "+desc.Digest.String(), err); rerr != nil {
			return rerr
		}
	}
}

// transient reports whether a failed upload may succeed when sent again:
// server errors and transport failures, not client errors, auth failures or
// cancellation.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrUnauthorized) || httpx.Spent(err) {
		return false
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode >= 500 || er.StatusCode == http.StatusTooManyRequests || er.StatusCode == http.StatusRequestTimeout
	}
	return true
}
