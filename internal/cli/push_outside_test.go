package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// runTestWith is runTest with the factory adjusted first.
func runTestWith(t *testing.T, adjust func(*Factory), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{
		Streams: Streams{In: strings.NewReader(""), Out: &out, Err: &errb},
		Now:     func() time.Time { return time.Unix(0, 0) },
		Getenv:  func(string) string { return "" },
	}
	adjust(f)
	code = run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

// Tags a bundle cannot have are usage errors, and nothing is written: the
// tags cosign and the referrers schema use, and tags outside the OCI
// grammar (which used to become paths).
func Test_runPush_BadTags(t *testing.T) {
	w, static := testWorld(t)
	tmp := t.TempDir()
	t.Chdir(tmp)
	hex := digest.FromString("another bundle").Encoded()
	for _, tc := range []struct{ dest, want string }{
		{"./s:sha256-" + hex + ".sig", "cannot name a bundle"},
		{"./s:sha256-" + hex + ".att", "cannot name a bundle"},
		{"./s:sha256-" + hex + ".sbom", "cannot name a bundle"},
		{"./s:sha256-" + hex, "cannot name a bundle"},
		{"./s:../../evil", `tag "../../evil": a tag has no '/'`},
		{"./s:a/b", `tag "a/b": a tag has no '/'`},
	} {
		code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], tc.dest)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("push %s: exit %d, stderr %q; want %d and %q", tc.dest, code, errOut, ExitUsage, tc.want)
		}
	}
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], "--tag", "sha256-"+hex+".sig", "./s")
	if code != ExitUsage || !strings.Contains(errOut, "cannot name a bundle") {
		t.Errorf("push --tag sha256-….sig: exit %d, stderr %q", code, errOut)
	}
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 0 {
		t.Errorf("refused pushes left %d entries in %s", len(ents), tmp)
	}
}

// A stick that is not mounted: the layout's parent is missing. push makes
// no directory and asks whether the stick is mounted.
func Test_runPush_UnmountedStick(t *testing.T) {
	w, static := testWorld(t)
	media := filepath.Join(t.TempDir(), "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(media, "usb", "julia")
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":t")
	if code != ExitNotFound || !strings.Contains(errOut, filepath.Join(media, "usb")+" does not exist (is the stick mounted?)") {
		t.Errorf("push onto an unmounted stick: exit %d, stderr %q", code, errOut)
	}
	if ents, _ := os.ReadDir(media); len(ents) != 0 {
		t.Errorf("push created %d entries under %s", len(ents), media)
	}
	code, _, errOut = runTest(t, "push", "-q", "--dry-run", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":t")
	if code != ExitNotFound || !strings.Contains(errOut, "is the stick mounted?") {
		t.Errorf("dry run onto an unmounted stick: exit %d, stderr %q", code, errOut)
	}
	// The last directory alone is created.
	if code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], filepath.Join(media, "julia")+":t"); code != 0 {
		t.Errorf("push into a new directory of an existing one: exit %d: %s", code, errOut)
	}
}

// A dry run takes no lock and writes nothing: it plans against a layout
// another writer holds (as against a read-only stick), and under --json
// standard output is one JSON document with the plan in it.
func Test_runPush_DryRunReadOnlyJSON(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	if code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":v1"); code != 0 {
		t.Fatalf("push: %s", errOut)
	}
	holder, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dest}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	before := layoutListing(t, dest)
	code, out, errOut := runTest(t, "push", "--dry-run", "--json", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":v2")
	if code != 0 {
		t.Fatalf("dry run beside a writer: exit %d: %s", code, errOut)
	}
	var sum pushJSON
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&sum); err != nil || dec.More() {
		t.Fatalf("--json --dry-run stdout is not one JSON document (%v):\n%s", err, out)
	}
	if !sum.DryRun || sum.Plan == nil || sum.Plan.Total.Items == 0 || sum.Plan.Total.InDest != sum.Plan.Total.Items || len(sum.Plan.Rows) < 2 {
		t.Errorf("dry-run JSON = %+v (plan %+v), want every item planned and in the destination", sum, sum.Plan)
	}
	if strings.Contains(out, "plan for ") {
		t.Errorf("the text plan went to stdout under --json:\n%s", out)
	}
	if diff := diffListing(before, layoutListing(t, dest)); diff != "" {
		t.Errorf("the dry run changed the layout:\n%s", diff)
	}
}

