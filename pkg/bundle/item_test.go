package bundle

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// goldenItem is a fixed package item over a fixed (fake) tarball digest.
func goldenItem() Item {
	return Item{
		Kind:     KindPackage,
		UUID:     exampleUUID,
		TreeHash: exampleHash,
		Name:     "Example",
		Versions: []string{"0.5.3", "0.5.1"},
		Registry: "General",
		Layers: []ocispec.Descriptor{{
			MediaType: MediaTypeTarGzip,
			Digest:    digest.FromString("Example-0.5.3.tar.gz"),
			Size:      20,
		}},
	}
}

const goldenManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.shoebox.julia.package.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:4f9ebe10b3f91c82be4637fbd46c10786649b6ec3a86abeb6eb31afe45f6ff34","size":20,"annotations":{"org.opencontainers.image.title":"Example-0.5.1.tar.gz"}}],"annotations":{"dev.shoebox.julia.kind":"package","dev.shoebox.julia.name":"Example","dev.shoebox.julia.registry":"General","dev.shoebox.julia.tree-hash":"46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc","dev.shoebox.julia.uuid":"7876af07-990d-54b4-ab0e-23690620f79a","dev.shoebox.julia.versions":"0.5.1,0.5.3"}}`

const goldenDigest = "sha256:038a5ce9e90ed1f708e4026feeb9db6c20099dd30ef20e72eb9cc121d529889d"

func TestManifest_Golden(t *testing.T) {
	b, desc, err := Manifest(goldenItem())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != goldenManifest {
		t.Errorf("Manifest() bytes =\n%s\nwant\n%s", b, goldenManifest)
	}
	if desc.Digest.String() != goldenDigest {
		t.Errorf("Manifest() digest = %s, want %s", desc.Digest, goldenDigest)
	}
	if desc.Digest != digest.FromBytes(b) || desc.Size != int64(len(b)) {
		t.Errorf("descriptor %v does not describe the bytes", desc)
	}
	if desc.ArtifactType != ArtifactTypePackage {
		t.Errorf("ArtifactType = %q", desc.ArtifactType)
	}
	want := map[string]string{
		AnnotationKind: "package", AnnotationUUID: exampleUUID.String(), AnnotationTreeHash: exampleHash.String(),
		AnnotationName: "Example", AnnotationVersions: "0.5.1,0.5.3", AnnotationRegistry: "General",
		AnnotationWholeDigest: digest.FromString("Example-0.5.3.tar.gz").String(), AnnotationWholeSize: "20",
		AnnotationWholeMediaType: MediaTypeTarGzip,
	}
	if !sameDescriptor(ocispec.Descriptor{Annotations: desc.Annotations}, ocispec.Descriptor{Annotations: want}) {
		t.Errorf("descriptor annotations = %v, want %v", desc.Annotations, want)
	}
}

func TestPushItem_Idempotent(t *testing.T) {
	ctx := context.Background()
	s := newCountingStore()
	tgz := []byte("Example-0.5.3.tar.gz")
	it := goldenItem()
	it.Layers = []ocispec.Descriptor{pushBlob(t, s, MediaTypeTarGzip, tgz)}
	d1, err := PushItem(ctx, s, it)
	if err != nil {
		t.Fatal(err)
	}
	n := s.count()
	if n != 3 { // layer, config, manifest
		t.Errorf("pushes after first PushItem = %d, want 3", n)
	}
	d2, err := PushItem(ctx, s, it)
	if err != nil {
		t.Fatal(err)
	}
	if d1.Digest != d2.Digest || d1.Digest.String() != goldenDigest {
		t.Errorf("digests %s, %s; want both %s", d1.Digest, d2.Digest, goldenDigest)
	}
	if s.count() != n {
		t.Errorf("second PushItem pushed %d blobs, want 0", s.count()-n)
	}
	// Version order given by the caller does not matter.
	it.Versions = []string{"0.5.1", "0.5.3", "0.5.1"}
	d3, err := PushItem(ctx, s, it)
	if err != nil || d3.Digest != d1.Digest {
		t.Errorf("PushItem(reordered versions) = %s, %v; want %s", d3.Digest, err, d1.Digest)
	}
}

func TestPushItem_MissingLayer(t *testing.T) {
	s := newCountingStore()
	_, err := PushItem(context.Background(), s, goldenItem())
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("PushItem() = %v, want ErrNotFound", err)
	}
	if s.count() != 0 {
		t.Errorf("pushed %d blobs", s.count())
	}
}

func TestManifest_Invalid(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Item)
	}{
		{"no kind", func(it *Item) { it.Kind = "" }},
		{"report", func(it *Item) { it.Kind = KindReport }},
		{"package without uuid", func(it *Item) { it.UUID = [16]byte{} }},
		{"package without hash", func(it *Item) { it.TreeHash = [20]byte{} }},
		{"package without name", func(it *Item) { it.Name = "" }},
		{"package with platform", func(it *Item) { it.Platform = "x86_64-linux-gnu" }},
		{"bad version", func(it *Item) { it.Versions = []string{"1.2"} }},
		{"version with comma", func(it *Item) { it.Versions = []string{"1.2.3,1.2.4"} }},
		{"name with slash", func(it *Item) { it.Name = "a/b" }},
		{"artifact with uuid", func(it *Item) { it.Kind = KindArtifact; it.Versions = nil; it.Registry = "" }},
		{"registry without name", func(it *Item) { it.Kind = KindRegistry; it.Versions = nil; it.Name = ""; it.Registry = "" }},
		{"no layers", func(it *Item) { it.Layers = nil }},
		{"bad layer media type", func(it *Item) { it.Layers[0].MediaType = "application/x-tar" }},
		{"bad digest", func(it *Item) { it.Layers[0].Digest = "sha256:XYZ" }},
		{"whole differs", func(it *Item) {
			it.Whole = ocispec.Descriptor{MediaType: MediaTypeTarGzip, Digest: digest.FromString("x"), Size: 1}
		}},
		{"parts without whole", func(it *Item) {
			it.Layers = []ocispec.Descriptor{
				{MediaType: MediaTypePart, Digest: digest.FromString("a"), Size: 1},
				{MediaType: MediaTypePart, Digest: digest.FromString("b"), Size: 1},
			}
		}},
		{"parts size mismatch", func(it *Item) {
			it.Layers = []ocispec.Descriptor{
				{MediaType: MediaTypePart, Digest: digest.FromString("a"), Size: 1},
				{MediaType: MediaTypePart, Digest: digest.FromString("b"), Size: 1},
			}
			it.Whole = ocispec.Descriptor{MediaType: MediaTypeTarGzip, Digest: digest.FromString("ab"), Size: 3}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := goldenItem()
			it.Layers = append([]ocispec.Descriptor(nil), it.Layers...)
			c.mod(&it)
			if _, _, err := Manifest(it); !errors.Is(err, ErrFormat) {
				t.Errorf("Manifest() = %v, want ErrFormat", err)
			}
		})
	}
}

func TestSortVersions(t *testing.T) {
	vs := []string{"1.10.0", "1.2.0", "1.2.0-rc1", "0.0.2", "1.2.0+b", "1.2.0-rc10", "1.2.0-rc2", "10.0.0"}
	sortVersions(vs)
	want := "0.0.2,1.2.0-rc1,1.2.0-rc10,1.2.0-rc2,1.2.0,1.2.0+b,1.10.0,10.0.0"
	if got := strings.Join(vs, ","); got != want {
		t.Errorf("sortVersions = %s, want %s", got, want)
	}
}
