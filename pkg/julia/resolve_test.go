package julia

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func resolveNames(t *testing.T, roots []string, opts ResolveOptions) (*Resolution, string, error) {
	t.Helper()
	reg := readMini(t)
	var rs []Requirement
	for _, r := range roots {
		q, err := ParseRequirement(r)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, q)
	}
	res, err := Resolve(reg, miniFS, rs, opts)
	if err != nil {
		return nil, "", err
	}
	var parts []string
	for _, p := range res.Packages {
		parts = append(parts, p.Name+"@"+p.Version.String())
		// Every result carries the registry's tree hash and is not yanked.
		pkg, err := reg.LoadPackage(miniFS, p.UUID)
		if err != nil {
			t.Fatal(err)
		}
		vi, ok := pkg.Lookup(p.Version)
		if !ok || vi.TreeHash != p.TreeHash || vi.Yanked {
			t.Errorf("%s@%s: registry entry %+v, got hash %s", p.Name, p.Version, vi, p.TreeHash)
		}
	}
	return res, strings.Join(parts, " "), nil
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		roots []string
		opts  ResolveOptions
		want  string
	}{
		{"JSON", []string{"JSON"}, ResolveOptions{},
			"JSON@0.21.4 Parsers@2.8.1 PrecompileTools@1.2.1 Preferences@1.4.3"},
		{"PackageCompiler", []string{"PackageCompiler"}, ResolveOptions{JuliaVersion: "1.10.4"},
			"Glob@1.3.1 JLLWrappers@1.5.0 PackageCompiler@2.1.17 Preferences@1.4.3 RelocatableFolders@1.0.1 Scratch@1.2.1 p7zip_jll@17.5.0+0"},
		{"yanked XZ skipped", []string{"XZ_jll"}, ResolveOptions{},
			"JLLWrappers@1.5.0 Preferences@1.4.3 XZ_jll@5.4.6+0"},
		{"old Parsers need missing WeakRefStrings", []string{"Parsers@0.2"}, ResolveOptions{},
			"Parsers@0.2.7"},
		{"weak deps excluded", []string{"CompositionsBase"}, ResolveOptions{},
			"CompositionsBase@0.1.2"},
		{"weak deps included", []string{"CompositionsBase"}, ResolveOptions{IncludeWeak: true},
			"CompositionsBase@0.1.2 InverseFunctions@0.1.13"},
		{"newest 3", []string{"JSON"}, ResolveOptions{VersionsPerPackage: 3},
			"JSON@0.21.2 JSON@0.21.3 JSON@0.21.4 Parsers@2.8.1 PrecompileTools@1.2.1 Preferences@1.4.3"},
		{"two roots", []string{"Example@0.5", "Mocking"}, ResolveOptions{},
			"Compat@4.14.0 Example@0.5.3 ExprTools@0.1.10 Mocking@0.7.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got, err := resolveNames(t, tt.roots, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%v) =\n  %s\nwant\n  %s", tt.roots, got, tt.want)
			}
		})
	}
}

func TestResolve_JuliaCompat(t *testing.T) {
	t.Parallel()
	res, got, err := resolveNames(t, []string{"JSON"}, ResolveOptions{JuliaVersion: "1.3.1"})
	if err != nil {
		t.Fatal(err)
	}
	// Parsers ≥ 2.5 and PrecompileTools need julia ≥ 1.6.
	if got != "JSON@0.21.4 Parsers@2.4.2" {
		t.Errorf("JSON on julia 1.3.1 = %s", got)
	}
	reg := readMini(t)
	for _, p := range res.Packages {
		pkg, _ := reg.LoadPackage(miniFS, p.UUID)
		if jc, ok := pkg.CompatOf(p.Version)["julia"]; ok && !jc.Contains(MustParseVersion("1.3.1")) {
			t.Errorf("%s@%s needs julia %s", p.Name, p.Version, jc)
		}
	}
}

func TestResolve_AllPackagesNeverYanked(t *testing.T) {
	t.Parallel()
	reg := readMini(t)
	for _, rp := range reg.Packages {
		// resolveNames fails the test on any yanked or wrongly hashed result.
		if _, _, err := resolveNames(t, []string{rp.Name}, ResolveOptions{VersionsPerPackage: 2, IncludeWeak: true}); err != nil {
			t.Errorf("%s: %v", rp.Name, err)
		}
	}
}

func TestResolve_Errors(t *testing.T) {
	t.Parallel()
	if _, _, err := resolveNames(t, []string{"NoSuchPackage"}, ResolveOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown package: %v", err)
	}
	if _, _, err := resolveNames(t, []string{"Parsers@=0.2.8"}, ResolveOptions{}); !errors.Is(err, ErrUnsatisfiable) {
		t.Errorf("Parsers 0.2.8 (needs WeakRefStrings): %v", err)
	}
	if _, _, err := resolveNames(t, []string{"SnoopPrecompile@=1.0.2"}, ResolveOptions{}); !errors.Is(err, ErrUnsatisfiable) {
		t.Errorf("yanked SnoopPrecompile 1.0.2: %v", err)
	}
	if _, _, err := resolveNames(t, []string{"JSON"}, ResolveOptions{JuliaVersion: "0.6.0"}); !errors.Is(err, ErrUnsatisfiable) {
		t.Errorf("julia 0.6: %v", err)
	}
	if _, err := ParseRequirement("JSON@>>1"); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad requirement: %v", err)
	}
}
