package transfer

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// records reads every provenance record of the bundle idx in s.
func records(t *testing.T, s *store.Store, idx ocispec.Descriptor) []*bundle.Provenance {
	t.Helper()
	ctx := context.Background()
	cands, err := trust.Referrers(ctx, s, idx, bundle.ArtifactTypeProvenance)
	if err != nil {
		t.Fatal(err)
	}
	var out []*bundle.Provenance
	for _, d := range cands {
		p, err := bundle.ReadProvenance(ctx, s, d, idx.Digest)
		if err != nil {
			if d.ArtifactType == bundle.ArtifactTypeProvenance {
				t.Fatalf("record %s: %v", d.Digest, err)
			}
			continue // another referrer (a signature)
		}
		out = append(out, p)
	}
	return out
}

// oneRecord reads the bundle's one provenance record, and checks that it
// is the one the push reported.
func oneRecord(t *testing.T, s *store.Store, res *PushResult) *bundle.Provenance {
	t.Helper()
	recs := records(t, s, res.Index)
	if len(recs) != 1 || recs[0].Manifest.Digest != res.Provenance.Digest {
		t.Fatalf("bundle %s has %d provenance records, want one: %s", res.Index.Digest, len(recs), res.Provenance.Digest)
	}
	return recs[0]
}

// resourceOf is the Pkg resource of a record item.
func resourceOf(it bundle.ProvenanceItem) Resource {
	return Resource{Kind: upstream.ResourceKind(it.Kind), UUID: it.UUID, Hash: it.TreeHash}
}

// httpMirror serves a copy of the world's static layout over HTTP, without
// the resources drop names; it returns the server's URL.
func httpMirror(t *testing.T, w *fixture.World, drop ...Resource) string {
	t.Helper()
	dir := t.TempDir()
	if err := w.WriteStaticServer(dir); err != nil {
		t.Fatal(err)
	}
	for _, r := range drop {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(r.Path(), "/")))); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(fixture.StaticHandler(dir))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPush_ProvenanceTwoSources: the first of two --from sources lacks one
