package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/pkgclient"
	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// uploadCounter counts, per repository, the blob uploads a registry
// completed (PUT …/blobs/uploads/…) and the mounts it answered 201.
type uploadCounter struct {
	mu      sync.Mutex // guards the maps; taken by the handler
	uploads map[string]int
	mounts  map[string]int
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (c *uploadCounter) wrap(h http.Handler) http.Handler {
	c.uploads, c.mounts = map[string]int{}, map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		repo, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/uploads/")
		if !ok {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case r.Method == http.MethodPut && sw.code == http.StatusCreated:
			c.uploads[repo]++
		case r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" && sw.code == http.StatusCreated:
			c.mounts[repo]++
		}
	})
}

func (c *uploadCounter) get(repo string) (uploads, mounts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads[repo], c.mounts[repo]
}

// harborConfig is Harbor as an inside site runs it: a project "julia"
// with an importer robot (pull, push) and a reader robot for serve and
// verify (pull only), and a project "lab" with its own robot.
func harborConfig() *testregistry.TokenConfig {
	return &testregistry.TokenConfig{
		Projects: []testregistry.Project{{Name: "julia"}, {Name: "lab"}},
		Accounts: map[string]testregistry.Account{
			"robot$julia+importer": {Secret: "imp-secret", Permissions: map[string][]string{"julia": {"pull", "push"}}},
			"robot$julia+reader":   {Secret: "read-secret", Permissions: map[string][]string{"julia": {"pull"}}},
			"robot$lab+pusher":     {Secret: "lab-secret", Permissions: map[string][]string{"lab": {"pull", "push"}}},
		},
	}
}

