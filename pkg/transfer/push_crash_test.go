package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// crashEnv, when set to "LAYOUT URL", makes TestPush_KilledAndResumed act
// as the push that gets killed.
const crashEnv = "SHOEBOX_TRANSFER_TEST_CRASH_CHILD"

var crashCreated = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// crashPush is the push the child runs and the parent re-runs: every
// non-yanked version of every package, every artifact.
func crashPush(ctx context.Context, url string, dst *store.Store) (*PushResult, error) {
	src, err := upstream.NewPkgServer(url, upstream.ServerOptions{})
	if err != nil {
		return nil, err
	}
	return Push(ctx, src, dst, PushRequest{All: true, VersionsPerPackage: 1000},
		PushOptions{AllPlatforms: true, IncludeLazy: true, Tag: "all", Created: crashCreated, Concurrency: 4})
}

// stallingServer serves a static mirror and counts package and artifact
// requests; while stalling, every such request after the first n waits
// until the test releases it (one at a time) or the client goes away.
type stallingServer struct {
	h       http.Handler
	release chan struct{}

	mu       sync.Mutex // guards the fields below; taken by the handler and the test
	stall    bool
	n        int // requests served before stalling
	requests int // package and artifact requests seen
	waiting  int // requests stalled now
}

func (s *stallingServer) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/package/") || strings.HasPrefix(req.URL.Path, "/artifact/") {
		s.mu.Lock()
		s.requests++
		stall := s.stall && s.requests > s.n
		if stall {
			s.waiting++
		}
		s.mu.Unlock()
		if stall {
			select {
			case <-s.release:
			case <-req.Context().Done():
			}
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
			if req.Context().Err() != nil {
				return
			}
		}
	}
	s.h.ServeHTTP(rw, req)
}

func (s *stallingServer) counts() (requests, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.waiting
}

func (s *stallingServer) reset(stall bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall, s.requests = stall, 0
}

// indexRoots returns how many manifests a layout's index.json lists, and
// whether it is valid JSON.
func indexRoots(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return 0, false
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return 0, false
	}
	return len(idx.Manifests), true
}

// TestPush_KilledAndResumed kills (SIGKILL) a push of a few hundred items
// after it flushed at least stallAfter of them, then checks that the layout
// opens with its lock free, that a re-run completes fetching only what the
// killed run had not flushed, and that the bundle equals the one an
// uninterrupted push writes.
func TestPush_KilledAndResumed(t *testing.T) {
	if v := os.Getenv(crashEnv); v != "" {
		dir, url, _ := strings.Cut(v, " ")
		dst, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		_, err = crashPush(context.Background(), url, dst)
		fmt.Fprintln(os.Stderr, "push returned (it should have been killed):", err)
		os.Exit(4)
	}
	if testing.Short() {
		t.Skip("generates a world of several hundred items")
	}
	w, err := fixture.Generate(context.Background(), filepath.Join(t.TempDir(), "world"), fixture.Config{
		Seed: 11, Packages: 80, VersionsPerPackage: 3, ArtifactPackages: 0.3,
		Platforms: []string{"x86_64-linux-gnu", "aarch64-linux-gnu"}, PlatformIndependent: true, LazyArtifacts: true,
		FileSize: 256, ArtifactBytes: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	static := t.TempDir()
	if err := w.WriteStaticServer(static); err != nil {
		t.Fatal(err)
	}
	const stallAfter = 100
	ss := &stallingServer{h: fixture.StaticHandler(static), release: make(chan struct{}), stall: true, n: stallAfter}
	srv := httptest.NewServer(ss)
	t.Cleanup(srv.Close)

	dir := filepath.Join(t.TempDir(), "layout")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPush_KilledAndResumed$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir+" "+srv.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let stalled requests through one at a time until the child has
	// flushed at least stallAfter items (it flushes every 2 s, on storing
	// an item), then kill it.
	deadline := time.Now().Add(120 * time.Second)
	for {
		if n, _ := indexRoots(dir); n >= stallAfter {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			req, _ := ss.counts()
			t.Fatalf("the child flushed fewer than %d items in time (%d requests); stderr: %s", stallAfter, req, stderr.String())
		}
		if _, waiting := ss.counts(); waiting > 0 {
			select {
			case ss.release <- struct{}{}:
			default:
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killedRequests, _ := ss.counts()

	// index.json is valid and lists what was flushed.
	roots, valid := indexRoots(dir)
	if !valid || roots < stallAfter {
		t.Fatalf("index.json after the kill: valid=%v, %d manifests, want ≥ %d", valid, roots, stallAfter)
	}
	if roots > killedRequests+1 { // the items it fetched and the registry
		t.Fatalf("index.json lists %d manifests but the child fetched only %d items", roots, killedRequests)
	}

	// The lock died with the child; the re-run completes.
	ss.reset(false)
	ctx := context.Background()
	dst, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatalf("Open after the kill = %v, want the lock free", err)
	}
	resumed, err := crashPush(ctx, srv.URL, dst)
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	resumedRequests, _ := ss.counts()
	if resumed.Reused != roots {
		t.Errorf("re-run reused %d items, want the %d the killed run flushed", resumed.Reused, roots)
	}
	regStored := 0
	if resumed.Stored+resumed.Reused != len(resumed.Plan) {
		t.Errorf("re-run Stored+Reused = %d, want %d", resumed.Stored+resumed.Reused, len(resumed.Plan))
	}
	for _, it := range resumed.Plan {
		if it.Resource.Kind == KindRegistry && !it.InDestination {
			regStored = 1
		}
	}
	if resumedRequests != resumed.Stored-regStored {
		t.Errorf("re-run fetched %d packages and artifacts, want the %d it stored", resumedRequests, resumed.Stored-regStored)
	}

	// An uninterrupted push into a fresh layout: more fetches, same bundle.
	ss.reset(false)
	fresh := openLayout(t, t.TempDir())
	full, err := crashPush(ctx, srv.URL, fresh)
	if err != nil {
		t.Fatal(err)
	}
	fullRequests, _ := ss.counts()
	if len(full.Plan) < 300 {
		t.Fatalf("the world has %d items, want several hundred", len(full.Plan))
	}
	if resumedRequests >= fullRequests || fullRequests != len(full.Plan)-1 {
		t.Errorf("re-run fetched %d items, uninterrupted push %d (of %d items); want fewer on the re-run", resumedRequests, fullRequests, len(full.Plan))
	}
	t.Logf("killed after %d requests with %d manifests flushed; re-run fetched %d, uninterrupted push %d of %d items",
		killedRequests, roots, resumedRequests, fullRequests, len(full.Plan))
	if resumed.Index.Digest != full.Index.Digest {
		t.Errorf("resumed bundle index = %s, want the uninterrupted push's %s", resumed.Index.Digest, full.Index.Digest)
	}
	rep, err := bundle.Check(ctx, dst, resumed.Index, bundle.CheckOptions{Deep: true})
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("Check(Deep) of the resumed bundle = %v, problems %v", err, rep.Problems)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
