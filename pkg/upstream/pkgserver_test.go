package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"oras.land/oras-go/v2/errdef"
)

var (
	exampleUUID = julia.MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
	exampleHash = treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc")
)

func TestParseRegistries(t *testing.T) {
	body := "/registry/23338594-aafe-5451-b93e-139f81909106/5ddac1103f9fdad5b784b32ad1739c01bd58d02f\n" +
		"junk line\n" +
		"/julia/registry/23338594-aafe-5451-b93e-139f81909106/0000000000000000000000000000000000000000\n" +
		"/registry/0dc920e3-1582-5068-8f9a-299f944d40aa/44b305d95fdb7501ac6b9923fee0b5e48ae90e11\r\n" +
		"/registry/23338594-aafe-5451-b93e-139f81909106/73a54308086ade6ef34c4c1dd0b93fee5b9fb594\n"
	refs, err := ParseRegistries(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, r := range refs {
		got += r.UUID.String() + " " + r.Hash.String() + "\n"
	}
	want := "23338594-aafe-5451-b93e-139f81909106 73a54308086ade6ef34c4c1dd0b93fee5b9fb594\n" +
		"0dc920e3-1582-5068-8f9a-299f944d40aa 44b305d95fdb7501ac6b9923fee0b5e48ae90e11\n"
	if got != want {
		t.Errorf("ParseRegistries() =\n%s want\n%s", got, want)
	}
	// A matching line with a bad uuid aborts, as in Pkg.
	_, err = ParseRegistries(strings.NewReader("/registry/NOT-A-UUID/5ddac1103f9fdad5b784b32ad1739c01bd58d02f\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("ParseRegistries(bad uuid) error = %v, want one naming line 1", err)
	}
}

func FuzzParseRegistries(f *testing.F) {
	f.Add([]byte("/registry/23338594-aafe-5451-b93e-139f81909106/5ddac1103f9fdad5b784b32ad1739c01bd58d02f\n"))
	f.Add([]byte("/registry//\n/registry/a/b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseRegistries(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range refs {
			if r.UUID.IsZero() && r.Hash.IsZero() {
				continue
			}
			if _, err := julia.ParseUUID(r.UUID.String()); err != nil {
				t.Fatalf("round trip %v", err)
			}
		}
	})
}

func TestNewPkgServer_Normalises(t *testing.T) {
	for in, want := range map[string]string{
		"pkg.julialang.org":            "https://pkg.julialang.org",
		"http://localhost:8000///":     "http://localhost:8000",
		"https://mirrors.x.org/julia/": "https://mirrors.x.org/julia",
		"file:///srv/pkg/":             "file:///srv/pkg",
	} {
		s, err := NewPkgServer(in, ServerOptions{})
		if err != nil {
			t.Fatalf("NewPkgServer(%q): %v", in, err)
		}
		if s.Name() != want {
			t.Errorf("NewPkgServer(%q).Name() = %q, want %q", in, s.Name(), want)
		}
	}
	if _, err := NewPkgServer("ftp://x", ServerOptions{}); err == nil || !strings.Contains(err.Error(), `unsupported scheme "ftp"`) {
		t.Errorf("ftp: error = %v", err)
	}
}

// flakyServer serves one blob at /package/<uuid>/<hash>, failing in the
// ways real networks do, and counts requests.
type flakyServer struct {
	blob      []byte
	fail500   atomic.Int32 // answer this many requests with 500 first
	resetAt   atomic.Int64 // cut the connection after this many body bytes, once
	noRange   bool         // ignore Range headers
	requests  atomic.Int32
	rangeSeen atomic.Value
}

func (f *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Header.Get("Julia-Pkg-Protocol") != "1.0" {
		http.Error(w, "missing Julia-Pkg-Protocol", http.StatusBadRequest)
		return
	}
	if r.URL.Path != "/package/"+exampleUUID.String()+"/"+exampleHash.String() {
		http.NotFound(w, r)
		return
	}
	if f.fail500.Load() > 0 {
		f.fail500.Add(-1)
		http.Error(w, "upstream sad", http.StatusInternalServerError)
		return
	}
	start := int64(0)
	if rg := r.Header.Get("Range"); rg != "" && !f.noRange {
		f.rangeSeen.Store(rg)
		start, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(f.blob)-1, len(f.blob)))
		w.Header().Set("Content-Length", strconv.Itoa(len(f.blob)-int(start)))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.blob)))
		w.WriteHeader(http.StatusOK)
	}
	body := f.blob[start:]
	if cut := f.resetAt.Swap(0); cut > 0 && cut < int64(len(body)) {
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Write(body)
}

