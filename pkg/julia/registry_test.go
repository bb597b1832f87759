package julia

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

var miniFS = os.DirFS("testdata/registry-mini")

func readMini(t *testing.T) *Registry {
	t.Helper()
	reg, err := ReadRegistry(miniFS)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestReadRegistry_Mini(t *testing.T) {
	t.Parallel()
	reg := readMini(t)
	if reg.Name != "GeneralMini" || reg.UUID != MustParseUUID("0dc920e3-1582-5068-8f9a-299f944d40aa") || reg.Repo != "" {
		t.Errorf("header = %q %s %q", reg.Name, reg.UUID, reg.Repo)
	}
	if len(reg.Packages) != 24 {
		t.Fatalf("got %d packages, want 24", len(reg.Packages))
	}
	total := 0
	for u, rp := range reg.Packages {
		p, err := reg.LoadPackage(miniFS, u)
		if err != nil {
			t.Fatalf("%s: %v", rp.Name, err)
		}
		total += len(p.Versions)
		for _, vi := range p.SortedVersions() {
			_ = p.DepsOf(vi.Version)
			_ = p.CompatOf(vi.Version)
			_ = p.WeakDepsOf(vi.Version)
			_ = p.WeakCompatOf(vi.Version)
		}
	}
	if total != 528 {
		t.Errorf("got %d versions, want 528", total)
	}
}

func loadByName(t *testing.T, reg *Registry, name string) *Package {
	t.Helper()
	us := reg.Lookup(name)
	if len(us) != 1 {
		t.Fatalf("%s: %d uuids", name, len(us))
	}
	p, err := reg.LoadPackage(miniFS, us[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadPackage_Facts(t *testing.T) {
	t.Parallel()
	reg := readMini(t)

	ex := loadByName(t, reg, "Example")
	h := ex.Versions["0.0.2"].TreeHash
	if h.IsZero() || ex.Versions["0.1.0"].TreeHash != h || ex.Versions["0.2.0"].TreeHash != h {
		t.Errorf("Example 0.0.2/0.1.0/0.2.0 hashes differ")
	}
	if got, want := h.String(), "3f6336838b0f4b529c6a3ac6f906f0ca7ef7c685"; got != want {
		t.Errorf("Example 0.0.2 hash = %s, want %s", got, want)
	}
	if _, ok := ex.Versions["0.5.2"]; ok {
		t.Error("Example 0.5.2 was never registered")
	}
	if got := ex.Versions["0.5.3"].TreeHash; got != treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc") {
		t.Errorf("Example 0.5.3 = %s", got)
	}

	if !loadByName(t, reg, "SnoopPrecompile").Versions["1.0.2"].Yanked {
		t.Error("SnoopPrecompile 1.0.2 not yanked")
	}
	xz := loadByName(t, reg, "XZ_jll")
	for _, v := range []string{"5.6.0+0", "5.6.1+0"} {
		if !xz.Versions[v].Yanked {
			t.Errorf("XZ_jll %s not yanked", v)
		}
	}
	if xz.Versions["5.4.6+0"].Yanked {
		t.Error("XZ_jll 5.4.6+0 yanked")
	}
	if vi, ok := xz.Lookup(MustParseVersion("5.6.1+0")); !ok || !vi.Yanked {
		t.Error("Lookup(5.6.1+0)")
	}
	scc := loadByName(t, reg, "SnoopCompileCore")
	if scc.Subdir != "SnoopCompileCore" || scc.Repo != "https://github.com/timholy/SnoopCompile.jl.git" {
		t.Errorf("SnoopCompileCore subdir=%q repo=%q", scc.Subdir, scc.Repo)
	}
	if ex.Subdir != "" {
		t.Errorf("Example subdir = %q", ex.Subdir)
	}

	js := loadByName(t, reg, "JSON")
	deps := js.DepsOf(MustParseVersion("0.21.4"))
	if len(deps) != 4 || deps["Parsers"] != MustParseUUID("69de0a69-1ddd-5017-9359-2bf0b02dc9f0") {
		t.Errorf("JSON 0.21.4 deps = %v", deps)
	}
	if _, ok := js.DepsOf(MustParseVersion("0.20.0"))["Test"]; !ok {
		t.Error("JSON 0.20.0 should depend on Test")
	}
	c := js.CompatOf(MustParseVersion("0.21.1"))
	if got := c["Parsers"].String(); got != "[0.1-0.3, 1]" {
		t.Errorf("JSON 0.21.1 compat Parsers = %s", got)
	}
	if got := c["julia"].String(); got != "[0.7, 1]" {
		t.Errorf("JSON 0.21.1 compat julia = %s", got)
	}
	if !c["Parsers"].Contains(MustParseVersion("1.1.2")) || c["Parsers"].Contains(MustParseVersion("2.0.0")) || !c["Parsers"].Contains(MustParseVersion("0.3.9")) {
		t.Error("JSON 0.21.1 Parsers compat containment")
	}

	// Weak deps on stdlibs (Compat) and on a registered package (CompositionsBase).
	cp := loadByName(t, reg, "Compat")
	if w := cp.WeakDepsOf(MustParseVersion("4.14.0")); len(w) != 2 || w["LinearAlgebra"] != MustParseUUID("37e2e46d-f89d-539d-b4ee-838fcccc9c8e") {
		t.Errorf("Compat 4.14.0 weakdeps = %v", w)
	}
	if !cp.Versions["4.0.0"].Yanked {
		t.Error("Compat 4.0.0 not yanked")
	}
	cb := loadByName(t, reg, "CompositionsBase")
	last := cb.SortedVersions()[len(cb.SortedVersions())-1].Version
	if w := cb.WeakDepsOf(last); w["InverseFunctions"] != MustParseUUID("3587e190-3f89-42d0-90ee-14403ec27112") {
		t.Errorf("CompositionsBase %s weakdeps = %v", last, w)
	}
	if wc := cb.WeakCompatOf(last)["InverseFunctions"]; wc.String() != "0.1" {
		t.Errorf("CompositionsBase weakcompat = %s", wc)
	}
	ts := loadByName(t, reg, "TranscodingStreams")
	if wc := ts.WeakCompatOf(MustParseVersion("0.10.7")); wc["Random"].String() != "1" || wc["Test"].String() != "1" {
		t.Errorf("TranscodingStreams weakcompat = %v", wc)
	}
}

func TestReadRegistry_Malformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, wantKey string
	}{
		{"syntax", "name = ", ""},
		{"no name", `uuid = "0dc920e3-1582-5068-8f9a-299f944d40aa"` + "\n[packages]\n", "name"},
		{"bad uuid", "name = \"X\"\nuuid = \"nope\"\n[packages]\n", "uuid"},
		{"no packages", "name = \"X\"\nuuid = \"0dc920e3-1582-5068-8f9a-299f944d40aa\"\n", "packages"},
		{"bad path", "name = \"X\"\nuuid = \"0dc920e3-1582-5068-8f9a-299f944d40aa\"\n[packages]\n7876af07-990d-54b4-ab0e-23690620f79a = { name = \"Example\", path = \"../E\" }\n", "packages.7876af07-990d-54b4-ab0e-23690620f79a.path"},
		{"path type", "name = \"X\"\nuuid = \"0dc920e3-1582-5068-8f9a-299f944d40aa\"\n[packages]\n7876af07-990d-54b4-ab0e-23690620f79a = { name = \"Example\", path = 3 }\n", "packages.7876af07-990d-54b4-ab0e-23690620f79a.path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRegistry([]byte(tt.data))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ParseError", err)
			}
			if pe.File != "Registry.toml" || pe.Key != tt.wantKey {
				t.Errorf("file, key = %q, %q; want Registry.toml, %q (%v)", pe.File, pe.Key, tt.wantKey, err)
			}
		})
	}
}

