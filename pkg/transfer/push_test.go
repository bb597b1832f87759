package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

var (
	worldOnce sync.Once
	world     *fixture.World
	worldErr  error
)

// testWorld is a small generated Julia world shared by the push tests.
func testWorld(t *testing.T) *fixture.World {
	t.Helper()
	worldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoebox-world-")
		if err != nil {
			worldErr = err
			return
		}
		world, worldErr = fixture.Generate(context.Background(), dir, fixture.Config{
			Seed: 7, Packages: 12, VersionsPerPackage: 3, ArtifactPackages: 0.34,
			Platforms:     []string{"x86_64-linux-gnu", "aarch64-linux-gnu", "x86_64-w64-mingw32"},
			LazyArtifacts: true, PlatformIndependent: true,
		})
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world
}

func staticSource(t *testing.T, w *fixture.World) (*upstream.PkgServer, string) {
	t.Helper()
	dir := t.TempDir()
	if err := w.WriteStaticServer(dir); err != nil {
		t.Fatal(err)
	}
	s, err := upstream.NewPkgServer("file://"+dir, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func openLayout(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func manifestsOf(t *testing.T, w *fixture.World) []NamedManifest {
	t.Helper()
	var out []NamedManifest
	for _, p := range w.Manifests {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := julia.ParseManifest(p, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, NamedManifest{Name: p, Manifest: m})
	}
	return out
}

var linux = julia.MustParsePlatform("x86_64-linux-gnu")

// wantArtifacts lists the artifacts Pkg could ask for when instantiating
// the manifests on linux (non-lazy, matching or platform-independent).
func wantContent(t *testing.T, w *fixture.World, ms []NamedManifest) (pkgs, arts map[treehash.Hash]bool) {
	pkgs, arts = map[treehash.Hash]bool{}, map[treehash.Hash]bool{}
	for _, m := range ms {
		for _, e := range m.Manifest.Entries {
			if e.Fetchable() {
				pkgs[e.TreeHash] = true
			}
		}
	}
	for _, p := range w.Packages {
		for _, v := range p.Versions {
			if !pkgs[v.TreeHash] {
				continue
			}
			for _, a := range v.Artifacts {
				if a.Lazy {
					continue
				}
				if a.Platform == "" || julia.PlatformsMatch(julia.MustParsePlatform(a.Platform), julia.HostPlatform(linux)) {
					arts[a.TreeHash] = true
				}
			}
		}
	}
	return pkgs, arts
}

func TestPush_ManifestsToLayout(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dst := openLayout(t, t.TempDir())
	ms := manifestsOf(t, w)
	created := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms},
		PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", Created: created, ToolVersion: "test"})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	wantPkgs, wantArts := wantContent(t, w, ms)
	if res.Items[bundle.KindPackage] != len(wantPkgs) || res.Items[bundle.KindArtifact] != len(wantArts) || res.Items[bundle.KindRegistry] != 1 {
		t.Fatalf("Items = %v, want %d packages, %d artifacts, 1 registry", res.Items, len(wantPkgs), len(wantArts))
	}
	if res.Reused != 0 || res.Stored != 1+len(wantPkgs)+len(wantArts) {
		t.Errorf("Stored=%d Reused=%d, want all stored", res.Stored, res.Reused)
	}

	// Read the bundle back through the tag: every item present, identities right.
	desc, err := dst.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != res.Index.Digest {
		t.Errorf("tag v1 = %v, want %v", desc.Digest, res.Index.Digest)
	}
	b, err := bundle.Read(context.Background(), dst, desc)
	if err != nil {
		t.Fatal(err)
	}
	gotPkgs, gotArts := map[treehash.Hash]bool{}, map[treehash.Hash]bool{}
	for _, e := range b.Entries {
		switch e.Kind {
		case bundle.KindPackage:
			gotPkgs[e.TreeHash] = true
		case bundle.KindArtifact:
			gotArts[e.TreeHash] = true
		case bundle.KindRegistry:
			if e.TreeHash != w.Registries[0].TreeHash || e.UUID != w.Registries[0].UUID || e.Registry != "General" {
				t.Errorf("registry item = %v, want General %s", e.Item, w.Registries[0].TreeHash)
			}
		}
	}
	if !sameSet(gotPkgs, wantPkgs) || !sameSet(gotArts, wantArts) {
		t.Errorf("bundle holds %d packages / %d artifacts, want %d / %d", len(gotPkgs), len(gotArts), len(wantPkgs), len(wantArts))
	}
	// Every byte verifies, deeply (Tar.jl rules and tree hashes).
	rep, err := bundle.Check(context.Background(), dst, desc, bundle.CheckOptions{Deep: true})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("Check problems: %v", rep.Problems)
	}
	if b.Created != created {
		t.Errorf("Created = %v, want %v", b.Created, created)
	}
}

func sameSet(a, b map[treehash.Hash]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// blobFiles lists the blob files of a layout with their modification times.
func blobFiles(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			out[p] = fi.ModTime()
		}
		return nil
	})
	return out
}

