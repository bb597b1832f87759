package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
)

// serveRun starts `shoebox serve args…` with hooks for the moment the port
// is bound and the moment the first load is done; stop cancels it and
// returns the exit code and stderr.
type serveRun struct {
	listening, ready chan string
	done             chan int
	stop             func() (int, string)
}

func startServe(t *testing.T, args ...string) *serveRun {
	t.Helper()
	r := &serveRun{listening: make(chan string, 1), ready: make(chan string, 1), done: make(chan int, 1)}
	serveTestHooks = &serveHooks{listening: func(a string) { r.listening <- a }, ready: func(a string) { r.ready <- a },
		reload: make(chan struct{}), reloaded: make(chan struct{})}
	t.Cleanup(func() { serveTestHooks = nil })
	var errb syncBuffer
	f := &Factory{Streams: Streams{In: strings.NewReader(""), Out: io.Discard, Err: &errb},
		Now: time.Now, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- run(ctx, f, append([]string{"serve"}, args...)) }()
	var once sync.Once
	var code int
	r.stop = func() (int, string) {
		once.Do(func() { cancel(); code = <-r.done })
		return code, errb.String()
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// The port is bound before the first load: while it runs, /healthz says
// 503 "not loaded yet" (a load balancer sees the server, not a refused
// connection). A store that cannot be read yet (here: a repository the
// registry does not know, which a copy may create) leaves serve running at
// 503 with the cause, retrying; SIGTERM (cancel) then exits 0.
func TestServe_BindsBeforeFirstLoad(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		// No such repository (yet): not a reason to stop, and not retried
		// by the registry client either (a 5xx would be, with backoff).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`))
	}))
	defer reg.Close()
	defer once.Do(func() { close(release) })
	host := strings.TrimPrefix(reg.URL, "http://")
	r := startServe(t, host+"/julia/bundles", "--plain-http", "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "1h")
	addr := <-r.listening
	code, body, _ := httpGet(t, "http://"+addr+"/healthz")
	if code != 503 || body != "unavailable: not loaded yet\n" {
		t.Errorf("/healthz during the first load = %d %q, want 503 not loaded yet", code, body)
	}
	once.Do(func() { close(release) })
	<-r.ready
	code, body, _ = httpGet(t, "http://"+addr+"/healthz")
	if code != 503 || body != "unavailable: no bundle in "+host+"/julia/bundles\n" {
		t.Errorf("/healthz after loading an empty repository = %d %q", code, body)
	}
	if code, errOut := r.stop(); code != 0 || !strings.Contains(errOut, "serving nothing") {
		t.Errorf("serve after SIGTERM: exit %d, log:\n%s", code, errOut)
	}

	// A registry that is down: serve runs, says why, and keeps trying.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	r = startServe(t, down+"/julia/bundles", "--plain-http", "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "1h")
	addr = <-r.ready
	code, body, _ = httpGet(t, "http://"+addr+"/healthz")
	if code != 503 || !strings.HasPrefix(body, "unavailable: store "+down+"/julia/bundles could not be read: ") || !strings.Contains(body, "connection refused") {
		t.Errorf("/healthz with the registry down = %d %q", code, body)
	}
	if code, errOut := r.stop(); code != 0 || !strings.Contains(errOut, "reload failed; serving what was verified before") {
		t.Errorf("serve after SIGTERM: exit %d, log:\n%s", code, errOut)
	}
}

