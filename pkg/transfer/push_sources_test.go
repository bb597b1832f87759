package transfer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

var sourcesCreated = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// pushManifests pushes the world's manifests for linux from src into a
// fresh layout and checks the bundle deeply.
func pushManifests(t *testing.T, w *fixture.World, src Source, opts PushOptions) (*PushResult, *store.Store, error) {
	t.Helper()
	dst := openLayout(t, t.TempDir())
	opts.Platforms = []julia.Platform{linux}
	opts.Tag, opts.Created = "v1", sourcesCreated
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: manifestsOf(t, w)}, opts)
	if err == nil {
		rep, cerr := bundle.Check(context.Background(), dst, res.Index, bundle.CheckOptions{Deep: true})
		if cerr != nil || len(rep.Problems) != 0 {
			t.Errorf("Check(Deep) = %v, problems %v", cerr, rep.Problems)
		}
	}
	return res, dst, err
}

// contentOf returns the tree hashes of a bundle's items by kind.
func contentOf(t *testing.T, dst *store.Store, res *PushResult) map[bundle.Kind]map[treehash.Hash]bool {
	t.Helper()
	b, err := bundle.Read(context.Background(), dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	out := map[bundle.Kind]map[treehash.Hash]bool{}
	for _, e := range b.Entries {
		if out[e.Kind] == nil {
			out[e.Kind] = map[treehash.Hash]bool{}
		}
		out[e.Kind][e.TreeHash] = true
	}
	return out
}

func checkWorldContent(t *testing.T, w *fixture.World, got map[bundle.Kind]map[treehash.Hash]bool) {
	t.Helper()
	wantPkgs, wantArts := wantContent(t, w, manifestsOf(t, w))
	if !sameSet(got[bundle.KindPackage], wantPkgs) || !sameSet(got[bundle.KindArtifact], wantArts) {
		t.Errorf("bundle holds %d packages / %d artifacts, want %d / %d",
			len(got[bundle.KindPackage]), len(got[bundle.KindArtifact]), len(wantPkgs), len(wantArts))
	}
	if !got[bundle.KindRegistry][w.Registries[0].TreeHash] || len(got[bundle.KindRegistry]) != 1 {
		t.Errorf("registries = %v, want %s", got[bundle.KindRegistry], w.Registries[0].TreeHash)
	}
}

func TestPush_HTTPSourceEqualsFile(t *testing.T) {
	w := testWorld(t)
	file, _ := staticSource(t, w)
	httpSrc, err := upstream.NewPkgServer(w.Server(t).URL, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := pushManifests(t, w, file, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fromHTTP, dst, err := pushManifests(t, w, httpSrc, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fromHTTP.Index.Digest != fromFile.Index.Digest || fromHTTP.BytesFetched != fromFile.BytesFetched {
		t.Errorf("over HTTP: index %s, %d bytes fetched; over file://: %s, %d", fromHTTP.Index.Digest, fromHTTP.BytesFetched,
			fromFile.Index.Digest, fromFile.BytesFetched)
	}
	checkWorldContent(t, w, contentOf(t, dst, fromHTTP))
}

func TestPush_DepotWithUnpackedRegistries(t *testing.T) {
	w := testWorld(t)
	depot := t.TempDir()
	if err := w.WriteDepotWith(depot, fixture.DepotOptions{UnpackedRegistries: true}); err != nil {
		t.Fatal(err)
	}
	src, err := upstream.OpenSource(depot, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := src.(upstream.RegistryLister).Registries(context.Background())
	if err != nil || len(refs) != 1 || refs[0].UUID != w.Registries[0].UUID || refs[0].Hash != w.Registries[0].TreeHash {
		t.Fatalf("depot registries = %v, %v; want General %s %s", refs, err, w.Registries[0].UUID, w.Registries[0].TreeHash)
	}
	res, dst, err := pushManifests(t, w, src, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkWorldContent(t, w, contentOf(t, dst, res))
}

// TestPush_ChainFallsThrough: the first source has no artifacts, the second
// (a depot without packages) has them.
func TestPush_ChainFallsThrough(t *testing.T) {
	w := testWorld(t)
	first, dir := staticSource(t, w)
	if err := os.RemoveAll(filepath.Join(dir, "artifact")); err != nil {
		t.Fatal(err)
	}
	depot := t.TempDir()
	if err := w.WriteDepotWith(depot, fixture.DepotOptions{NoPackages: true}); err != nil {
		t.Fatal(err)
	}
	second, err := upstream.NewDepot(depot)
	if err != nil {
		t.Fatal(err)
	}
	// Alone, the first source lacks every artifact.
	_, wantArts := wantContent(t, w, manifestsOf(t, w))
	_, _, err = pushManifests(t, w, first, PushOptions{})
	var me *MissingError
	if !errors.As(err, &me) || len(me.Missing) != len(wantArts) {
		t.Fatalf("push from the first source alone = %v, want %d missing artifacts", err, len(wantArts))
	}
	res, dst, err := pushManifests(t, w, upstream.Chain{first, second}, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkWorldContent(t, w, contentOf(t, dst, res))
}

// downloadWorld generates a world whose Artifacts.toml download URLs point
// at fixture's DownloadServer (on a listener reserved first), and a static
// mirror of it without /artifact/.
func downloadWorld(t *testing.T, handler func(w *fixture.World, h http.Handler) http.Handler) (*fixture.World, *upstream.PkgServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w, err := fixture.Generate(context.Background(), filepath.Join(t.TempDir(), "world"), fixture.Config{
		Seed: 5, Packages: 8, VersionsPerPackage: 2, ArtifactPackages: 0.5,
		Platforms:    []string{"x86_64-linux-gnu", "aarch64-linux-gnu"},
		DownloadBase: "http://" + ln.Addr().String() + "/download",
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ds, _ := w.DownloadServer(t)
	h := ds.Config.Handler
	if handler != nil {
		h = handler(w, h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	src, dir := staticSource(t, w)
	if err := os.RemoveAll(filepath.Join(dir, "artifact")); err != nil {
		t.Fatal(err)
	}
	return w, src
}

func TestPush_ArtifactsFromDownloadURLs(t *testing.T) {
	w, src := downloadWorld(t, nil)
	_, wantArts := wantContent(t, w, manifestsOf(t, w))
	if len(wantArts) == 0 {
		t.Fatal("the world's manifests need no artifact")
	}

	_, _, err := pushManifests(t, w, src, PushOptions{})
	var me *MissingError
	if !errors.As(err, &me) || len(me.Missing) != len(wantArts) {
		t.Fatalf("without Downloads: %v, want %d missing artifacts", err, len(wantArts))
	}
	for _, m := range me.Missing {
		if m.Kind != bundle.KindArtifact || !strings.Contains(m.Reason, "download URLs not tried (use --downloads)") {
			t.Errorf("missing %s %s: reason %q, want it to say the download URLs were not tried", m.Kind, m.Name, m.Reason)
		}
	}

	res, dst, err := pushManifests(t, w, src, PushOptions{Downloads: true})
	if err != nil {
		t.Fatalf("with Downloads: %v", err)
	}
	checkWorldContent(t, w, contentOf(t, dst, res))
}

// regzip returns the same tar stream compressed differently: the tree hash
// holds, the sha256 does not.
func regzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Comment = "tampered"
	if _, err := io.Copy(zw, zr); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestPush_DownloadChecksumMismatch(t *testing.T) {
	tampered := map[string][]byte{} // URL path → bytes served
	w, src := downloadWorld(t, func(w *fixture.World, h http.Handler) http.Handler {
		for _, a := range w.Artifacts {
			u, err := url.Parse(a.URL)
			if err != nil {
				t.Fatal(err)
			}
			tampered[u.Path] = regzip(t, a.Tarball)
		}
		return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if b, ok := tampered[req.URL.Path]; ok {
				rw.Write(b)
				return
			}
			http.NotFound(rw, req)
		})
	})
	// The tampered tarballs still have the right tree hash.
	for _, a := range w.Artifacts {
		u, _ := url.Parse(a.URL)
		if h, err := treehash.Tar(mustGunzip(t, tampered[u.Path])); err != nil || h.SkipEmpty != a.TreeHash {
			t.Fatalf("tampered %s: tree hash %v %v, want %s", a.Name, h.SkipEmpty, err, a.TreeHash)
		}
	}

	dir := t.TempDir()
	dst := openLayout(t, dir)
	_, err := Push(context.Background(), src, dst, PushRequest{Manifests: manifestsOf(t, w)},
		PushOptions{Platforms: []julia.Platform{linux}, Downloads: true, Tag: "v1", Created: sourcesCreated})
	if !errors.Is(err, upstream.ErrChecksum) {
		t.Fatalf("Push = %v, want upstream.ErrChecksum", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "artifact ") || !strings.Contains(msg, w.Config.DownloadBase) || !strings.Contains(msg, "sha256 mismatch") {
		t.Errorf("error %q does not name the artifact, its URL and the cause", msg)
	}
	if _, err := dst.Resolve(context.Background(), "v1"); err == nil {
		t.Error("a failed push tagged the bundle")
	}
	// None of the tampered bytes was stored, nor any artifact item.
	blobs := blobFiles(t, dir)
	for p, b := range tampered {
		if _, ok := blobs[filepath.Join(dir, "blobs", "sha256", digest.FromBytes(b).Encoded())]; ok {
			t.Errorf("the tampered download %s was stored", p)
		}
	}
	for _, d := range dst.Roots() {
		if it, err := bundle.ReadItem(context.Background(), dst, d); err == nil && it.Kind == bundle.KindArtifact {
			t.Errorf("artifact item %s was stored", it)
		}
	}
}

func mustGunzip(t *testing.T, b []byte) io.Reader {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}
