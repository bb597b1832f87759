package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzReadIndex feeds arbitrary bytes as a bundle's top index (and as a
// child index and an item manifest it may name) to Read and Check: they
// must return, never panic, and Read must fail with ErrFormat or
// ErrIntegrity or a not-found error unless the input is a valid bundle.
func FuzzReadIndex(f *testing.F) {
	fx := newFixture(f, IndexOptions{MaxEntries: 2})
	top := fx.store.get(fx.index.Digest)
	f.Add(top, []byte(nil))
	var idx ocispec.Index
	if err := json.Unmarshal(top, &idx); err != nil {
		f.Fatal(err)
	}
	f.Add(top, fx.store.get(idx.Manifests[0].Digest))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/vnd.shoebox.bundle.v1","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":-1}]}`), []byte("{}"))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/vnd.shoebox.bundle.v1","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":4611686018427387904,"annotations":{"dev.shoebox.julia.kind":"report"}}]}`), []byte("{}"))
	f.Fuzz(func(t *testing.T, index, extra []byte) {
		s := cloneStore(fx.store)
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(index), Size: int64(len(index))}
		s.set(d.Digest, index)
		// extra is stored under every digest the index names, so the
		// walk reaches child documents built from fuzz input.
		var idx ocispec.Index
		if json.Unmarshal(index, &idx) == nil {
			for _, m := range idx.Manifests {
				if m.Digest.Validate() == nil && s.get(m.Digest) == nil {
					s.set(m.Digest, extra)
				}
			}
		}
		b, err := Read(context.Background(), s, d)
		if err == nil {
			for _, e := range b.Entries {
				if !e.Kind.Valid() || e.TreeHash.IsZero() || len(e.Layers) == 0 {
					t.Errorf("Read() accepted entry %+v", e.Item)
				}
			}
		}
		rep, _ := Check(context.Background(), s, d, CheckOptions{Concurrency: 2})
		if rep == nil {
			t.Fatal("Check() returned a nil report")
		}
	})
}

// FuzzItemAnnotations parses arbitrary identity annotations. Whatever
// ParseIdentity accepts must survive a round trip through the writer
// unchanged, and whatever it rejects must be an ErrFormat.
func FuzzItemAnnotations(f *testing.F) {
	f.Add("package", "7876af07-990d-54b4-ab0e-23690620f79a", "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc", "", "Example", "0.5.1,0.5.3", "", "General")
	f.Add("registry", "23338594-aafe-5451-b93e-139f81909106", "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc", "", "General", "", "", "General")
	f.Add("artifact", "", "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc", "ab00000000000000000000000000000000000001", "Tool", "", "x86_64-linux-gnu-cxx11-julia_version+1.10.0", "")
	f.Add("report", "", "", "", "", "", "", "")
	f.Add("package", "7876AF07-990d-54b4-ab0e-23690620f79a", "46E44e869b4d90b96bd8ed1fdcf32244fddfb6cc", "", "a/b", "1.0", "x y", "")
	f.Fuzz(func(t *testing.T, kind, uuid, hash, keep, name, versions, platform, registry string) {
		a := map[string]string{AnnotationKind: kind}
		for k, v := range map[string]string{AnnotationUUID: uuid, AnnotationTreeHash: hash, AnnotationKeepEmptyHash: keep,
			AnnotationName: name, AnnotationVersions: versions, AnnotationPlatform: platform, AnnotationRegistry: registry} {
			if v != "" {
				a[k] = v
			}
		}
		it, err := ParseIdentity(a)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseIdentity() = %v, want ErrFormat", err)
			}
			return
		}
		if it.Kind == KindReport {
			return
		}
		if it.Kind == KindRegistry {
			it.Name = ""
		}
		back := it.identityAnnotations()
		it2, err := ParseIdentity(back)
		if err != nil {
			t.Fatalf("ParseIdentity(identityAnnotations(%v)) = %v", it, err)
		}
		if it.Kind == KindRegistry {
			it.Name = it.Registry
		}
		if !sameIdentity(it, it2) {
			t.Fatalf("round trip: %+v became %+v", it, it2)
		}
		for k, v := range back {
			if a[k] != v && !(k == AnnotationName && it.Kind == KindRegistry) {
				t.Fatalf("annotation %s: %q written back as %q", k, a[k], v)
			}
		}
		if strings.ContainsAny(it.Platform, ", ") {
			t.Fatalf("platform %q accepted", it.Platform)
		}
	})
}
