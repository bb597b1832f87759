package pkgserver_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/internal/testkit/pkgclient"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

var (
	worldOnce   sync.Once
	world       *fixture.World
	worldStatic string
	worldErr    error
)

// testWorld is a generated Julia world whose first registry carries
// General's real uuid (so an empty depot installs it, G9), with every tree
// feature (empty dirs, symlinks, executables), served as a static mirror
// directory for transfer.Push.
func testWorld(t *testing.T) (*fixture.World, string) {
	t.Helper()
	worldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoebox-pkgserver-world-")
		if err != nil {
			worldErr = err
			return
		}
		world, worldErr = fixture.Generate(context.Background(), filepath.Join(dir, "world"), fixture.Config{
			Seed: 21, Packages: 10, VersionsPerPackage: 3, ArtifactPackages: 0.4, RealGeneralUUID: true,
			Platforms: []string{"x86_64-linux-gnu", "aarch64-linux-gnu"},
			EmptyDirs: true, Symlinks: true, Executables: true, PlatformIndependent: true,
		})
		if worldErr == nil {
			worldStatic = filepath.Join(dir, "static")
			worldErr = world.WriteStaticServer(worldStatic)
		}
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world, worldStatic
}

var linux = julia.MustParsePlatform("x86_64-linux-gnu")

func manifest(t *testing.T, p string) *julia.Manifest {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := julia.ParseManifest(p, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pushManifests pushes what the manifests need (for x86_64 Linux) into
// dst as a bundle tagged tag, and returns the bundle as read back.
func pushManifests(t *testing.T, dst *store.Store, tag string, created time.Time, paths ...string) *bundle.Bundle {
	t.Helper()
	_, static := testWorld(t)
	src, err := upstream.NewPkgServer("file://"+static, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ms []transfer.NamedManifest
	for _, p := range paths {
		ms = append(ms, transfer.NamedManifest{Name: p, Manifest: manifest(t, p)})
	}
	res, err := transfer.Push(context.Background(), src, dst, transfer.PushRequest{Manifests: ms},
		transfer.PushOptions{Platforms: []julia.Platform{linux}, Tag: tag, Created: created, ToolVersion: "test"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	return readBundle(t, dst, res.Index)
}

func readBundle(t testing.TB, src content.Fetcher, d ocispec.Descriptor) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Read(context.Background(), src, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openLayout(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testServer is a running front end over a verified set.
type testServer struct {
	URL string
	set *shelf.Set
}

// serveOpts configure a test server: the registry view, the verified set
// (no policy: these tests play with bytes, not signatures) and the server.
type serveOpts struct {
	view pkgserver.ViewMode
	set  shelf.SetOptions
	srv  pkgserver.Options
}

// engine names a front end: the fasthttp one `shoebox serve` runs, or
// net/http (Server as an http.Handler).
type engine string

const (
	engineFast engine = "fasthttp"
	engineNet  engine = "net/http"
)

type serveFunc func(t *testing.T, st *store.Store, o serveOpts, bundles ...*bundle.Bundle) (*testServer, *pkgserver.Server, *pkgserver.BundleSource)

// forEachEngine runs f once per front end, as subtests.
func forEachEngine(t *testing.T, f func(t *testing.T, serve serveFunc)) {
	for _, e := range []engine{engineFast, engineNet} {
		t.Run(string(e), func(t *testing.T) {
			f(t, func(t *testing.T, st *store.Store, o serveOpts, bundles ...*bundle.Bundle) (*testServer, *pkgserver.Server, *pkgserver.BundleSource) {
				return serveWith(t, e, st, o, bundles...)
			})
		})
	}
}

// serve loads the verified set of st, which must be bundles, and serves
// it on 127.0.0.1 with the fasthttp front end.
func serve(t *testing.T, st *store.Store, o serveOpts, bundles ...*bundle.Bundle) (*testServer, *pkgserver.Server, *pkgserver.BundleSource) {
	return serveWith(t, engineFast, st, o, bundles...)
}

func serveWith(t *testing.T, e engine, st *store.Store, o serveOpts, bundles ...*bundle.Bundle) (*testServer, *pkgserver.Server, *pkgserver.BundleSource) {
	t.Helper()
	set, err := shelf.NewSet(st, o.set)
	if err != nil {
		t.Fatal(err)
	}
	sh, _, err := set.Load(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, bi := range sh.Bundles() {
		got = append(got, bi.Digest)
	}
	for _, b := range bundles {
		want = append(want, b.Index.Digest.String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the verified set holds %v, want %v (rejected: %v)", got, want, sh.Rejected())
	}
	src, err := pkgserver.NewBundleSource(context.Background(), sh, pkgserver.SourceOptions{View: o.view})
	if err != nil {
		t.Fatal(err)
	}
	so := o.srv
	if so.Version == "" {
		so.Version = "test"
	}
	so.Stats = set.Stats
	srv := pkgserver.New(src, so)
	srv.Update(src, pkgserver.Status{Items: src.Counts()})
	if e == engineNet {
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		return &testServer{URL: hs.URL, set: set}, srv, src
	}
	return &testServer{URL: "http://" + listenFast(t, srv), set: set}, srv, src
}

// listenFast serves srv with its fasthttp front end on 127.0.0.1 until
// the test ends, and returns the address.
func listenFast(t *testing.T, srv *pkgserver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := srv.FastHTTPServer(func(string, ...any) {})
	go fs.Serve(ln)
	t.Cleanup(func() { fs.Shutdown() })
	return ln.Addr().String()
}

func newClient(t *testing.T, base string, opts pkgclient.Options) *pkgclient.Client {
	t.Helper()
	if opts.Depot == "" {
		opts.Depot = t.TempDir()
	}
	c, err := pkgclient.New(base, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, hdr...)
}

func do(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	return resp, body
}

// getCut GETs url and reads the body to its end, returning the status,
// the bytes read and the read error (nil for a complete body).
func getCut(t *testing.T, url string) (int, int, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	_, rerr := got.ReadFrom(resp.Body)
	return resp.StatusCode, got.Len(), rerr
}

// held reports the (uuid, tree) pairs of packages a bundle holds.
func held(bs ...*bundle.Bundle) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, b := range bs {
		for _, e := range b.Entries {
			if e.Kind == bundle.KindPackage {
				out[[2]string{e.UUID.String(), e.TreeHash.String()}] = true
			}
		}
	}
	return out
}

// newSource loads the verified set of st and builds the source over it.
func newSource(t testing.TB, st *store.Store, o shelf.SetOptions) (*pkgserver.BundleSource, *shelf.Set) {
	t.Helper()
	set, err := shelf.NewSet(st, o)
	if err != nil {
		t.Fatal(err)
	}
	sh, _, err := set.Load(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pkgserver.NewBundleSource(context.Background(), sh, pkgserver.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return src, set
}
