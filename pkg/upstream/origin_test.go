package upstream

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

func TestOrigin(t *testing.T) {
	pkg := Resource{Kind: KindPackage, UUID: exampleUUID, Hash: exampleHash}
	art := Resource{Kind: KindArtifact, Hash: exampleHash}
	srv, err := NewPkgServer("https://robot:s3cret@pkg.example.org/", ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := NewPkgServer("file:///srv/mirror", ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A depot with a packed registry, a package and an artifact, under a
	// name that needs escaping in a URL.
	depot := filepath.Join(t.TempDir(), "my depot")
	regUUID := julia.MustParseUUID("23338594-aafe-5451-b93e-139f81909106")
	regHash := treehash.MustParse("5ddac1103f9fdad5b784b32ad1739c01bd58d02f")
	for _, d := range []string{"registries", filepath.Join("packages", "Example", julia.Slug(exampleUUID, exampleHash)),
		filepath.Join("artifacts", exampleHash.String())} {
		if err := os.MkdirAll(filepath.Join(depot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sidecar := "git-tree-sha1 = \"" + regHash.String() + "\"\npath = \"General.tar.gz\"\nuuid = \"" + regUUID.String() + "\"\n"
	if err := os.WriteFile(filepath.Join(depot, "registries", "General.toml"), []byte(sidecar), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(depot, "registries", "General.tar.gz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dep, err := NewDepot(depot)
	if err != nil {
		t.Fatal(err)
	}
	mini, err := filepath.Abs("../../../shared/testdata/registry-mini")
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewRegistryDir(mini)
	if err != nil {
		t.Fatal(err)
	}
	esc := "file://" + filepath.ToSlash(filepath.Dir(depot)) + "/my%20depot"
	dl := Downloads{}.Source(exampleHash, julia.Download{URL: "https://github.com/x/y/releases/download/v1/y.tar.gz", SHA256: "00"})
	for _, tt := range []struct {
		name string
		src  Source
		r    Resource
		want Origin
	}{
		{"server, credentials removed", srv, pkg, Origin{URL: "https://pkg.example.org/package/" + exampleUUID.String() + "/" + exampleHash.String()}},
		{"static mirror", mirror, art, Origin{URL: "file:///srv/mirror/artifact/" + exampleHash.String()}},
		{"download URL", dl, art, Origin{URL: "https://github.com/x/y/releases/download/v1/y.tar.gz"}},
		{"depot package", dep, pkg, Origin{URL: esc + "/packages/Example/" + julia.Slug(exampleUUID, exampleHash), Packed: true}},
		{"depot artifact", dep, art, Origin{URL: esc + "/artifacts/" + exampleHash.String(), Packed: true}},
		{"depot registry tarball", dep, Resource{Kind: KindRegistry, UUID: regUUID, Hash: regHash}, Origin{URL: esc + "/registries/General.tar.gz"}},
		{"registry checkout", rd, Resource{Kind: KindRegistry}, Origin{URL: "file://" + filepath.ToSlash(mini), Packed: true}},
		{"depot lacks it: its name", dep, Resource{Kind: KindArtifact, Hash: regHash}, Origin{URL: "depot " + depot}},
	} {
		if got := OriginOf(tt.src, tt.r); got != tt.want {
			t.Errorf("%s: OriginOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := RedactURL("https://u:p@h.example/x?q=1"); got != "https://h.example/x?q=1" {
		t.Errorf("RedactURL = %s", got)
	}
	if got := RedactURL("depot /home/me/.julia"); got != "depot /home/me/.julia" {
		t.Errorf("RedactURL of a name = %s", got)
	}
	for in, want := range map[string]string{
		`Get "https://robot:***@h.example/package/x": 503 Service Unavailable`: `Get "https://h.example/package/x": 503 Service Unavailable`,
		`from http://u:p@a.example and https://v@b.example:8443/y`:             `from http://a.example and https://b.example:8443/y`,
		`https://h.example/a@b and user@host, no URL`:                          `https://h.example/a@b and user@host, no URL`,
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
