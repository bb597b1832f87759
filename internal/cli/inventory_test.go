package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

func Test_runInventory(t *testing.T) {
	e := trustSetup(t)
	code, out, errOut := runTest(t, "inventory", e.layout)
	if code != ExitOK {
		t.Fatalf("inventory = %d %s", code, errOut)
	}
	inv, err := transfer.ReadInventory(strings.NewReader(out))
	if err != nil {
		t.Fatalf("reading the inventory: %v\n%s", err, out)
	}
	b := readBundleOf(t, e.layout, "v1")
	if len(inv.Bundles) != 1 || inv.Bundles[0].Tag != "v1" || inv.Bundles[0].Digest.String() != e.digest || len(inv.Items) != len(b.Entries) {
		t.Errorf("inventory = %d bundles %v, %d items; want v1 %s, %d items", len(inv.Bundles), inv.Bundles, len(inv.Items), e.digest, len(b.Entries))
	}
	// -o writes the same bytes.
	file := filepath.Join(t.TempDir(), "inv.json")
	if code, _, errOut := runTest(t, "inventory", "-o", file, e.layout); code != ExitOK {
		t.Fatalf("inventory -o = %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(file); string(got) != out {
		t.Errorf("inventory -o wrote\n%s\nwant\n%s", got, out)
	}
	if code, _, errOut := runTest(t, "inventory", e.layout+":v1"); code != ExitUsage || !strings.Contains(errOut, "inventory lists a whole store") {
		t.Errorf("inventory STORE:TAG = %d %q", code, errOut)
	}
}

// Test_delta is the air-gap update loop through the CLI: inventory inside,
// push a delta outside, verify it --with the inside store, copy it in.
func Test_delta(t *testing.T) {
	e := trustSetup(t)
	w, static := testWorld(t)
	dir := t.TempDir()
	inside := copyLayout(t, e.layout) // holds v1, signed as a copy would have brought it
	if code, _, errOut := signWith(t, e.keyA, "-q", inside+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	inv := filepath.Join(dir, "inv.json")
	if code, _, errOut := runTest(t, "inventory", "-o", inv, inside); code != ExitOK {
		t.Fatalf("inventory: %s", errOut)
	}
	stick := filepath.Join(dir, "stick")
	args := []string{"push", "-q", "--json", "--from", "file://" + static, "--inventory", inv, "--platform", "x86_64-linux-gnu"}
	for _, m := range w.Manifests {
		args = append(args, "--manifest", m)
	}
	code, out, errOut := runTest(t, append(args, stick+":v2")...)
	if code != ExitOK {
		t.Fatalf("push --inventory = %d %s", code, errOut)
	}
	var sum pushJSON
	json.Unmarshal([]byte(out), &sum)
	if sum.Reused == 0 || sum.Stored == 0 {
		t.Errorf("delta push: stored %d, reused %d; want both > 0", sum.Stored, sum.Reused)
	}
	if code, _, errOut := signWith(t, e.keyA, "-q", stick+":v2"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	// Alone, the delta lacks what the inside has.
	code, out, _ = runTest(t, "verify", "--key", e.pubA, stick+":v2")
	if code != ExitVerify || !strings.Contains(out, "  integrity  FAILED: ") || !strings.Contains(out, ": not found\n") {
		t.Errorf("verify of the delta alone = %d\n%s", code, out)
	}
	// With the inside store, it verifies, and every manifest pins down.
	code, out, errOut = runTest(t, "verify", "--key", e.pubA, "--with", inside, stick+":v2")
	if code != ExitOK || !strings.Contains(out, "verified 1 bundle") {
		t.Errorf("verify --with = %d\n%s\n%s", code, out, errOut)
	}
	// copy verifies against DST itself, and fills the inside store.
	code, _, errOut = runTest(t, "copy", "--key", e.pubA, stick+":v2", inside)
	if code != ExitOK {
		t.Fatalf("copy of the delta = %d %s", code, errOut)
	}
	args = []string{"verify", "--key", e.pubA, "--deep", inside}
	for _, m := range w.Manifests {
		args = append(args, "--manifest", m)
	}
	code, out, errOut = runTest(t, args...)
	if code != ExitOK || !strings.Contains(out, "verified 2 bundles") {
		t.Errorf("verify of the inside store after the delta = %d\n%s\n%s", code, out, errOut)
	}

	// A broken inventory is a usage error naming the file.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schemaVersion":9}`), 0o644)
	code, _, errOut = runTest(t, "push", "-q", "--from", "file://"+static, "--inventory", bad, "--manifest", w.Manifests[0], filepath.Join(dir, "x")+":v1")
	if code != ExitUsage || !strings.Contains(errOut, "--inventory "+bad+": inventory: schemaVersion 9, want 1: invalid inventory") {
		t.Errorf("push with a bad inventory = %d %q", code, errOut)
	}
}
