package pkgserver_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
)

// The memory cache holds only tarballs that verified in full: a range read
// or a tampered blob never fills it, and once filled, the verified copy is
// what is served.
func TestServe_MemCache(t *testing.T) {
	w, _ := testWorld(t)
	dir := t.TempDir()
	st := openLayout(t, dir)
	b := pushManifests(t, st, "v1", created, w.Manifests[0])
	hs, _, _ := serve(t, st, serveOpts{set: shelf.SetOptions{MemoryCache: 64 << 20}}, b)
	mem := func() (int, int64) { s := hs.set.Stats(); return s.MemoryItems, s.MemoryBytes }

	var pkgs []bundle.Entry
	for _, e := range b.Entries {
		if e.Kind == bundle.KindPackage && e.Whole.Size > 100 {
			pkgs = append(pkgs, e)
		}
	}
	if len(pkgs) < 2 {
		t.Fatalf("%d packages, want 2", len(pkgs))
	}
	path := func(e bundle.Entry) string { return hs.URL + "/package/" + e.UUID.String() + "/" + e.TreeHash.String() }
	blob := func(e bundle.Entry) string { return filepath.Join(dir, "blobs", "sha256", e.Whole.Digest.Encoded()) }
	tamper := func(e bundle.Entry) {
		data, err := os.ReadFile(blob(e))
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		os.Chmod(blob(e), 0o644)
		if err := os.WriteFile(blob(e), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A cold range read verifies the whole tarball, which fills the
	// cache; the copy is served even after the file changes under it.
	good := pkgs[0]
	n0, size0 := mem() // the registry snapshot, read for its view
	if resp, _ := get(t, path(good), "Range", "bytes=10-"); resp.StatusCode != 206 {
		t.Fatalf("range GET = %d, want 206", resp.StatusCode)
	}
	if n, size := mem(); n != n0+1 || size != size0+good.Whole.Size {
		t.Errorf("memory = %d items, %d bytes; want %d, %d", n, size, n0+1, size0+good.Whole.Size)
	}
	if resp, body := get(t, path(good)); resp.StatusCode != 200 || digest.FromBytes(body) != good.Whole.Digest {
		t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(body))
	}
	tamper(good)
	if resp, body := get(t, path(good)); resp.StatusCode != 200 || digest.FromBytes(body) != good.Whole.Digest {
		t.Errorf("GET from the cache = %d, digest %s; want 200, %s", resp.StatusCode, digest.FromBytes(body), good.Whole.Digest)
	}

	// A tampered blob is never cached (nor served complete).
	bad := pkgs[1]
	tamper(bad)
	if resp, body := get(t, path(bad)); resp.StatusCode == 200 && int64(len(body)) == bad.Whole.Size {
		t.Errorf("GET of a tampered blob: complete 200")
	}
	if n, _ := mem(); n != n0+1 {
		t.Errorf("after a tampered GET: %d items in memory, want %d", n, n0+1)
	}
	if q := hs.set.Withdrawn(); len(q) != 1 || q[0] != bad.Whole.Digest {
		t.Errorf("Quarantined() = %v, want [%s]", q, bad.Whole.Digest)
	}
}
