package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// layoutListing lists every file of a layout with its size and sha256.
func layoutListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[rel] = strconv.Itoa(len(b)) + " " + hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeManifest writes a format 2.0 Manifest.toml listing the given
// package versions (without their deps: push carries exactly the entries).
func writeManifest(t *testing.T, vs ...*fixture.PackageVersion) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("julia_version = \"1.10.4\"\nmanifest_format = \"2.0\"\n")
	for _, v := range vs {
		fmt.Fprintf(&b, "\n[[deps.%s]]\ngit-tree-sha1 = %q\nuuid = %q\nversion = %q\n", v.Package.Name, v.TreeHash, v.Package.UUID, v.Version)
	}
	p := filepath.Join(t.TempDir(), "Manifest.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// plainVersions returns the newest version of two packages without
// artifacts.
func plainVersions(t *testing.T, w *fixture.World) (a, b *fixture.PackageVersion) {
	t.Helper()
	var out []*fixture.PackageVersion
	for _, p := range w.Packages {
		if !p.JLL {
			out = append(out, p.Versions[len(p.Versions)-1])
		}
	}
	if len(out) < 2 {
		t.Fatal("the world has fewer than 2 packages without artifacts")
	}
	return out[len(out)-1], out[len(out)-2]
}

// replaceFile replaces a (possibly hard-linked) file of a static mirror.
func replaceFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func staticCopy(t *testing.T, w *fixture.World) string {
	t.Helper()
	dir := t.TempDir()
	if err := w.WriteStaticServer(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func Test_runPush_LockContention(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	args := []string{"push", "-q", "--from", "file://" + static, "--manifest", w.Manifests[0], dest + ":v1"}
	if code, _, errOut := runTest(t, args...); code != 0 {
		t.Fatalf("first push exit %d: %s", code, errOut)
	}
	holder, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dest}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	before := layoutListing(t, dest)
	args[len(args)-1] = dest + ":v2"
	code, _, errOut := runTest(t, args...)
	want := fmt.Sprintf("layout %s: held by pid %d: %s", dest, os.Getpid(), store.ErrLocked)
	if code != ExitError || !strings.Contains(errOut, want) {
		t.Errorf("push while locked: exit %d, stderr %q; want %d and %q", code, errOut, ExitError, want)
	}
	if diff := diffListing(before, layoutListing(t, dest)); diff != "" {
		t.Errorf("the failed push changed the layout (-before +after):\n%s", diff)
	}

	released := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		released <- holder.Close()
	}()
	code, _, errOut = runTest(t, append([]string{"push", "--lock-wait", "5s"}, args[1:]...)...)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Fatalf("push --lock-wait 5s: exit %d, stderr %q", code, errOut)
	}
	code, out, _ := runTest(t, "ls", dest)
	if code != 0 || !strings.Contains(out, "\nv1 ") || !strings.Contains(out, "\nv2 ") {
		t.Errorf("ls after the waiting push = %d\n%s", code, out)
	}
}

