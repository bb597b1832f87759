package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// Test_runServe_Replicas: two servers over one registry that reload at
// different moments. A bundle copied in changes the registry view; one
// server reloads and advertises the new view, the other not yet. No hash
// either advertised answers 404 from either: the one that reloaded keeps
// the view it advertised before, the other reloads when asked for what it
// does not have, and a third started afterwards without any cache makes
// the old view again from the bundles, byte for byte.
func Test_runServe_Replicas(t *testing.T) {
	w, static := testWorld(t)
	reg := testregistry.New(t, testregistry.Options{})
	repo := reg.Host() + "/julia/bundles"
	pub, sign := keyPair(t)
	push := func(tag, manifest, created string) {
		t.Helper()
		if code, _, errOut := runTest(t, "push", "-q", "--plain-http", "--from", "file://"+static, "--manifest", manifest,
			"--platform", "x86_64-linux-gnu", "--created", created, repo+":"+tag); code != 0 {
			t.Fatalf("push %s: %s", tag, errOut)
		}
		st, err := store.Open(context.Background(), store.Reference{Kind: store.Remote, Registry: reg.Host(), Repository: "julia/bundles"},
			store.Options{PlainHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		sign(st, tag)
	}
	push("2026-01", w.Manifests[0], "2026-01-01T00:00:00Z")

	zero := time.Duration(0)
	serveTestMissEvery = &zero
	t.Cleanup(func() { serveTestMissEvery = nil })
	args := []string{"--store", repo, "--plain-http", "--key", pub, "--addr", "127.0.0.1:0", "--reload-interval", "0"}
	addrA, _, stopA := serveHarness(t, args...)
	addrB, hooksB, stopB := serveHarness(t, args...)
	a, b := "http://"+addrA, "http://"+addrB
	_, regsA, _ := httpGet(t, a+"/registries")
	_, regsB, _ := httpGet(t, b+"/registries")
	if regsA != regsB || !strings.HasPrefix(regsA, "/registry/") {
		t.Fatalf("two replicas over one store: /registries %q and %q", regsA, regsB)
	}
	v1 := strings.TrimSpace(regsA)
	_, v1bytes, _ := httpGet(t, a+v1)

	// A new bundle; B reloads, A does not.
	push("2026-02", w.Manifests[2], "2026-02-01T00:00:00Z")
	reloadServer(t, hooksB)
	_, regsB, _ = httpGet(t, b+"/registries")
	v2 := strings.TrimSpace(regsB)
	if v2 == v1 {
		t.Fatal("the second bundle left the view unchanged; the test needs one that changes it")
	}
	if _, regs, _ := httpGet(t, a+"/registries"); strings.TrimSpace(regs) != v1 {
		t.Fatalf("A reloaded on its own: %q", regs)
	}
	// B still serves the view it advertised before.
	if code, body, _ := httpGet(t, b+v1); code != 200 || body != v1bytes {
		t.Errorf("B: GET %s (advertised before its reload) = %d (%d bytes, same %v)", v1, code, len(body), body == v1bytes)
	}
	// A is asked for B's new view: it reloads and serves it, and B's
	// bytes are A's.
	code, v2bytes, _ := httpGet(t, a+v2)
	if code != 200 {
		t.Fatalf("A: GET %s (advertised by B) = %d", v2, code)
	}
	if _, fromB, _ := httpGet(t, b+v2); fromB != v2bytes {
		t.Error("A and B serve different bytes for one view")
	}
	if _, regs, _ := httpGet(t, a+"/registries"); strings.TrimSpace(regs) != v2 {
		t.Errorf("A after the miss: /registries %q, want %q", regs, v2)
	}
	_, metrics, _ := httpGet(t, a+"/metrics")
	if !strings.Contains(metrics, "shoebox_serve_miss_reloads_total 1\n") {
		t.Errorf("A's /metrics lacks one miss reload:\n%s", metrics)
	}
	// A still serves the view it advertised first.
	if code, body, _ := httpGet(t, a+v1); code != 200 || body != v1bytes {
		t.Errorf("A: GET %s after its reload = %d", v1, code)
	}
	// A replica started now, without a cache of views, makes v1 again.
	addrC, _, stopC := serveHarness(t, args...)
	if code, body, _ := httpGet(t, "http://"+addrC+v1); code != 200 || body != v1bytes {
		t.Errorf("C (started after both bundles): GET %s = %d, same bytes %v", v1, code, body == v1bytes)
	}
	// Junk hashes are still 404, from every replica.
	junk := v1[:len(v1)-40] + strings.Repeat("0", 40)
	for _, base := range []string{a, b, "http://" + addrC} {
		if code, _, _ := httpGet(t, base+junk); code != 404 {
			t.Errorf("GET %s%s = %d, want 404", base, junk, code)
		}
	}
	for _, stop := range []func() (int, string){stopA, stopB, stopC} {
		if code, errOut := stop(); code != 0 {
			t.Errorf("serve exit %d: %s", code, errOut)
		}
	}
}