func randomBlob(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func fetchAll(t *testing.T, s *PkgServer) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, err := s.Fetch(ctx, Resource{Kind: KindPackage, UUID: exampleUUID, Hash: exampleHash})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestPkgServer_Fetch(t *testing.T) {
	blob := randomBlob(256 << 10)
	want := sha256.Sum256(blob)
	cases := []struct {
		name         string
		setup        func(*flakyServer)
		wantRequests int32
		wantRange    string
	}{
		{"plain", func(*flakyServer) {}, 1, ""},
		{"500 twice then ok", func(f *flakyServer) { f.fail500.Store(2) }, 3, ""},
		{"reset mid-body resumes with Range", func(f *flakyServer) { f.resetAt.Store(100_000) }, 2, "bytes=100000-"},
		{"reset mid-body, server ignores Range", func(f *flakyServer) { f.resetAt.Store(100_000); f.noRange = true }, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := &flakyServer{blob: blob}
			tc.setup(fs)
			srv := httptest.NewServer(fs)
			defer srv.Close()
			s, err := NewPkgServer(srv.URL, ServerOptions{Policy: httpx.Policy{Backoff: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := fetchAll(t, s)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if sha256.Sum256(got) != want {
				t.Fatalf("Fetch: got %d bytes with the wrong sha256", len(got))
			}
			if n := fs.requests.Load(); n != tc.wantRequests {
				t.Errorf("requests = %d, want %d", n, tc.wantRequests)
			}
			if rg, _ := fs.rangeSeen.Load().(string); rg != tc.wantRange {
				t.Errorf("Range header = %q, want %q", rg, tc.wantRange)
			}
		})
	}
}

func TestPkgServer_FetchErrors(t *testing.T) {
	fs := &flakyServer{blob: []byte("x")}
	fs.fail500.Store(100)
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, _ := NewPkgServer(srv.URL, ServerOptions{Policy: httpx.Policy{Backoff: time.Millisecond, Attempts: 3}})
	_, err := fetchAll(t, s)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("persistent 500: error = %v, want a StatusError 500", err)
	}
	if n := fs.requests.Load(); n != 3 {
		t.Errorf("persistent 500: requests = %d, want 3 attempts", n)
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("a 500 must not look like not-found: %v", err)
	}

	// 404 is final at once and matches both our and oras's not-found.
	_, err = s.Fetch(context.Background(), Resource{Kind: KindArtifact, Hash: exampleHash})
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("404: error = %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "artifact "+exampleHash.String()) {
		t.Errorf("404 error %q does not name the artifact", err)
	}
}

func TestPkgServer_FileURL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "package", exampleUUID.String(), exampleHash.String())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "registries"), []byte("/registry/"+exampleUUID.String()+"/"+exampleHash.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewPkgServer("file://"+dir, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fetchAll(t, s)
	if err != nil || string(got) != "tarball" {
		t.Fatalf("Fetch = %q, %v", got, err)
	}
	refs, err := s.Registries(context.Background())
	if err != nil || len(refs) != 1 || refs[0].Hash != exampleHash {
		t.Fatalf("Registries = %v, %v", refs, err)
	}
	_, err = s.Fetch(context.Background(), Resource{Kind: KindArtifact, Hash: exampleHash})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
}

func TestChain(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	art := Resource{Kind: KindArtifact, Hash: exampleHash}
	os.MkdirAll(filepath.Join(dirB, "artifact"), 0o755)
	os.WriteFile(filepath.Join(dirB, "artifact", exampleHash.String()), []byte("from B"), 0o644)
	a, _ := NewPkgServer("file://"+dirA, ServerOptions{})
	b, _ := NewPkgServer("file://"+dirB, ServerOptions{})
	rc, err := Chain{a, b}.Fetch(context.Background(), art)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "from B" {
		t.Errorf("Chain.Fetch = %q, want %q", got, "from B")
	}
	_, err = Chain{a}.Fetch(context.Background(), Resource{Kind: KindPackage, UUID: exampleUUID, Hash: exampleHash})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "file://"+dirA) {
		t.Errorf("Chain miss: %v, want ErrNotFound naming where it looked", err)
	}
}