// Test_Harbor runs the inside's job against a registry with Harbor's
// token auth: push, sign, copy between projects (blobs mounted) and from
// another registry with separate connection settings, verify and serve
// with a pull-only robot.
func Test_Harbor(t *testing.T) {
	e := trustSetup(t)
	w, static := testWorld(t)
	var counter uploadCounter
	reg := testregistry.New(t, testregistry.Options{TLS: true, Token: harborConfig(), Handler: counter.wrap})
	ca, host := reg.CAFile(), reg.Host()
	const importer, reader = "robot$julia+importer", "robot$julia+reader"

	// push straight into the staging repository as the importer robot.
	code, _, errOut := keyRun{stdin: "imp-secret\n"}.run(t, "push", "-q", "--from", "file://"+static, "--manifest", e.manifestPath,
		"--platform", "x86_64-linux-gnu", "--ca-file", ca, "--username", importer, "--password-stdin", host+"/julia/staging:v1")
	if code != ExitOK {
		t.Fatalf("push as %s = %d: %s", importer, code, errOut)
	}
	// sign it, credentials from the docker config (as after docker login).
	dockerDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(importer + ":imp-secret"))
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = keyRun{env: map[string]string{"SHOEBOX_PASSWORD": testPassword, "DOCKER_CONFIG": dockerDir}}.run(t,
		"sign", "-q", "--key", e.keyA, "--ca-file", ca, host+"/julia/staging:v1")
	if code != ExitOK {
		t.Fatalf("sign in the registry = %d: %s", code, errOut)
	}

	// A reader robot cannot push: the registry refuses its token.
	code, _, errOut = keyRun{stdin: "read-secret\n"}.run(t, "push", "-q", "--from", "file://"+static, "--manifest", e.manifestPath,
		"--platform", "x86_64-linux-gnu", "--ca-file", ca, "--username", reader, "--password-stdin", host+"/julia/nope:v1")
	if code != ExitError || !strings.Contains(errOut, "registry "+host+": repository julia/nope: registry authentication failed") {
		t.Errorf("push as %s = %d %q, want exit 1 naming the repository", reader, code, errOut)
	}

	// staging → bundles in the same project: every blob mounted, none
	// uploaded.
	code, out, errOut := keyRun{stdin: "imp-secret\n"}.run(t, "copy", "--json", "--key", e.pubA, "--ca-file", ca,
		"--username", importer, "--password-stdin", host+"/julia/staging:v1", host+"/julia/bundles")
	var sum copyJSON
	if code != ExitOK || json.Unmarshal([]byte(out), &sum) != nil || len(sum.Bundles) != 1 {
		t.Fatalf("copy between projects' repositories = %d\n%s\n%s", code, out, errOut)
	}
	uploads, mounts := counter.get("julia/bundles")
	if b := sum.Bundles[0]; uploads != 0 || mounts == 0 || b.Mounted != mounts || !b.Verified || b.Signers[0] != e.idA {
		t.Errorf("copy: %d uploads, %d mounts; record %+v; want 0 uploads, every blob mounted", uploads, mounts, b)
	}

	// verify with the pull-only robot.
	code, out, errOut = keyRun{stdin: "read-secret\n"}.run(t, "verify", "--key", e.pubA, "--ca-file", ca,
		"--username", reader, "--password-stdin", host+"/julia/bundles:v1")
	if code != ExitOK || !strings.Contains(out, "  signature  ok: signed by "+e.idA) {
		t.Errorf("verify as %s = %d\n%s\n%s", reader, code, out, errOut)
	}

	// From another project with separate credentials per side: the
	// importer has no pull in lab, so the registry refuses the mount and
	// the blobs are copied.
	code, _, errOut = keyRun{stdin: "lab-secret\n"}.run(t, "copy", "-q", "--key", e.pubA, "--ca-file", ca,
		"--username", "robot$lab+pusher", "--password-stdin", host+"/julia/staging:v1", host+"/lab/bundles")
	if code != ExitError || !strings.Contains(errOut, "repository julia/staging: registry authentication failed") {
		t.Errorf("copy as robot$lab+pusher out of julia = %d %q, want the source refused", code, errOut)
	}
	code, _, errOut = keyRun{stdin: "read-secret\nlab-secret\n"}.run(t, "copy", "-q", "--key", e.pubA, "--ca-file", ca,
		"--from-username", reader, "--from-password-stdin", "--to-username", "robot$lab+pusher", "--to-password-stdin",
		host+"/julia/bundles:v1", host+"/lab/bundles")
	if code != ExitOK {
		t.Fatalf("copy julia → lab with --from-/--to- credentials = %d: %s", code, errOut)
	}
	uploads, mounts = counter.get("lab/bundles")
	if uploads == 0 || mounts != 0 {
		t.Errorf("copy julia → lab: %d uploads, %d mounts; want the blobs uploaded (the mount is refused)", uploads, mounts)
	}

	// A lab registry over plain HTTP with basic auth → this one over TLS
	// with tokens: each side its own settings.
	lab := testregistry.New(t, testregistry.Options{Htpasswd: map[string]string{"lab": "lab-pass"}})
	code, _, errOut = runTest(t, "copy", "-q", "--key", e.pubA, "--plain-http", host+"/julia/bundles:v1", lab.Host()+"/mirror/bundles")
	if code != ExitError {
		t.Errorf("copy with --plain-http for both sides = %d, want 1 (the TLS registry): %s", code, errOut)
	}
	code, _, errOut = keyRun{stdin: "read-secret\nlab-pass\n"}.run(t, "copy", "-q", "--key", e.pubA,
		"--from-ca-file", ca, "--from-username", reader, "--from-password-stdin",
		"--to-plain-http", "--to-username", "lab", "--to-password-stdin", host+"/julia/bundles:v1", lab.Host()+"/mirror/bundles")
	if code != ExitOK {
		t.Fatalf("copy harbor (TLS, token) → lab (plain HTTP, basic) = %d: %s", code, errOut)
	}
	code, _, errOut = keyRun{stdin: "lab-pass\n"}.run(t, "copy", "-q", "--key", e.pubA, "--from-plain-http",
		"--from-username", "lab", "--from-password-stdin", "--to-ca-file", ca, "--to-username", importer,
		lab.Host()+"/mirror/bundles:v1", host+"/julia/fromlab")
	if code != ExitUsage || !strings.Contains(errOut, "DST has a user name") {
		t.Errorf("copy without DST's password = %d %q, want a usage error", code, errOut)
	}
	code, _, errOut = keyRun{stdin: "lab-pass\n"}.run(t, "copy", "-q", "--key", e.pubA, "--password-stdin",
		"--from-password-stdin", lab.Host()+"/mirror/bundles:v1", host+"/julia/fromlab")
	if code != ExitUsage || !strings.Contains(errOut, "exclude each other") {
		t.Errorf("copy with --password-stdin and --from-password-stdin = %d %q, want a usage error", code, errOut)
	}
	code, _, errOut = keyRun{stdin: "lab-pass\nimp-secret\n"}.run(t, "copy", "-q", "--key", e.pubA, "--from-plain-http",
		"--from-username", "lab", "--from-password-stdin", "--to-ca-file", ca, "--to-username", importer, "--to-password-stdin",
		lab.Host()+"/mirror/bundles:v1", host+"/julia/fromlab")
	if code != ExitOK {
		t.Fatalf("copy lab (plain HTTP, basic) → harbor (TLS, token) = %d: %s", code, errOut)
	}

	// serve with the pull-only robot: a Pkg-faithful install works, and
	// every token serve asked for is for pull alone.
	before := len(reg.Tokens().Grants())
	addr, _, stop := serveHarnessIn(t, "read-secret\n", "--store", host+"/julia/fromlab", "--key", e.pubA, "--ca-file", ca,
		"--username", reader, "--password-stdin", "--addr", "127.0.0.1:0", "--reload-interval", "0")
	c, err := pkgclient.New("http://"+addr, pkgclient.Options{Depot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := julia.ParseManifest(e.manifestPath, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddRegistry(context.Background(), w.Registries[0].UUID); err != nil {
		t.Fatalf("Registry.add through serve over Harbor: %v", err)
	}
	res, err := c.Instantiate(context.Background(), m)
	if err != nil {
		t.Fatalf("Instantiate through serve over Harbor: %v\n%v", err, c.Requests())
	}
	want := 0
	for _, me := range m.Entries {
		if !me.TreeHash.IsZero() {
			want++
		}
	}
	if len(res.Packages) != want || len(res.Artifacts) == 0 {
		t.Errorf("installed %d packages and %d artifacts; the manifest has %d packages with artifacts", len(res.Packages), len(res.Artifacts), want)
	}
	if code, errOut := stop(); code != 0 {
		t.Errorf("serve exit %d: %s", code, errOut)
	}
	grants := reg.Tokens().Grants()[before:]
	if len(grants) == 0 {
		t.Fatal("serve asked for no token")
	}
	for _, g := range grants {
		if g.Account != reader {
			t.Errorf("serve authenticated as %q", g.Account)
		}
		for _, s := range g.Scopes {
			if !strings.HasSuffix(s, ":pull") {
				t.Errorf("serve asked for scope %q; want pull only", s)
			}
		}
	}
}