func TestPush_RepushWritesNoBlobs(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dir := t.TempDir()
	ms := manifestsOf(t, w)
	opts := PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", Created: time.Unix(1, 0).UTC()}
	dst := openLayout(t, dir)
	first, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, opts)
	if err != nil {
		t.Fatal(err)
	}
	dst.Close()
	before := blobFiles(t, dir)

	dst = openLayout(t, dir)
	second, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Index.Digest != first.Index.Digest {
		t.Errorf("re-push index = %s, want the same %s", second.Index.Digest, first.Index.Digest)
	}
	if second.Stored != 0 || second.BytesFetched != 0 || !second.UpToDate {
		t.Errorf("re-push Stored=%d BytesFetched=%d UpToDate=%v, want an up-to-date bundle: nothing stored or fetched", second.Stored, second.BytesFetched, second.UpToDate)
	}
	// Under another tag the same push is not up to date: every item is
	// planned again and reused, only the registry is fetched.
	again := opts
	again.Tag = "v2"
	third, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, again)
	if err != nil {
		t.Fatal(err)
	}
	if third.Index.Digest != first.Index.Digest || third.UpToDate || third.Stored != 0 ||
		third.BytesFetched != int64(len(mustRead(t, w.Registries[0].Tarball))) {
		t.Errorf("push under a new tag: index %s, UpToDate=%v Stored=%d BytesFetched=%d; want %s, a dedup push fetching only the registry",
			third.Index.Digest, third.UpToDate, third.Stored, third.BytesFetched, first.Index.Digest)
	}
	after := blobFiles(t, dir)
	if len(after) != len(before) {
		t.Errorf("re-push changed the blob count from %d to %d", len(before), len(after))
	}
	for p, mt := range before {
		if !after[p].Equal(mt) {
			t.Errorf("re-push rewrote %s", p)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPush_MissingItems(t *testing.T) {
	w := testWorld(t)
	src, dir := staticSource(t, w)
	ms := manifestsOf(t, w)
	// Remove one package tarball and one artifact from the static server.
	var gonePkg string
	for _, m := range ms[:1] {
		for _, e := range m.Manifest.Entries {
			if e.Fetchable() && gonePkg == "" {
				gonePkg = e.Name
				os.Remove(filepath.Join(dir, "package", e.UUID.String(), e.TreeHash.String()))
			}
		}
	}
	_, wantArts := wantContent(t, w, ms)
	var goneArt treehash.Hash
	for h := range wantArts {
		goneArt = h
		break
	}
	os.Remove(filepath.Join(dir, "artifact", goneArt.String()))

	layoutDir := t.TempDir()
	dst := openLayout(t, layoutDir)
	_, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1"})
	var me *MissingError
	if !errors.As(err, &me) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Push error = %v, want a MissingError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "2 item(s) not found") || !strings.Contains(msg, "package "+gonePkg+"@") ||
		!strings.Contains(msg, "artifact ") || !strings.Contains(msg, goneArt.String()) || !strings.Contains(msg, "file://"+dir) {
		t.Errorf("error does not list both items and where they were looked for:\n%s", msg)
	}
	if _, err := dst.Resolve(context.Background(), "v1"); err == nil {
		t.Errorf("a failed push tagged the bundle")
	}

	// With AllowMissing the bundle is written and its report lists them.
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(context.Background(), dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	if b.Report == nil || len(b.Report.Missing) != 2 {
		t.Fatalf("report = %+v, want 2 missing", b.Report)
	}
	kinds := []string{string(b.Report.Missing[0].Kind), string(b.Report.Missing[1].Kind)}
	sort.Strings(kinds)
	if strings.Join(kinds, ",") != "artifact,package" {
		t.Errorf("missing kinds = %v", kinds)
	}
}

func TestPush_SplitsLargeTarballs(t *testing.T) {
	w := testWorld(t)
	src, _ := staticSource(t, w)
	dst := openLayout(t, t.TempDir())
	ms := manifestsOf(t, w)
	const part = 4096
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "fat", MaxPartSize: part})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(context.Background(), dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	split := 0
	for _, e := range b.Entries {
		for _, l := range e.Layers {
			if l.Size > part {
				t.Errorf("%s: layer of %d bytes exceeds the %d-byte limit", e.Item, l.Size, part)
			}
		}
		if len(e.Layers) > 1 {
			split++
		}
		want := (e.Whole.Size + part - 1) / part
		if int64(len(e.Layers)) != want {
			t.Errorf("%s: %d parts for %d bytes, want %d", e.Item, len(e.Layers), e.Whole.Size, want)
		}
	}
	if split == 0 {
		t.Fatal("no item was split; the test world's tarballs are too small")
	}
	if rep, err := bundle.Check(context.Background(), dst, res.Index, bundle.CheckOptions{Deep: true}); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("Check after split: %v %v", err, rep)
	}
}
