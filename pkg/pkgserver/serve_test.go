package pkgserver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/shoebox-jl/shoebox/internal/testkit/fixture"
	"github.com/shoebox-jl/shoebox/internal/testkit/pkgclient"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

var created = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// registryFS is an installed registry's raw-path files as an fs.FS.
func registryFS(r *pkgclient.Registry) fs.FS {
	m := fstest.MapFS{}
	for k, v := range r.Files {
		m[k] = &fstest.MapFile{Data: v}
	}
	return m
}

// wantView returns, per package uuid of the world's General, the versions
// (with their yanked flag) the available view must keep.
func wantView(w *fixture.World, have map[[2]string]bool) map[julia.UUID]map[string]bool {
	out := map[julia.UUID]map[string]bool{}
	for _, p := range w.Registries[0].Packages {
		for _, v := range p.Versions {
			if have[[2]string{p.UUID.String(), v.TreeHash.String()}] {
				if out[p.UUID] == nil {
					out[p.UUID] = map[string]bool{}
				}
				out[p.UUID][v.Version] = v.Yanked
			}
		}
	}
	return out
}

// gotView reads every package's versions from an installed registry.
func gotView(t *testing.T, r *pkgclient.Registry) map[julia.UUID]map[string]bool {
	t.Helper()
	out := map[julia.UUID]map[string]bool{}
	for u, rp := range r.Reg.Packages {
		p, err := julia.ReadPackage(registryFS(r), rp.Path)
		if err != nil {
			t.Fatalf("view package %s: %v", rp.Name, err)
		}
		out[u] = map[string]bool{}
		for k, v := range p.Versions {
			out[u][k] = v.Yanked
		}
	}
	return out
}

// wantRequests is the exact sequence Pkg makes for an empty depot
// (default registries) followed by instantiate of m.
func wantRequests(t *testing.T, w *fixture.World, m *julia.Manifest, regPath string) []string {
	t.Helper()
	reqs := []string{"GET /registries 200", "GET " + regPath + " 200", "GET /registries 200"}
	dirs := map[string]string{}
	for _, p := range w.Packages {
		for _, v := range p.Versions {
			dirs[p.UUID.String()+v.TreeHash.String()] = v.Dir
		}
	}
	var pkgDirs []string
	for _, e := range m.Entries {
		if e.Fetchable() {
			reqs = append(reqs, "GET /package/"+e.UUID.String()+"/"+e.TreeHash.String()+" 200")
			pkgDirs = append(pkgDirs, dirs[e.UUID.String()+e.TreeHash.String()])
		}
	}
	host := julia.HostPlatform(julia.MustParsePlatform("x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.13.0"))
	seen := map[treehash.Hash]bool{}
	for _, d := range pkgDirs {
		b, err := os.ReadFile(filepath.Join(d, "Artifacts.toml"))
		if err != nil {
			continue
		}
		arts, err := julia.ParseArtifacts("Artifacts.toml", b)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range arts {
			if !slices.Contains(names, a.Name) {
				names = append(names, a.Name)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			a, ok := julia.SelectBest(arts, n, host)
			if ok && !a.Lazy && len(a.Downloads) > 0 && !seen[a.TreeHash] {
				seen[a.TreeHash] = true
				reqs = append(reqs, "GET /artifact/"+a.TreeHash.String()+" 200")
			}
		}
	}
	return reqs
}

func requestStrings(c *pkgclient.Client) []string {
	var out []string
	for _, r := range c.Requests() {
		out = append(out, r.String())
	}
	return out
}

func TestServe_InstantiateFromLayout(t *testing.T) {
	w, _ := testWorld(t)
	st := openLayout(t, t.TempDir())
	// A subset: only what the first manifest needs.
	b := pushManifests(t, st, "v1", created, w.Manifests[0])
	hs, _, src := serve(t, st, serveOpts{}, b)

	views := src.Views()
	if len(views) != 1 || views[0].UUID != julia.MustParseUUID(fixture.RealGeneralUUID) || views[0].Name != "General" || views[0].Snapshot != w.Registries[0].TreeHash {
		t.Fatalf("Views() = %+v, want one view of General %s", views, w.Registries[0].TreeHash)
	}
	v := views[0]
	if v.Hash == v.Snapshot || v.RemovedVersions == 0 {
		t.Fatalf("view %s removed %d versions; a subset push must remove some", v.Hash, v.RemovedVersions)
	}

	// The advertised hash is the keep-empty hash of the served tarball,
	// whose entries have no "./" prefix.
	regPath := "/registry/" + fixture.RealGeneralUUID + "/" + v.Hash.String()
	resp, body := get(t, hs.URL+"/registries")
	if resp.StatusCode != 200 || string(body) != regPath+"\n" {
		t.Fatalf("/registries = %d %q, want %q", resp.StatusCode, body, regPath+"\n")
	}
	resp, tgz := get(t, hs.URL+regPath)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-gzip" || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("GET %s = %d %v", regPath, resp.StatusCode, resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	h, err := treehash.Tar(zr)
	if err != nil || h.KeepEmpty != v.Hash {
		t.Fatalf("keep-empty hash of the served view = %s, %v; advertised %s", h.KeepEmpty, err, v.Hash)
	}

	c := newClient(t, hs.URL, pkgclient.Options{})
	if err := c.InstallDefaultRegistries(context.Background()); err != nil {
		t.Fatalf("InstallDefaultRegistries: %v", err)
	}
	regs := c.Registries()
	if len(regs) != 1 || regs[0].Hash != v.Hash {
		t.Fatalf("installed registries = %v", regs)
	}
	for name := range regs[0].Files {
		if strings.HasPrefix(name, "./") || strings.HasPrefix(name, "/") {
			t.Errorf("view tarball entry %q", name)
		}
	}
	// Exactly the held versions stay, yanked flags included.
	want := wantView(w, held(b))
	got := gotView(t, regs[0])
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("view versions:\n got %v\nwant %v", got, want)
	}
	if len(got) == len(w.Registries[0].Packages) {
		t.Errorf("view keeps all %d packages; the subset must drop some", len(got))
	}

	m := manifest(t, w.Manifests[0])
	res, err := c.Instantiate(context.Background(), m)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	if len(res.Packages) == 0 || len(res.Artifacts) == 0 {
		t.Fatalf("installed %d packages, %d artifacts; the manifest needs both", len(res.Packages), len(res.Artifacts))
	}
	gotReqs, wantReqs := requestStrings(c), wantRequests(t, w, m, regPath)
	if !slices.Equal(gotReqs, wantReqs) {
		t.Errorf("requests:\n got %q\nwant %q", gotReqs, wantReqs)
	}
	for _, p := range res.Packages {
		if h, err := treehash.Dir(p.Dir); err != nil || h != p.TreeHash {
			t.Errorf("package %s at %s: hash %s, %v", p.Name, p.Dir, h, err)
		}
	}
}

