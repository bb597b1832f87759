package bundle_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Push one package tarball as an item, wrap it in a bundle, and serve it
// back by (uuid, tree hash) the way a Pkg server does.
func Example() {
	ctx := context.Background()
	store := memory.New()
	tgz := []byte("\x1f\x8b…a gzip tarball as Pkg downloads it…")

	layer := content.NewDescriptorFromBytes(bundle.MediaTypeTarGzip, tgz)
	if err := store.Push(ctx, layer, bytes.NewReader(tgz)); err != nil {
		panic(err)
	}
	uuid := julia.MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
	hash := treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc")
	item, err := bundle.PushItem(ctx, store, bundle.Item{
		Kind: bundle.KindPackage, UUID: uuid, TreeHash: hash,
		Name: "Example", Versions: []string{"0.5.3"},
		Layers: []ocispec.Descriptor{layer},
	})
	if err != nil {
		panic(err)
	}
	index, err := bundle.PushIndex(ctx, store, []ocispec.Descriptor{item}, bundle.IndexOptions{
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ToolVersion: "example",
	})
	if err != nil {
		panic(err)
	}

	b, err := bundle.Read(ctx, store, index)
	if err != nil {
		panic(err)
	}
	catalog := bundle.NewCatalog(b)
	e, ok := catalog.Package(uuid, hash)
	fmt.Println(ok, e.Name, e.Versions, e.Whole.Size == int64(len(tgz)))
	rc, err := bundle.Open(ctx, store, e)
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	fmt.Println(bytes.Equal(got, tgz), err)
	// Output:
	// true Example [0.5.3] true
	// true <nil>
}
