// Package depcheck holds the test that enforces the dependency direction the
// README's "Layout" section states: cmd → internal/cli → pkg/* → leaves
// (pkg/treehash, pkg/julia, pkg/cvss, pkg/advisory, internal/tarx,
// internal/ocigraph, internal/httpx); pkg/shelf, the trust boundary, sits
// below transfer and pkgserver, and pkgserver reads only through it (no
// store, no trust); the test kit (internal/testkit/...) is reachable from
// tests only; treehash and julia know nothing of OCI;
// trust knows nothing of Julia; cobra, sigstore and go-toml stay in their
// owners.
package depcheck

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/shoebox-jl/shoebox"

type pkgInfo struct {
	path     string
	standard bool
	deps     []string // transitive, non-test
	imports  []string // direct, non-test
}

func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Standard}}|{{join .Deps " "}}|{{join .Imports " "}}`, module+"/...")
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]pkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 4)
		if len(parts) != 4 {
			continue
		}
		pkgs[parts[0]] = pkgInfo{path: parts[0], standard: parts[1] == "true",
			deps: strings.Fields(parts[2]), imports: strings.Fields(parts[3])}
	}
	return pkgs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// isStd reports whether an import path belongs to the standard library
// (no dot in its first element).
func isStd(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// rule says which importers may (transitively) depend on a prefix.
type rule struct {
	dep     string   // import path prefix being restricted
	allowed []string // import path prefixes of packages allowed to depend on it
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	own := func(p string) bool { return strings.HasPrefix(p, module+"/") }
	rules := []rule{
		{"github.com/spf13/cobra", []string{module + "/internal/cli", module + "/cmd/"}},
		// README: pkg/trust is the only sigstore importer, but for cmd/shoebox
		// wiring in sigstore's KMS providers.
		{"github.com/sigstore/", []string{module + "/pkg/trust", module + "/cmd/shoebox"}},
		{"oras.land/oras-go/v2/content/oci", []string{module + "/pkg/store", module + "/internal/cli", module + "/cmd/"}},
		{"oras.land/oras-go/v2/registry/remote", []string{module + "/pkg/store", module + "/internal/cli", module + "/cmd/"}},
		{module + "/internal/cli", []string{module + "/cmd/", module + "/internal/cli"}},
		// the HTTP engine of serve: pkgserver's front end and the command
		{"github.com/valyala/fasthttp", []string{module + "/pkg/pkgserver", module + "/internal/cli", module + "/cmd/"}},
	}
	for _, p := range pkgs {
		if !own(p.path) {
			continue
		}
		for _, r := range rules {
			if strings.HasPrefix(p.path, r.dep) || !hasImport(p.imports, r.dep) {
				continue
			}
			ok := false
			for _, a := range r.allowed {
				if strings.HasPrefix(p.path, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s; only %v may", p.path, r.dep, r.allowed)
			}
		}
	}
	// go-toml is owned by pkg/julia (Julia TOML) and pkg/trust (the policy file).
	for _, p := range pkgs {
		if own(p.path) && hasImport(p.imports, "github.com/pelletier/go-toml") &&
			p.path != module+"/pkg/julia" && p.path != module+"/pkg/trust" {
			t.Errorf("%s imports go-toml; only pkg/julia and pkg/trust may", p.path)
		}
	}

	leafOnly := map[string][]string{
		// pkg/treehash: the standard library only.
		module + "/pkg/treehash": nil,
		// pkg/julia: treehash and go-toml; no OCI.
		module + "/pkg/julia": {module + "/pkg/treehash", "github.com/pelletier/go-toml/v2"},
		// pkg/cvss: the standard library only.
		module + "/pkg/cvss": nil,
		// pkg/advisory: OSV and matching over Julia versions; no OCI.
		module + "/pkg/advisory": {module + "/pkg/julia", module + "/pkg/cvss", module + "/pkg/treehash", "github.com/pelletier/go-toml/v2"},
		// internal/tarx: treehash (for Tar.jl's rules) and compression.
		module + "/internal/tarx": {module + "/pkg/treehash", "github.com/klauspost/compress"},
		// internal/httpx: the network policy, on the standard library.
		module + "/internal/httpx": nil,
	}
	for path, allowed := range leafOnly {
		p, ok := pkgs[path]
		if !ok {
			continue
		}
		for _, d := range p.deps {
			if isStd(d) || strings.HasPrefix(d, "vendor/") || strings.HasPrefix(d, "internal/") {
				continue
			}
			fine := false
			for _, a := range allowed {
				if strings.HasPrefix(d, a) {
					fine = true
				}
			}
			if !fine {
				t.Errorf("%s depends on %s; allowed: stdlib %v", path, d, allowed)
			}
		}
	}
	// pkgserver reads only through the shelf and knows nothing of trust:
	// no store, no signatures of its own.
	if p, ok := pkgs[module+"/pkg/pkgserver"]; ok {
		for _, d := range []string{"/pkg/store", "/pkg/trust", "/pkg/transfer"} {
			if hasImport(p.imports, module+d) {
				t.Errorf("pkg/pkgserver imports %s; it reads through pkg/shelf", module+d)
			}
		}
	}
	// The shelf, the trust boundary, sits below the commands that use it.
	if p, ok := pkgs[module+"/pkg/shelf"]; ok {
		for _, d := range p.deps {
			if d == module+"/pkg/transfer" || d == module+"/pkg/pkgserver" || strings.HasPrefix(d, module+"/internal/cli") {
				t.Errorf("pkg/shelf depends on %s", d)
			}
		}
	}
	// trust knows nothing of Julia.
	if p, ok := pkgs[module+"/pkg/trust"]; ok {
		for _, d := range p.deps {
			for _, j := range []string{"/pkg/julia", "/pkg/treehash", "/pkg/bundle", "/internal/tarx"} {
				if d == module+j {
					t.Errorf("pkg/trust depends on %s", d)
				}
			}
		}
	}
	// The test kit (fixture generator, Pkg-faithful client, fault proxy, the
	// in-process distribution registry) is reachable from tests only, never
	// from the binary or the libraries; so is the distribution registry.
	testkit := module + "/internal/testkit/"
	for _, p := range pkgs {
		if !own(p.path) || strings.HasPrefix(p.path, testkit) {
			continue
		}
		for _, d := range p.deps {
			if strings.HasPrefix(d, testkit) || strings.HasPrefix(d, "github.com/distribution/distribution/") {
				t.Errorf("%s depends on %s outside tests", p.path, d)
			}
		}
	}
	// internal/ holds one top-floor package (cli), the test kit and leaves:
	// a leaf under internal/ imports nothing of ours but other leaves.
	leaves := map[string]bool{module + "/internal/tarx": true, module + "/internal/ocigraph": true, module + "/internal/httpx": true,
		module + "/pkg/treehash": true, module + "/pkg/julia": true}
	for _, p := range pkgs {
		if !own(p.path) || !strings.HasPrefix(p.path, module+"/internal/") ||
			strings.HasPrefix(p.path, testkit) || strings.HasPrefix(p.path, module+"/internal/cli") ||
			strings.HasPrefix(p.path, module+"/internal/depcheck") {
			continue
		}
		if !leaves[p.path] {
			t.Errorf("%s: internal/ holds cli, testkit/ and the leaves %v; put this package in one of them", p.path, leaves)
			continue
		}
		for _, d := range p.imports {
			if own(d) && !leaves[d] {
				t.Errorf("leaf %s imports %s", p.path, d)
			}
		}
	}
	// Nothing under pkg/ imports internal/cli.
	for _, p := range pkgs {
		if strings.HasPrefix(p.path, module+"/pkg/") {
			for _, d := range p.deps {
				if d == module+"/internal/cli" {
					t.Errorf("%s depends on internal/cli", p.path)
				}
			}
		}
	}
}

func hasImport(imports []string, prefix string) bool {
	for _, i := range imports {
		if strings.HasPrefix(i, prefix) {
			return true
		}
	}
	return false
}

// TestLibrariesAreSilent checks that no non-test file under pkg/ reads the
// environment, prints to the standard streams or exits the process.
func TestLibrariesAreSilent(t *testing.T) {
	root := filepath.Join(repoRoot(t), "pkg")
	banned := map[string]bool{
		"os.Getenv": true, "os.LookupEnv": true, "os.Environ": true, "os.Exit": true,
		"fmt.Print": true, "fmt.Printf": true, "fmt.Println": true,
		"os.Stdout": true, "os.Stderr": true, "log.Print": true, "log.Printf": true,
		"log.Println": true, "log.Fatal": true, "log.Fatalf": true,
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && banned[id.Name+"."+sel.Sel.Name] {
				t.Errorf("%s: %s.%s in library code", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
