// Package pkgclient is a Go stand-in for Julia's Pkg talking to a Pkg
// server, written from docs/pkg-protocol.md (design repository) so that
// `shoebox serve` can be tested without a Julia binary. It makes the same
// requests with the same headers (§3.1), parses /registries as Pkg does
// (§2.2), checks every download as Pkg does (§5): the keep-empty Tar.jl
// hash of a registry's tar stream, the skip-empty directory hash of an
// extracted package or artifact; it sniffs the compression from the magic
// bytes and never trusts headers (§3.2), reads a packed registry by raw
// tar paths (so "./Registry.toml" is not found, G3), extracts with
// Tar.jl's rules (internal/tarx), selects artifacts for a host platform
// (julia.SelectBest) and reacts to failures per the table in §4.4.
//
// Every request is recorded (method, path, status) so that tests can
// assert the exact sequence. Downloads are sequential, in a deterministic
// order (Pkg runs up to 8 at once; the order of its requests is not
// defined, only their set).
//
// Only for tests and scripts: it is not a package manager.
package pkgclient

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// GeneralUUID is the uuid of the General registry, which Pkg installs
// into an empty depot (pkg-protocol §4.1).
var GeneralUUID = julia.MustParseUUID("23338594-aafe-5451-b93e-139f81909106")

// Errors the client reports, each wrapped with the item and the cause.
var (
	// ErrNoServer means /registries could not be fetched: Pkg then
	// behaves as if no server were configured (§4.4).
	ErrNoServer = errors.New("no usable package server")
	// ErrNoSource means every source of a package or artifact failed; a
	// real Pkg would go on to GitHub or git, which an air gap does not
	// have.
	ErrNoSource = errors.New("no more sources")
	// ErrHashMismatch is a tree hash that differs from the requested one.
	ErrHashMismatch = errors.New("tree hash mismatch")
	// ErrAborted is an error Pkg does not recover from: it aborts the
	// whole operation (a tar stream Tar.jl rejects, on Julia ≥ 1.13, G23;
	// a registry that does not load).
	ErrAborted = errors.New("operation aborted")
	// ErrNotInRegistry is a package name no installed registry knows.
	ErrNotInRegistry = errors.New("package not found in any registry")
)

// Options configure a Client. Depot is required; the rest defaults to a
// Julia 1.13 client on x86_64 Linux.
type Options struct {
	// Depot is the depot directory (~/.julia) packages and artifacts are
	// installed into.
	Depot string
	// JuliaVersion is the simulated Julia version; "" means "1.13.0". It
	// decides the version-dependent behaviour of §4.6: Accept-Encoding and
	// zstd (≥ 1.13), artifacts from the server only for packages of a
	// server-listed registry (≥ 1.13), registry tree hash checked (≥ 1.9),
	// packages from the server only for packages of a server-listed
	// registry (≥ 1.8), Tar.jl errors abort (≥ 1.13).
	JuliaVersion string
	// Platform is the host triplet without julia_version (that tag is
	// added); "" means "x86_64-linux-gnu-libgfortran5-cxx11".
	Platform string
	// HTTPClient makes the requests; nil means one that, like libcurl in
	// Downloads.jl, sends no Accept-Encoding of its own and decodes no
	// Content-Encoding (a given client must do the same to stay faithful).
	HTTPClient *http.Client
	// RetryDelay is the pause between the attempts of an artifact download
	// (1 s in Pkg); 0 means none.
	RetryDelay time.Duration
	// Downloads allows the Artifacts.toml download URLs after the server
	// failed (sha256 and tree hash checked, as Pkg does).
	Downloads bool
	// Headers are extra JULIA_PKG_SERVER_<X> variables as Pkg turns them
	// into Julia-<X> headers: the key is <X> ("REGISTRY_PREFERENCE").
	Headers map[string]string
}