// Test_runPush_ChainFrom: --from twice, the first source without artifacts.
func Test_runPush_ChainFrom(t *testing.T) {
	w, static := testWorld(t)
	noArt := staticCopy(t, w)
	if err := os.RemoveAll(filepath.Join(noArt, "artifact")); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	code, out, errOut := runTest(t, "push", "-q", "--json", "--from", "file://"+static, "--manifest", w.Manifests[0], tmp+"/a:v1")
	if code != 0 {
		t.Fatalf("push from one source: exit %d: %s", code, errOut)
	}
	var want pushJSON
	json.Unmarshal([]byte(out), &want)
	if want.Items["artifact"] == 0 {
		t.Fatal("the manifest needs no artifact")
	}
	code, _, errOut = runTest(t, "push", "-q", "--from", "file://"+noArt, "--manifest", w.Manifests[0], tmp+"/b:v1")
	if code != ExitNotFound || !strings.Contains(errOut, fmt.Sprintf("%d item(s) not found", want.Items["artifact"])) {
		t.Fatalf("push without artifacts: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut = runTest(t, "push", "-q", "--json", "--from", "file://"+noArt, "--from", "file://"+static, "--manifest", w.Manifests[0], tmp+"/c:v1")
	var got pushJSON
	json.Unmarshal([]byte(out), &got)
	if code != 0 || got.Digest != want.Digest {
		t.Errorf("push with --from twice: exit %d, digest %s, want %s (%s)", code, got.Digest, want.Digest, errOut)
	}
}

// hostileTar builds a gzip tarball with a Project.toml and the given entries.
func hostileTar(t *testing.T, ents ...treehashEnt) []byte {
	t.Helper()
	all := append([]treehashEnt{{name: "Project.toml", body: "name = \"X\"\n", typ: tar.TypeReg, mode: 0o644}}, ents...)
	return gzipped(t, treehashTar(t, all))
}

// dotSlashRegistry rewrites a registry tarball with "./" before every path:
// the same tree hash, but Pkg looks files up by their raw path (G3).
func dotSlashRegistry(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "./") {
			h.Name = "./" + h.Name
		}
		h.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gzipped(t, buf.Bytes())
}

// Test_runPush_HostileInput: each bad input gets a message naming the item
// and the cause, its exit code, and leaves the destination as it was.
func Test_runPush_HostileInput(t *testing.T) {
	w, static := testWorld(t)
	victim, other := plainVersions(t, w)
	good := mustReadFile(t, victim.Tarball)
	reg := w.Registries[0]
	pkgPath := func(dir string) string {
		return filepath.Join(dir, "package", victim.Package.UUID.String(), victim.TreeHash.String())
	}
	regPath := func(dir string) string {
		return filepath.Join(dir, "registry", reg.UUID.String(), reg.TreeHash.String())
	}
	badManifest := filepath.Join(t.TempDir(), "Manifest.toml")
	os.WriteFile(badManifest, []byte(strings.Replace(string(mustReadFile(t, writeManifest(t, victim))),
		victim.TreeHash.String(), "not-a-hash", 1)), 0o644)

	for _, tc := range []struct {
		name     string
		manifest string
		mirror   func(dir string) // breaks a copy of the static mirror
		http     func(dir string) http.Handler
		wantCode int
		wantErr  []string
	}{
		{name: "malformed manifest", manifest: badManifest, wantCode: ExitError,
			wantErr: []string{badManifest + ": key deps." + victim.Package.Name + ".0.git-tree-sha1", `"not-a-hash"`}},
		{name: "dot-dot entry", wantCode: ExitVerify,
			mirror: func(dir string) {
				replaceFile(t, pkgPath(dir), hostileTar(t, treehashEnt{name: "../evil", body: "x", typ: tar.TypeReg, mode: 0o644}))
			},
			wantErr: []string{"package " + victim.Package.Name + "@" + victim.Version, "../evil"}},
		{name: "device node", wantCode: ExitVerify,
			mirror: func(dir string) {
				replaceFile(t, pkgPath(dir), hostileTar(t, treehashEnt{name: "dev/null", typ: tar.TypeChar, mode: 0o644}))
			},
			wantErr: []string{"package " + victim.Package.Name + "@" + victim.Version, "dev/null"}},
		{name: "wrong tree hash", wantCode: ExitVerify,
			mirror:  func(dir string) { replaceFile(t, pkgPath(dir), mustReadFile(t, other.Tarball)) },
			wantErr: []string{"package " + victim.Package.Name + "@" + victim.Version, "tree hash " + other.TreeHash.String(), "tree hash mismatch"}},
		{name: "truncated gzip", wantCode: ExitVerify,
			mirror:  func(dir string) { replaceFile(t, pkgPath(dir), good[:len(good)/2]) },
			wantErr: []string{"package " + victim.Package.Name + "@" + victim.Version, "unexpected EOF"}},
		{name: "registry with ./ paths", wantCode: ExitVerify,
			mirror:  func(dir string) { replaceFile(t, regPath(dir), dotSlashRegistry(t, reg.Tarball)) },
			wantErr: []string{"registry " + reg.UUID.String() + "/" + reg.TreeHash.String(), `tarball entry "./`, "pkg-protocol G3"}},
		{name: "HTTP 500", wantCode: ExitError,
			http: func(dir string) http.Handler {
				h := fixture.StaticHandler(dir)
				return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
					if strings.HasPrefix(req.URL.Path, "/package/"+victim.Package.UUID.String()) {
						rw.WriteHeader(http.StatusInternalServerError)
						return
					}
					h.ServeHTTP(rw, req)
				})
			},
			wantErr: []string{"/package/" + victim.Package.UUID.String() + "/" + victim.TreeHash.String() + ": 500 Internal Server Error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The destination already holds the registry (and another
			// package), so the failing push has nothing else to write.
			dest := filepath.Join(t.TempDir(), "stick")
			if code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", writeManifest(t, other), dest+":base"); code != 0 {
				t.Fatalf("base push exit %d: %s", code, errOut)
			}
			from := "file://" + static
			if tc.mirror != nil || tc.http != nil {
				dir := staticCopy(t, w)
				from = "file://" + dir
				if tc.mirror != nil {
					tc.mirror(dir)
				}
				if tc.http != nil {
					srv := httptest.NewServer(tc.http(dir))
					t.Cleanup(srv.Close)
					from = srv.URL
					for i := range tc.wantErr {
						tc.wantErr[i] = strings.ReplaceAll(tc.wantErr[i], "/package/", srv.URL+"/package/")
					}
				}
			}
			manifest := tc.manifest
			if manifest == "" {
				manifest = writeManifest(t, victim)
			}
			before := layoutListing(t, dest)
			code, _, errOut := runTest(t, "push", "-q", "--from", from, "--manifest", manifest, dest+":bad")
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.wantCode, errOut)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
			if diff := diffListing(before, layoutListing(t, dest)); diff != "" {
				t.Errorf("the failed push changed the layout (-before +after):\n%s", diff)
			}
		})
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleVersions reads a pushed bundle: package uuid/version pairs.
func bundleVersions(t *testing.T, dir, tag string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Resolve(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(ctx, st, d)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range b.Entries {
		if e.Kind == bundle.KindPackage {
			for _, v := range e.Versions {
				out[e.Name+"@"+v] = true
			}
		}
	}
	return out
}

// diffListing describes how two layout listings differ ("" if they do not).
func diffListing(before, after map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(before) {
		if a, ok := after[k]; !ok || a != before[k] {
			fmt.Fprintf(&b, "-%s %s\n+%s %s\n", k, before[k], k, a)
		}
	}
	for _, k := range sortedKeys(after) {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "+%s %s\n", k, after[k])
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffSets describes how two sets differ ("" if they do not).
func diffSets(want, got map[string]bool) string {
	var b strings.Builder
	for _, k := range sortedKeys(want) {
		if !got[k] {
			fmt.Fprintf(&b, "-%s\n", k)
		}
	}
	for _, k := range sortedKeys(got) {
		if !want[k] {
			fmt.Fprintf(&b, "+%s\n", k)
		}
	}
	return b.String()
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// newestNonYanked returns the newest n non-yanked versions of p.
func newestNonYanked(p *fixture.Package, n int) []*fixture.PackageVersion {
	var out []*fixture.PackageVersion
	for i := len(p.Versions) - 1; i >= 0 && len(out) < n; i-- {
		if !p.Versions[i].Yanked {
			out = append(out, p.Versions[i])
		}
	}
	return out
}

func Test_runPush_AllLatest2(t *testing.T) {
	ctx := context.Background()
	w, err := fixture.Generate(ctx, filepath.Join(t.TempDir(), "world"), fixture.Config{
		Seed: 21, Packages: 10, VersionsPerPackage: 4, YankedEvery: 2, ArtifactPackages: 0.3,
		Platforms: []string{"x86_64-linux-gnu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	static := staticCopy(t, w)
	want := map[string]bool{}
	yanked := 0
	for _, p := range w.Packages {
		for _, v := range newestNonYanked(p, 2) {
			want[p.Name+"@"+v.Version] = true
		}
		for _, v := range p.Versions {
			if v.Yanked {
				yanked++
			}
		}
	}
	if yanked == 0 {
		t.Fatal("the world has no yanked version")
	}
	dest := filepath.Join(t.TempDir(), "stick")
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--all", "--versions", "latest:2", dest+":all")
	if code != 0 {
		t.Fatalf("push --all exit %d: %s", code, errOut)
	}
	if diff := diffSets(want, bundleVersions(t, dest, "all")); diff != "" {
		t.Errorf("--all --versions latest:2 carried (-want +got):\n%s", diff)
	}
}

// projectDeps reads the [deps] section of a package version's Project.toml.
func projectDeps(t *testing.T, v *fixture.PackageVersion) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(v.Dir, "Project.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deps := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = line == "[deps]"
			continue
		}
		if k, val, ok := strings.Cut(line, " = "); in && ok {
			deps[k] = strings.Trim(val, `"`)
		}
	}
	return deps
}

func Test_runPush_PackageClosure(t *testing.T) {
	w, static := testWorld(t)
	byUUID := map[string]*fixture.Package{}
	for _, p := range w.Packages {
		byUUID[p.UUID.String()] = p
	}
	// The package with the most dependencies, asked for at its newest
	// version: the fixture's compat admits the newest version of every
	// dependency at the time a version is made (never yanked), so the
	// closure is the newest version of every registered package it depends
	// on, transitively.
	var root *fixture.Package
	for _, p := range w.Packages {
		if p.JLL {
			continue // build numbers (+1) have no "=" spec
		}
		if root == nil || len(projectDeps(t, newestNonYanked(p, 1)[0])) > len(projectDeps(t, newestNonYanked(root, 1)[0])) {
			root = p
		}
	}
	rootV := newestNonYanked(root, 1)[0]
	if len(projectDeps(t, rootV)) == 0 || rootV != root.Versions[len(root.Versions)-1] {
		t.Fatal("no package of the world has dependencies")
	}
	want := map[string]bool{root.Name + "@" + rootV.Version: true}
	queue := []*fixture.PackageVersion{rootV}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, u := range projectDeps(t, v) {
			p := byUUID[u]
			if p == nil {
				continue // a stdlib
			}
			dv := newestNonYanked(p, 1)[0]
			if !want[p.Name+"@"+dv.Version] {
				want[p.Name+"@"+dv.Version] = true
				queue = append(queue, dv)
			}
		}
	}
	if len(want) < 3 {
		t.Fatalf("closure of %s@%s = %v, want a transitive one", root.Name, rootV.Version, sortedSet(want))
	}
	dest := filepath.Join(t.TempDir(), "stick")
	spec := root.Name + "@=" + rootV.Version
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--package", spec, dest+":pkg")
	if code != 0 {
		t.Fatalf("push --package %s exit %d: %s", spec, code, errOut)
	}
	if diff := diffSets(want, bundleVersions(t, dest, "pkg")); diff != "" {
		t.Errorf("--package %s carried (-want +got):\n%s", spec, diff)
	}
	code, out, _ := runTest(t, "inspect", dest+":pkg")
	if code != 0 || !strings.Contains(out, "asked    package "+root.Name+"@") {
		t.Errorf("inspect = %d\n%s", code, out)
	}
}

func Test_runPush_JSONOnFailure(t *testing.T) {
	w, _ := testWorld(t)
	noPkgs := staticCopy(t, w)
	if err := os.RemoveAll(filepath.Join(noPkgs, "package")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "stick")
	code, out, errOut := runTest(t, "push", "--json", "--from", "file://"+noPkgs, "--manifest", w.Manifests[0], dest+":x")
	if code != ExitNotFound {
		t.Fatalf("exit %d, want %d; stderr %q", code, ExitNotFound, errOut)
	}
	var sum pushJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if !strings.Contains(sum.Error, "item(s) not found") || len(sum.Missing) == 0 || sum.Digest != "" || sum.Tag != "" {
		t.Errorf("--json on failure = %+v, want an error, the missing items, no digest or tag", sum)
	}
	for _, m := range sum.Missing {
		if !strings.HasPrefix(m, "package ") {
			t.Errorf("missing %q: want only packages", m)
		}
	}

	// Any other failure of the push itself: still one JSON object.
	victim, _ := plainVersions(t, w)
	truncated := staticCopy(t, w)
	p := filepath.Join(truncated, "package", victim.Package.UUID.String(), victim.TreeHash.String())
	b := mustReadFile(t, p)
	replaceFile(t, p, b[:len(b)/2])
	code, out, errOut = runTest(t, "push", "--json", "--from", "file://"+truncated, "--manifest", writeManifest(t, victim), dest+":y")
	if code != ExitVerify {
		t.Fatalf("truncated tarball: exit %d, want %d (content failed verification); stderr %q", code, ExitVerify, errOut)
	}
	sum = pushJSON{}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output on a failed push %q: %v", out, err)
	}
	if !strings.Contains(sum.Error, "package "+victim.Package.Name) || !strings.Contains(sum.Error, "unexpected EOF") || sum.Digest != "" {
		t.Errorf("--json on a failed push = %+v, want the error naming the package", sum)
	}
	if len(sum.SourceFailures) != 1 || sum.SourceFailures[0].Source != "file://"+truncated || !strings.Contains(sum.SourceFailures[0].Reason, "unexpected EOF") {
		t.Errorf("--json source failures = %+v, want the truncated tarball's source", sum.SourceFailures)
	}
}

// A push that fails after storing other items (here: one package missing,
// found only after everything else was stored) leaves the layout as it
// was, byte for byte, and says so; with --keep-partial it keeps the
// verified items untagged, and a re-run with a fixed source reuses them.
func Test_runPush_FailureLeavesLayout(t *testing.T) {
	w, static := testWorld(t)
	_, other := plainVersions(t, w)
	m, err := julia.ParseManifest(w.Manifests[0], mustReadFile(t, w.Manifests[0]))
	if err != nil {
		t.Fatal(err)
	}
	var victim *julia.ManifestEntry
	for i, e := range m.Entries {
		if !e.TreeHash.IsZero() && e.UUID != other.Package.UUID && (victim == nil || e.Name > victim.Name) {
			victim = &m.Entries[i]
		}
	}
	broken := staticCopy(t, w)
	if err := os.Remove(filepath.Join(broken, "package", victim.UUID.String(), victim.TreeHash.String())); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "stick")
	if code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", writeManifest(t, other), dest+":base"); code != 0 {
		t.Fatalf("base push exit %d: %s", code, errOut)
	}
	before := layoutListing(t, dest)
	code, out, errOut := runTest(t, "push", "--json", "--all-platforms", "--from", "file://"+broken, "--manifest", w.Manifests[0], dest+":bad")
	var sum pushJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if code != ExitNotFound || sum.Stored == 0 || sum.RolledBack == 0 {
		t.Fatalf("exit %d, %d items stored, %d blob files rolled back; want %d and both > 0; stderr %q", code, sum.Stored, sum.RolledBack, ExitNotFound, errOut)
	}
	if !strings.Contains(errOut, dest+" left as it was") || !strings.Contains(errOut, "--keep-partial") {
		t.Errorf("stderr %q does not say the layout was left as it was", errOut)
	}
	if diff := diffListing(before, layoutListing(t, dest)); diff != "" {
		t.Errorf("the failed push changed the layout (-before +after):\n%s", diff)
	}

	code, out, errOut = runTest(t, "push", "--json", "--keep-partial", "--all-platforms", "--from", "file://"+broken, "--manifest", w.Manifests[0], dest+":bad")
	sum = pushJSON{}
	json.Unmarshal([]byte(out), &sum)
	if code != ExitNotFound || sum.RolledBack != 0 || diffListing(before, layoutListing(t, dest)) == "" {
		t.Fatalf("--keep-partial: exit %d, %d rolled back, layout unchanged %v; want %d, 0 and a changed layout; stderr %q",
			code, sum.RolledBack, diffListing(before, layoutListing(t, dest)) == "", ExitNotFound, errOut)
	}
	kept := sum.Stored
	code, out, errOut = runTest(t, "push", "--json", "--all-platforms", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":bad")
	sum = pushJSON{}
	json.Unmarshal([]byte(out), &sum)
	if code != 0 || kept == 0 || sum.Reused < kept+1 {
		t.Errorf("re-run with the package back: exit %d, %d reused; want 0 and ≥ %d (the base's package and the %d kept items); stderr %q",
			code, sum.Reused, kept+1, kept, errOut)
	}
}
