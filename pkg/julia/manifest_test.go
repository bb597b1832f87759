package julia

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestParseManifest_Real(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file                       string
		format, julia              string
		entries, hashed, fetchable int
	}{
		{"general-ci/Manifest.1.3.toml", "1.0", "", 67, 42, 42},
		{"general-ci/Manifest.1.6.toml", "1.0", "", 77, 40, 40},
		{"general-ci/Manifest.1.7.toml", "2.0", "1.7.3", 80, 39, 39},
		{"general-ci/Manifest.1.10.toml", "2.0", "1.10.2", 82, 40, 40},
		{"general-ci/Manifest.1.12.toml", "2.0", "1.12.0-DEV", 80, 41, 41},
		{"packagecompiler-bin/Manifest.toml", "2.0", "1.9.0", 240, 193, 191},
		{"packagecompiler-mylib-build/Manifest.toml", "2.0", "1.12.4", 36, 3, 3},
		{"packagecompiler-mylib-build/Manifest-v1.10.toml", "1.0", "", 37, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata/manifests", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseManifest(tt.file, data)
			if err != nil {
				t.Fatal(err)
			}
			hashed, fetchable := 0, 0
			for _, e := range m.Entries {
				if !e.TreeHash.IsZero() {
					hashed++
				}
				if e.Fetchable() {
					fetchable++
				}
			}
			if m.Format != tt.format || m.JuliaVersion != tt.julia || len(m.Entries) != tt.entries || hashed != tt.hashed || fetchable != tt.fetchable {
				t.Errorf("format %s julia %q entries %d hashed %d fetchable %d; want %s %q %d %d %d",
					m.Format, m.JuliaVersion, len(m.Entries), hashed, fetchable, tt.format, tt.julia, tt.entries, tt.hashed, tt.fetchable)
			}
		})
	}
}

func manifestEntryNamed(t *testing.T, m *Manifest, name string) ManifestEntry {
	t.Helper()
	for _, e := range m.Entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return ManifestEntry{}
}

func parseManifestFile(t *testing.T, file string) *Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/manifests", file))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseManifest_Details(t *testing.T) {
	t.Parallel()
	m := parseManifestFile(t, "general-ci/Manifest.1.10.toml")
	if m.ProjectHash == "" {
		t.Error("no project_hash")
	}
	c := manifestEntryNamed(t, m, "Compat")
	if c.Version != "4.14.0" || c.WeakDeps["LinearAlgebra"] != MustParseUUID("37e2e46d-f89d-539d-b4ee-838fcccc9c8e") || len(c.WeakDeps) != 2 {
		t.Errorf("Compat = %+v", c)
	}
	if got := c.Extensions["CompatLinearAlgebraExt"]; len(got) != 1 || got[0] != "LinearAlgebra" {
		t.Errorf("Compat extensions = %v", c.Extensions)
	}
	d := manifestEntryNamed(t, m, "Distances")
	if d.WeakDeps["ChainRulesCore"] != MustParseUUID("d360d2e6-b24c-11e9-a2a3-2a2ae2dbcce4") {
		t.Errorf("Distances weakdeps (table form) = %v", d.WeakDeps)
	}
	dl := manifestEntryNamed(t, m, "Downloads")
	if !dl.TreeHash.IsZero() || dl.Fetchable() || dl.Deps["ArgTools"] != MustParseUUID("0dad84c5-d112-42e6-8d28-ef12dabb789f") {
		t.Errorf("Downloads (stdlib) = %+v", dl)
	}

	v1 := parseManifestFile(t, "general-ci/Manifest.1.3.toml")
	a := manifestEntryNamed(t, v1, "Artifacts")
	if a.Version != "1.3.0" || a.TreeHash.String() != "c30985d8821e0cd73870b17b0ed0ce6dc44cb744" || a.Deps["Pkg"] != MustParseUUID("44cfe95a-1eb2-52ea-b672-e2afdf69b78f") {
		t.Errorf("v1 Artifacts = %+v", a)
	}

	pc := parseManifestFile(t, "packagecompiler-bin/Manifest.toml")
	v := manifestEntryNamed(t, pc, "VersionsJSONUtil")
	if v.RepoURL != "https://github.com/JuliaLang/VersionsJSONUtil.jl" || v.Fetchable() || v.TreeHash.IsZero() {
		t.Errorf("VersionsJSONUtil = %+v", v)
	}
	for _, f := range []string{"packagecompiler-mylib-build/Manifest.toml", "packagecompiler-mylib-build/Manifest-v1.10.toml"} {
		m := parseManifestFile(t, f)
		p := manifestEntryNamed(t, m, "PackageCompiler")
		if p.Path != "../../.." || p.Fetchable() {
			t.Errorf("%s: PackageCompiler = %+v", f, p)
		}
	}
}

// TestManifests_TreeHashesInRegistryMini checks every fetchable manifest
// entry whose uuid is in registry-mini against that package's Versions.toml.
// The testdata README's consistency check was against the whole of General;
// registry-mini holds 24 packages, so only part of the 399 is coverable.
func TestManifests_TreeHashesInRegistryMini(t *testing.T) {
	t.Parallel()
	reg := readMini(t)
	pkgs := map[UUID]*Package{}
	files, _ := filepath.Glob("testdata/manifests/*/Manifest*.toml")
	if len(files) != 8 {
		t.Fatalf("%d manifest files, want 8", len(files))
	}
	total, coverable, found := 0, 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManifest(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Entries {
			if !e.Fetchable() {
				continue
			}
			total++
			if _, ok := reg.Packages[e.UUID]; !ok {
				continue
			}
			coverable++
			p := pkgs[e.UUID]
			if p == nil {
				if p, err = reg.LoadPackage(miniFS, e.UUID); err != nil {
					t.Fatal(err)
				}
				pkgs[e.UUID] = p
			}
			vi, ok := p.Versions[e.Version]
			if !ok || vi.TreeHash != e.TreeHash {
				t.Errorf("%s: %s@%s %s not in registry-mini", f, e.Name, e.Version, e.TreeHash)
				continue
			}
			found++
		}
	}
	if total != 399 || coverable != 73 || found != 73 {
		t.Errorf("fetchable %d, coverable %d, found %d; want 399, 73, 73", total, coverable, found)
	}
}