// --versions all carries every version that is not yanked.
func Test_runPush_VersionsAll(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "mirror")
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--all", "--versions", "all", "--platform", "x86_64-linux-gnu", dest+":all")
	if code != 0 {
		t.Fatalf("push --all --versions all: exit %d: %s", code, errOut)
	}
	got := bundleVersions(t, dest, "all")
	want := map[string]bool{}
	for _, p := range w.Packages {
		for _, v := range newestNonYanked(p, 1<<20) {
			want[p.Name+"@"+v.Version] = true
		}
	}
	if d := diffSets(want, got); d != "" || len(got) <= len(w.Packages) {
		t.Errorf("--versions all carried %d versions of %d packages:\n%s", len(got), len(w.Packages), d)
	}
	if code, _, errOut := runTest(t, "push", "-q", "--all", "--versions", "every", dest); code != ExitUsage || !strings.Contains(errOut, "or all") {
		t.Errorf("--versions every: exit %d %q", code, errOut)
	}
}

// A git-tree-sha1 of forty zeros is not "no tree hash": the manifest is
// invalid input, naming the entry.
func Test_runPush_ZeroTreeHash(t *testing.T) {
	w, static := testWorld(t)
	victim, _ := plainVersions(t, w)
	m := filepath.Join(t.TempDir(), "Manifest.toml")
	os.WriteFile(m, []byte(strings.Replace(string(mustReadFile(t, writeManifest(t, victim))),
		victim.TreeHash.String(), strings.Repeat("0", 40), 1)), 0o644)
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", m, filepath.Join(t.TempDir(), "s"))
	if code != ExitError || !strings.Contains(errOut, "deps."+victim.Package.Name+".0.git-tree-sha1") || !strings.Contains(errOut, "forty zeros") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// A manifest entry no carried registry lists at its tree hash is refused
// (exit 3), naming the entry and the registries.
func Test_runPush_EntryNotInRegistry(t *testing.T) {
	w, static := testWorld(t)
	victim, other := plainVersions(t, w)
	m := filepath.Join(t.TempDir(), "Manifest.toml")
	os.WriteFile(m, []byte(strings.Replace(string(mustReadFile(t, writeManifest(t, victim, other))),
		victim.TreeHash.String(), other.TreeHash.String(), 1)), 0o644)
	dest := filepath.Join(t.TempDir(), "s")
	code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", m, dest+":v1")
	want := m + ": " + victim.Package.Name + " " + victim.Version + " " + victim.Package.UUID.String() + " " + other.TreeHash.String() +
		": no version of it in General has this tree hash"
	if code != ExitVerify || !strings.Contains(errOut, want) || !strings.Contains(errOut, "registries carried (General "+w.Registries[0].UUID.String()) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, ExitVerify, want)
	}
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused push left %s: %v", dest, err)
	}
}

// sign checks every digest first: a bundle whose blob was changed after
// the push is refused (exit 3), unless --no-verify.
func Test_runSign_ChecksIntegrity(t *testing.T) {
	e := trustSetup(t)
	l := copyLayout(t, e.layout)
	// Flip a byte of a package tarball.
	var victim string
	filepath.WalkDir(filepath.Join(l, "blobs", "sha256"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			if fi, _ := d.Info(); fi.Size() > 4096 {
				victim = p
			}
		}
		return nil
	})
	if victim == "" {
		t.Fatal("no tarball blob in the layout")
	}
	b := mustReadFile(t, victim)
	b[len(b)/2] ^= 1
	replaceFile(t, victim, b)
	code, _, errOut := signWith(t, e.keyA, "-q", l+":v1")
	if code != ExitVerify || !strings.Contains(errOut, "not signed: 1 of its blobs or manifests do not match their digests") ||
		!strings.Contains(errOut, filepath.Base(victim)) {
		t.Errorf("sign of a bundle with a flipped byte: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := signWith(t, e.keyA, "-q", "--no-verify", l+":v1"); code != 0 {
		t.Errorf("sign --no-verify: exit %d %s", code, errOut)
	}
}

