package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/pkgserver"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveHarness runs `shoebox serve args…` in the background and returns
// its address and a stop function returning the exit code and stderr.
func serveHarness(t *testing.T, args ...string) (addr string, hooks *serveHooks, stop func() (int, string)) {
	t.Helper()
	return serveHarnessIn(t, "", args...)
}

// serveHarnessIn is serveHarness with stdin as standard input.
func serveHarnessIn(t *testing.T, stdin string, args ...string) (addr string, hooks *serveHooks, stop func() (int, string)) {
	t.Helper()
	ready := make(chan string, 1)
	hooks = &serveHooks{ready: func(a string) { ready <- a }, reload: make(chan struct{}), reloaded: make(chan struct{}),
		missEvery: serveTestMissEvery}
	serveTestHooks = hooks
	t.Cleanup(func() { serveTestHooks = nil })
	var errb syncBuffer
	f := &Factory{
		Streams: Streams{In: strings.NewReader(stdin), Out: io.Discard, Err: &errb},
		Now:     func() time.Time { return time.Unix(1e9, 0) },
		Getenv:  func(string) string { return "" },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, f, append([]string{"serve"}, args...)) }()
	select {
	case addr = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d before listening: %s", code, errb.String())
	}
	var once sync.Once
	var code int
	stop = func() (int, string) {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code, errb.String()
	}
	t.Cleanup(func() { stop() })
	return addr, hooks, stop
}

// serveTestMissEvery, when set, is the missEvery of the servers
// serveHarness starts.
var serveTestMissEvery *time.Duration

// reloadServer forces a reload of the server of hooks and waits for it.
func reloadServer(t *testing.T, hooks *serveHooks) {
	t.Helper()
	hooks.reload <- struct{}{}
	<-hooks.reloaded
}

// serveTestReload forces a reload of the running server and waits for it.
func serveTestReload(t *testing.T) {
	t.Helper()
	h := serveTestHooks
	h.reload <- struct{}{}
	<-h.reloaded
}

