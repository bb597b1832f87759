package bundle

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
)

func TestPushAdvisories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := map[string][]byte{"B-2.json": []byte(`{"id":"B-2"}`), "A-1.json": []byte(`{"id":"A-1"}`)}
	st := memory.New()
	d1, err := PushAdvisories(ctx, st, files)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := PushAdvisories(ctx, memory.New(), map[string][]byte{"A-1.json": files["A-1.json"], "B-2.json": files["B-2.json"]})
	if err != nil || d2.Digest != d1.Digest {
		t.Fatalf("the same advisories gave %s and %s (%v)", d1.Digest, d2.Digest, err)
	}
	it, err := ParseIdentity(d1.Annotations)
	if err != nil || it.Kind != KindAdvisories || d1.ArtifactType != ArtifactTypeAdvisories {
		t.Fatalf("descriptor %+v: %v", d1, err)
	}
	// The git tree of {A-1.json, B-2.json} as `git write-tree` computes it.
	if got := it.TreeHash.String(); got != "691de4e95261604c06a85decfc2508bbb9a0108d" {
		t.Errorf("tree hash %s", got)
	}
	idx, err := PushIndex(ctx, st, []ocispec.Descriptor{d1}, IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(ctx, st, idx)
	if err != nil || len(b.Entries) != 1 || b.Entries[0].Kind != KindAdvisories {
		t.Fatalf("Read = %+v, %v", b, err)
	}
	if rep, err := Check(ctx, st, idx, CheckOptions{Deep: true}); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Check deep = %+v, %v", rep, err)
	}
	fsys, err := ReadAdvisories(ctx, st, b.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(fsys, "B-2.json")
	if err != nil || string(got) != `{"id":"B-2"}` {
		t.Errorf("B-2.json = %q, %v", got, err)
	}
	if _, err := PushAdvisories(ctx, st, map[string][]byte{"../x.json": nil}); !errors.Is(err, ErrFormat) {
		t.Errorf("a path in a name: %v", err)
	}
}