// A registry that answers only 503: copy gives up after the policy's
// attempts, within 20 s of waiting, saying what it tried.
func Test_runCopy_Only503(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	if code, _, errOut := runTest(t, "push", "-q", "--from", "file://"+static, "--manifest", w.Manifests[0], dest+":v1"); code != 0 {
		t.Fatalf("push: %s", errOut)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		rw.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var waited time.Duration
	code, _, errOut := runTestWith(t, func(f *Factory) {
		f.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waited += d
			mu.Unlock()
			return ctx.Err()
		}
	}, "copy", "-q", "--no-verify", "--plain-http", dest+":v1", strings.TrimPrefix(srv.URL, "http://")+"/julia/bundles")
	if code != ExitError || !strings.Contains(errOut, "503 Service Unavailable") || !strings.Contains(errOut, "gave up after 5 attempts") {
		t.Errorf("copy to a registry answering 503: exit %d, stderr %q", code, errOut)
	}
	if n := requests.Load(); n < 5 || n > 5*4 {
		t.Errorf("%d requests, want 5 (one budget) and at most one per transfer slot", n)
	}
	if waited > 20*time.Second {
		t.Errorf("waited %s in backoff, want at most 20 s", waited)
	}
}

// A source whose tarball fails verification is passed over, and the
// progress output says which source failed for which item, and which
// source is tried next; --json lists it; the push succeeds.
func Test_runPush_FallbackReported(t *testing.T) {
	w, static := testWorld(t)
	victim, other := plainVersions(t, w)
	bad := staticCopy(t, w)
	replaceFile(t, filepath.Join(bad, "package", victim.Package.UUID.String(), victim.TreeHash.String()), mustReadFile(t, other.Tarball))
	m := writeManifest(t, victim, other)
	code, _, errOut := runTest(t, "push", "--from", "file://"+bad, "--from", "file://"+static, "--manifest", m, filepath.Join(t.TempDir(), "s")+":v1")
	if code != 0 {
		t.Fatalf("push past a bad source: exit %d\n%s", code, errOut)
	}
	want := "source failed: file://" + bad + " for package " + victim.Package.Name + "@" + victim.Version + ": "
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "tree hash mismatch (trying file://"+static+")") {
		t.Errorf("stderr lacks %q … (trying file://%s):\n%s", want, static, errOut)
	}
	dest := filepath.Join(t.TempDir(), "stick")
	code, out, errOut := runTest(t, "push", "--json", "--from", "file://"+bad, "--from", "file://"+static, "--manifest", m, dest+":v1")
	if code != 0 {
		t.Fatalf("push --json past a bad source: exit %d\n%s", code, errOut)
	}
	var sum pushJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.SourceFailures) != 1 || sum.SourceFailures[0].Source != "file://"+bad || sum.SourceFailures[0].TreeHash != victim.TreeHash {
		t.Errorf("--json sourceFailures = %+v", sum.SourceFailures)
	}
	// The provenance record keeps it: inspect shows it.
	if code, out, _ := runTest(t, "inspect", "--json", dest+":v1"); code != 0 || !strings.Contains(out, "file://"+bad) {
		t.Errorf("inspect --json does not show the source failure (exit %d):\n%s", code, out)
	}
}

// copy refuses the same tags push does.
func Test_runCopy_BadTag(t *testing.T) {
	e := trustSetup(t)
	hex := digest.FromString("x").Encoded()
	code, _, errOut := runTest(t, "copy", "--no-verify", "--tag", "sha256-"+hex+".sig", e.layout+":v1", filepath.Join(t.TempDir(), "dst"))
	if code != ExitUsage || !strings.Contains(errOut, "cannot name a bundle") {
		t.Errorf("copy --tag sha256-….sig: exit %d, stderr %q", code, errOut)
	}
}