func TestReadPackage_Malformed(t *testing.T) {
	t.Parallel()
	pkg := "name = \"Example\"\nuuid = \"7876af07-990d-54b4-ab0e-23690620f79a\"\n"
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantKey  string
		wantMsg  string
	}{
		{"bad hash", map[string]string{"Versions.toml": "[\"0.5.3\"]\ngit-tree-sha1 = \"xyz\"\n"}, "E/Versions.toml", `"0.5.3".git-tree-sha1`, `E/Versions.toml: key "0.5.3".git-tree-sha1: `},
		{"bad version", map[string]string{"Versions.toml": "[\"zero\"]\ngit-tree-sha1 = \"46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc\"\n"}, "E/Versions.toml", "zero", ""},
		{"yanked type", map[string]string{"Versions.toml": "[\"0.5.3\"]\ngit-tree-sha1 = \"46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc\"\nyanked = \"yes\"\n"}, "E/Versions.toml", `"0.5.3".yanked`, ""},
		{"bad range", map[string]string{"Deps.toml": "[\"0.1-0.2-0.3\"]\nTest = \"8dfed614-e22c-5e08-85e1-65c5234f0b40\"\n"}, "E/Deps.toml", `"0.1-0.2-0.3"`, ""},
		{"bad dep uuid", map[string]string{"Deps.toml": "[0]\nTest = \"x\"\n"}, "E/Deps.toml", "0.Test", ""},
		{"bad compat", map[string]string{"Compat.toml": "[0]\njulia = \"^1\"\n"}, "E/Compat.toml", "0.julia", ""},
		{"compat type", map[string]string{"Compat.toml": "[0]\njulia = 1\n"}, "E/Compat.toml", "0.julia", ""},
		{"no uuid", map[string]string{"Package.toml": "name = \"Example\"\n"}, "E/Package.toml", "uuid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{
				"E/Package.toml":  {Data: []byte(pkg)},
				"E/Versions.toml": {Data: []byte("[\"0.5.3\"]\ngit-tree-sha1 = \"46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc\"\n")},
			}
			for n, d := range tt.files {
				fsys["E/"+n] = &fstest.MapFile{Data: []byte(d)}
			}
			_, err := ReadPackage(fsys, "E")
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ParseError", err)
			}
			if pe.File != tt.wantFile || pe.Key != tt.wantKey {
				t.Errorf("file, key = %q, %q; want %q, %q (%v)", pe.File, pe.Key, tt.wantFile, tt.wantKey, err)
			}
			if tt.wantMsg != "" && err.Error()[:len(tt.wantMsg)] != tt.wantMsg {
				t.Errorf("message = %q, want prefix %q", err, tt.wantMsg)
			}
		})
	}
	// Missing Versions.toml is an I/O error, not ErrMalformed.
	_, err := ReadPackage(fstest.MapFS{"E/Package.toml": {Data: []byte(pkg)}}, "E")
	if err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("missing Versions.toml: err = %v", err)
	}
}

