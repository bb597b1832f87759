package bundle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

func TestCheck_Clean(t *testing.T) {
	f := newFixture(t, IndexOptions{MaxEntries: 2})
	for _, deep := range []bool{false, true} {
		var mu sync.Mutex
		events := 0
		rep, err := Check(context.Background(), f.store, f.index, CheckOptions{Deep: deep, Concurrency: 2, Progress: func(CheckEvent) {
			mu.Lock()
			events++
			mu.Unlock()
		}})
		if err != nil {
			t.Fatalf("Check(deep=%v) = %v", deep, err)
		}
		if len(rep.Entries) != 3 || rep.Manifests != 4 || rep.Indexes != 3 || events == 0 {
			t.Errorf("Check(deep=%v): %d entries, %d manifests, %d indexes, %d events; want 3, 4, 3, >0", deep, len(rep.Entries), rep.Manifests, rep.Indexes, events)
		}
		var size int64 = 2 // the config blob
		for _, tgz := range f.tgz {
			size += int64(len(tgz))
		}
		if !deep && rep.Bytes != size {
			t.Errorf("Check: %d bytes read, want %d", rep.Bytes, size)
		}
	}
}

func TestCheck_Problems(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	b, err := Read(ctx, f.store, f.index)
	if err != nil {
		t.Fatal(err)
	}
	reg, pkg, art := b.Entries[0], b.Entries[1], b.Entries[2]
	cases := []struct {
		name  string
		mod   func(s *mapStore)
		entry Entry
		want  string
	}{
		{"missing blob", func(s *mapStore) { s.set(pkg.Layers[0].Digest, nil) }, pkg, "not found"},
		{"changed byte", func(s *mapStore) {
			p := s.get(reg.Layers[0].Digest)
			p[10] ^= 1
			s.set(reg.Layers[0].Digest, p)
		}, reg, "mismatched digest"},
		{"truncated blob", func(s *mapStore) {
			p := s.get(art.Layers[1].Digest)
			s.set(art.Layers[1].Digest, p[:len(p)-3])
		}, art, "unexpected EOF"},
		{"longer blob", func(s *mapStore) {
			p := s.get(pkg.Layers[0].Digest)
			s.set(pkg.Layers[0].Digest, append(p, 0))
		}, pkg, "trailing data"},
		{"replaced manifest", func(s *mapStore) {
			s.set(pkg.Manifest.Digest, []byte(`{"schemaVersion":2}`))
		}, pkg, "manifest"},
		{"tampered manifest", func(s *mapStore) {
			m := s.get(pkg.Manifest.Digest)
			s.set(pkg.Manifest.Digest, bytes.Replace(m, []byte(`"0.5.3"`), []byte(`"0.5.4"`), 1))
		}, pkg, "manifest sha256:"},
		{"tampered manifest digest", func(s *mapStore) {
			m := s.get(pkg.Manifest.Digest)
			s.set(pkg.Manifest.Digest, bytes.Replace(m, []byte(`"0.5.3"`), []byte(`"0.5.4"`), 1))
		}, pkg, "mismatched digest"},
		{"missing manifest", func(s *mapStore) { s.set(art.Manifest.Digest, nil) }, art, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := cloneStore(f.store)
			c.mod(s)
			rep, err := Check(ctx, s, f.index, CheckOptions{})
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Check() = %v, want ErrIntegrity", err)
			}
			if len(rep.Problems) != 1 {
				t.Fatalf("Check() problems = %v, want 1", rep.Problems)
			}
			p := rep.Problems[0]
			if p.Entry == nil || p.Entry.Manifest.Digest != c.entry.Manifest.Digest {
				t.Errorf("problem %v is not about %s", p, c.entry.Item)
			}
			msg := p.Error()
			if !strings.HasPrefix(msg, c.entry.Item.String()) || !strings.Contains(msg, c.want) || !errors.Is(p, ErrIntegrity) {
				t.Errorf("problem = %q, want it to name %q, say %q and wrap ErrIntegrity", msg, c.entry.Item, c.want)
			}
		})
	}
	t.Run("several problems", func(t *testing.T) {
		s := cloneStore(f.store)
		s.set(pkg.Layers[0].Digest, nil)
		s.set(art.Layers[0].Digest, nil)
		s.set(reg.Manifest.Digest, nil)
		rep, err := Check(ctx, s, f.index, CheckOptions{Concurrency: 1})
		if !errors.Is(err, ErrIntegrity) || len(rep.Problems) != 3 {
			t.Fatalf("Check() = %v with %d problems, want 3", err, len(rep.Problems))
		}
		for i, e := range []Entry{reg, pkg, art} {
			if rep.Problems[i].Entry.Manifest.Digest != e.Manifest.Digest {
				t.Errorf("problem %d = %v, want one about %s", i, rep.Problems[i], e.Item)
			}
		}
	})
	t.Run("missing index", func(t *testing.T) {
		s := cloneStore(f.store)
		s.set(f.index.Digest, nil)
		rep, err := Check(ctx, s, f.index, CheckOptions{})
		if !errors.Is(err, ErrIntegrity) || len(rep.Problems) != 1 || rep.Problems[0].Entry != nil {
			t.Errorf("Check(missing index) = %v, %v", err, rep.Problems)
		}
	})
}

