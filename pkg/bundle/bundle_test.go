package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// addItem stores tgz (split into parts when parts > 1) and pushes it.
func addItem(t testing.TB, s Pusher, it Item, tgz []byte, parts int) ocispec.Descriptor {
	t.Helper()
	it.Layers, it.Whole = storeTarball(t, s, tgz, parts)
	d, err := PushItem(context.Background(), s, it)
	if err != nil {
		t.Fatalf("PushItem(%s) = %v", it, err)
	}
	return d
}

func storeTarball(t testing.TB, s content.Pusher, tgz []byte, parts int) ([]ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	whole := content.NewDescriptorFromBytes(MediaTypeTarGzip, tgz)
	if parts <= 1 {
		return []ocispec.Descriptor{pushBlob(t, s, MediaTypeTarGzip, tgz)}, ocispec.Descriptor{}
	}
	var layers []ocispec.Descriptor
	step := (len(tgz) + parts - 1) / parts
	for chunk := range slices.Chunk(tgz, step) {
		layers = append(layers, pushBlob(t, s, MediaTypePart, chunk))
	}
	if len(layers) != parts {
		t.Fatalf("split into %d parts, want %d", len(layers), parts)
	}
	return layers, whole
}

// fixture is a small bundle in a mapStore.
type fixture struct {
	store *mapStore
	items []Item // as pushed (Layers/Whole set by addItem)
	descs []ocispec.Descriptor
	index ocispec.Descriptor
	tgz   map[string][]byte // by item String()
}