func httpGet(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// keyPair writes a demo key pair and returns the public key file and a
// signer.
func keyPair(t *testing.T) (string, func(st *store.Store, tag string)) {
	t.Helper()
	priv, pub, err := trust.GenerateKey(trust.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(t.TempDir(), "team.pub")
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := trust.LoadPrivateKeyPEM(priv, func(bool) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	return pubFile, func(st *store.Store, tag string) {
		t.Helper()
		d, err := st.Resolve(context.Background(), tag)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := trust.Sign(context.Background(), st, d, signer, trust.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func pushTag(t *testing.T, static, manifest, dest, tag string) {
	t.Helper()
	if code, _, errOut := runTest(t, "push", "--from", "file://"+static, "--manifest", manifest, "--platform", "x86_64-linux-gnu", "-q", dest+":"+tag); code != 0 {
		t.Fatalf("push %s: exit %d: %s", tag, code, errOut)
	}
}

func openRW(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func metaOf(t *testing.T, addr string) map[string]any {
	t.Helper()
	code, body, _ := httpGet(t, "http://"+addr+"/meta")
	if code != 200 {
		t.Fatalf("/meta = %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("/meta %q: %v", body, err)
	}
	return m
}

func bundleTags(m map[string]any) string {
	var tags []string
	for _, b := range m["bundles"].([]any) {
		bm := b.(map[string]any)
		signers := []string{}
		for _, s := range bm["signers"].([]any) {
			signers = append(signers, s.(string))
		}
		var names []string
		for _, n := range bm["tags"].([]any) {
			names = append(names, n.(string))
		}
		tags = append(tags, strings.Join(names, ",")+"["+strings.Join(signers, ",")+"]")
	}
	return strings.Join(tags, " ")
}

func Test_runServe_Usage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"serve"}, "shoebox: serve needs a STORE: oci-layout:PATH[:TAG], a path, or REGISTRY/REPO[:TAG]\n"},
		{[]string{"serve", "a", "b"}, "shoebox: shoebox serve takes one STORE[:TAG] (got 2 arguments)\n"},
		{[]string{"serve", "--store", "a", "b"}, "shoebox: STORE \"b\" and --store \"a\" disagree: give one\n"},
		{[]string{"serve", "."}, "shoebox: serve needs a trust policy: --policy FILE or --key PUB (or --insecure-no-verify, labs only)\n"},
		{[]string{"serve", "--store", "."}, "shoebox: serve needs a trust policy: --policy FILE or --key PUB (or --insecure-no-verify, labs only)\n"},
		{[]string{"serve", "--store", ".", "--key", "k.pub", "--insecure-no-verify"}, "shoebox: --policy, --key and --insecure-no-verify exclude each other\n"},
		{[]string{"serve", "--store", ".", "--insecure-no-verify", "--registry-view", "some"}, "shoebox: --registry-view \"some\": want available or full\n"},
		{[]string{"serve", "--store", ".", "--insecure-no-verify", "--tls-cert", "c.pem"}, "shoebox: --tls-cert and --tls-key go together\n"},
		{[]string{"serve", "--store", ".", "--insecure-no-verify", "--cache-dir", "c", "--cache-size", "lots"}, "shoebox: --cache-size \"lots\": want a size such as 500M or 50GiB, or 0\n"},
	} {
		code, out, errOut := runTest(t, tc.args...)
		if code != ExitUsage || out != "" || errOut != tc.msg+"Run 'shoebox --help' for usage.\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.msg)
		}
	}
}

func Test_runServe_PrintClientConfig(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	pub, sign := keyPair(t)
	st := openRW(t, dest)
	sign(st, "v1")
	st.Close()

	// The hash the server will advertise.
	ro := openRW(t, dest)
	set, err := shelf.NewSet(ro, shelf.SetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh, _, err := set.Load(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	src, err := pkgserver.NewBundleSource(context.Background(), sh, pkgserver.SourceOptions{})
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	v := src.Views()[0]

	code, out, errOut := runTest(t, "serve", "--store", dest, "--key", pub, "--print-client-config", "--url", "http://pkg.example.org:8000/")
	want := `JULIA_PKG_SERVER=http://pkg.example.org:8000

Set it for every Julia user; keep the explicit http:// (without a scheme Pkg assumes https):
  export JULIA_PKG_SERVER=http://pkg.example.org:8000                 # sh, bash, zsh
  ENV["JULIA_PKG_SERVER"] = "http://pkg.example.org:8000"         # ~/.julia/config/startup.jl

Registries served (available view):
  ` + padRight(v.Name, 20) + ` ` + v.UUID.String() + `  ` + v.Hash.String() + `

First run from an empty depot:
  General is not served, so Pkg would try to git clone it from GitHub and fail offline.
  Add the served registries first:
    julia -e 'using Pkg; Pkg.Registry.add(uuid="` + v.UUID.String() + `")'   # ` + v.Name + `
`
	if code != 0 || out != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", code, out, want, errOut)
	}
}

func padRight(s string, n int) string {
	for len(s) < n {
		s += " "
	}
	return s
}

func Test_runServe(t *testing.T) {
	w, static := testWorld(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	pushTag(t, static, w.Manifests[2], dest, "v2")
	pub, sign := keyPair(t)
	st := openRW(t, dest)
	sign(st, "v1")
	st.Close()

	// --memory-cache 0 --cache-size 0: the tampering below happens after
	// the item was served once; with the memory cache or a private copy
	// its verified bytes (the right ones) would keep being served, which
	// pkg/pkgserver's tests cover.
	addr, _, stop := serveHarness(t, "--store", dest, "--key", pub, "--addr", "127.0.0.1:0", "--reload-interval", "0", "--log-format", "json",
		"--memory-cache", "0", "--cache-size", "0")
	base := "http://" + addr
	if code, body, _ := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	m := metaOf(t, addr)
	if got := bundleTags(m); got != "v1["+keyIDOf(t, pub)+"]" {
		t.Errorf("/meta bundles = %s, want v1 signed by the key", got)
	}
	// v2 is unsigned: its own items are not served.
	ro := openRW(t, dest)
	only := itemOnlyIn(t, ro, "v2", "v1")
	ro.Close()
	if code, _, _ := httpGet(t, base+only); code != 404 {
		t.Errorf("GET %s (only in unsigned v2) = %d, want 404", only, code)
	}

	// Signing v2 while serving: served after a reload.
	st = openRW(t, dest)
	sign(st, "v2")
	st.Close()
	serveTestReload(t)
	if code, _, _ := httpGet(t, base+only); code != 200 {
		t.Errorf("GET %s after signing v2 and reloading = %d, want 200", only, code)
	}
	if got := bundleTags(metaOf(t, addr)); got != "v1["+keyIDOf(t, pub)+"] v2["+keyIDOf(t, pub)+"]" {
		t.Errorf("/meta bundles after signing v2 = %s", got)
	}
	code, metrics, _ := httpGet(t, base+"/metrics")
	for _, l := range []string{"shoebox_serve_up 1\n", "shoebox_serve_bundles 2\n", `shoebox_serve_reloads_total{result="ok"} 2` + "\n",
		`shoebox_serve_requests_total{kind="package",status="404"} 1` + "\n"} {
		if code != 200 || !strings.Contains(metrics, l) {
			t.Errorf("/metrics lacks %q:\n%s", l, metrics)
		}
	}

	// A tampered blob: the transfer is cut, and the item is withdrawn (404),
	// also after a reload; the bundles stay, with their other items.
	ro = openRW(t, dest)
	e := itemEntry(t, ro, only)
	ro.Close()
	blob := filepath.Join(dest, "blobs", "sha256", e.Whole.Digest.Encoded())
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := httpGet(t, base+only); code == 200 && int64(len(body)) == e.Whole.Size {
		t.Errorf("GET %s of a tampered blob: complete 200", only)
	}
	serveTestReload(t)
	if code, _, _ := httpGet(t, base+only); code != 404 {
		t.Errorf("GET %s after reload = %d, want 404", only, code)
	}
	if got := bundleTags(metaOf(t, addr)); got != "v1["+keyIDOf(t, pub)+"] v2["+keyIDOf(t, pub)+"]" {
		t.Errorf("/meta bundles after tampering with v2 = %s, want both", got)
	}
	if code, metrics, _ := httpGet(t, base+"/metrics"); code != 200 || !strings.Contains(metrics, "shoebox_serve_withdrawals_total 1\n") ||
		!strings.Contains(metrics, "shoebox_serve_withdrawn_items 1\n") {
		t.Errorf("/metrics does not count the withdrawal:\n%s", metrics)
	}

	code, errOut := stop()
	if code != 0 {
		t.Errorf("serve exit %d after cancel, want 0", code)
	}
	for _, s := range []string{`"msg":"bundle rejected: not served","tag":"v2"`, `"reason":"sha256:`, `unsigned`,
		`"msg":"bundle verified","tag":"v1"`, `"msg":"item withdrawn: not served until its blob changes and verifies"`, `"msg":"shutting down"`} {
		if !strings.Contains(errOut, s) {
			t.Errorf("log lacks %q:\n%s", s, errOut)
		}
	}
}

func Test_runServe_NothingVerified(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	pub, _ := keyPair(t)
	addr, _, stop := serveHarness(t, "--store", dest, "--key", pub, "--addr", "127.0.0.1:0", "--reload-interval", "0")
	ro := openRW(t, dest)
	d, _ := ro.Resolve(context.Background(), "v1")
	ro.Close()
	want := "unavailable: no verified bundle in oci-layout:" + dest + ": 1 found, all rejected: v1: " + d.Digest.String() + ": unsigned"
	for _, p := range []string{"/healthz", "/registries"} {
		code, body, _ := httpGet(t, "http://"+addr+p)
		if code != 503 || !strings.HasPrefix(body, want) {
			t.Errorf("%s = %d %q, want 503 %q…", p, code, body, want)
		}
	}
	if code, errOut := stop(); code != 0 || !strings.Contains(errOut, "serving nothing") {
		t.Errorf("exit %d, log:\n%s", code, errOut)
	}
}

// A bundle pushed while serving is picked up by the poll.
func Test_runServe_PollPicksUpNewBundle(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	addr, _, stop := serveHarness(t, "--store", dest, "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "20ms")
	pushTag(t, static, w.Manifests[2], dest, "v2")
	got := ""
	for range 1500 { // bounded (an event awaited; the bound only ends a failure): ~30 s
		if got = bundleTags(metaOf(t, addr)); got == "v1[] v2[]" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got != "v1[] v2[]" {
		t.Errorf("/meta bundles = %q, want v1 and v2 after the poll", got)
	}
	if code, errOut := stop(); code != 0 || !strings.Contains(errOut, "INSECURE: --insecure-no-verify") {
		t.Errorf("exit %d, log:\n%s", code, errOut)
	}
}

func keyIDOf(t *testing.T, pubFile string) string {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := trust.ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return trust.KeyID(k)
}

// itemOnlyIn returns the path of a package held by tag a but not by b.
func itemOnlyIn(t *testing.T, st *store.Store, a, b string) string {
	t.Helper()
	read := func(tag string) *bundle.Bundle {
		d, err := st.Resolve(context.Background(), tag)
		if err != nil {
			t.Fatal(err)
		}
		bb, err := bundle.Read(context.Background(), st, d)
		if err != nil {
			t.Fatal(err)
		}
		return bb
	}
	cat := bundle.NewCatalog(read(b))
	for _, e := range read(a).Entries {
		if e.Kind == bundle.KindPackage {
			if _, ok := cat.Package(e.UUID, e.TreeHash); !ok {
				return "/package/" + e.UUID.String() + "/" + e.TreeHash.String()
			}
		}
	}
	t.Fatalf("no package in %s that %s lacks", a, b)
	return ""
}

func itemEntry(t *testing.T, st *store.Store, path string) bundle.Entry {
	t.Helper()
	refs, err := shelf.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		b, err := bundle.Read(context.Background(), st, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entries {
			if "/package/"+e.UUID.String()+"/"+e.TreeHash.String() == path {
				return e
			}
		}
	}
	t.Fatalf("no item %s", path)
	return bundle.Entry{}
}

func Test_runServe_TLS(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	addr, _, stop := serveHarness(t, "--store", dest, "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "0",
		"--tls-cert", certFile, "--tls-key", keyFile)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.TLS == nil {
		t.Errorf("GET https /healthz = %d %q (TLS %v)", resp.StatusCode, body, resp.TLS != nil)
	}
	if code, errOut := stop(); code != 0 || !strings.Contains(errOut, "url=https://"+addr) {
		t.Errorf("exit %d, log:\n%s", code, errOut)
	}
}

// A tarball tampered with before start: by default serve reads no blob at
// start (the signed digest chain pins every tarball), so the bundle is
// served, but the tampered tarball is never delivered complete: its first
// GET is cut off and withdraws it, also across a forced reload, while the
// bundle's other items are served. With --check-blobs the bundle is
// rejected at start.
func Test_runServe_TamperedBeforeStart(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	ro := openRW(t, dest)
	d, err := ro.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(context.Background(), ro, d)
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	var e bundle.Entry
	for _, x := range b.Entries {
		if x.Kind == bundle.KindPackage {
			e = x
			break
		}
	}
	path := "/package/" + e.UUID.String() + "/" + e.TreeHash.String()
	blob := filepath.Join(dest, "blobs", "sha256", e.Whole.Digest.Encoded())
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("default", func(t *testing.T) {
		addr, _, stop := serveHarness(t, "--store", dest, "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "0", "--log-format", "json")
		base := "http://" + addr
		if got := bundleTags(metaOf(t, addr)); got != "v1[]" {
			t.Errorf("/meta bundles = %s, want v1 (blobs are not read at start)", got)
		}
		if code, body, _ := httpGet(t, base+path); code == 200 && int64(len(body)) == e.Whole.Size {
			t.Errorf("GET %s of a tampered blob: complete 200", path)
		}
		if code, _, _ := httpGet(t, base+path); code != 404 {
			t.Errorf("GET %s again = %d, want 404 (withdrawn)", path, code)
		}
		serveTestReload(t)
		if got := bundleTags(metaOf(t, addr)); got != "v1[]" {
			t.Errorf("/meta bundles after a reload = %q, want v1", got)
		}
		if code, _, _ := httpGet(t, base+path); code != 404 {
			t.Errorf("GET %s after a reload = %d, want 404 (still withdrawn)", path, code)
		}
		if code, errOut := stop(); code != 0 || !strings.Contains(errOut, `"msg":"item withdrawn: not served until its blob changes and verifies"`) {
			t.Errorf("exit %d, log:\n%s", code, errOut)
		}
	})
	t.Run("check-blobs", func(t *testing.T) {
		addr, _, stop := serveHarness(t, "--store", dest, "--insecure-no-verify", "--check-blobs", "--addr", "127.0.0.1:0", "--reload-interval", "0", "--log-format", "json")
		if code, _, _ := httpGet(t, "http://"+addr+"/healthz"); code != 503 {
			t.Errorf("/healthz = %d, want 503 (the only bundle failed its check)", code)
		}
		if code, _, _ := httpGet(t, "http://"+addr+path); code != 404 {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
		if code, errOut := stop(); code != 0 || !strings.Contains(errOut, `"msg":"bundle rejected: not served"`) {
			t.Errorf("exit %d, log:\n%s", code, errOut)
		}
	})
}