func TestParseManifest_Malformed(t *testing.T) {
	t.Parallel()
	const ex = "[[deps.Example]]\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n"
	tests := []struct {
		name, data, wantKey string
	}{
		{"syntax", "manifest_format = \"2.0\"\n[[deps.X]\n", ""},
		{"bad format", "manifest_format = \"two\"\n", "manifest_format"},
		{"no uuid", "manifest_format = \"2.0\"\n[[deps.Example]]\nversion = \"0.5.3\"\n", "deps.Example.0.uuid"},
		{"bad hash", "manifest_format = \"2.0\"\n" + ex + "git-tree-sha1 = \"zz\"\n", "deps.Example.0.git-tree-sha1"},
		{"zero hash", "manifest_format = \"2.0\"\n" + ex + "git-tree-sha1 = \"0000000000000000000000000000000000000000\"\n", "deps.Example.0.git-tree-sha1"},
		{"bad version", "manifest_format = \"2.0\"\n" + ex + "version = \"x.y\"\n", "deps.Example.0.version"},
		{"pinned type", "manifest_format = \"2.0\"\n" + ex + "pinned = \"yes\"\n", "deps.Example.0.pinned"},
		{"missing dep", "manifest_format = \"2.0\"\n" + ex + "deps = [\"Test\"]\n", "deps.Example.0.deps"},
		{"dep uuid unknown", "manifest_format = \"2.0\"\n" + ex + "deps = { Test = \"8dfed614-e22c-5e08-85e1-65c5234f0b40\" }\n", "deps.Example.0.deps"},
		{"v1 bad entry", "[[Example]]\nuuid = 3\n", "Example.0.uuid"},
		{"entry not array", "manifest_format = \"2.0\"\n[deps.Example]\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n", "deps.Example"},
		{"registries", "manifest_format = \"2.1\"\n[registries.General]\nurl = \"x\"\n", "registries.General.uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseManifest("Manifest.toml", []byte(tt.data))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ParseError", err)
			}
			if pe.File != "Manifest.toml" || pe.Key != tt.wantKey {
				t.Errorf("key = %q, want %q (%v)", pe.Key, tt.wantKey, err)
			}
		})
	}
}

func TestParseManifest_V21(t *testing.T) {
	t.Parallel()
	data := `julia_version = "1.13.0"
manifest_format = "2.1"

[registries.General]
uuid = "23338594-aafe-5451-b93e-139f81909106"
url = "https://github.com/JuliaRegistries/General.git"

[[deps.Example]]
git-tree-sha1 = "46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc"
uuid = "7876af07-990d-54b4-ab0e-23690620f79a"
version = "0.5.3"
registries = "General"
`
	m, err := ParseManifest("Manifest.toml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != "2.1" || m.Registries["General"].UUID != MustParseUUID("23338594-aafe-5451-b93e-139f81909106") {
		t.Errorf("manifest = %+v", m)
	}
	if e := m.Entries[0]; len(e.Registries) != 1 || e.Registries[0] != "General" || !e.Fetchable() {
		t.Errorf("entry = %+v", e)
	}
	empty, err := ParseManifest("Manifest.toml", nil)
	if err != nil || empty.Format != "2.0" || len(empty.Entries) != 0 {
		t.Errorf("empty manifest = %+v, %v", empty, err)
	}
}

func TestFindManifest(t *testing.T) {
	t.Parallel()
	f := &fstest.MapFile{Data: []byte{}}
	tests := []struct {
		name  string
		files []string
		julia string
		want  string
	}{
		{"plain", []string{"Manifest.toml"}, "", "Manifest.toml"},
		{"julia prefix first", []string{"Manifest.toml", "JuliaManifest.toml"}, "1.10.0", "JuliaManifest.toml"},
		{"versioned", []string{"Manifest.toml", "Manifest-v1.10.toml"}, "1.10.8", "Manifest-v1.10.toml"},
		{"versioned too old", []string{"Manifest.toml", "Manifest-v1.10.toml"}, "1.10.7", "Manifest.toml"},
		{"versioned other minor", []string{"Manifest.toml", "Manifest-v1.10.toml"}, "1.12.4", "Manifest.toml"},
		{"julia versioned first", []string{"Manifest-v1.12.toml", "JuliaManifest-v1.12.toml", "JuliaManifest.toml"}, "1.12.4", "JuliaManifest-v1.12.toml"},
		{"versioned only", []string{"Manifest-v1.11.toml"}, "1.11.2", "Manifest-v1.11.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for _, n := range tt.files {
				fsys[n] = f
			}
			got, err := FindManifest(fsys, tt.julia)
			if err != nil || got != tt.want {
				t.Errorf("FindManifest = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := FindManifest(fstest.MapFS{"Project.toml": f}, "1.10.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no manifest: err = %v", err)
	}
	got, err := FindManifest(os.DirFS("testdata/manifests/packagecompiler-mylib-build"), "1.10.9")
	if err != nil || got != "Manifest-v1.10.toml" {
		t.Errorf("mylib-build with 1.10.9 = %q, %v", got, err)
	}
}