// A first load that can never succeed stops serve with the cause and a
// non-zero exit, instead of running at 503 forever.
func TestServe_FirstLoadThatCannotSucceed(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	_, signA := keyPair(t)
	pubB, _ := keyPair(t)
	st := openRW(t, dest)
	signA(st, "v1")
	st.Close()
	reg := testregistry.New(t, testregistry.Options{})

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		msg, log string
	}{
		{"tag not found", []string{dest + ":v9", "--insecure-no-verify"}, ExitNotFound,
			"shoebox: serve oci-layout:" + dest + ":v9: oci-layout:" + dest + ":v9: v9: not found\n", ""},
		{"no trusted key", []string{dest, "--key", pubB}, ExitVerify,
			"shoebox: serve oci-layout:" + dest + ": no trusted key signed any bundle (check --key / --policy): no verified bundle in oci-layout:" + dest + ": 1 found, all rejected: v1: ", ""},
		{"HTTPS to a plain HTTP registry", []string{reg.Host() + "/julia/x", "--insecure-no-verify"}, ExitError,
			"server gave HTTP response to HTTPS client", "hint: the registry speaks plain HTTP: add --plain-http (labs only)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startServe(t, append(tc.args, "--addr", "127.0.0.1:0", "--reload-interval", "1h")...)
			<-r.listening
			select {
			case <-r.ready:
				t.Fatalf("serve went on after a first load that cannot succeed")
			case code := <-r.done:
				r.done <- code
			}
			code, errOut := r.stop()
			if code != tc.code || !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, tc.log) ||
				!strings.Contains(errOut, "first load failed; it cannot succeed without a change of flags or store") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d with %q and %q", code, errOut, tc.code, tc.msg, tc.log)
			}
		})
	}
}

// /metrics: the latency histogram by resource kind, shoebox_build_info,
// the Go runtime and process collectors; the JSON access log names its
// units and the user agent.
func TestServe_MetricsAndAccessLog(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	pushTag(t, static, w.Manifests[0], dest, "v1")
	oldV, oldC := Version, Commit
	Version, Commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	t.Cleanup(func() { Version, Commit = oldV, oldC })

	addr, _, stop := serveHarness(t, dest, "--insecure-no-verify", "--addr", "127.0.0.1:0", "--reload-interval", "0", "--log-format", "json",
		"--drain-timeout", "250ms")
	base := "http://" + addr
	ro := openRW(t, dest)
	d, _ := ro.Resolve(context.Background(), "v1")
	b, err := bundle.Read(context.Background(), ro, d)
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	pkg := ""
	for _, e := range b.Entries {
		if e.Kind == bundle.KindPackage {
			pkg = "/package/" + e.UUID.String() + "/" + e.TreeHash.String()
			break
		}
	}
	for range 3 {
		if code, _, _ := httpGet(t, base+pkg); code != 200 {
			t.Fatalf("GET %s = %d", pkg, code)
		}
	}
	httpGet(t, base+"/package/00000000-0000-0000-0000-000000000000/0000000000000000000000000000000000000000")
	code, m, _ := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"# TYPE shoebox_serve_request_duration_seconds histogram\n",
		`shoebox_serve_request_duration_seconds_count{kind="package"} 4` + "\n",
		`shoebox_serve_request_duration_seconds_bucket{kind="package",le="+Inf"} 4` + "\n",
		`shoebox_build_info{commit="0123456789abcdef0123456789abcdef01234567",goversion="` + runtime.Version() + `",platform="` + runtime.GOOS + "/" + runtime.GOARCH + `",version="v1.2.3"} 1` + "\n",
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, errOut := stop()
	if code != 0 {
		t.Errorf("serve exit %d after SIGTERM, want 0", code)
	}
	line := regexp.MustCompile(`(?m)^\{.*"msg":"request".*"path":"` + regexp.QuoteMeta(pkg) + `".*$`).FindString(errOut)
	if !regexp.MustCompile(`"duration_ms":[0-9.e-]+,`).MatchString(line) || !strings.Contains(line, `"user_agent":"Go-http-client/1.1"`) ||
		strings.Contains(line, `"duration":`) {
		t.Errorf("access log line %q: want duration_ms and user_agent", line)
	}
	if !strings.Contains(errOut, `"msg":"shutting down","drain_timeout_ms":250`) || !strings.Contains(errOut, `"reload_interval_ms":0`) {
		t.Errorf("log lacks the drain timeout or reload interval in ms:\n%s", errOut)
	}
}
