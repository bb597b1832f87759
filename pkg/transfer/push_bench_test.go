package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// BenchmarkPush pushes a whole generated world (every package version and
// every artifact of every platform) from a static mirror into a fresh
// layout. Compare with hack/bench-push.sh for cp -r and oras.
func BenchmarkPush(b *testing.B) {
	dir := b.TempDir()
	w, err := fixture.Generate(context.Background(), filepath.Join(dir, "world"), fixture.Config{
		Seed: 5, Packages: 40, VersionsPerPackage: 2, ArtifactPackages: 0.25, ArtifactBytes: 400_000,
		YankedEvery: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	static := filepath.Join(dir, "static")
	if err := w.WriteStaticServer(static); err != nil {
		b.Fatal(err)
	}
	src, err := upstream.NewPkgServer("file://"+static, upstream.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.Bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := filepath.Join(dir, "dst")
		os.RemoveAll(dst)
		st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dst}, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		_, err = Push(context.Background(), src, st, PushRequest{All: true, VersionsPerPackage: 2}, PushOptions{AllPlatforms: true, Tag: "b"})
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}