// General's Registry.toml (the real slice in testdata) is read by the fast
// path, with the decoder's result.
func TestParseRegistry_FastPathOnGeneral(t *testing.T) {
	data, err := os.ReadFile("testdata/registry-mini/Registry.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, pkgs, dup, ok := fastPackages(data); !ok || dup != "" || len(pkgs) == 0 {
		t.Fatalf("fastPackages(General) = %d packages, dup %q, ok %v; want the fast path", len(pkgs), dup, ok)
	}
	fast, err1 := parseRegistry(data, true)
	slow, err2 := parseRegistry(data, false)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(fast, slow) {
		t.Errorf("fast %v %v, decoder %v %v", fast, err1, slow, err2)
	}
}

// LoadVersions reads what LoadPackage reads but the dependency files.
func TestRegistry_LoadVersions(t *testing.T) {
	fsys := os.DirFS("testdata/registry-mini")
	reg, err := ReadRegistry(fsys)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for u := range reg.Packages {
		full, err1 := reg.LoadPackage(fsys, u)
		vers, err2 := reg.LoadVersions(fsys, u)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", u, err1, err2)
		}
		if !reflect.DeepEqual(full.Versions, vers.Versions) || full.Name != vers.Name || full.Repo != vers.Repo || vers.Deps != nil || vers.Compat != nil {
			t.Errorf("%s: LoadVersions = %+v, LoadPackage %+v", u, vers, full)
		}
		if len(full.Deps) > 0 {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no package with dependencies in the fixture")
	}
}