// deepFixture pushes one item whose tarball is tgz, annotated with hash.
func deepFixture(t *testing.T, kind Kind, tgz []byte, hash treehash.Hash) (*mapStore, ocispec.Descriptor) {
	t.Helper()
	s := newMapStore()
	it := Item{Kind: kind, TreeHash: hash, Name: "X"}
	switch kind {
	case KindPackage:
		it.UUID = exampleUUID
	case KindRegistry:
		it.UUID, it.Registry, it.Name = generalUUID, "General", ""
	}
	d := addItem(t, s, it, tgz, 1)
	idx, err := PushIndex(context.Background(), s, []ocispec.Descriptor{d}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, idx
}

func TestCheck_Deep(t *testing.T) {
	ctx := context.Background()
	withEmpty := makeTarGz(t, tarEntry{name: "a.txt", body: "a"}, tarEntry{name: "empty/", typ: '5', mode: 0o755})
	h := tarHashes(t, withEmpty)
	if h.KeepEmpty == h.SkipEmpty {
		t.Fatal("fixture: hashes should differ")
	}
	cases := []struct {
		name string
		kind Kind
		tgz  []byte
		hash treehash.Hash
		want error // nil: clean
	}{
		{"package skip-empty", KindPackage, withEmpty, h.SkipEmpty, treehash.ErrMismatch}, // keep-empty not annotated
		{"registry keep-empty", KindRegistry, withEmpty, h.KeepEmpty, nil},
		{"registry checked with keep-empty", KindRegistry, withEmpty, h.SkipEmpty, treehash.ErrMismatch},
		{"wrong tree hash", KindArtifact, withEmpty, hashN(1), treehash.ErrMismatch},
		{"dot-dot entry", KindArtifact, makeTarGz(t, tarEntry{name: "../evil", body: "x"}), hashN(2), treehash.ErrTarEntry},
		{"not gzip", KindArtifact, []byte("plain text, not a tarball at all"), hashN(3), ErrIntegrity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, idx := deepFixture(t, c.kind, c.tgz, c.hash)
			if _, err := Check(ctx, s, idx, CheckOptions{}); err != nil {
				t.Fatalf("Check(shallow) = %v, want nil", err)
			}
			rep, err := Check(ctx, s, idx, CheckOptions{Deep: true})
			if c.want == nil {
				if err != nil {
					t.Errorf("Check(deep) = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrIntegrity) || !errors.Is(err, c.want) || len(rep.Problems) != 1 {
				t.Fatalf("Check(deep) = %v, want ErrIntegrity and %v", err, c.want)
			}
			if !strings.HasPrefix(rep.Problems[0].Error(), string(c.kind)+" ") {
				t.Errorf("problem %q does not name the item", rep.Problems[0].Error())
			}
		})
	}
	t.Run("package with keep-empty annotated", func(t *testing.T) {
		s := newMapStore()
		d := addItem(t, s, Item{Kind: KindPackage, UUID: exampleUUID, TreeHash: h.SkipEmpty, KeepEmptyHash: h.KeepEmpty, Name: "X"}, withEmpty, 2)
		idx, err := PushIndex(ctx, s, []ocispec.Descriptor{d}, IndexOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(ctx, s, idx, CheckOptions{Deep: true}); err != nil {
			t.Errorf("Check(deep) = %v, want nil", err)
		}
	})
}

func TestRead_MalformedAnnotations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	cases := []struct {
		name string
		key  string
		val  string
	}{
		{"uppercase uuid", AnnotationUUID, strings.ToUpper(exampleUUID.String())},
		{"bad uuid", AnnotationUUID, "7876af07-990d-54b4-ab0e"},
		{"uppercase hash", AnnotationTreeHash, strings.ToUpper(hashN(1).String())},
		{"short hash", AnnotationTreeHash, "abc"},
		{"unknown kind", AnnotationKind, "thing"},
		{"unsorted versions", AnnotationVersions, "1.0.0,0.9.0"},
		{"bad version", AnnotationVersions, "1.0"},
		{"keep-empty equal", AnnotationKeepEmptyHash, ""},
		{"size with sign", AnnotationWholeSize, "+12"},
		{"bad whole digest", AnnotationWholeDigest, "sha256:1234"},
		{"platform on package", AnnotationPlatform, "x86_64-linux-gnu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			descs := append([]ocispec.Descriptor(nil), f.descs...)
			d := descs[1] // the package
			ann := map[string]string{}
			for k, v := range d.Annotations {
				ann[k] = v
			}
			if c.key == AnnotationKeepEmptyHash {
				c.val = ann[AnnotationTreeHash]
			}
			ann[c.key] = c.val
			d.Annotations = ann
			descs[1] = d
			// Write the index by hand: PushIndex would refuse it.
			idx := writeIndex(t, f.store, ArtifactTypeBundle, descs)
			_, err := Read(ctx, f.store, idx)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), d.Digest.String()) {
				t.Errorf("Read() = %v, want ErrFormat naming %s", err, d.Digest)
			}
		})
	}
}

func writeIndex(t testing.TB, s *mapStore, artifactType string, descs []ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, ArtifactType: artifactType, Manifests: descs}
	idx.SchemaVersion = 2
	b := mustJSON(t, idx)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
	s.set(d.Digest, b)
	return d
}

func TestCheck_DescriptorDisagreesWithManifest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, IndexOptions{})
	cases := []struct {
		name, key, val, want string
	}{
		{"identity", AnnotationVersions, "9.9.9", "identity"},
		{"whole tarball", AnnotationWholeSize, "1", "layers do not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := cloneStore(f.store)
			descs := append([]ocispec.Descriptor(nil), f.descs...)
			d := descs[1] // the package
			ann := map[string]string{}
			for k, v := range d.Annotations {
				ann[k] = v
			}
			ann[c.key] = c.val
			d.Annotations = ann
			descs[1] = d
			idx := writeIndex(t, s, ArtifactTypeBundle, descs)
			rep, err := Check(ctx, s, idx, CheckOptions{})
			if !errors.Is(err, ErrIntegrity) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Error(), c.want) {
				t.Errorf("Check() = %v, want one problem saying %q", err, c.want)
			}
		})
	}
}
