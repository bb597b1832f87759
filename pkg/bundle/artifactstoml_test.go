package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const exampleArtifactsTOML = "[Foo]\ngit-tree-sha1 = \"83481d62501cf2ef22bed745dbcedc4e75fa6e95\"\n"

// The recorded Artifacts.toml files go into the item manifest (not the
// index descriptor) and come back from ReadItem and Check; nil records
// nothing and leaves the golden bytes alone; an empty map records "none".
func TestArtifactsTOML_RoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		m    map[string]string
		want string // annotation value, "" for absent
	}{
		{"not recorded", nil, ""},
		{"none", map[string]string{}, "{}"},
		{"two files", map[string]string{"Artifacts.toml": exampleArtifactsTOML, "sub/JuliaArtifacts.toml": "<&>"},
			`{"Artifacts.toml":"[Foo]\ngit-tree-sha1 = \"83481d62501cf2ef22bed745dbcedc4e75fa6e95\"\n","sub/JuliaArtifacts.toml":"\u003c\u0026\u003e"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newMapStore()
			it := goldenItem()
			it.ArtifactsTOML = tt.m
			tgz := makeTarGz(t, tarEntry{name: "a", body: "a"})
			d := addItem(t, s, it, tgz, 1)
			if _, ok := d.Annotations[AnnotationArtifactsTOML]; ok {
				t.Errorf("index descriptor carries %s", AnnotationArtifactsTOML)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(s.get(d.Digest), &m); err != nil {
				t.Fatal(err)
			}
			if got := m.Annotations[AnnotationArtifactsTOML]; got != tt.want {
				t.Errorf("manifest annotation = %q, want %q", got, tt.want)
			}
			got, err := ReadItem(ctx, s, d)
			if err != nil {
				t.Fatal(err)
			}
			if (got.ArtifactsTOML == nil) != (tt.m == nil) || !maps.Equal(got.ArtifactsTOML, tt.m) {
				t.Errorf("ReadItem().ArtifactsTOML = %#v, want %#v", got.ArtifactsTOML, tt.m)
			}
			idx, err := PushIndex(ctx, s, []ocispec.Descriptor{d}, IndexOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(ctx, s, idx, CheckOptions{})
			if err != nil || rep.Bundle == nil || len(rep.Bundle.Entries) != 1 {
				t.Fatalf("Check() = %v, bundle %+v", err, rep.Bundle)
			}
			// Check's bundle carries the record (the closure reads it).
			if got := rep.Bundle.Entries[0].ArtifactsTOML; (got == nil) != (tt.m == nil) || !maps.Equal(got, tt.m) {
				t.Errorf("Check().Bundle entry ArtifactsTOML = %#v, want %#v", got, tt.m)
			}
		})
	}
	// nil leaves the golden manifest as it was.
	b, _, err := Manifest(goldenItem())
	if err != nil || string(b) != goldenManifest {
		t.Errorf("golden manifest changed: %v", err)
	}
}

// What cannot be recorded is left out rather than failing the item: other
// kinds, paths that are not Artifacts.toml files, non-UTF-8 content, or
// more than MaxArtifactsTOML bytes.
func TestArtifactsTOML_NotRecorded(t *testing.T) {
	big := strings.Repeat("#", MaxArtifactsTOML)
	for _, tt := range []struct {
		name string
		kind Kind
		m    map[string]string
	}{
		{"artifact", KindArtifact, map[string]string{}},
		{"other path", KindPackage, map[string]string{"Project.toml": ""}},
		{"not UTF-8", KindPackage, map[string]string{"Artifacts.toml": "\xff"}},
		{"too big", KindPackage, map[string]string{"Artifacts.toml": big}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			it := goldenItem()
			if tt.kind == KindArtifact {
				it = Item{Kind: KindArtifact, TreeHash: exampleHash, Layers: it.Layers}
			}
			it.ArtifactsTOML = tt.m
			b, _, err := Manifest(it)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), AnnotationArtifactsTOML) {
				t.Errorf("manifest records %s", AnnotationArtifactsTOML)
			}
		})
	}
}

// Readers reject a non-canonical value, and the annotation on a kind other
// than package; Check --deep compares it with the tarball.
func TestArtifactsTOML_Checked(t *testing.T) {
	ctx := context.Background()
	tgz := makeTarGz(t, tarEntry{name: "Artifacts.toml", body: exampleArtifactsTOML}, tarEntry{name: "src/X.jl", body: "module X end"})
	h := tarHashes(t, tgz)
	item := Item{Kind: KindPackage, UUID: exampleUUID, TreeHash: h.SkipEmpty, Name: "X"}

	t.Run("deep check agrees", func(t *testing.T) {
		s := newMapStore()
		it := item
		it.ArtifactsTOML = map[string]string{"Artifacts.toml": exampleArtifactsTOML}
		idx, err := PushIndex(ctx, s, []ocispec.Descriptor{addItem(t, s, it, tgz, 1)}, IndexOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(ctx, s, idx, CheckOptions{Deep: true}); err != nil {
			t.Errorf("Check(deep) = %v", err)
		}
	})
	t.Run("deep check disagrees", func(t *testing.T) {
		s := newMapStore()
		it := item
		it.ArtifactsTOML = map[string]string{} // the tarball has one
		idx, err := PushIndex(ctx, s, []ocispec.Descriptor{addItem(t, s, it, tgz, 1)}, IndexOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(ctx, s, idx, CheckOptions{}); err != nil {
			t.Errorf("Check(shallow) = %v", err)
		}
		if _, err := Check(ctx, s, idx, CheckOptions{Deep: true}); !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), AnnotationArtifactsTOML) {
			t.Errorf("Check(deep) = %v, want an integrity error naming %s", err, AnnotationArtifactsTOML)
		}
	})
	for _, tt := range []struct {
		name  string
		kind  Kind
		value string
	}{
		{"unsorted", KindPackage, `{"b/Artifacts.toml":"","a/Artifacts.toml":""}`},
		{"not an object", KindPackage, `["Artifacts.toml"]`},
		{"null", KindPackage, `null`},
		{"other path", KindPackage, `{"Project.toml":""}`},
		{"on an artifact", KindArtifact, `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newMapStore()
			it := item
			if tt.kind == KindArtifact {
				it = Item{Kind: KindArtifact, TreeHash: h.SkipEmpty}
			}
			d := addItem(t, s, it, tgz, 1)
			// Rewrite the manifest with the bad annotation.
			var m ocispec.Manifest
			if err := json.Unmarshal(s.get(d.Digest), &m); err != nil {
				t.Fatal(err)
			}
			m.Annotations[AnnotationArtifactsTOML] = tt.value
			d2 := pushBlob(t, s, ocispec.MediaTypeImageManifest, mustJSON(t, m))
			d2.ArtifactType, d2.Annotations = d.ArtifactType, d.Annotations
			if _, err := ReadItem(ctx, s, d2); !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrFormat) {
				t.Errorf("ReadItem() = %v, want a format or integrity error", err)
			}
			idx := writeIndex(t, s, ArtifactTypeBundle, []ocispec.Descriptor{d2})
			if _, err := Check(ctx, s, idx, CheckOptions{}); !errors.Is(err, ErrIntegrity) {
				t.Errorf("Check() = %v, want ErrIntegrity", err)
			}
		})
	}
}
