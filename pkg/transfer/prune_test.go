package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// pruneFx is an inside store a year into its life: v1 (a full bundle of
// the first manifest, signed in both formats), v2 (a delta of every
// manifest pushed against v1's inventory and copied in: it borrows every
// item of v1), v3 (a full bundle of the second manifest, signed in both
// formats), and "other", an image another tool tagged in the same layout.
type pruneFx struct {
	dir   string
	idx   map[string]ocispec.Descriptor // v1, v2, v3
	other ocispec.Descriptor
	pol   *trust.Policy
	// own: per bundle, the blobs only its signatures and provenance
	// record hold (signature manifests, their payloads, the Sigstore
	// bundle referrer and the provenance record with their layers, the
	// referrers tag schema indexes).
	own map[string][]digest.Digest
	// prov: per bundle, its provenance record's manifest.
	prov map[string]ocispec.Descriptor
}

func newPruneFx(t *testing.T) pruneFx {
	t.Helper()
	ctx := context.Background()
	w := testWorld(t)
	src, _ := staticSource(t, w)
	ms := manifestsOf(t, w)
	signer, pub := newSigner(t)
	fx := pruneFx{dir: t.TempDir(), idx: map[string]ocispec.Descriptor{}, pol: policyOf(t, 1, pub), own: map[string][]digest.Digest{},
		prov: map[string]ocispec.Descriptor{}}
	day := func(n int) time.Time { return time.Date(2026, 1, n, 0, 0, 0, 0, time.UTC) }

	inside, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: fx.dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	sign := func(s *store.Store, tag string, both bool) {
		t.Helper()
		d := fx.idx[tag]
		before := blobSet(t, s)
		if _, err := trust.Sign(ctx, s, d, signer, trust.SignOptions{Bundle: both}); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for dg := range blobSet(t, s) {
			if !before[dg] {
				fx.own[tag] = append(fx.own[tag], dg)
			}
		}
	}
	// record adds to own[tag] the blobs a push wrote beside the bundle's
	// graph (its provenance record).
	record := func(tag string, before map[digest.Digest]bool) {
		t.Helper()
		if err := inside.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		graph, err := bundleBlobs(ctx, inside, fx.idx[tag])
		if err != nil {
			t.Fatal(err)
		}
		for dg := range blobSet(t, inside) {
			if !before[dg] && !graph[dg] {
				fx.own[tag] = append(fx.own[tag], dg)
			}
		}
		if len(fx.own[tag]) != 3 {
			t.Fatalf("%s: the push wrote %d blobs beside the bundle, want 3 (provenance manifest and JSON, referrers index)", tag, len(fx.own[tag]))
		}
	}
	before := blobSet(t, inside)
	res, err := Push(ctx, src, inside, PushRequest{Manifests: ms[:1]}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", Created: day(1)})
	if err != nil {
		t.Fatal(err)
	}
	fx.idx["v1"], fx.prov["v1"] = res.Index, res.Provenance
	record("v1", before)
	sign(inside, "v1", true)

	inv := buildInventory(t, inside)
	stick := openLayout(t, t.TempDir())
	res, err = Push(ctx, src, stick, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v2", Created: day(2), Skip: inv.Has})
	if err != nil {
		t.Fatal(err)
	}
	fx.idx["v2"], fx.prov["v2"] = res.Index, res.Provenance
	if _, err := trust.Sign(ctx, stick, res.Index, signer, trust.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	before = blobSet(t, inside)
	if _, err := Copy(ctx, stick, inside, res.Index, []string{"v2"}, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	// v2's own signature blobs: what the copy brought that is not an item
	// or index of v2.
	v2, err := bundleBlobs(ctx, inside, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	for dg := range blobSet(t, inside) {
		if !before[dg] && !v2[dg] {
			fx.own["v2"] = append(fx.own["v2"], dg)
		}
	}

	before = blobSet(t, inside)
	res, err = Push(ctx, src, inside, PushRequest{Manifests: ms[1:2]}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v3", Created: day(3)})
	if err != nil {
		t.Fatal(err)
	}
	fx.idx["v3"], fx.prov["v3"] = res.Index, res.Provenance
	record("v3", before)
	sign(inside, "v3", true)

	// Another tool's image in the same layout.
	layer := []byte("not a bundle")
	ld := content.NewDescriptorFromBytes("application/octet-stream", layer)
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{ld}})
	fx.other = content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{ld, layer}, {ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data}, {fx.other, m}} {
		if err := inside.Push(ctx, p.d, bytes.NewReader(p.b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Fatal(err)
		}
	}
	if err := inside.Tag(ctx, fx.other, "other"); err != nil {
		t.Fatal(err)
	}
	if err := inside.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

// blobSet lists a layout's blob files by digest.
func blobSet(t *testing.T, s *store.Store) map[digest.Digest]bool {
	t.Helper()
	return blobsIn(t, s.Ref().Path)
}

func blobsIn(t *testing.T, dir string) map[digest.Digest]bool {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[digest.Digest]bool{}
	for _, e := range ents {
		out[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] = true
	}
	return out
}

// bundleBlobs is every blob of a bundle's graph: indexes, item manifests,
// configs and layers.
func bundleBlobs(ctx context.Context, f content.Fetcher, idx ocispec.Descriptor) (map[digest.Digest]bool, error) {
	out := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor) error
	walk = func(d ocispec.Descriptor) error {
		if out[d.Digest] {
			return nil
		}
		out[d.Digest] = true
		if d.MediaType != ocispec.MediaTypeImageIndex && d.MediaType != ocispec.MediaTypeImageManifest {
			return nil
		}
		succs, err := store.ManifestSuccessors(ctx, f, d)
		if err != nil {
			return err
		}
		for _, s := range succs {
			if err := walk(s); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(idx)
}

// otherBlobs are the foreign image's blobs.
func otherBlobs(fx pruneFx) map[digest.Digest]bool {
	return map[digest.Digest]bool{fx.other.Digest: true, ocispec.DescriptorEmptyJSON.Digest: true, digest.FromString("not a bundle"): true}
}

func openRW(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{LazyGraph: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tagsOf(bs []PrunedBundle) string {
	var out []string
	for _, b := range bs {
		out = append(out, strings.Join(b.Tags, ","))
	}
	return strings.Join(out, " ")
}

// TestPrune_Layout: keeping the newest two retires v1 with its
// signatures; the delta v2 borrows all of v1's items, so only v1's index
// and signature blobs go. Keeping the newest one then retires v2 too, and
// everything only v1 and v2 reached goes; v3 and the foreign image stay
// whole and v3 verifies.
// pushRootRecord writes a provenance record of idx the way a copy cut
// short leaves it: its manifest pushed (with its artifactType, as copy
// pushes referrers), no referrers index yet, so index.json lists it as a
// root. It returns its blobs.
func pushRootRecord(t *testing.T, s *store.Store, idx ocispec.Descriptor) []digest.Digest {
	t.Helper()
	ctx := context.Background()
	b, err := (&bundle.Provenance{Bundle: idx.Digest}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	layer := content.NewDescriptorFromBytes(bundle.MediaTypeProvenance, b)
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: bundle.ArtifactTypeProvenance, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer},
		Subject: &ocispec.Descriptor{MediaType: idx.MediaType, Digest: idx.Digest, Size: idx.Size}})
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	md.ArtifactType = bundle.ArtifactTypeProvenance
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{layer, b}, {md, m}} {
		if err := s.Push(ctx, p.d, bytes.NewReader(p.b)); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.ContainsFunc(s.Entries(), func(e ocispec.Descriptor) bool {
		return e.Digest == md.Digest && e.ArtifactType == bundle.ArtifactTypeProvenance
	}) {
		t.Fatalf("the record %s is not a root of index.json with its artifactType", md.Digest)
	}
	return []digest.Digest{md.Digest, layer.Digest}
}

func TestPrune_Layout(t *testing.T) {
	ctx := context.Background()
	fx := newPruneFx(t)
	st0 := openRW(t, fx.dir)
	fx.own["v1"] = append(fx.own["v1"], pushRootRecord(t, st0, fx.idx["v1"])...)
	st0.Close()
	before := blobsIn(t, fx.dir)

	st := openRW(t, fx.dir)
	res, err := Prune(ctx, st, PruneOptions{KeepLast: 2})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Signatures: the .sig tag, the referrers tag's index (the Sigstore
	// bundle and the provenance record), the referrers index the
	// signature's replaced (the provenance record alone), left untagged,
	// and the record a copy left as a root.
	if tagsOf(res.Kept) != "v3 v2" || tagsOf(res.Retired) != "v1" || res.Signatures != 4 || res.Entries != 5 {
		t.Fatalf("Prune(keep 2) = kept %q retired %q, %d signatures, %d entries; want v3 v2, v1, 4 (.sig, referrers index, its predecessor, a root record), 5",
			tagsOf(res.Kept), tagsOf(res.Retired), res.Signatures, res.Entries)
	}
	after := blobsIn(t, fx.dir)
	gone := []digest.Digest{}
	for d := range before {
		if !after[d] {
			gone = append(gone, d)
		}
	}
	// v1's graph that v2 and v3 do not reach (its index and its report
	// item: the delta borrows every other item), and its signatures.
	ro := openRO(t, fx.dir)
	graphs := map[string]map[digest.Digest]bool{}
	for _, tag := range []string{"v2", "v3"} {
		if graphs[tag], err = bundleBlobs(ctx, ro, fx.idx[tag]); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(fx.own["v1"])
	for d := range before {
		if !graphs["v2"][d] && !graphs["v3"][d] && !slices.Contains(fx.own["v2"], d) && !slices.Contains(fx.own["v3"], d) &&
			!slices.Contains(fx.own["v1"], d) && !otherBlobs(fx)[d] {
			want = append(want, d)
		}
	}
	slices.Sort(gone)
	slices.Sort(want)
	if !slices.Equal(gone, want) || len(want) != len(fx.own["v1"])+3 {
		t.Errorf("removed %d blobs %v\nwant v1's index, its report item (manifest, blob) and its %d signature blobs %v", len(gone), gone, len(fx.own["v1"]), want)
	}
	if g := res.Garbage; g.Manifests+g.Blobs != len(want) || g.Bytes <= fx.idx["v1"].Size {
		t.Errorf("garbage report %+v, want %d files", g, len(want))
	}
	tags, _ := ro.Tags(ctx)
	h2, h3 := fx.idx["v2"].Digest.Encoded(), fx.idx["v3"].Digest.Encoded()
	wantTags := []string{"other", "sha256-" + h2, "sha256-" + h2 + ".sig", "sha256-" + h3, "sha256-" + h3 + ".sig", "v2", "v3"}
	slices.Sort(wantTags)
	if !slices.Equal(tags, wantTags) {
		t.Errorf("tags after prune %v, want %v", tags, wantTags)
	}
	for _, tag := range []string{"v2", "v3"} {
		if _, err := shelf.Verify(ctx, ro, fx.idx[tag], shelf.VerifyOptions{Policy: fx.pol, Deep: true}); err != nil {
			t.Errorf("verify %s after prune: %v", tag, err)
		}
	}
	// v1's provenance record went with it; the kept bundles keep theirs.
	if after[fx.prov["v1"].Digest] || !before[fx.prov["v1"].Digest] {
		t.Errorf("v1's provenance record %s: there before %v, after %v; want removed", fx.prov["v1"].Digest, before[fx.prov["v1"].Digest], after[fx.prov["v1"].Digest])
	}
	for _, tag := range []string{"v2", "v3"} {
		if recs := records(t, ro, fx.idx[tag]); len(recs) != 1 || recs[0].Manifest.Digest != fx.prov[tag].Digest {
			t.Errorf("%s after prune: %d provenance records, want %s", tag, len(recs), fx.prov[tag].Digest)
		}
	}
	ro.Close()

	// Keep the newest only: v2 goes, and what only v1 and v2 reached.
	st = openRW(t, fx.dir)
	res, err = Prune(ctx, st, PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if tagsOf(res.Kept) != "v3" || tagsOf(res.Retired) != "v2" {
		t.Fatalf("Prune(keep 1) = kept %q retired %q", tagsOf(res.Kept), tagsOf(res.Retired))
	}
	ro = openRO(t, fx.dir)
	keep, err := bundleBlobs(ctx, ro, fx.idx["v3"])
	if err != nil {
		t.Fatal(err)
	}
	for d := range blobsIn(t, fx.dir) {
		if !keep[d] && !slices.Contains(fx.own["v3"], d) && !otherBlobs(fx)[d] {
			t.Errorf("blob %s left: reached by nothing kept", d)
		}
	}
	for d := range keep {
		if !blobsIn(t, fx.dir)[d] {
			t.Errorf("blob %s of v3 removed", d)
		}
	}
	if _, err := shelf.Verify(ctx, ro, fx.idx["v3"], shelf.VerifyOptions{Policy: fx.pol, Deep: true}); err != nil {
		t.Errorf("verify v3 after prune: %v", err)
	}
	if b, err := content.FetchAll(ctx, ro, fx.other); err != nil || !json.Valid(b) {
		t.Errorf("the foreign image: %v", err)
	}
}

// TestPrune_LayoutDryRunAndInterrupted: a dry run changes nothing and
// reports what the real run does; a prune interrupted after index.json
// was rewritten is finished by the next one, which removes the same
// blobs; an unknown --keep tag changes nothing.
func TestPrune_LayoutDryRunAndInterrupted(t *testing.T) {
	ctx := context.Background()
	fx := newPruneFx(t)
	index := func() []byte {
		b, err := os.ReadFile(filepath.Join(fx.dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before, idx0 := blobsIn(t, fx.dir), index()

	st := openRW(t, fx.dir)
	if _, err := Prune(ctx, st, PruneOptions{KeepLast: 1, Keep: []string{"nope"}}); !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), "--keep nope") {
		t.Errorf("Prune(--keep nope) = %v, want not found naming the tag", err)
	}
	dry, err := Prune(ctx, openRO(t, fx.dir), PruneOptions{KeepLast: 1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(index(), idx0) || !maps.Equal(blobsIn(t, fx.dir), before) {
		t.Fatal("a dry run (or a refused prune) changed the layout")
	}

	// A copy of the layout is pruned in one go; the original is pruned in
	// two, as if the first run had stopped after index.json.
	oneGo := t.TempDir()
	if err := os.CopyFS(oneGo, os.DirFS(fx.dir)); err != nil {
		t.Fatal(err)
	}
	st1 := openRW(t, oneGo)
	real, err := Prune(ctx, st1, PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	st1.Close()
	if dry.Entries != real.Entries || *dry.Garbage != *real.Garbage || tagsOf(dry.Retired) != tagsOf(real.Retired) {
		t.Errorf("dry run %+v %+v, real %+v %+v", dry, dry.Garbage, real, real.Garbage)
	}

	errKilled := errors.New("killed")
	testHookAfterIndex = func() error { return errKilled }
	_, err = Prune(ctx, st, PruneOptions{KeepLast: 1})
	testHookAfterIndex = nil
	if !errors.Is(err, errKilled) {
		t.Fatalf("Prune with the hook = %v", err)
	}
	st.Close()
	if !maps.Equal(blobsIn(t, fx.dir), before) {
		t.Fatal("the interrupted prune removed blobs before it was stopped")
	}
	st = openRW(t, fx.dir)
	res, err := Prune(ctx, st, PruneOptions{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if tagsOf(res.Retired) != "" || *res.Garbage != *real.Garbage {
		t.Errorf("the second run: retired %q, garbage %+v; want nothing retired, the one-go run's garbage %+v", tagsOf(res.Retired), res.Garbage, real.Garbage)
	}
	if got, want := blobsIn(t, fx.dir), blobsIn(t, oneGo); !maps.Equal(got, want) {
		t.Errorf("interrupted and finished: %d blobs; in one go: %d", len(got), len(want))
	}
}

// TestPrune_Registry: in a registry with deletes, retired bundles'
// manifests are deleted by digest (what v3 reaches stays), their tags and
// signatures go; where the registry deletes only tags, they are untagged;
// where it deletes nothing, nothing changes and the error says why.
func TestPrune_Registry(t *testing.T) {
	ctx := context.Background()
	fx := newPruneFx(t)
	src := openRO(t, fx.dir)
	for _, mode := range []string{"delete", "untag", "refuse"} {
		t.Run(mode, func(t *testing.T) {
			reg := testregistry.New(t, testregistry.Options{Handler: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					byDigest := strings.Contains(r.URL.Path, "/manifests/sha256:")
					if r.Method == http.MethodDelete && (mode == "refuse" || mode == "untag" && byDigest) {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusMethodNotAllowed)
						w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
						return
					}
					h.ServeHTTP(w, r)
				})
			}})
			dst := openRemote(t, reg.Host(), "julia/bundles")
			for _, tag := range []string{"v1", "v2", "v3"} {
				if _, err := Copy(ctx, src, dst, fx.idx[tag], []string{tag}, CopyOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := dst.Tag(ctx, fx.other, "other"); err != nil {
				// the foreign image is copied first
				if _, err := Copy(ctx, src, dst, fx.other, []string{"other"}, CopyOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			tags0, _ := dst.Tags(ctx)
			dry, err := Prune(ctx, dst, PruneOptions{KeepLast: 1, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Prune(ctx, dst, PruneOptions{KeepLast: 1})
			tags, _ := dst.Tags(ctx)
			switch mode {
			case "refuse":
				if err == nil || !strings.Contains(err.Error(), "deletes neither manifests nor tags") || !slices.Equal(tags, tags0) {
					t.Errorf("Prune = %v, tags %v; want the refusal named and the tags %v", err, tags, tags0)
				}
				return
			case "untag":
				want := []string{"v1", "v2", trust.ReferrersTag(fx.idx["v1"].Digest), trust.SignatureTag(fx.idx["v1"].Digest),
					trust.ReferrersTag(fx.idx["v2"].Digest), trust.SignatureTag(fx.idx["v2"].Digest)}
				slices.Sort(want)
				got := slices.Sorted(slices.Values(res.Untagged))
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("Prune = %v, untagged %v; want %v", err, res.Untagged, want)
				}
				if _, err := dst.Resolve(ctx, fx.idx["v1"].Digest.String()); err != nil {
					t.Errorf("v1's index after untagging: %v, want it still there", err)
				}
			case "delete":
				if err != nil {
					t.Fatal(err)
				}
				if res.Deleted != dry.Deleted || res.Deleted == 0 || res.Shared == 0 {
					t.Errorf("deleted %d (dry run %d), shared %d", res.Deleted, dry.Deleted, res.Shared)
				}
				for _, tag := range []string{"v1", "v2"} {
					if _, err := dst.Resolve(ctx, fx.idx[tag].Digest.String()); !errors.Is(err, errdef.ErrNotFound) {
						t.Errorf("%s's index after prune: %v, want not found", tag, err)
					}
					if _, err := dst.Resolve(ctx, fx.prov[tag].Digest.String()); !errors.Is(err, errdef.ErrNotFound) {
						t.Errorf("%s's provenance record after prune: %v, want not found", tag, err)
					}
				}
				if recs := records(t, dst, fx.idx["v3"]); len(recs) != 1 || recs[0].Manifest.Digest != fx.prov["v3"].Digest {
					t.Errorf("v3 after prune: %d provenance records, want %s", len(recs), fx.prov["v3"].Digest)
				}
				// Every manifest v3 reaches is there; v1's and v2's others are not.
				v3, err := bundleBlobs(ctx, src, fx.idx["v3"])
				if err != nil {
					t.Fatal(err)
				}
				for _, tag := range []string{"v1", "v2"} {
					old, err := bundleBlobs(ctx, src, fx.idx[tag])
					if err != nil {
						t.Fatal(err)
					}
					for d := range old {
						m, err := src.Resolve(ctx, d.String())
						if err != nil || m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != ocispec.MediaTypeImageIndex {
							continue // a blob, not a manifest
						}
						_, gotErr := dst.Resolve(ctx, d.String())
						if v3[d] != (gotErr == nil) {
							t.Errorf("manifest %s (%s): in v3 %v, resolvable after prune: %v", d, m.MediaType, v3[d], gotErr)
						}
					}
				}
			}
			h3 := fx.idx["v3"].Digest.Encoded()
			wantTags := []string{"other", "sha256-" + h3, "sha256-" + h3 + ".sig", "v3"}
			if !slices.Equal(tags, wantTags) {
				t.Errorf("tags after prune %v, want %v", tags, wantTags)
			}
			if _, err := shelf.Verify(ctx, dst, fx.idx["v3"], shelf.VerifyOptions{Policy: fx.pol}); err != nil {
				t.Errorf("verify v3 after prune: %v", err)
			}
		})
	}
}