// Request is one recorded HTTP exchange. Path is relative to the server
// base for server requests, the full URL otherwise. Status is 0 when no
// response arrived.
type Request struct {
	Method string
	Path   string
	Status int
}

func (r Request) String() string { return r.Method + " " + r.Path + " " + strconv.Itoa(r.Status) }

// Registry is an installed (packed) registry.
type Registry struct {
	Name string
	UUID julia.UUID
	Hash treehash.Hash
	// Files maps raw tar paths to the bytes of regular files, as Pkg's
	// packed registry reader keys them.
	Files map[string][]byte
	Reg   *julia.Registry
}

// Package is an installed package version.
type Package struct {
	Name     string
	UUID     julia.UUID
	Version  string
	TreeHash treehash.Hash
	Dir      string
}

// Artifact is an installed artifact.
type Artifact struct {
	Name     string
	TreeHash treehash.Hash
	Dir      string
	// Package is the name of the package whose Artifacts.toml listed it.
	Package string
}

// Result is what an Instantiate or Add installed.
type Result struct {
	Packages  []Package
	Artifacts []Artifact
}

// Client talks to one Pkg server. It is safe for concurrent use, but
// operations are meant to run one at a time like Pkg's.
type Client struct {
	base  string
	opts  Options
	host  julia.Platform
	httpc *http.Client
	v     [3]int

	// mu guards reqs and registries.
	mu         sync.Mutex
	reqs       []Request
	registries map[julia.UUID]*Registry
}

var schemeRE = regexp.MustCompile(`^\w+://`)

// New returns a client for the server value as JULIA_PKG_SERVER holds it:
// without a scheme it means https (G5); trailing slashes are dropped
// (§1.1).
func New(server string, opts Options) (*Client, error) {
	if server == "" {
		return nil, fmt.Errorf("pkg server: empty: %w", ErrNoServer)
	}
	if opts.Depot == "" {
		return nil, errors.New("pkgclient: Options.Depot is required")
	}
	if !schemeRE.MatchString(server) {
		server = "https://" + server
	}
	base := strings.TrimRight(server, "/")
	if opts.JuliaVersion == "" {
		opts.JuliaVersion = "1.13.0"
	}
	c := &Client{base: base, opts: opts, httpc: opts.HTTPClient, registries: map[julia.UUID]*Registry{}}
	if c.httpc == nil {
		// libcurl as Downloads.jl uses it neither asks for nor decodes a
		// Content-Encoding; Go's transport would do both.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableCompression = true
		c.httpc = &http.Client{Transport: tr}
	}
	vs := strings.SplitN(strings.SplitN(opts.JuliaVersion, "-", 2)[0], ".", 3)
	for i := 0; i < len(vs) && i < 3; i++ {
		c.v[i], _ = strconv.Atoi(vs[i])
	}
	trip := opts.Platform
	if trip == "" {
		trip = "x86_64-linux-gnu-libgfortran5-cxx11"
	}
	p, err := julia.ParsePlatform(trip + "-julia_version+" + strings.SplitN(opts.JuliaVersion, "-", 2)[0])
	if err != nil {
		return nil, fmt.Errorf("pkgclient: platform %q: %w", trip, err)
	}
	c.host = julia.HostPlatform(p)
	return c, nil
}

// atLeast reports whether the simulated Julia is at least major.minor.
func (c *Client) atLeast(major, minor int) bool {
	return c.v[0] > major || c.v[0] == major && c.v[1] >= minor
}

// Base returns the normalized server URL.
func (c *Client) Base() string { return c.base }

// Requests returns the requests made so far, in order.
func (c *Client) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reqs)
}

// ResetRequests forgets the recorded requests.
func (c *Client) ResetRequests() {
	c.mu.Lock()
	c.reqs = nil
	c.mu.Unlock()
}

// Registries returns the installed registries, sorted by uuid.
func (c *Client) Registries() []*Registry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Registry, 0, len(c.registries))
	for _, r := range c.registries {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Registry) int { return strings.Compare(a.UUID.String(), b.UUID.String()) })
	return out
}