// package; the record names the second's URL for it and the first's for
// every other item, exactly, without the credentials the first URL
// carried. The bundle is the one a push from the second source alone
// writes, and the one a push without a record writes.
func TestPush_ProvenanceTwoSources(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	a, _, _ := manifestPackages(t, w)
	lacking := Resource{Kind: KindPackage, UUID: a.Package.UUID, Hash: a.TreeHash}
	first, second := httpMirror(t, w, lacking), httpMirror(t, w)
	u, _ := url.Parse(first)
	u.User = url.UserPassword("robot", "s3cret")
	withCreds, err := upstream.NewPkgServer(u.String(), upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secondSrc, err := upstream.NewPkgServer(second, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, dst, err := pushManifests(t, w, upstream.Chain{withCreds, secondSrc}, PushOptions{ToolVersion: "v9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	rec := oneRecord(t, dst, res)
	if rec.Bundle != res.Index.Digest || rec.ToolVersion != "v9.9.9" || rec.SchemaVersion != 1 {
		t.Errorf("record header = %s %q %d, want %s v9.9.9 1", rec.Bundle, rec.ToolVersion, rec.SchemaVersion, res.Index.Digest)
	}
	b, err := bundle.Read(ctx, dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	items := 0
	for _, e := range b.Entries {
		if e.Kind != bundle.KindReport {
			items++
		}
	}
	if len(rec.Items) != items {
		t.Fatalf("record lists %d items, the bundle holds %d (its report aside)", len(rec.Items), items)
	}
	byDigest := map[digest.Digest]bundle.Entry{}
	for _, e := range b.Entries {
		byDigest[e.Whole.Digest] = e
	}
	for _, it := range rec.Items {
		e, ok := byDigest[it.Digest]
		if !ok || e.Kind != it.Kind || e.TreeHash != it.TreeHash || e.UUID != it.UUID || e.Name != it.Name || e.Platform != it.Platform {
			t.Errorf("record item %+v matches no item of the bundle", it)
			continue
		}
		want := first + resourceOf(it).Path()
		if resourceOf(it) == lacking {
			want = second + resourceOf(it).Path()
		}
		if it.Method != bundle.MethodFetched || it.URL != want {
			t.Errorf("%s %s: %s %s, want fetched %s", it.Kind, it.Name, it.Method, it.URL, want)
		}
		if strings.Contains(it.URL, "s3cret") || strings.Contains(it.URL, "robot") {
			t.Errorf("%s %s: the URL keeps the credentials: %s", it.Kind, it.Name, it.URL)
		}
	}
	if !slices.ContainsFunc(rec.Items, func(it bundle.ProvenanceItem) bool { return resourceOf(it) == lacking }) {
		t.Errorf("the record has no item for %s", lacking)
	}

	// The same request from the second mirror alone, and without a record:
	// the same bundle, byte for byte.
	alone, dst2, err := pushManifests(t, w, secondSrc, PushOptions{ToolVersion: "v9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	none, dst3, err := pushManifests(t, w, secondSrc, PushOptions{ToolVersion: "v9.9.9", NoProvenance: true})
	if err != nil {
		t.Fatal(err)
	}
	if alone.Index.Digest != res.Index.Digest || none.Index.Digest != res.Index.Digest {
		t.Errorf("bundle from two mirrors %s, from the second %s, without a record %s: want one digest",
			res.Index.Digest, alone.Index.Digest, none.Index.Digest)
	}
	for _, it := range oneRecord(t, dst2, alone).Items {
		if want := second + resourceOf(it).Path(); it.URL != want {
			t.Errorf("second mirror alone: %s %s from %s, want %s", it.Kind, it.Name, it.URL, want)
		}
	}
	if recs := records(t, dst3, none.Index); len(recs) != 0 || none.Provenance.Digest != "" {
		t.Errorf("NoProvenance: %d records (%s)", len(recs), none.Provenance.Digest)
	}
	tags, _ := dst3.Tags(ctx)
	if !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("NoProvenance: tags %v, want [v1] (no referrers index)", tags)
	}
	// The record is never taken for a bundle, its index tag neither.
	tags, _ = dst.Tags(ctx)
	refs, err := shelf.List(ctx, dst)
	if err != nil || len(refs) != 1 || refs[0].Tag != "v1" || !slices.Equal(tags, []string{trust.ReferrersTag(res.Index.Digest), "v1"}) {
		t.Errorf("shelf.List = %v, %v (tags %v); want only v1", refs, err, tags)
	}
}

// TestPush_ProvenanceReused: a push into a store that holds some of its
// items records them as reused and the rest as fetched; an up-to-date
// re-push keeps the record and writes none; a push of the same bundle
// under another tag writes none (the bundle keeps its record).
func TestPush_ProvenanceReused(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	src, dir := staticSource(t, w)
	ms := manifestsOf(t, w)
	layout := t.TempDir()
	push := func(ms []NamedManifest, tag string) *PushResult {
		t.Helper()
		dst := openLayout(t, layout)
		defer dst.Close()
		res, err := Push(ctx, src, dst, PushRequest{Manifests: ms},
			PushOptions{Platforms: []julia.Platform{linux}, Tag: tag, Created: time.Unix(1, 0).UTC(), CreatedPinned: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := push(ms[:1], "v1")
	ro := openRO(t, layout)
	r1 := oneRecord(t, ro, first)
	had := map[digest.Digest]bool{}
	for _, it := range r1.Items {
		if it.Method != bundle.MethodFetched || it.URL != "file://"+dir+resourceOf(it).Path() {
			t.Errorf("first push: %s %s %s %s, want fetched from the mirror", it.Kind, it.Name, it.Method, it.URL)
		}
		had[it.Digest] = true
	}
	ro.Close()

	second := push(ms, "v2")
	ro = openRO(t, layout)
	r2 := oneRecord(t, ro, second)
	reused, fetched := 0, 0
	for _, it := range r2.Items {
		switch {
		case had[it.Digest]:
			reused++
			if it.Method != bundle.MethodReused || it.URL != "" {
				t.Errorf("%s %s, stored by the first push: %s %q, want reused", it.Kind, it.Name, it.Method, it.URL)
			}
		default:
			fetched++
			if it.Method != bundle.MethodFetched || it.URL != "file://"+dir+resourceOf(it).Path() {
				t.Errorf("%s %s, new: %s %q, want fetched from the mirror", it.Kind, it.Name, it.Method, it.URL)
			}
		}
	}
	if reused == 0 || fetched == 0 || reused+fetched != second.Stored+second.Reused || fetched != second.Stored {
		t.Errorf("%d reused, %d fetched; the push stored %d and reused %d", reused, fetched, second.Stored, second.Reused)
	}
	ro.Close()

	// Up to date: nothing written, the record kept.
	again := push(ms, "v2")
	if !again.UpToDate || again.Provenance.Digest != "" {
		t.Errorf("up-to-date re-push: UpToDate %v, record %s", again.UpToDate, again.Provenance.Digest)
	}
	// The same bundle under another tag: no new record.
	third := push(ms, "v3")
	if third.Index.Digest != second.Index.Digest || third.Provenance.Digest != "" {
		t.Errorf("same bundle under v3: index %s, record %q; want %s, none", third.Index.Digest, third.Provenance.Digest, second.Index.Digest)
	}
	ro = openRO(t, layout)
	if got := oneRecord(t, ro, second); got.Manifest.Digest != r2.Manifest.Digest {
		t.Errorf("record after the re-pushes %s, want %s", got.Manifest.Digest, r2.Manifest.Digest)
	}
}

// TestPush_ProvenanceDepot: a depot's trees are recorded as packed from
// their directories, its packed registry as fetched from its tarball,
// both as file:// URLs.
func TestPush_ProvenanceDepot(t *testing.T) {
	w := testWorld(t)
	depot := t.TempDir()
	if err := w.WriteDepot(depot); err != nil {
		t.Fatal(err)
	}
	src, err := upstream.NewDepot(depot)
	if err != nil {
		t.Fatal(err)
	}
	res, dst, err := pushManifests(t, w, src, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[julia.UUID]string{}
	for _, p := range w.Packages {
		names[p.UUID] = p.Name
	}
	for _, it := range oneRecord(t, dst, res).Items {
		var want string
		method := bundle.MethodPacked
		switch it.Kind {
		case bundle.KindRegistry:
			want, method = filepath.Join(depot, "registries", w.Registries[0].Name+".tar.gz"), bundle.MethodFetched
		case bundle.KindPackage:
			want = filepath.Join(depot, "packages", names[it.UUID], julia.Slug(it.UUID, it.TreeHash))
		case bundle.KindArtifact:
			want = filepath.Join(depot, "artifacts", it.TreeHash.String())
		}
		if it.Method != method || it.URL != "file://"+want {
			t.Errorf("%s %s: %s %s, want %s file://%s", it.Kind, it.Name, it.Method, it.URL, method, want)
		}
	}
}

// TestPush_ProvenanceFailureRollsBack: a push whose record cannot be
// written fails, untagged, and leaves the layout as it was.
func TestPush_ProvenanceFailureRollsBack(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dir := t.TempDir()
	dst := openLayout(t, dir)
	if _, err := Push(context.Background(), src, dst, PushRequest{Manifests: manifestsOf(t, w)[:1]},
		PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	index := mustRead(t, filepath.Join(dir, "index.json"))
	before := blobFiles(t, dir)

	boom := errors.New("disk full")
	testHookProvenance = func() error { return boom }
	t.Cleanup(func() { testHookProvenance = nil })
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: manifestsOf(t, w)},
		PushOptions{Platforms: []julia.Platform{linux}, Tag: "v2"})
	if !errors.Is(err, boom) || res == nil || res.RolledBack == 0 {
		t.Fatalf("push with a failing record = %v (rolled back %v), want the failure, rolled back", err, res)
	}
	if got := mustRead(t, filepath.Join(dir, "index.json")); !bytes.Equal(got, index) {
		t.Errorf("index.json changed by the failed push:\n%s\nwas\n%s", got, index)
	}
	if after := blobFiles(t, dir); len(after) != len(before) {
		t.Errorf("blob files %d after the failed push, %d before", len(after), len(before))
	}
	if _, err := dst.Resolve(context.Background(), "v2"); err == nil {
		t.Error("v2 is tagged after the failed push")
	}
}

// TestCopy_CarriesProvenance: layout → registry → layout, the record
// arrives whole (the same manifest, so the same bytes) with its bundle.
func TestCopy_CarriesProvenance(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	src := openRO(t, fx.dir)
	want := records(t, src, fx.index)
	if len(want) != 1 {
		t.Fatalf("the fixture has %d provenance records, want 1", len(want))
	}
	reg := testregistry.New(t, testregistry.Options{})
	remote := openRemote(t, reg.Host(), "julia/prov")
	if res, err := Copy(ctx, src, remote, fx.index, []string{"v1"}, CopyOptions{}); err != nil || res.Provenance != 1 {
		t.Fatalf("Copy layout → registry = %v, %d records", err, res.Provenance)
	}
	back := t.TempDir()
	ls, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: back}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Copy(ctx, remote, ls, fx.index, []string{"v1"}, CopyOptions{}); err != nil || res.Provenance != 1 {
		t.Fatalf("Copy registry → layout = %v, %d records", err, res.Provenance)
	}
	ls.Close()
	for name, s := range map[string]*store.Store{"registry": remote, "layout": openRO(t, back)} {
		got := records(t, s, fx.index)
		if len(got) != 1 || got[0].Manifest.Digest != want[0].Manifest.Digest || len(got[0].Items) != len(want[0].Items) {
			t.Errorf("%s: %d records, want %s", name, len(got), want[0].Manifest.Digest)
		}
	}
}
