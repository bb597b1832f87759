package transfer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// manifestPackages returns two distinct package versions the world's
// manifests pin, and the path of a package's tarball in a static mirror.
func manifestPackages(t *testing.T, w *fixture.World) (a, b *fixture.PackageVersion, path func(dir string, v *fixture.PackageVersion) string) {
	t.Helper()
	want := map[treehash.Hash]bool{}
	for _, m := range manifestsOf(t, w) {
		for _, e := range m.Manifest.Entries {
			if e.Fetchable() {
				want[e.TreeHash] = true
			}
		}
	}
	var vs []*fixture.PackageVersion
	for _, p := range w.Packages {
		for _, v := range p.Versions {
			if want[v.TreeHash] {
				vs = append(vs, v)
			}
		}
	}
	if len(vs) < 2 {
		t.Fatal("the world's manifests pin fewer than 2 packages")
	}
	path = func(dir string, v *fixture.PackageVersion) string {
		return filepath.Join(dir, "package", v.Package.UUID.String(), v.TreeHash.String())
	}
	return vs[0], vs[1], path
}

func replaceWith(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// events collects progress events.
type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) of(t EventType) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.ev {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// A source whose tarballs fail verification (the wrong tree, a gzip
// stream cut short) is passed over for the next source, item by item; each
// failure is reported as an event, in the result and in the provenance
// record, and the bundle is the one the good source alone gives.
func TestPush_FallbackOnBadContent(t *testing.T) {
	w := testWorld(t)
	good, _ := staticSource(t, w)
	badDir := t.TempDir()
	if err := w.WriteStaticServer(badDir); err != nil {
		t.Fatal(err)
	}
	wrong, cut, path := manifestPackages(t, w)
	replaceWith(t, path(badDir, wrong), mustRead(t, cut.Tarball))
	whole := mustRead(t, cut.Tarball)
	replaceWith(t, path(badDir, cut), whole[:len(whole)/2])
	srv := httptest.NewServer(fixture.StaticHandler(badDir))
	defer srv.Close()
	bad, err := upstream.NewPkgServer(srv.URL, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}

	alone, aloneDst, err := pushManifests(t, w, good, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	res, dst, err := pushManifests(t, w, upstream.Chain{bad, good}, PushOptions{Progress: ev.add})
	if err != nil {
		t.Fatalf("push from a bad source, then a good one: %v", err)
	}
	checkWorldContent(t, w, contentOf(t, dst, res))
	if len(res.SourceFailures) != 2 {
		t.Fatalf("source failures %+v, want 2", res.SourceFailures)
	}
	reasons := map[treehash.Hash]string{}
	for _, f := range res.SourceFailures {
		if f.Source != srv.URL || f.Kind != bundle.KindPackage {
			t.Errorf("failure %+v: want package from %s", f, srv.URL)
		}
		reasons[f.TreeHash] = f.Reason
	}
	if r := reasons[wrong.TreeHash]; !strings.Contains(r, "tree hash "+cut.TreeHash.String()) || !strings.Contains(r, "tree hash mismatch") {
		t.Errorf("reason for %s (the wrong tree): %q", wrong.Package.Name, r)
	}
	if r := reasons[cut.TreeHash]; !strings.Contains(r, "unexpected EOF") {
		t.Errorf("reason for %s (gzip cut short): %q", cut.Package.Name, r)
	}
	if got := ev.of(EventSourceFailed); len(got) != 2 || got[0].Source != srv.URL || got[0].Err == nil {
		t.Errorf("source-failed events %+v, want 2 naming %s", got, srv.URL)
	}
	b, err := bundle.Read(context.Background(), dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	if b.Report == nil || len(b.Report.SourceFailures) != 0 {
		t.Errorf("the bundle's report records %+v, want no source failures (they are in the provenance record)", b.Report)
	}
	// The failures are in the provenance record, as the result has them.
	if rec := oneRecord(t, dst, res); !slices.Equal(rec.SourceFailures, res.SourceFailures) {
		t.Errorf("the provenance record's failures %+v, want %+v", rec.SourceFailures, res.SourceFailures)
	}
	// The bundle is the good source's alone, byte for byte.
	if got, want := itemDigests(t, dst, res), itemDigests(t, aloneDst, alone); !sameStrings(got, want) {
		t.Errorf("items differ from the good source's alone")
	}
	if res.Index.Digest != alone.Index.Digest {
		t.Errorf("bundle %s past a bad source, %s from the good one alone: want one digest", res.Index.Digest, alone.Index.Digest)
	}
}

func itemDigests(t *testing.T, dst *store.Store, res *PushResult) []string {
	t.Helper()
	var out []string
	for _, e := range bundleEntries(t, dst, res.Index) {
		if e.Kind != bundle.KindReport {
			out = append(out, e.Manifest.Digest.String())
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// When every source fails an item, the push fails with an error that
// says, source by source, what went wrong, and that is a verification
// failure when content failed.
func TestPush_EverySourceBad(t *testing.T) {
	w := testWorld(t)
	var dirs []string
	var chain upstream.Chain
	wrong, other, path := manifestPackages(t, w)
	for range 2 {
		dir := t.TempDir()
		if err := w.WriteStaticServer(dir); err != nil {
			t.Fatal(err)
		}
		replaceWith(t, path(dir, wrong), mustRead(t, other.Tarball))
		src, err := upstream.NewPkgServer("file://"+dir, upstream.ServerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		chain = append(chain, src)
	}
	res, dst, err := pushManifests(t, w, chain, PushOptions{})
	if !errors.Is(err, upstream.ErrBadContent) || !errors.Is(err, treehash.ErrMismatch) {
		t.Fatalf("Push = %v, want a verification failure", err)
	}
	msg := err.Error()
	for _, d := range dirs {
		if !strings.Contains(msg, "from file://"+d+": ") {
			t.Errorf("error %q does not name source %s", msg, d)
		}
	}
	if !strings.Contains(msg, "package "+wrong.Package.Name+"@"+wrong.Version) || !strings.Contains(msg, "no source gave it") {
		t.Errorf("error %q does not name the item", msg)
	}
	if len(res.SourceFailures) != 2 {
		t.Errorf("source failures %+v, want 2", res.SourceFailures)
	}
	if _, err := dst.Resolve(context.Background(), "v1"); err == nil {
		t.Error("the failed push tagged a bundle")
	}
}

// stallServer serves a static mirror, but one tarball stalls after half its
// body, and every resumed request for it stalls at once; until the test
// ends.
type stallServer struct {
	h       http.Handler
	path    string
	body    []byte
	release chan struct{}
}

func (s *stallServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.path {
		s.h.ServeHTTP(w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Header.Get("Range") == "" {
		w.Write(s.body[:len(s.body)/2])
	}
	w.(http.Flusher).Flush()
	select {
	case <-s.release:
	case <-r.Context().Done():
	}
}

// A source that stops sending is given up on after the stall timeout and
// its retries (resumed with Range), and the next source gives the item.
func TestPush_StalledSourceFallsBack(t *testing.T) {
	w := testWorld(t)
	good, static := staticSource(t, w)
	victim, _, path := manifestPackages(t, w)
	ss := &stallServer{h: fixture.StaticHandler(static), path: "/" + filepath.ToSlash(path("", victim)),
		body: mustRead(t, victim.Tarball), release: make(chan struct{})}
	srv := httptest.NewServer(ss)
	defer srv.Close()
	defer close(ss.release) // before srv.Close, which waits for the handlers
	var waited time.Duration
	var mu sync.Mutex
	policy := httpx.Policy{StallTimeout: 50 * time.Millisecond, Attempts: 2, Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waited += d
		mu.Unlock()
		return ctx.Err()
	}}
	stalling, err := upstream.NewPkgServer(srv.URL, upstream.ServerOptions{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	res, dst, err := pushManifests(t, w, upstream.Chain{stalling, good}, PushOptions{})
	if err != nil {
		t.Fatalf("push past a stalling source: %v", err)
	}
	checkWorldContent(t, w, contentOf(t, dst, res))
	if len(res.SourceFailures) != 1 || res.SourceFailures[0].TreeHash != victim.TreeHash ||
		!strings.Contains(res.SourceFailures[0].Reason, "stalled: no progress for 50ms") ||
		!strings.Contains(res.SourceFailures[0].Reason, "gave up after") {
		t.Errorf("source failures %+v, want the stall of %s", res.SourceFailures, victim.Package.Name)
	}
}

// A plan that would overfill FAT32's blobs/sha256 is refused before
// anything is written, in a dry run too, saying that exFAT has no such
// limit; the free space is checked against the plan likewise.
func TestPush_RoomRefusedAtPlanTime(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	fat := func(maxBlobs, blobs int, free int64) func() (store.Room, bool, error) {
		return func() (store.Room, bool, error) {
			return store.Room{FSType: store.FSMSDOS, MaxBlobs: maxBlobs, Blobs: blobs, Free: free, Block: 4096,
				MaxFileSize: store.FAT32MaxFileSize}, true, nil
		}
	}
	for _, dry := range []bool{false, true} {
		_, dst, err := pushManifests(t, w, src, PushOptions{DryRun: dry, Room: fat(10, 3, 1<<40)})
		if !errors.Is(err, store.ErrNoRoom) || !strings.Contains(err.Error(), "FAT32") || !strings.Contains(err.Error(), "exFAT (no such limit)") ||
			!strings.Contains(err.Error(), "can hold 10 blob files") || !strings.Contains(err.Error(), "it holds 3") {
			t.Fatalf("dry run %v: Push = %v, want the FAT32 directory limit", dry, err)
		}
		if roots := dst.Roots(); len(roots) != 0 {
			t.Errorf("dry run %v: the refused push wrote %d manifests", dry, len(roots))
		}
	}
	// Room for the plan: it goes through.
	if _, _, err := pushManifests(t, w, src, PushOptions{Room: fat(store.FAT32MaxBlobs, 0, 1<<40)}); err != nil {
		t.Fatalf("Push within FAT32's limit: %v", err)
	}
	// Not enough free space for what the static mirror says it holds.
	_, dst, err := pushManifests(t, w, src, PushOptions{Room: fat(0, 0, 64<<10)})
	if !errors.Is(err, store.ErrNoRoom) || !strings.Contains(err.Error(), "has 64.0 KiB free") {
		t.Fatalf("Push onto a full stick = %v, want a refusal naming the free space", err)
	}
	if roots := dst.Roots(); len(roots) != 0 {
		t.Errorf("the refused push wrote %d manifests", len(roots))
	}
}

// A manifest entry whose tree hash no carried registry lists is refused
// at plan time (exit 3 at the CLI), naming the entry and the registries:
// verify and copy would refuse the bundle inside.
func TestPush_ManifestEntryNotListed(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	ms := manifestsOf(t, w)
	m := *ms[0].Manifest
	m.Entries = append([]julia.ManifestEntry(nil), m.Entries...)
	var victim *julia.ManifestEntry
	for i := range m.Entries {
		if m.Entries[i].Fetchable() {
			victim = &m.Entries[i]
			break
		}
	}
	victim.TreeHash = treehash.MustParse("1111111111111111111111111111111111111111")
	dst := openLayout(t, t.TempDir())
	_, err := Push(context.Background(), src, dst, PushRequest{Manifests: []NamedManifest{{Name: "team/Manifest.toml", Manifest: &m}}},
		PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1"})
	var ue *UnlistedError
	if !errors.As(err, &ue) || !errors.Is(err, shelf.ErrIncomplete) {
		t.Fatalf("Push = %v, want an UnlistedError", err)
	}
	msg := err.Error()
	for _, want := range []string{"team/Manifest.toml: " + victim.Name + " " + victim.Version + " " + victim.UUID.String() + " 1111111111111111111111111111111111111111",
		"no version of it in General has this tree hash", "registries carried (General " + w.Registries[0].UUID.String()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if roots := dst.Roots(); len(roots) != 0 {
		t.Errorf("the refused push wrote %d manifests", len(roots))
	}
}

// TestPush_SourceFailuresBesideTheBundle: the same request pushed past a
// mirror that serves one corrupt tarball (its gzip checksum wrong), from
// the good mirror alone, and past the corrupt one without a provenance
// record, is the same bundle, byte for byte (FORMAT.md §4.2). The failure
// is in the provenance record, exactly (the source without the
// credentials it was given with, the reason), and in the result; never in
// the bundle; without a record, in the result only.
func TestPush_SourceFailuresBesideTheBundle(t *testing.T) {
	w := testWorld(t)
	good, _ := staticSource(t, w)
	badDir := t.TempDir()
	if err := w.WriteStaticServer(badDir); err != nil {
		t.Fatal(err)
	}
	victim, _, path := manifestPackages(t, w)
	corrupt := mustRead(t, victim.Tarball)
	corrupt[len(corrupt)-8] ^= 0xff // the gzip trailer's CRC-32
	replaceWith(t, path(badDir, victim), corrupt)
	srv := httptest.NewServer(fixture.StaticHandler(badDir))
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://robot:s3cret@", 1)
	bad, err := upstream.NewPkgServer(withCreds, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var events []Event // Progress is called from the push's goroutines
	var mu sync.Mutex
	progress := func(e Event) {
		if e.Type == EventSourceFailed {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	}
	past, pastDst, err := pushManifests(t, w, upstream.Chain{bad, good}, PushOptions{Progress: progress})
	if err != nil {
		t.Fatalf("push past the corrupt mirror: %v", err)
	}
	// The progress line and the log name the source without its
	// credentials too; the error still says what it is.
	if len(events) != 1 || events[0].Source != srv.URL || events[0].Next != good.Name() ||
		strings.Contains(events[0].Err.Error(), "s3cret") || !errors.Is(events[0].Err, upstream.ErrBadContent) {
		t.Errorf("source-failed events = %+v; want one from %s (no credentials) to %s, bad content", events, srv.URL, good.Name())
	}
	alone, _, err := pushManifests(t, w, good, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	none, noneDst, err := pushManifests(t, w, upstream.Chain{bad, good}, PushOptions{NoProvenance: true})
	if err != nil {
		t.Fatal(err)
	}
	if past.Index.Digest != alone.Index.Digest || none.Index.Digest != alone.Index.Digest {
		t.Errorf("bundle past the corrupt mirror %s, from the good mirror alone %s, without a record %s: want one digest",
			past.Index.Digest, alone.Index.Digest, none.Index.Digest)
	}
	want := []bundle.SourceFailure{{Kind: bundle.KindPackage, Item: "package " + victim.Package.Name + "@" + victim.Version,
		UUID: victim.Package.UUID, TreeHash: victim.TreeHash, Source: srv.URL,
		Reason: digest.FromBytes(corrupt).String() + ": rejected: reading tar header block: gzip: invalid checksum"}}
	if !slices.Equal(past.SourceFailures, want) || !slices.Equal(none.SourceFailures, want) {
		t.Errorf("the result's failures\n%+v\n%+v\nwant %+v", past.SourceFailures, none.SourceFailures, want)
	}
	rec := oneRecord(t, pastDst, past)
	if !slices.Equal(rec.SourceFailures, want) {
		t.Errorf("the record's failures %+v, want %+v", rec.SourceFailures, want)
	}
	for _, d := range []*store.Store{pastDst, noneDst} {
		b, err := bundle.Read(context.Background(), d, past.Index)
		if err != nil {
			t.Fatal(err)
		}
		if b.Report == nil || b.Report.SourceFailures != nil {
			t.Errorf("the report holds source failures: %+v", b.Report)
		}
	}
	if recs := records(t, noneDst, none.Index); len(recs) != 0 || none.Provenance.Digest != "" {
		t.Errorf("NoProvenance: %d records (%s)", len(recs), none.Provenance.Digest)
	}
}