// get downloads url into memory and records the request. Server URLs get
// Pkg's headers (§3.1).
func (c *Client) get(ctx context.Context, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	rec := Request{Method: http.MethodGet, Path: url}
	if url == c.base || strings.HasPrefix(url, c.base+"/") {
		rec.Path = strings.TrimPrefix(url, c.base)
		c.setHeaders(req, rec.Path)
	}
	req.Header.Set("User-Agent", "curl/8.11.1 julia/"+strconv.Itoa(c.v[0])+"."+strconv.Itoa(c.v[1]))
	resp, err := c.httpc.Do(req)
	if err != nil {
		c.record(rec)
		return nil, 0, err
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	c.record(rec)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return body, resp.StatusCode, nil
}

func (c *Client) record(r Request) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
}

// ciVariables is the fixed list of §3.1, all unset.
var ciVariables = []string{"APPVEYOR", "CI", "CI_SERVER", "CIRCLECI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS",
	"GITLAB_CI", "JULIA_CI", "JULIA_PKGEVAL", "JULIA_REGISTRYCI_AUTOMERGE", "TF_BUILD", "TRAVIS"}

func (c *Client) setHeaders(req *http.Request, rel string) {
	h := req.Header
	h.Set("Julia-Pkg-Protocol", "1.0")
	h.Set("Julia-Pkg-Server", c.base)
	h.Set("Julia-Version", c.opts.JuliaVersion)
	h.Set("Julia-System", c.host.Triplet())
	ci := make([]string, len(ciVariables))
	for i, v := range ciVariables {
		ci[i] = v + "=n"
	}
	h.Set("Julia-CI-Variables", strings.Join(ci, ";"))
	h.Set("Julia-Interactive", "false")
	if c.atLeast(1, 13) && (strings.Contains(rel, "/registry/") || strings.Contains(rel, "/package/") || strings.Contains(rel, "/artifact/")) {
		if !(c.host.OS() == "windows" && strings.Contains(rel, "/registry/")) {
			h.Set("Accept-Encoding", "zstd, gzip")
		}
	}
	keys := make([]string, 0, len(c.opts.Headers))
	for k := range c.opts.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strings.TrimSpace(c.opts.Headers[k])
		if v == "" {
			continue
		}
		words := strings.Split(strings.ToLower(k), "_")
		for i, w := range words {
			if w != "" {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
		name := "Julia-" + strings.Join(words, "-")
		if h.Get(name) == "" {
			h.Set(name, v)
		}
	}
}

var registryLine = regexp.MustCompile(`^/registry/([^/]+)/([^/]+)$`)

// RegistryRef is one parsed /registries line.
type RegistryRef struct {
	UUID julia.UUID
	Hash treehash.Hash
}

// FetchRegistries GETs /registries and parses it as Pkg ≥ 1.9 does
// (§2.2): lines not matching ^/registry/([^/]+)/([^/]+)$ are ignored; a
// matching line whose parts are not a uuid and a 40-hex hash aborts the
// operation; a later line for a uuid overrides an earlier one. Any download
// failure is ErrNoServer.
func (c *Client) FetchRegistries(ctx context.Context) (map[julia.UUID]treehash.Hash, error) {
	body, _, err := c.get(ctx, c.base+"/registries")
	if err != nil {
		return nil, fmt.Errorf("could not download %s/registries: %w: %w", c.base, ErrNoServer, err)
	}
	out := map[julia.UUID]treehash.Hash{}
	for _, line := range strings.Split(string(body), "\n") {
		m := registryLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		u, err := parseUUIDLoose(m[1])
		if err != nil {
			return nil, fmt.Errorf("/registries line %q: %w: %w", line, ErrAborted, err)
		}
		h, err := treehash.Parse(m[2])
		if err != nil {
			return nil, fmt.Errorf("/registries line %q: %w: %w", line, ErrAborted, err)
		}
		out[u] = h
	}
	return out, nil
}

// parseUUIDLoose parses a uuid in any case, as Julia's UUID(string) does.
func parseUUIDLoose(s string) (julia.UUID, error) { return julia.ParseUUID(strings.ToLower(s)) }

// InstallDefaultRegistries is what Pkg does on the first operation in a
// depot without registries (§4.1, G9): it installs General and every
// registry /registries lists. A server that does not list General fails
// here (Pkg would git clone General, which an air gap cannot).
func (c *Client) InstallDefaultRegistries(ctx context.Context) error {
	served, err := c.FetchRegistries(ctx)
	if err != nil {
		return err
	}
	if _, ok := served[GeneralUUID]; !ok {
		return fmt.Errorf("registry General %s: not listed by %s, would git clone https://github.com/JuliaRegistries/General.git: %w", GeneralUUID, c.base, ErrNoSource)
	}
	uuids := make([]julia.UUID, 0, len(served))
	for u := range served {
		uuids = append(uuids, u)
	}
	slices.SortFunc(uuids, func(a, b julia.UUID) int { return strings.Compare(a.String(), b.String()) })
	for _, u := range uuids {
		if err := c.installRegistry(ctx, u, served[u]); err != nil {
			return err
		}
	}
	return nil
}

// AddRegistry is Pkg.Registry.add(uuid=…): GET /registries, then the
// registry if the server lists it.
func (c *Client) AddRegistry(ctx context.Context, uuid julia.UUID) error {
	served, err := c.FetchRegistries(ctx)
	if err != nil {
		return err
	}
	h, ok := served[uuid]
	if !ok {
		return fmt.Errorf("registry %s: not listed by %s, would git clone: %w", uuid, c.base, ErrNoSource)
	}
	return c.installRegistry(ctx, uuid, h)
}

// UpdateRegistries is Pkg.Registry.update(): every installed registry the
// server lists under another hash is downloaded again (G10). Failures are
// collected, as Pkg prints them, and returned together.
func (c *Client) UpdateRegistries(ctx context.Context) error {
	served, err := c.FetchRegistries(ctx)
	if err != nil {
		return nil // Pkg: nothing to do without a server
	}
	var errs []error
	for _, r := range c.Registries() {
		if h, ok := served[r.UUID]; ok && h != r.Hash {
			if err := c.installRegistry(ctx, r.UUID, h); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// installRegistry downloads /registry/<uuid>/<hash>, checks the keep-empty
// tree hash of its tar stream (≥ 1.9) and loads it by raw tar paths.
func (c *Client) installRegistry(ctx context.Context, uuid julia.UUID, hash treehash.Hash) error {
	what := "registry " + uuid.String() + "/" + hash.String()
	body, _, err := c.get(ctx, c.base+"/registry/"+uuid.String()+"/"+hash.String())
	if err != nil {
		return fmt.Errorf("%s: could not download: %w", what, err)
	}
	tarBytes, err := c.decompress(body)
	if err != nil {
		return fmt.Errorf("%s: unable to verify download: %w", what, err)
	}
	if c.atLeast(1, 9) {
		h, err := treehash.Tar(bytes.NewReader(tarBytes))
		if err != nil {
			return fmt.Errorf("%s: unable to verify download: %w", what, err)
		}
		if h.KeepEmpty != hash {
			return fmt.Errorf("%s: tree hash of the download is %s: %w", what, h.KeepEmpty, ErrHashMismatch)
		}
	}
	files, err := rawFiles(tarBytes)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	data, ok := files["Registry.toml"]
	if !ok {
		return fmt.Errorf("%s: KeyError: key \"Registry.toml\" not found in the packed registry: %w", what, ErrAborted)
	}
	reg, err := julia.ParseRegistry(data)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrAborted, err)
	}
	if reg.UUID != uuid {
		return fmt.Errorf("%s: Registry.toml says uuid %s: %w", what, reg.UUID, ErrAborted)
	}
	r := &Registry{Name: reg.Name, UUID: uuid, Hash: hash, Files: files, Reg: reg}
	if err := os.MkdirAll(filepath.Join(c.opts.Depot, "registries"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.opts.Depot, "registries", reg.Name+".tar.gz"), body, 0o644); err != nil {
		return err
	}
	sidecar := fmt.Sprintf("git-tree-sha1 = %q\npath = %q\nuuid = %q\n", hash, reg.Name+".tar.gz", uuid)
	if err := os.WriteFile(filepath.Join(c.opts.Depot, "registries", reg.Name+".toml"), []byte(sidecar), 0o644); err != nil {
		return err
	}
	c.mu.Lock()
	c.registries[uuid] = r
	c.mu.Unlock()
	return nil
}

// decompress sniffs the magic bytes (§3.2): gzip always, zstd only on
// Julia ≥ 1.13 (7z before cannot), anything else is an error (7z would
// not yield a tar stream).
func (c *Client) decompress(body []byte) ([]byte, error) {
	comp, _, err := tarx.Sniff(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	switch {
	case comp == tarx.Gzip, comp == tarx.Zstd && c.atLeast(1, 13):
	default:
		return nil, fmt.Errorf("decompressing: %s data is not a gzip%s stream", comp, map[bool]string{true: " or zstd", false: ""}[c.atLeast(1, 13)])
	}
	rc, _, err := tarx.Decompress(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	return out, nil
}

// rawFiles reads the regular files of a tar stream keyed by their raw
// header paths, as Pkg's packed registry reader does.
func rawFiles(tarBytes []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarBytes))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the registry tarball: %w", err)
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != 0 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", h.Name, err)
		}
		out[h.Name] = b
	}
}

