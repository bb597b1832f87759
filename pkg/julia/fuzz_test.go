package julia

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
)

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

// checkErr fails on an error that is not ErrMalformed: every parser here
// works on bytes only, so every error is a content problem.
func checkErr(t *testing.T, err error) {
	if err != nil && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error does not wrap ErrMalformed: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	addFiles(f, "testdata/manifests/*/Manifest*.toml")
	f.Add([]byte("manifest_format = \"2.1\"\n[registries.G]\nuuid = \"23338594-aafe-5451-b93e-139f81909106\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("Manifest.toml", data)
		checkErr(t, err)
		if err == nil {
			for _, e := range m.Entries {
				_ = e.Fetchable()
			}
		}
	})
}

func FuzzParseArtifacts(f *testing.F) {
	addFiles(f, "testdata/artifacts-toml/*.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		arts, err := ParseArtifacts("Artifacts.toml", data)
		checkErr(t, err)
		host := MustParsePlatform("x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.10.4")
		_ = SelectArtifacts(arts, []Platform{host}, true)
		for _, a := range arts {
			_, _ = SelectBest(arts, a.Name, host)
			if a.Platform != nil {
				_, _ = ParsePlatform(a.Platform.Triplet())
			}
		}
	})
}

func FuzzReadRegistry(f *testing.F) {
	addFiles(f, "testdata/registry-mini/Registry.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseRegistry(data)
		checkErr(t, err)
	})
}

func FuzzReadPackageFiles(f *testing.F) {
	addFiles(f, "testdata/registry-mini/J/JSON/*.toml")
	addFiles(f, "testdata/registry-mini/C/Compat/*.toml")
	pkg := []byte("name = \"Example\"\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n")
	vers := []byte("[\"0.5.3\"]\ngit-tree-sha1 = \"46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc\"\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"Package.toml", "Versions.toml", "Deps.toml", "Compat.toml", "WeakDeps.toml", "WeakCompat.toml"} {
			fsys := fstest.MapFS{"E/Package.toml": {Data: pkg}, "E/Versions.toml": {Data: vers}}
			fsys["E/"+name] = &fstest.MapFile{Data: data}
			p, err := ReadPackage(fsys, "E")
			checkErr(t, err)
			if err == nil {
				for _, vi := range p.Versions {
					_ = p.DepsOf(vi.Version)
					_ = p.CompatOf(vi.Version)
					_ = p.WeakCompatOf(vi.Version)
				}
			}
		}
	})
}

func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.10.4", "aarch64-apple-darwin20",
		"x86_64-w64-mingw32", "armv7l-linux-musleabihf", "i686-linux-gnu-gcc7", "x86_64-unknown-freebsd13.2-cuda+12.2", "x86_64-linux-gnu-libstdcxx30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		checkErr(t, err)
		if err != nil {
			return
		}
		// The canonical triplet is a fixed point.
		q, err := ParsePlatform(p.Triplet())
		if err != nil {
			t.Fatalf("re-parse %q (from %q): %v", p.Triplet(), s, err)
		}
		if q.Triplet() != p.Triplet() {
			t.Fatalf("triplet %q -> %q", p.Triplet(), q.Triplet())
		}
		_ = PlatformsMatch(p, HostPlatform(q))
	})
}

func FuzzParseVersionSpec(f *testing.F) {
	for _, s := range []string{"1.2.3", "^0.2", "~1.2.3", ">= 1.6", "≥ 0.7", "< 2", "= 1.0.0", "2.2.0 - 2", "0.7, 1", "0.6-1.4", "1.6.0-1", "*", "0-0.20.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		checkErr(t, err)
		rs, err2 := ParseRegistrySpec(s)
		checkErr(t, err2)
		v, err3 := ParseVersion(s)
		checkErr(t, err3)
		if err == nil {
			_ = sp.Contains(v)
			_ = sp.String()
			_ = sp.Intersect(rs)
		}
		if err2 == nil {
			_ = rs.Contains(v)
			_ = rs.String()
		}
		if err3 == nil {
			w, err := ParseVersion(v.String())
			if err != nil || w.Compare(v) != 0 {
				t.Fatalf("version %q -> %q does not round-trip: %v", s, v, err)
			}
		}
	})
}

// FuzzParseRegistryFast: where the fast [packages] reader takes a file,
// it gives exactly what the TOML decoder gives (or both fail).
func FuzzParseRegistryFast(f *testing.F) {
	addFiles(f, "testdata/registry-mini/Registry.toml")
	f.Add([]byte("name = \"R\"\nuuid = \"23338594-aafe-5451-b93e-139f81909106\"\n\n[packages]\n" +
		"00701ae9-d1dc-5365-b64a-a3a3ebf5695e = { name = \"BinaryProvider\", path = \"B/BinaryProvider\" }\n" +
		"\"0087ddc6-3964-5e57-817f-9937aefb0357\" = { name = \"MLJScikitLearnInterface\", path = \"M/MLJ\" }\n"))
	f.Add([]byte("name = \"R\"\nuuid = \"23338594-aafe-5451-b93e-139f81909106\"\n[packages]\n" +
		"00701ae9-d1dc-5365-b64a-a3a3ebf5695e = { name = \"A\", path = \"A/A\" }\n" +
		"00701AE9-d1dc-5365-b64a-a3a3ebf5695e = { name = \"B\", path = \"B/B\" }\n"))
	f.Add([]byte("[packages]\n00701ae9-d1dc-5365-b64a-a3a3ebf5695e = { name = \"A\", path = \"A/A\" }\n[extra]\nx = 1\nname = \"R\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ferr := parseRegistry(data, true)
		slow, serr := parseRegistry(data, false)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("fast %v, decoder %v", ferr, serr)
		}
		if ferr == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\ndecoder %+v", fast, slow)
		}
	})
}
