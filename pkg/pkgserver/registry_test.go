package pkgserver_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/internal/testkit/pkgclient"
	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// fault modes of the test registry's blob GETs.
const (
	faultNone     = iota
	faultDenied   // 403
	faultTruncate // the connection drops after 1000 bytes
)

// faultyRegistry is the in-process distribution registry whose blob GETs
// can be made to fail.
func faultyRegistry(t *testing.T) (*testregistry.Registry, *atomic.Int32) {
	mode := &atomic.Int32{}
	reg := testregistry.New(t, testregistry.Options{Handler: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				switch mode.Load() {
				case faultDenied:
					http.Error(w, `{"errors":[{"code":"DENIED","message":"denied"}]}`, http.StatusForbidden)
					return
				case faultTruncate:
					next.ServeHTTP(&truncating{ResponseWriter: w, left: 1000}, r)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}})
	return reg, mode
}

type truncating struct {
	http.ResponseWriter
	left int
}

func (tw *truncating) Write(p []byte) (int, error) {
	if len(p) > tw.left {
		tw.ResponseWriter.Write(p[:tw.left])
		if f, ok := tw.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	tw.left -= len(p)
	return tw.ResponseWriter.Write(p)
}

func openRemote(t *testing.T, reg *testregistry.Registry, repo string) *store.Store {
	t.Helper()
	ref, err := store.ParseReference(reg.Host() + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), ref, store.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Served from a registry with verified private copies: the first client's
// reads verify and fill them, the second is served from them alone.
func TestServe_FromRegistryWithCopies(t *testing.T) {
	w, _ := testWorld(t)
	reg, _ := faultyRegistry(t)
	st := openRemote(t, reg, "julia/bundles")
	b := pushManifests(t, st, "v1", created, w.Manifests[0])
	copyDir := t.TempDir()
	hs, _, src := serve(t, st, serveOpts{set: shelf.SetOptions{CopyDir: copyDir, CopySize: 64 << 20}}, b)
	if len(src.Registries()) != 1 {
		t.Fatalf("Registries() = %v", src.Registries())
	}
	m := manifest(t, w.Manifests[0])
	c1 := newClient(t, hs.URL, pkgclient.Options{})
	if err := c1.InstallDefaultRegistries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Instantiate(context.Background(), m); err != nil {
		t.Fatalf("Instantiate from the registry: %v", err)
	}
	s1 := hs.set.Stats()
	if s1.CopyFills == 0 || s1.CopyFiles == 0 || s1.CopyBytes == 0 || s1.Streams == 0 {
		t.Fatalf("after the first client: %+v", s1)
	}
	c2 := newClient(t, hs.URL, pkgclient.Options{})
	if err := c2.InstallDefaultRegistries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Instantiate(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got, want := requestStrings(c2), requestStrings(c1); !slices.Equal(got, want) {
		t.Errorf("second client's requests %q differ from the first's %q", got, want)
	}
	content := 0
	for _, r := range c2.Requests() {
		if strings.HasPrefix(r.Path, "/package/") || strings.HasPrefix(r.Path, "/artifact/") {
			content++
		}
	}
	s2 := hs.set.Stats()
	if s2.Streams != s1.Streams || s2.CopyHits-s1.CopyHits != int64(content) {
		t.Errorf("second client: %d new streams from the registry, %d new copy hits; want 0 and %d", s2.Streams-s1.Streams, s2.CopyHits-s1.CopyHits, content)
	}
	// The copies hold only verified blobs: every file's name is its digest.
	filepath.WalkDir(copyDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, filepath.Join("blobs", "sha256")) {
			data, _ := os.ReadFile(p)
			if digest.FromBytes(data).Encoded() != d.Name() {
				t.Errorf("copy %s holds other content", p)
			}
		}
		return nil
	})
}

// Registry failures: a refused blob is 502 before any byte; a connection
// dropped mid-blob cuts the client's transfer; ranges work on a registry
// that supports them.
func TestServe_FromRegistryFailures(t *testing.T) {
	reg, mode := faultyRegistry(t)
	st := openRemote(t, reg, "julia/faulty")
	b, tgz, h := artifactBundle(t, st, 3, 512<<10, 0)
	hs, _, _ := serve(t, st, serveOpts{}, b)
	url := hs.URL + "/artifact/" + h.String()

	if resp, body := get(t, url, "Range", "bytes=300000-300099"); resp.StatusCode != 206 || !bytes.Equal(body, tgz[300000:300100]) {
		t.Errorf("Range from the registry = %d, %d bytes", resp.StatusCode, len(body))
	}
	mode.Store(faultDenied)
	if resp, body := get(t, url); resp.StatusCode != 502 || len(body) != 0 {
		t.Errorf("GET with the registry refusing = %d, %d bytes; want 502", resp.StatusCode, len(body))
	}
	mode.Store(faultTruncate)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	_, rerr := got.ReadFrom(resp.Body)
	resp.Body.Close()
	if rerr == nil && got.Len() == len(tgz) {
		t.Errorf("GET with the registry dropping the connection: complete %d-byte body", got.Len())
	}
	if resp.StatusCode == 200 && rerr == nil {
		t.Errorf("GET with the registry dropping the connection: clean 200 of %d bytes", got.Len())
	}
	// Transport failures are not the content's fault: nothing withdrawn.
	if q := hs.set.Withdrawn(); len(q) != 0 {
		t.Errorf("Quarantined() = %v after transport failures, want none", q)
	}
	mode.Store(faultNone)
	if resp, body := get(t, url); resp.StatusCode != 200 || !bytes.Equal(body, tgz) {
		t.Errorf("GET after the registry recovered = %d, %d bytes", resp.StatusCode, len(body))
	}
}

// Split items (parts of a size limit) are served as one tarball, and
// ranges cross part boundaries.
func TestServe_SplitItems(t *testing.T) {
	w, static := testWorld(t)
	st := openLayout(t, t.TempDir())
	src, err := upstream.NewPkgServer("file://"+static, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := transfer.Push(context.Background(), src, st, transfer.PushRequest{Manifests: []transfer.NamedManifest{{Name: "m", Manifest: manifest(t, w.Manifests[0])}}},
		transfer.PushOptions{Platforms: []julia.Platform{linux}, Tag: "split", Created: created, MaxPartSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	b := readBundle(t, st, res.Index)
	var split bundle.Entry
	for _, e := range b.Entries {
		if len(e.Layers) > 2 && e.Kind != bundle.KindRegistry {
			split = e
			break
		}
	}
	if split.Kind == "" {
		t.Fatal("no item split into 3 or more parts")
	}
	hs, _, _ := serve(t, st, serveOpts{}, b)
	path := "/artifact/" + split.TreeHash.String()
	if split.Kind == bundle.KindPackage {
		path = "/package/" + split.UUID.String() + "/" + split.TreeHash.String()
	}
	resp, whole := get(t, hs.URL+path)
	if resp.StatusCode != 200 || int64(len(whole)) != split.Whole.Size || digest.FromBytes(whole) != split.Whole.Digest {
		t.Fatalf("GET split %s = %d, %d bytes", path, resp.StatusCode, len(whole))
	}
	if resp, body := get(t, hs.URL+path, "Range", "bytes=4000-8299"); resp.StatusCode != 206 || !bytes.Equal(body, whole[4000:8300]) {
		t.Errorf("Range across parts = %d, %d bytes", resp.StatusCode, len(body))
	}
	c := newClient(t, hs.URL, pkgclient.Options{})
	if err := c.InstallDefaultRegistries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Instantiate(context.Background(), manifest(t, w.Manifests[0])); err != nil {
		t.Fatalf("Instantiate from split items: %v", err)
	}
}
