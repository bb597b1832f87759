package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
)

var (
	cliWorldOnce sync.Once
	cliWorld     *fixture.World
	cliStatic    string
	cliWorldErr  error
)

// testWorld is a small generated Julia world served as a static mirror.
func testWorld(t *testing.T) (*fixture.World, string) {
	t.Helper()
	cliWorldOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoebox-cli-world-")
		if err != nil {
			cliWorldErr = err
			return
		}
		cliWorld, cliWorldErr = fixture.Generate(context.Background(), filepath.Join(dir, "world"), fixture.Config{
			Seed: 3, Packages: 8, VersionsPerPackage: 2, ArtifactPackages: 0.5,
			Platforms: []string{"x86_64-linux-gnu", "aarch64-linux-gnu"},
		})
		if cliWorldErr == nil {
			cliStatic = filepath.Join(dir, "static")
			cliWorldErr = cliWorld.WriteStaticServer(cliStatic)
		}
	})
	if cliWorldErr != nil {
		t.Fatal(cliWorldErr)
	}
	return cliWorld, cliStatic
}

func Test_runPush(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	args := []string{"push", "--from", "file://" + static, "--manifest", w.Manifests[0], "--json", "-q", dest + ":v1"}

	code, out, errOut := runTest(t, args...)
	if code != 0 {
		t.Fatalf("push exit %d\nstderr: %s", code, errOut)
	}
	var sum pushJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("push --json output %q: %v", out, err)
	}
	if sum.Tag != "v1" || sum.Items["registry"] != 1 || sum.Items["package"] == 0 || sum.Reused != 0 ||
		sum.Stored != sum.Items["registry"]+sum.Items["package"]+sum.Items["artifact"] || !strings.HasPrefix(sum.Digest, "sha256:") {
		t.Errorf("first push summary = %+v", sum)
	}

	// The same push again: same digest (the clock is pinned), nothing stored.
	code, out2, errOut := runTest(t, args...)
	if code != 0 {
		t.Fatalf("re-push exit %d: %s", code, errOut)
	}
	var sum2 pushJSON
	json.Unmarshal([]byte(out2), &sum2)
	if sum2.Digest != sum.Digest || sum2.Stored != 0 || sum2.Reused != sum.Stored {
		t.Errorf("re-push summary = %+v, want digest %s, 0 stored, %d reused", sum2, sum.Digest, sum.Stored)
	}

	// ls lists the bundle, then its items.
	code, out, _ = runTest(t, "ls", dest)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || strings.Join(strings.Fields(lines[1])[:3], " ") != "v1 "+sum.Digest[:19]+" 1970-01-01T00:00:00Z" {
		t.Errorf("ls = %d\n%s", code, out)
	}
	code, out, _ = runTest(t, "ls", "--kind", "registry", "--json", dest+":v1")
	var items []lsItemJSON
	if err := json.Unmarshal([]byte(out), &items); code != 0 || err != nil || len(items) != 1 ||
		items[0].Name != "General" || items[0].TreeHash != w.Registries[0].TreeHash.String() {
		t.Errorf("ls --kind registry = %d %v\n%s", code, err, out)
	}
	// inspect shows the inputs and the report.
	code, out, _ = runTest(t, "inspect", dest+":v1")
	if code != 0 || !strings.Contains(out, "asked    manifest "+w.Manifests[0]) || !strings.Contains(out, "missing  nothing") ||
		!strings.Contains(out, "for      x86_64-linux-gnu") {
		t.Errorf("inspect = %d\n%s", code, out)
	}
	code, _, errOut = runTest(t, "inspect", "--item", "NoSuchThing", dest+":v1")
	if code != ExitNotFound || !strings.Contains(errOut, `no item named like "NoSuchThing"`) {
		t.Errorf("inspect --item missing = %d %q", code, errOut)
	}
}

func Test_runPush_Errors(t *testing.T) {
	w, static := testWorld(t)
	tmp := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"nothing to push", []string{"push", tmp + "/a"}, ExitUsage, "nothing to push"},
		{"no dest", []string{"push", "--all"}, ExitUsage, "DEST"},
		{"bad platform", []string{"push", "--all", "--platform", "x86_64-nowhere-zz", tmp + "/a"}, ExitUsage, `--platform "x86_64-nowhere-zz"`},
		{"bad versions", []string{"push", "--all", "--versions", "latest:0", tmp + "/a"}, ExitUsage, "--versions"},
		{"missing manifest", []string{"push", "--manifest", tmp + "/nope.toml", tmp + "/a"}, ExitNotFound, "nope.toml"},
		{"unknown package", []string{"push", "--from", "file://" + static, "--package", "NoSuchPackage", tmp + "/a"}, ExitNotFound, "package NoSuchPackage: in none of the registries General"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runTest(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}

	// A package the source lacks: exit 4, each missing item named, nothing tagged.
	static2 := t.TempDir()
	if err := w.WriteStaticServer(static2); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(static2, "package")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(tmp, "b")
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static2, "--manifest", w.Manifests[0], dest+":x")
	if code != ExitNotFound || !strings.Contains(errOut, "not found:") || !strings.Contains(errOut, "--allow-missing") {
		t.Errorf("missing packages: exit %d, stderr %q", code, errOut)
	}
	// A failed first push leaves nothing behind: not even an empty layout.
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after a failed first push, %s: %v; want it gone", dest, err)
	}

}

func Test_runPush_DryRun(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "never")
	code, out, errOut := runTest(t, "push", "-q", "--dry-run", "--from", "file://"+static, "--manifest", w.Manifests[0],
		"--platform", "x86_64-linux-gnu", "--platform", "aarch64-linux-gnu", dest)
	if code != 0 {
		t.Fatalf("dry run exit %d: %s", code, errOut)
	}
	for _, want := range []string{"plan for " + dest, "registry", "package", "artifact (x86_64-linux-gnu)", "artifact (aarch64-linux-gnu)", "to write: ", "free space at "} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("dry run created %s", dest)
	}
}
