package transfer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

func TestPush_FromDepot(t *testing.T) {
	w := testWorld(t)
	depot := t.TempDir()
	if err := w.WriteDepot(depot); err != nil {
		t.Fatal(err)
	}
	src, err := upstream.OpenSource(depot, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*upstream.Depot); !ok {
		t.Fatalf("upstream.OpenSource(%s) = %T, want *upstream.Depot", depot, src)
	}
	dst := openLayout(t, t.TempDir())
	ms := manifestsOf(t, w)
	res, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "depot"})
	if err != nil {
		t.Fatalf("Push from depot: %v", err)
	}
	wantPkgs, wantArts := wantContent(t, w, ms)
	if res.Items[bundle.KindPackage] != len(wantPkgs) || res.Items[bundle.KindArtifact] != len(wantArts) || res.Items[bundle.KindRegistry] != 1 {
		t.Fatalf("Items = %v, want %d packages, %d artifacts, 1 registry", res.Items, len(wantPkgs), len(wantArts))
	}
	rep, err := bundle.Check(context.Background(), dst, res.Index, bundle.CheckOptions{Deep: true})
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("Check: %v %v", err, rep.Problems)
	}
}

func TestDepot_TamperedTreeIsRejected(t *testing.T) {
	w := testWorld(t)
	depot := t.TempDir()
	if err := w.WriteDepot(depot); err != nil {
		t.Fatal(err)
	}
	// Change one byte of one installed package: its tree no longer has the
	// hash its directory name promises.
	var victim string
	ms := manifestsOf(t, w)
	for _, e := range ms[0].Manifest.Entries {
		if !e.Fetchable() || victim != "" {
			continue
		}
		dir := filepath.Join(depot, "packages", e.Name, julia.Slug(e.UUID, e.TreeHash))
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".jl" && victim == "" {
				victim = p
			}
			return nil
		})
	}
	if victim == "" {
		t.Fatal("no package source file in the depot")
	}
	os.Chmod(filepath.Dir(victim), 0o755)
	os.Chmod(victim, 0o644)
	if err := os.WriteFile(victim, []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := upstream.NewDepot(depot)
	layout := t.TempDir()
	dst := openLayout(t, layout)
	_, err := Push(context.Background(), src, dst, PushRequest{Manifests: ms}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "x"})
	if !errors.Is(err, treehash.ErrMismatch) {
		t.Fatalf("Push error = %v, want a tree hash mismatch", err)
	}
	if _, err := dst.Resolve(context.Background(), "x"); err == nil {
		t.Error("the failed push tagged a bundle")
	}
}

func TestRegistryDir_RegistryMini(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "registry-mini")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared testdata not present: %v", err)
	}
	src, err := upstream.OpenSource(dir, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := src.(upstream.RegistryLister).Registries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "0dc920e3-1582-5068-8f9a-299f944d40aa 44b305d95fdb7501ac6b9923fee0b5e48ae90e11"
	if len(refs) != 1 || refs[0].UUID.String()+" "+refs[0].Hash.String() != want {
		t.Fatalf("Registries = %v, want %s", refs, want)
	}
	dst := openLayout(t, t.TempDir())
	res, err := Push(context.Background(), src, dst, PushRequest{}, PushOptions{Tag: "mini"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(context.Background(), dst, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Entries) != 1 || b.Entries[0].Registry != "GeneralMini" || b.Entries[0].TreeHash.String() != "44b305d95fdb7501ac6b9923fee0b5e48ae90e11" {
		t.Fatalf("entries = %v, want the GeneralMini snapshot", b.Entries)
	}
	// Resolving --package JSON works against the real registry, and with no
	// package tarballs anywhere every package is reported missing.
	_, err = Push(context.Background(), src, dst, PushRequest{Packages: []julia.Requirement{{Name: "JSON"}}}, PushOptions{Tag: "json"})
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("Push --package JSON = %v, want MissingError", err)
	}
	names := map[string]bool{}
	for _, m := range me.Missing {
		names[m.Name] = true
	}
	for _, n := range []string{"JSON", "Parsers", "PrecompileTools", "Preferences"} {
		if !names[n] {
			t.Errorf("missing list %v lacks %s", names, n)
		}
	}
}