// A manifest pinning a yanked version instantiates (G21), and the view
// keeps the version marked yanked.
func TestServe_YankedVersionDownloads(t *testing.T) {
	w, _ := testWorld(t)
	m1 := w.Manifests[1] // format 1.0: pins a yanked version
	m := manifest(t, m1)
	yanked := map[string]bool{}
	for _, p := range w.Packages {
		for _, v := range p.Versions {
			if v.Yanked {
				yanked[p.UUID.String()+v.TreeHash.String()] = true
			}
		}
	}
	var pinned []string
	for _, e := range m.Entries {
		if yanked[e.UUID.String()+e.TreeHash.String()] {
			pinned = append(pinned, e.Name+"@"+e.Version)
		}
	}
	if len(pinned) == 0 {
		t.Fatalf("manifest %s pins no yanked version; the fixture promises one", m1)
	}
	st := openLayout(t, t.TempDir())
	b := pushManifests(t, st, "v1", created, m1)
	hs, _, _ := serve(t, st, serveOpts{}, b)
	c := newClient(t, hs.URL, pkgclient.Options{})
	if err := c.InstallDefaultRegistries(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := gotView(t, c.Registries()[0])
	for _, e := range m.Entries {
		if yanked[e.UUID.String()+e.TreeHash.String()] {
			if y, ok := got[e.UUID][e.Version]; !ok || !y {
				t.Errorf("view: %s %s present=%v yanked=%v, want present and yanked", e.Name, e.Version, ok, y)
			}
		}
	}
	if _, err := c.Instantiate(context.Background(), m); err != nil {
		t.Fatalf("Instantiate of a manifest pinning %v: %v", pinned, err)
	}
}

// Pkg.add by name resolves against the view, so it picks what the server
// holds; with the full snapshot it picks the newest version, which the
// subset does not hold, and the download fails.
func TestServe_AddByName(t *testing.T) {
	w, static := testWorld(t)
	// The last package with an older non-yanked version: push exactly that
	// version (and its dependencies), not the newest.
	var p *fixture.Package
	var old *fixture.PackageVersion
	for i := len(w.Registries[0].Packages) - 1; i >= 0 && p == nil; i-- {
		q := w.Registries[0].Packages[i]
		if q.JLL {
			continue
		}
		for j := len(q.Versions) - 2; j >= 0; j-- {
			if v := q.Versions[j]; !v.Yanked && v.TreeHash != q.Versions[len(q.Versions)-1].TreeHash {
				p, old = q, v
				break
			}
		}
	}
	if p == nil {
		t.Fatal("no package with an older non-yanked version in the world")
	}
	req, err := julia.ParseRequirement(p.Name + "@=" + old.Version)
	if err != nil {
		t.Fatal(err)
	}
	src, err := upstream.NewPkgServer("file://"+static, upstream.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := openLayout(t, t.TempDir())
	res, err := transfer.Push(context.Background(), src, st, transfer.PushRequest{Packages: []julia.Requirement{req}},
		transfer.PushOptions{Platforms: []julia.Platform{linux}, Tag: "old", Created: created})
	if err != nil {
		t.Fatalf("Push %s@=%s: %v", p.Name, old.Version, err)
	}
	b := readBundle(t, st, res.Index)

	hs, _, _ := serve(t, st, serveOpts{}, b)
	c := newClient(t, hs.URL, pkgclient.Options{})
	got, err := c.Add(context.Background(), p.Name)
	if err != nil {
		t.Fatalf("Add(%s) against the available view: %v", p.Name, err)
	}
	var gotVer string
	for _, q := range got.Packages {
		if q.Name == p.Name {
			gotVer = q.Version
		}
	}
	if gotVer != old.Version {
		t.Errorf("Add(%s) installed %q, want the held %s", p.Name, gotVer, old.Version)
	}

	full, _, _ := serve(t, st, serveOpts{view: pkgserver.ViewFull}, b)
	c2 := newClient(t, full.URL, pkgclient.Options{})
	_, err = c2.Add(context.Background(), p.Name)
	if !errors.Is(err, pkgclient.ErrNoSource) {
		t.Fatalf("Add(%s) against the full snapshot: %v, want ErrNoSource", p.Name, err)
	}
	// Pkg stops at the first package it cannot get: one the bundle lacks.
	reqs := c2.Requests()
	last := reqs[len(reqs)-1]
	parts := strings.Split(last.Path, "/")
	if last.Status != 404 || len(parts) != 4 || parts[1] != "package" || held(b)[[2]string{parts[2], parts[3]}] {
		t.Errorf("last request against the full snapshot = %v, want a 404 for a package the bundle lacks", last)
	}
}

func TestServe_AddedBundleAppearsAfterUpdate(t *testing.T) {
	w, _ := testWorld(t)
	st := openLayout(t, t.TempDir())
	b1 := pushManifests(t, st, "v1", created, w.Manifests[0])
	hs, srv, src1 := serve(t, st, serveOpts{}, b1)
	before := src1.Views()[0].Hash

	b2 := pushManifests(t, st, "v2", created.Add(time.Hour), w.Manifests[2])
	var missing bundle.Entry
	for _, e := range b2.Entries {
		if e.Kind == bundle.KindPackage {
			if _, ok := src1.Catalog().Package(e.UUID, e.TreeHash); !ok {
				missing = e
				break
			}
		}
	}
	if missing.Kind == "" {
		t.Fatal("the second bundle adds no package")
	}
	path := "/package/" + missing.UUID.String() + "/" + missing.TreeHash.String()
	if resp, _ := get(t, hs.URL+path); resp.StatusCode != 404 {
		t.Fatalf("GET %s before the update = %d, want 404", path, resp.StatusCode)
	}
	sh, changed, err := hs.set.Load(context.Background(), false)
	if err != nil || !changed || len(sh.Bundles()) != 2 {
		t.Fatalf("Load after the second push = %v, changed %v, %d bundles; want both", err, changed, len(sh.Bundles()))
	}
	src2, err := pkgserver.NewBundleSource(context.Background(), sh, pkgserver.SourceOptions{Previous: src1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Update(src2, pkgserver.Status{Items: src2.Counts()})
	if resp, body := get(t, hs.URL+path); resp.StatusCode != 200 || int64(len(body)) != missing.Whole.Size {
		t.Fatalf("GET %s after the update = %d (%d bytes), want 200 with %d", path, resp.StatusCode, len(body), missing.Whole.Size)
	}
	if after := src2.Views()[0].Hash; after == before {
		t.Errorf("view hash unchanged (%s) after adding packages", after)
	}
}