func tarHashes(t testing.TB, tgz []byte) treehash.TarHashes {
	t.Helper()
	zr, err := gzipReader(tgz)
	if err != nil {
		t.Fatal(err)
	}
	h, err := treehash.Tar(zr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newFixture(t testing.TB, opts IndexOptions) *fixture {
	t.Helper()
	f := &fixture{store: newMapStore(), tgz: map[string][]byte{}}
	reg := makeTarGz(t, tarEntry{name: "Registry.toml", body: "name = \"General\"\n"}, tarEntry{name: "E/Example/Package.toml", body: "name = \"Example\"\n"})
	pkg := makeTarGz(t, tarEntry{name: "Project.toml", body: "name = \"Example\"\n"}, tarEntry{name: "src/Example.jl", body: strings.Repeat("module Example end\n", 50)}, tarEntry{name: "empty/", typ: '5', mode: 0o755})
	art := makeTarGz(t, tarEntry{name: "bin/tool", body: "#!/bin/sh\n", mode: 0o755}, tarEntry{name: "lib/libx.so", body: strings.Repeat("\x7fELF", 300)})
	rh, ph, ah := tarHashes(t, reg), tarHashes(t, pkg), tarHashes(t, art)
	add := func(it Item, tgz []byte, parts int) {
		d := addItem(t, f.store, it, tgz, parts)
		it.Layers, it.Whole = storeTarball(t, newMapStore(), tgz, parts)
		f.items = append(f.items, it)
		f.descs = append(f.descs, d)
		f.tgz[it.String()] = tgz
	}
	add(Item{Kind: KindArtifact, TreeHash: ah.SkipEmpty, Name: "Tool", Platform: "x86_64-linux-gnu"}, art, 3)
	add(Item{Kind: KindPackage, UUID: exampleUUID, TreeHash: ph.SkipEmpty, KeepEmptyHash: ph.KeepEmpty, Name: "Example", Versions: []string{"0.5.3"}}, pkg, 1)
	add(Item{Kind: KindRegistry, UUID: generalUUID, TreeHash: rh.KeepEmpty, Registry: "General"}, reg, 1)
	rep, err := PushReport(context.Background(), f.store, Report{
		Requests: []Request{{Type: "manifest", Value: "team-a/Manifest.toml"}},
		Missing:  []Missing{{Kind: KindPackage, Name: "Gone", UUID: uuidN(9), Version: "1.0.0", Reason: "404"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.descs = append(f.descs, rep)
	f.index, err = PushIndex(context.Background(), f.store, f.descs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// identity strips an item to what Read returns for it.
func identity(it Item) Item {
	n, err := it.normalize()
	if err != nil {
		panic(err)
	}
	if n.Kind == KindRegistry {
		n.Name = n.Registry
	}
	return n
}

func TestRead_RoundTrip(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	f := newFixture(t, IndexOptions{Created: created, ToolVersion: "v1.2.3", Platforms: []string{"x86_64-linux-gnu", "aarch64-linux-gnu"}, Inputs: []string{"a/Manifest.toml", "b, c"}})
	b, err := Read(context.Background(), f.store, f.index)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Created.Equal(created) {
		t.Errorf("Created = %v, want %v", b.Created, created)
	}
	wantAnn := map[string]string{
		ocispec.AnnotationCreated: "2026-03-04T04:06:07Z",
		AnnotationToolVersion:     "v1.2.3",
		AnnotationPlatforms:       "aarch64-linux-gnu,x86_64-linux-gnu",
		AnnotationInputs:          `["a/Manifest.toml","b, c"]`,
		AnnotationRegistries:      "1", AnnotationPackages: "1", AnnotationArtifacts: "1",
		AnnotationMissing: "1",
	}
	for k, v := range wantAnn {
		if b.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, b.Annotations[k], v)
		}
	}
	var size int64
	for _, it := range f.items {
		size += int64(len(f.tgz[it.String()]))
	}
	if got := b.Annotations[AnnotationSize]; got != fmt.Sprint(size) {
		t.Errorf("size annotation = %s, want %d", got, size)
	}
	// Index order: registry, package, artifact.
	want := []Item{identity(f.items[2]), identity(f.items[1]), identity(f.items[0])}
	if len(b.Entries) != len(want) {
		t.Fatalf("Read() = %d entries, want %d", len(b.Entries), len(want))
	}
	for i, e := range b.Entries {
		if !sameIdentity(e.Item, want[i]) || !slices.EqualFunc(e.Layers, want[i].Layers, sameBlob) || !sameBlob(e.Whole, want[i].Whole) {
			t.Errorf("entry %d = %+v, want %+v", i, e.Item, want[i])
		}
	}
	if b.Report == nil || len(b.Report.Missing) != 1 || b.Report.Missing[0].UUID != uuidN(9) || b.Report.Requests[0].Value != "team-a/Manifest.toml" {
		t.Errorf("Report = %+v", b.Report)
	}

	// Entries keep no annotations; IndexDescriptor gives back the
	// descriptor the index lists, split items included.
	byDigest := map[digest.Digest]ocispec.Descriptor{}
	for _, d := range f.descs {
		byDigest[d.Digest] = d
	}
	for _, e := range b.Entries {
		if e.Manifest.Annotations != nil {
			t.Errorf("%s: Manifest.Annotations kept", e.Item)
		}
		if got, want := e.IndexDescriptor(), byDigest[e.Manifest.Digest]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: IndexDescriptor() = %+v\nwant %+v", e.Item, got, want)
		}
	}
	// Walk visits the same entries, in order, and keeps none.
	var walked []Entry
	wb, err := Walk(context.Background(), f.store, f.index, func(e Entry) error { walked = append(walked, e); return nil })
	if err != nil || wb.Entries != nil || !reflect.DeepEqual(walked, b.Entries) || !reflect.DeepEqual(wb.Report, b.Report) || !wb.Created.Equal(b.Created) {
		t.Errorf("Walk = %+v, %v; entries %+v, want %+v", wb, err, walked, b.Entries)
	}
	stop := errors.New("stop")
	n := 0
	if _, err := Walk(context.Background(), f.store, f.index, func(Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Walk with fn failing = %v after %d calls, want the error after 1", err, n)
	}
	if h, err := Header(context.Background(), f.store, f.index); err != nil || h.Entries != nil || h.Report != nil ||
		!reflect.DeepEqual(h.Annotations, b.Annotations) || !h.Created.Equal(b.Created) {
		t.Errorf("Header = %+v, %v", h, err)
	}
	// Check's bundle is Read's, with what the manifests record.
	rep, err := Check(context.Background(), f.store, f.index, CheckOptions{})
	if err != nil || rep.Bundle == nil {
		t.Fatalf("Check = %v, bundle %v", err, rep.Bundle)
	}
	for i, e := range rep.Bundle.Entries {
		if want := b.Entries[i]; !reflect.DeepEqual(e, want) {
			t.Errorf("Check's entry %d = %+v, want %+v", i, e, want)
		}
	}
	if !reflect.DeepEqual(rep.Bundle.Annotations, b.Annotations) || !rep.Bundle.Created.Equal(b.Created) || !reflect.DeepEqual(rep.Bundle.Report, b.Report) {
		t.Errorf("Check's bundle %+v, want %+v", rep.Bundle, b)
	}
}

func TestPushIndex_Deterministic(t *testing.T) {
	f := newFixture(t, IndexOptions{})
	rev := slices.Clone(f.descs)
	slices.Reverse(rev)
	rev = append(rev, f.descs[0]) // a duplicate is dropped
	d, err := PushIndex(context.Background(), f.store, rev, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != f.index.Digest {
		t.Errorf("PushIndex(reversed) = %s, want %s", d.Digest, f.index.Digest)
	}
	if _, err := PushIndex(context.Background(), f.store, f.descs, IndexOptions{Annotations: map[string]string{AnnotationSize: "1"}}); !errors.Is(err, ErrFormat) {
		t.Errorf("PushIndex(reserved annotation) = %v, want ErrFormat", err)
	}
	bad := slices.Clone(f.descs)
	bad[0].Annotations = map[string]string{AnnotationKind: "package"}
	if _, err := PushIndex(context.Background(), f.store, bad, IndexOptions{}); !errors.Is(err, ErrFormat) {
		t.Errorf("PushIndex(bad descriptor) = %v, want ErrFormat", err)
	}
}

func TestPushIndex_Nested(t *testing.T) {
	ctx := context.Background()
	s := newCountingStore()
	var descs []ocispec.Descriptor
	for i := range 10 {
		it := Item{Kind: KindPackage, UUID: uuidN(i), TreeHash: hashN(i), Name: fmt.Sprintf("P%d", i), Versions: []string{"1.0.0"}}
		descs = append(descs, addItem(t, s, it, []byte(fmt.Sprintf("tarball %d", i)), 1))
	}
	flat, err := PushIndex(ctx, s, descs, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nested, err := PushIndex(ctx, s, descs, IndexOptions{MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Every index holds at most 3 entries; count them.
	var indexes, leaves int
	var walk func(d ocispec.Descriptor, depth int)
	walk = func(d ocispec.Descriptor, depth int) {
		b, err := content.FetchAll(ctx, s, d)
		if err != nil {
			t.Fatal(err)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		indexes++
		if len(idx.Manifests) > 3 {
			t.Errorf("index %s has %d entries, want ≤ 3", d.Digest, len(idx.Manifests))
		}
		if (depth == 0) != (idx.ArtifactType == ArtifactTypeBundle) || (depth == 0) != (idx.Annotations != nil) {
			t.Errorf("index %s at depth %d: artifactType %s, annotations %v", d.Digest, depth, idx.ArtifactType, idx.Annotations)
		}
		for _, m := range idx.Manifests {
			if m.MediaType == ocispec.MediaTypeImageIndex {
				walk(m, depth+1)
			} else {
				leaves++
			}
		}
	}
	walk(nested, 0)
	// 10 items → 4 subindexes → 2 subindexes → top.
	if indexes != 7 || leaves != 10 {
		t.Errorf("nested bundle: %d indexes, %d items; want 7, 10", indexes, leaves)
	}
	bf, err := Read(ctx, s, flat)
	if err != nil {
		t.Fatal(err)
	}
	bn, err := Read(ctx, s, nested)
	if err != nil {
		t.Fatal(err)
	}
	if len(bn.Entries) != 10 {
		t.Fatalf("Read(nested) = %d entries, want 10", len(bn.Entries))
	}
	for i := range bn.Entries {
		if bn.Entries[i].Manifest.Digest != bf.Entries[i].Manifest.Digest || bn.Entries[i].UUID != uuidN(i) {
			t.Errorf("entry %d: nested %s (%s), flat %s", i, bn.Entries[i].Manifest.Digest, bn.Entries[i].Item, bf.Entries[i].Manifest.Digest)
		}
	}
	// Pushing the nested bundle again writes nothing.
	n := s.count()
	if again, err := PushIndex(ctx, s, descs, IndexOptions{MaxEntries: 3}); err != nil || again.Digest != nested.Digest || s.count() != n {
		t.Errorf("second PushIndex = %s, %v, %d new pushes", again.Digest, err, s.count()-n)
	}
}

func TestOpen_Parts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	b, err := Read(ctx, f.store, f.index)
	if err != nil {
		t.Fatal(err)
	}
	art := b.Entries[2]
	if art.Kind != KindArtifact || len(art.Layers) != 3 {
		t.Fatalf("entry 2 = %s with %d layers, want the 3-part artifact", art.Item, len(art.Layers))
	}
	want := f.tgz[f.items[0].String()]
	got, err := readAllOpen(ctx, f.store, art)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Open() = %d bytes, %v; want %d bytes", len(got), err, len(want))
	}

	t.Run("corrupt part", func(t *testing.T) {
		s := cloneStore(f.store)
		p := s.get(art.Layers[1].Digest)
		p[len(p)/2] ^= 0xff
		s.set(art.Layers[1].Digest, p)
		_, err := readAllOpen(ctx, s, art)
		if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "artifact Tool") || !strings.Contains(err.Error(), "part 2/3") {
			t.Errorf("Open(corrupt part) = %v, want ErrIntegrity naming the item and part 2/3", err)
		}
	})
	t.Run("truncated part", func(t *testing.T) {
		s := cloneStore(f.store)
		p := s.get(art.Layers[0].Digest)
		s.set(art.Layers[0].Digest, p[:len(p)-1])
		if _, err := readAllOpen(ctx, s, art); !errors.Is(err, ErrIntegrity) {
			t.Errorf("Open(truncated part) = %v, want ErrIntegrity", err)
		}
	})
	t.Run("missing part", func(t *testing.T) {
		s := cloneStore(f.store)
		s.set(art.Layers[2].Digest, nil)
		if _, err := readAllOpen(ctx, s, art); err == nil || !strings.Contains(err.Error(), "artifact Tool") {
			t.Errorf("Open(missing part) = %v, want an error naming the item", err)
		}
	})
	t.Run("whole digest mismatch", func(t *testing.T) {
		e := art
		e.Whole.Digest = digest.FromString("something else")
		_, err := readAllOpen(ctx, f.store, e)
		if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "whole tarball") {
			t.Errorf("Open(whole mismatch) = %v, want ErrIntegrity on the whole tarball", err)
		}
	})
	t.Run("layers from manifest", func(t *testing.T) {
		e := Entry{Manifest: art.IndexDescriptor()}
		got, err := readAllOpen(ctx, f.store, e)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Open(descriptor only) = %d bytes, %v", len(got), err)
		}
	})
}

func readAllOpen(ctx context.Context, src content.Fetcher, e Entry) ([]byte, error) {
	rc, err := Open(ctx, src, e)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func cloneStore(s *mapStore) *mapStore {
	c := newMapStore()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.blobs {
		c.blobs[k] = bytes.Clone(v)
	}
	return c
}

func TestReader_Seek(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	b, err := Read(ctx, f.store, f.index)
	if err != nil {
		t.Fatal(err)
	}
	art := b.Entries[2]
	want := f.tgz[f.items[0].String()]
	r, err := NewReader(ctx, f.store, art)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", r.Size(), len(want))
	}
	n := int64(len(want))
	for _, rg := range [][2]int64{{0, n}, {1, 10}, {n/3 - 2, 5}, {n / 3, n / 3}, {n - 7, 7}, {0, 1}, {n/2 + 1, n - n/2 - 1}} {
		if _, err := r.Seek(rg[0], io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, rg[1])
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		if !bytes.Equal(got, want[rg[0]:rg[0]+rg[1]]) {
			t.Errorf("range %v: wrong bytes", rg)
		}
	}
	if end, _ := r.Seek(0, io.SeekEnd); end != n {
		t.Errorf("Seek(0, End) = %d, want %d", end, n)
	}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read at end = %v, want EOF", err)
	}
}

func TestReadItem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	for i, d := range f.descs[:3] {
		it, err := ReadItem(ctx, f.store, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
		if err != nil {
			t.Fatalf("ReadItem(%s) = %v", f.items[i], err)
		}
		want := identity(f.items[i])
		if !sameIdentity(it, want) || !slices.EqualFunc(it.Layers, want.Layers, sameBlob) || !sameBlob(it.Whole, want.Whole) {
			t.Errorf("ReadItem() = %+v, want %+v", it, want)
		}
	}
	if _, err := ReadItem(ctx, f.store, f.descs[3]); !errors.Is(err, ErrFormat) {
		t.Errorf("ReadItem(report) = %v, want ErrFormat", err)
	}
	s := cloneStore(f.store)
	m := s.get(f.descs[1].Digest)
	bad := bytes.Replace(m, []byte(MediaTypeTarGzip), []byte("application/x-tar+gzip"), 1)
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, bad)
	s.set(d.Digest, bad)
	if _, err := ReadItem(ctx, s, d); !errors.Is(err, ErrFormat) {
		t.Errorf("ReadItem(bad layer type) = %v, want ErrFormat", err)
	}
}

// PushIndexEntries writes PushIndex's bytes, flat and nested, from entries
// that hold no annotations (EntryOf, or Read's), a report included.
func TestPushIndexEntries_SameBytes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	for _, max := range []int{0, 2} {
		opts := IndexOptions{Created: time.Unix(1e9, 0).UTC(), MaxEntries: max}
		want, err := PushIndex(ctx, f.store, f.descs, opts)
		if err != nil {
			t.Fatal(err)
		}
		var entries []Entry
		for _, d := range f.descs {
			e, err := EntryOf(d)
			if err != nil {
				t.Fatal(err)
			}
			if _, parts, _ := parseDescriptor(d); e.Kind != KindReport && parts == 0 && e.Manifest.Annotations != nil {
				t.Errorf("EntryOf kept the annotations of %s", e.Item)
			}
			entries = append(entries, e)
		}
		got, err := PushIndexEntries(ctx, f.store, append(entries, entries[0]), opts)
		if err != nil || got.Digest != want.Digest {
			t.Errorf("MaxEntries %d: PushIndexEntries = %s, %v; PushIndex %s", max, got.Digest, err, want.Digest)
		}
	}
}
