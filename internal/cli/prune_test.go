package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

func Test_runPrune_Usage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stick")
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"prune", dir}, ExitUsage, "--keep-last is required"},
		{[]string{"prune", dir, "--keep-last", "0"}, ExitUsage, "would retire every bundle"},
		{[]string{"prune", dir, "--keep-last", "-1"}, ExitUsage, "must not be negative"},
		{[]string{"prune", dir + ":v1", "--keep-last", "1"}, ExitUsage, "prune works on a whole store"},
		{[]string{"prune", dir, "--keep-last", "1"}, ExitNotFound, "no OCI layout there"},
	} {
		code, _, errOut := runTest(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v = %d %q, want %d %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
}

// Test_runPrune_WhileServing: prune retires the older bundle of a served
// layout; after its reload, serve keeps serving the kept bundle and the
// registry view, and what only the retired bundle held is gone.
func Test_runPrune_WhileServing(t *testing.T) {
	w, static := testWorld(t)
	dest := filepath.Join(t.TempDir(), "stick")
	for i, tag := range []string{"v1", "v2"} {
		m := w.Manifests[2*i]
		if code, _, errOut := runTest(t, "push", "--from", "file://"+static, "--manifest", m, "--platform", "x86_64-linux-gnu", "-q",
			"--created", "2026-0"+string(rune('1'+i))+"-01T00:00:00Z", dest+":"+tag); code != 0 {
			t.Fatalf("push %s: %s", tag, errOut)
		}
	}
	pub, sign := keyPair(t)
	st := openRW(t, dest)
	sign(st, "v1")
	sign(st, "v2")
	onlyV1 := itemOnlyIn(t, st, "v1", "v2")
	onlyV2 := itemOnlyIn(t, st, "v2", "v1")
	st.Close()

	addr, _, stop := serveHarness(t, "--store", dest, "--key", pub, "--addr", "127.0.0.1:0", "--reload-interval", "0")
	base := "http://" + addr
	_, before, _ := httpGet(t, base+"/registries")
	for _, p := range []string{onlyV1, onlyV2} {
		if code, _, _ := httpGet(t, base+p); code != 200 {
			t.Fatalf("GET %s before prune = %d", p, code)
		}
	}

	// A second writer waits for the lock, as with push.
	holder := openRW(t, dest)
	code, _, errOut := runTest(t, "prune", dest, "--keep-last", "1")
	if code != ExitError || !strings.Contains(errOut, store.ErrLocked.Error()) {
		t.Errorf("prune of a locked layout = %d %q", code, errOut)
	}
	holder.Close()

	code, out, errOut := runTest(t, "prune", dest, "--keep-last", "1", "--dry-run", "--json")
	var dry pruneJSON
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("prune --dry-run = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runTest(t, "prune", dest, "--keep-last", "1", "--json")
	var got pruneJSON
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("prune = %d\n%s\n%s", code, out, errOut)
	}
	if len(got.Kept) != 1 || got.Kept[0].Tags[0] != "v2" || len(got.Retired) != 1 || got.Retired[0].Tags[0] != "v1" ||
		got.Signatures != 2 || got.Entries != 3 || got.GarbageFiles == 0 || got.GarbageBytes == 0 || got.DryRun {
		t.Errorf("prune summary %+v", got)
	}
	dry.DryRun = false
	if a, b := mustJSON(t, dry), mustJSON(t, got); a != b {
		t.Errorf("dry run said\n%s\nthe run did\n%s", a, b)
	}
	// Again: nothing to retire, nothing left to collect.
	code, _, errOut = runTest(t, "prune", dest, "--keep-last", "1")
	if want := "keeping 1 bundles (v2); retired 0 (none) with 0 signature, attestation and referrer manifests\nremoved 0 index.json entries and 0 files nothing reaches (0 manifests, 0 blobs): 0 B\n"; code != 0 || !strings.HasSuffix(errOut, want) {
		t.Errorf("prune again = %d %q, want %q", code, errOut, want)
	}

	serveTestReload(t)
	if code, _, _ := httpGet(t, base+onlyV1); code != 404 {
		t.Errorf("GET %s (only in the retired v1) after prune = %d, want 404", onlyV1, code)
	}
	if code, _, _ := httpGet(t, base+onlyV2); code != 200 {
		t.Errorf("GET %s (in the kept v2) after prune = %d, want 200", onlyV2, code)
	}
	code, regs, _ := httpGet(t, base+"/registries")
	if code != 200 || !strings.HasPrefix(regs, "/registry/") {
		t.Fatalf("/registries after prune = %d %q", code, regs)
	}
	if code, _, _ := httpGet(t, base+strings.TrimSpace(regs)); code != 200 {
		t.Errorf("GET %s after prune = %d", strings.TrimSpace(regs), code)
	}
	// The view advertised before the prune (with v1's versions) stays
	// downloadable for clients that got it then.
	if strings.TrimSpace(before) == strings.TrimSpace(regs) {
		t.Errorf("the view did not change with v1 retired: %q", regs)
	}
	if code, _, _ := httpGet(t, base+strings.TrimSpace(before)); code != 200 {
		t.Errorf("GET %s (advertised before the prune) = %d, want 200", strings.TrimSpace(before), code)
	}
	if code, errOut := stop(); code != 0 {
		t.Errorf("serve = %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dest, ".shoebox.lock")); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