// rawFS serves a registry's raw-path map as an fs.FS: a file stored as
// "./x" is not found under "x", as in Pkg.
type rawFS map[string][]byte

func (r rawFS) Open(name string) (fs.File, error) {
	b, ok := r[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &file{Reader: bytes.NewReader(b), name: path.Base(name), size: int64(len(b))}, nil
}

type file struct {
	*bytes.Reader
	name string
	size int64
}

func (f *file) Stat() (fs.FileInfo, error) { return f, nil }
func (f *file) Close() error               { return nil }
func (f *file) Name() string               { return f.name }
func (f *file) Size() int64                { return f.size }
func (f *file) Mode() fs.FileMode          { return 0o644 }
func (f *file) ModTime() time.Time         { return time.Time{} }
func (f *file) IsDir() bool                { return false }
func (f *file) Sys() any                   { return nil }

// inServedRegistry is Pkg's is_pkg_in_pkgserver_registry (§4.2): the
// package is in a locally installed registry whose uuid the server lists.
func (c *Client) inServedRegistry(uuid julia.UUID, served map[julia.UUID]treehash.Hash) bool {
	for _, r := range c.Registries() {
		if _, ok := served[r.UUID]; !ok {
			continue
		}
		if _, ok := r.Reg.Packages[uuid]; ok {
			return true
		}
	}
	return false
}

// Instantiate installs every fetchable entry of m and the artifacts their
// Artifacts.toml files select for the host, as Pkg.instantiate does with
// an installed registry (§4.2, §4.3). Entries are installed in manifest
// order (name, uuid); artifacts per package, by name.
func (c *Client) Instantiate(ctx context.Context, m *julia.Manifest) (*Result, error) {
	served, err := c.FetchRegistries(ctx)
	if err != nil && !errors.Is(err, ErrNoServer) {
		return nil, err
	}
	res := &Result{}
	for _, e := range m.Entries {
		if !e.Fetchable() {
			continue
		}
		p, err := c.installPackage(ctx, e, served)
		if err != nil {
			return res, err
		}
		res.Packages = append(res.Packages, p)
	}
	for _, p := range res.Packages {
		arts, err := c.installArtifacts(ctx, p, served)
		res.Artifacts = append(res.Artifacts, arts...)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// Add is Pkg.add(names...) into an empty project: install the default
// registries if none is installed, resolve each name to its newest
// non-yanked version whose dependency closure resolves (Pkg's resolver
// prefers the newest), and instantiate the closure.
func (c *Client) Add(ctx context.Context, names ...string) (*Result, error) {
	if len(c.Registries()) == 0 {
		if err := c.InstallDefaultRegistries(ctx); err != nil {
			return nil, err
		}
	}
	m := &julia.Manifest{Format: "2.0"}
	seen := map[julia.UUID]bool{}
	for _, name := range names {
		var reg *Registry
		for _, r := range c.Registries() {
			if len(r.Reg.Lookup(name)) > 0 {
				reg = r
				break
			}
		}
		if reg == nil {
			return nil, fmt.Errorf("package %s: %w", name, ErrNotInRegistry)
		}
		res, err := julia.Resolve(reg.Reg, rawFS(reg.Files), []julia.Requirement{{Name: name}}, julia.ResolveOptions{JuliaVersion: strings.SplitN(c.opts.JuliaVersion, "-", 2)[0]})
		if err != nil {
			return nil, fmt.Errorf("package %s: resolving: %w", name, err)
		}
		for _, p := range res.Packages {
			if !seen[p.UUID] {
				seen[p.UUID] = true
				m.Entries = append(m.Entries, julia.ManifestEntry{Name: p.Name, UUID: p.UUID, Version: p.Version.String(), TreeHash: p.TreeHash})
			}
		}
	}
	slices.SortFunc(m.Entries, func(a, b julia.ManifestEntry) int {
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return strings.Compare(a.UUID.String(), b.UUID.String())
	})
	return c.Instantiate(ctx, m)
}

// installPackage installs one manifest entry from the server (§4.2).
func (c *Client) installPackage(ctx context.Context, e julia.ManifestEntry, served map[julia.UUID]treehash.Hash) (Package, error) {
	p := Package{Name: e.Name, UUID: e.UUID, Version: e.Version, TreeHash: e.TreeHash,
		Dir: filepath.Join(c.opts.Depot, "packages", e.Name, julia.Slug(e.UUID, e.TreeHash))}
	what := fmt.Sprintf("package %s %s [%s] %s", e.Name, e.Version, e.UUID, e.TreeHash)
	if _, err := os.Stat(p.Dir); err == nil {
		return p, nil
	}
	var tried []string
	if served != nil && (!c.atLeast(1, 8) || c.inServedRegistry(e.UUID, served)) {
		url := c.base + "/package/" + e.UUID.String() + "/" + e.TreeHash.String()
		tried = append(tried, url)
		err := c.fetchTree(ctx, url, e.TreeHash, p.Dir, filepath.Join(c.opts.Depot, "packages", "temp"))
		if err == nil {
			return p, nil
		}
		if errors.Is(err, ErrAborted) {
			return p, fmt.Errorf("%s: %w", what, err)
		}
		tried[len(tried)-1] += " (" + err.Error() + ")"
	}
	return p, fmt.Errorf("%s: tried %s: %w", what, strings.Join(append(tried, "no GitHub or git in an air gap"), ", "), ErrNoSource)
}

// fetchTree downloads a package or artifact tarball, extracts it with
// Tar.jl's rules and checks the skip-empty directory hash (§5), then
// moves it to dir.
func (c *Client) fetchTree(ctx context.Context, url string, want treehash.Hash, dir, tempRoot string) error {
	body, _, err := c.get(ctx, url)
	if err != nil {
		return err
	}
	return c.unpack(ctx, body, want, dir, tempRoot)
}

func (c *Client) unpack(ctx context.Context, body []byte, want treehash.Hash, dir, tempRoot string) error {
	tarBytes, err := c.decompress(body)
	if err != nil {
		return fmt.Errorf("failed to extract archive: %w", err)
	}
	if err := os.MkdirAll(tempRoot, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(tempRoot, "x")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tree := filepath.Join(tmp, "tree")
	if err := tarx.Extract(ctx, bytes.NewReader(tarBytes), tree, tarx.Limits{}); err != nil {
		if errors.Is(err, treehash.ErrTarEntry) && c.atLeast(1, 13) {
			return fmt.Errorf("%w: %w", ErrAborted, err)
		}
		return fmt.Errorf("failed to extract archive: %w", err)
	}
	got, err := treehash.Dir(tree)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("downloaded content has tree hash %s: %w", got, ErrHashMismatch)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	return os.Rename(tree, dir)
}

// installArtifacts installs the artifacts p's Artifacts.toml selects for
// the host (§4.3): non-lazy, with a download section, not yet installed.
func (c *Client) installArtifacts(ctx context.Context, p Package, served map[julia.UUID]treehash.Hash) ([]Artifact, error) {
	var data []byte
	var name string
	for _, n := range []string{"JuliaArtifacts.toml", "Artifacts.toml"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, n))
		if err == nil {
			data, name = b, n
			break
		}
	}
	if data == nil {
		return nil, nil
	}
	arts, err := julia.ParseArtifacts(filepath.Join(p.Dir, name), data)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", p.Name, err)
	}
	var names []string
	for _, a := range arts {
		if !slices.Contains(names, a.Name) {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	var out []Artifact
	for _, n := range names {
		a, ok := julia.SelectBest(arts, n, c.host)
		if !ok || a.Lazy || len(a.Downloads) == 0 {
			continue
		}
		dir := filepath.Join(c.opts.Depot, "artifacts", a.TreeHash.String())
		if _, err := os.Stat(dir); err == nil {
			continue
		}
		if err := c.installArtifact(ctx, p, a, dir, served); err != nil {
			return out, err
		}
		out = append(out, Artifact{Name: n, TreeHash: a.TreeHash, Dir: dir, Package: p.Name})
	}
	return out, nil
}

func (c *Client) installArtifact(ctx context.Context, p Package, a julia.Artifact, dir string, served map[julia.UUID]treehash.Hash) error {
	what := fmt.Sprintf("artifact %s %s of %s", a.Name, a.TreeHash, p.Name)
	temp := filepath.Join(c.opts.Depot, "artifacts", "temp")
	var tried []string
	if served != nil && (!c.atLeast(1, 13) || c.inServedRegistry(p.UUID, served)) {
		url := c.base + "/artifact/" + a.TreeHash.String()
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if attempt > 0 && c.opts.RetryDelay > 0 {
				select {
				case <-time.After(c.opts.RetryDelay):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			var body []byte
			if body, _, err = c.get(ctx, url); err == nil {
				err = c.unpack(ctx, body, a.TreeHash, dir, temp)
				break // a download that arrived is not retried
			}
		}
		if err == nil {
			return nil
		}
		tried = append(tried, url+" ("+err.Error()+")")
	}
	if c.opts.Downloads {
		for _, d := range a.Downloads {
			body, _, err := c.get(ctx, d.URL)
			if err == nil {
				sum := sha256.Sum256(body)
				if hex.EncodeToString(sum[:]) != d.SHA256 {
					err = fmt.Errorf("sha256 %x, want %s", sum, d.SHA256)
				} else {
					err = c.unpack(ctx, body, a.TreeHash, dir, temp)
				}
			}
			if err == nil {
				return nil
			}
			tried = append(tried, d.URL+" ("+err.Error()+")")
		}
	}
	return fmt.Errorf("%s: tried %s: %w", what, strings.Join(tried, ", "), ErrNoSource)
}
