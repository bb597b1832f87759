package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// verify --manifest on a bundle that is refused because one package is
// listed by no registry snapshot names that package for what it is, and
// the others as held by the refused bundle, instead of calling every one
// "not in the store".
func Test_runVerify_ManifestNamesWhatIsWrong(t *testing.T) {
	e := trustSetup(t)
	l := copyLayout(t, e.layout)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: l}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := st.Resolve(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(ctx, st, idx)
	if err != nil {
		t.Fatal(err)
	}
	// A package no registry lists: a real tarball under a made-up uuid.
	raw, err := content.FetchAll(ctx, st, idx)
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	items := index.Manifests // annotated, as PushIndex wants them
	var model bundle.Entry
	for _, en := range b.Entries {
		if en.Kind == bundle.KindPackage && model.Name == "" {
			model = en
		}
	}
	ghostUUID := julia.MustParseUUID("0badc0de-0000-4000-8000-000000000001")
	ghost, err := bundle.PushItem(ctx, st, bundle.Item{Kind: bundle.KindPackage, UUID: ghostUUID, TreeHash: model.TreeHash,
		Name: "Ghost", Versions: []string{"1.0.0"}, Registry: "General", Layers: model.Layers, ArtifactsTOML: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := bundle.PushIndex(ctx, st, append(items, ghost), bundle.IndexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, bad, "v2"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code, _, errOut := signWith(t, e.keyA, "-q", l+":v2"); code != 0 {
		t.Fatalf("sign: %s", errOut)
	}
	m := filepath.Join(t.TempDir(), "Manifest.toml")
	body := string(mustReadFile(t, e.manifestPath)) + fmt.Sprintf("\n[[deps.Ghost]]\ngit-tree-sha1 = %q\nuuid = %q\nversion = \"1.0.0\"\n",
		model.TreeHash, ghostUUID)
	if err := os.WriteFile(m, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, _ := runTest(t, "verify", "--key", e.pubA, "--manifest", m, "--platform", "x86_64-linux-gnu", l+":v2")
	if code != ExitVerify {
		t.Fatalf("verify = %d\n%s", code, out)
	}
	var missing []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "  missing ") {
			missing = append(missing, line)
		}
	}
	if len(missing) < 2 {
		t.Fatalf("verify names %d missing items, want the ghost and the refused bundle's packages:\n%s", len(missing), out)
	}
	ghostSeen := false
	for _, line := range missing {
		if strings.Contains(line, "not in the store") {
			t.Errorf("%q: the package is in the store, in a refused bundle", line)
		}
		want := "which is refused: "
		if strings.HasPrefix(line, "  missing package Ghost ") {
			ghostSeen = true
			want = "which is refused: no registry snapshot lists this package at this tree hash"
		}
		if !strings.Contains(line, "in oci-layout:"+l+":v2, "+want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if !ghostSeen {
		t.Errorf("the unlisted package is not named:\n%s", out)
	}
}
