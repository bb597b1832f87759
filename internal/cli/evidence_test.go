package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// evidenceStick pushes the test world's first manifest into a layout and
// writes OSV advisories about one package version it pins: TEST-1 (high,
// CVSS 3.1 7.5) affects it, TEST-2 is withdrawn, TEST-3 was fixed in that
// very version (build numbers count: it is fixed), TEST-4 has no CVSS
// vector (unknown). It returns the layout, the advisories directory and
// the package.
func evidenceStick(t *testing.T) (dest, advDir string, pkg julia.ManifestEntry) {
	t.Helper()
	w, static := testWorld(t)
	dest = filepath.Join(t.TempDir(), "stick")
	if code, _, errOut := runTest(t, "push", "--from", "file://"+static, "--manifest", w.Manifests[0], "-q", dest+":v1"); code != 0 {
		t.Fatalf("push exit %d: %s", code, errOut)
	}
	m, err := julia.ParseManifest(w.Manifests[0], mustReadFile(t, w.Manifests[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Entries {
		if e.Fetchable() && e.Version != "" {
			pkg = e
			break
		}
	}
	if pkg.Name == "" {
		t.Fatal("no registered package in the manifest")
	}
	v := julia.MustParseVersion(pkg.Version)
	next := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch+1)
	advDir = t.TempDir()
	adv := func(id, extra, events, severity string) {
		doc := fmt.Sprintf(`{"schema_version":"1.7.0","id":%q,"modified":"2026-07-01T00:00:00Z",%s"aliases":["CVE-2099-%s"],
"summary":"test advisory %s","severity":[%s],
"affected":[{"package":{"ecosystem":"Julia","name":%q,"purl":"pkg:julia/%s?uuid=%s"},
"ranges":[{"type":"SEMVER","events":[%s]}]}]}`, id, extra, id[5:], id, severity, pkg.Name, pkg.Name, pkg.UUID, events)
		if err := os.WriteFile(filepath.Join(advDir, id+".json"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	high := `{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}`
	adv("TEST-1", "", `{"introduced":"0"},{"fixed":"`+next+`"}`, high)
	adv("TEST-2", `"withdrawn":"2026-08-01T00:00:00Z",`, `{"introduced":"0"}`, high)
	adv("TEST-3", "", `{"introduced":"0"},{"fixed":"`+pkg.Version+`"}`, high)
	adv("TEST-4", "", `{"introduced":"0"},{"last_affected":"`+pkg.Version+`"}`, "")
	return dest, advDir, pkg
}

func Test_runAudit(t *testing.T) {
	dest, advDir, pkg := evidenceStick(t)
	code, out, errOut := runTest(t, "audit", "--advisories", advDir, dest+":v1")
	if code != 0 {
		t.Fatalf("audit exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "against 4 advisories (1 withdrawn, ignored)") || len(lines) != 5 ||
		strings.Join(strings.Fields(lines[2]), " ") != "unknown TEST-4 CVE-2099-4 "+pkg.Name+" "+pkg.Version+" - test advisory TEST-4" ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[3]), " "), "high 7.5 TEST-1 CVE-2099-1 "+pkg.Name+" "+pkg.Version+" ") ||
		lines[4] != "2 findings: 1 unknown, 1 high" {
		t.Errorf("audit output:\n%s", out)
	}

	code, out, _ = runTest(t, "audit", "--json", "--advisories", advDir, dest+":v1")
	var j auditJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 {
		t.Fatalf("audit --json = %d %q: %v", code, out, err)
	}
	if j.Advisories != 4 || j.Withdrawn != 1 || len(j.Findings) != 2 || j.Findings[1].ID != "TEST-1" ||
		j.Findings[1].Severity != "high" || j.Findings[1].Score != 7.5 || j.Findings[1].CVSSVersion != "3.1" ||
		j.Findings[1].UUID != pkg.UUID.String() || j.Findings[1].Fixed == "" || j.Findings[0].Severity != "unknown" {
		t.Errorf("audit --json = %+v", j)
	}

	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--fail-on", "high"}, 3, "2 advisories at or above high"},
		{[]string{"--fail-on", "critical"}, 3, "1 advisory at or above critical"}, // the unknown one
		{[]string{"--fail-on", "severe"}, 2, `--fail-on "severe"`},
		{[]string{"--fail-on", "none"}, 2, `--fail-on "none"`},
	} {
		code, _, errOut := runTest(t, append(append([]string{"audit", "--advisories", advDir}, tt.args...), dest+":v1")...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("audit %v = %d %q, want %d %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
	// With only the known-severity advisory, critical passes and high fails.
	os.Remove(filepath.Join(advDir, "TEST-4.json"))
	if code, _, errOut := runTest(t, "audit", "--fail-on", "critical", "--advisories", advDir, dest+":v1"); code != 0 {
		t.Errorf("--fail-on critical = %d: %s", code, errOut)
	}
	if code, _, _ := runTest(t, "audit", "--fail-on", "medium", "--advisories", advDir, dest+":v1"); code != 3 {
		t.Errorf("--fail-on medium = %d, want 3", code)
	}
	// Errors: no advisories, a broken one (named), a missing tag.
	if code, _, errOut := runTest(t, "audit", dest+":v1"); code != 2 || !strings.Contains(errOut, "carries no advisories: give --advisories") {
		t.Errorf("no --advisories = %d %q", code, errOut)
	}
	os.WriteFile(filepath.Join(advDir, "BAD.json"), []byte(`{"id":"BAD"}`), 0o644)
	if code, _, errOut := runTest(t, "audit", "--advisories", advDir, dest+":v1"); code != 1 || !strings.Contains(errOut, "BAD.json: advisory BAD: no modified time") {
		t.Errorf("broken advisory = %d %q", code, errOut)
	}
	os.Remove(filepath.Join(advDir, "BAD.json"))
	if code, _, _ := runTest(t, "audit", "--advisories", advDir, dest+":nope"); code != 4 {
		t.Errorf("missing tag = %d, want 4", code)
	}
}

func Test_runSBOM(t *testing.T) {
	dest, advDir, pkg := evidenceStick(t)
	code, out, errOut := runTest(t, "sbom", dest+":v1")
	if code != 0 {
		t.Fatalf("sbom exit %d: %s", code, errOut)
	}
	var bom struct {
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Purl string `json:"purl"`
		} `json:"components"`
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	if err := json.Unmarshal([]byte(out), &bom); err != nil {
		t.Fatal(err)
	}
	purl := "pkg:julia/" + pkg.Name + "@" + strings.ReplaceAll(pkg.Version, "+", "%2B") + "?uuid=" + pkg.UUID.String()
	found := false
	for _, c := range bom.Components {
		found = found || c.Purl == purl
	}
	if bom.SpecVersion != "1.6" || !found || len(bom.Vulnerabilities) != 0 {
		t.Errorf("sbom: spec %s, %s found %v, %d vulnerabilities", bom.SpecVersion, purl, found, len(bom.Vulnerabilities))
	}
	// The same bundle gives the same bytes; the store alone names its only bundle.
	if code, again, _ := runTest(t, "sbom", dest); code != 0 || again != out {
		t.Errorf("sbom of the store's only bundle differs (exit %d)", code)
	}
	code, withAdv, _ := runTest(t, "sbom", "--advisories", advDir, dest+":v1")
	if code != 0 || !strings.Contains(withAdv, `"id": "TEST-1"`) || strings.Contains(withAdv, `"id": "TEST-2"`) ||
		!strings.Contains(withAdv, `"ref": "`+purl+`"`) {
		t.Errorf("sbom --advisories = %d:\n%s", code, withAdv)
	}
	file := filepath.Join(t.TempDir(), "b.spdx.json")
	if code, _, errOut := runTest(t, "sbom", "--format", "spdx", "-o", file, dest+":v1"); code != 0 {
		t.Fatalf("sbom --format spdx exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil || !bytes.Contains(b, []byte(`"spdxVersion": "SPDX-2.3"`)) || !bytes.Contains(b, []byte(`"referenceLocator": "`+purl+`"`)) {
		t.Errorf("spdx file: %v\n%s", err, b)
	}
	if code, _, _ := runTest(t, "sbom", "--format", "xml", dest+":v1"); code != 2 {
		t.Errorf("--format xml = %d, want 2", code)
	}
	if code, _, _ := runTest(t, "sbom", dest+":nope"); code != 4 {
		t.Errorf("missing tag = %d, want 4", code)
	}
}

// Test_runPushAdvisories carries advisories in a bundle, audits the
// closure before writing, and refuses it with --fail-on.
func Test_runPushAdvisories(t *testing.T) {
	w, static := testWorld(t)
	_, advDir, pkg := evidenceStick(t)
	dest := filepath.Join(t.TempDir(), "stick")
	push := func(extra ...string) (int, string, string) {
		args := append([]string{"push", "--from", "file://" + static, "--manifest", w.Manifests[0]}, extra...)
		return runTest(t, append(args, dest+":v1")...)
	}
	// Refused outside: nothing is written, the layout stays as it was.
	code, _, errOut := push("--advisories", advDir, "--fail-on", "high")
	if code != 3 || !strings.Contains(errOut, "push refused: 2 advisories at or above high (--fail-on high)") ||
		!strings.Contains(errOut, "high 7.5  TEST-1") {
		t.Fatalf("push --fail-on high = %d:\n%s", code, errOut)
	}
	if code, out, _ := runTest(t, "ls", dest); code == 0 && strings.Contains(out, "v1") {
		t.Errorf("a refused push tagged v1:\n%s", out)
	}
	if code, _, errOut := push("--fail-on", "high"); code != 2 || !strings.Contains(errOut, "--fail-on needs --advisories") {
		t.Errorf("--fail-on alone = %d %q", code, errOut)
	}
	// Carried: the bundle holds the advisories; audit and sbom use them.
	code, out, errOut := push("--advisories", advDir, "--json")
	if code != 0 {
		t.Fatalf("push --advisories = %d: %s", code, errOut)
	}
	var sum pushJSON
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Items["advisories"] != 1 || sum.Audit == nil || sum.Audit.Advisories != 4 || len(sum.Audit.Findings) != 2 ||
		sum.Audit.Findings[1].ID != "TEST-1" || sum.Audit.Findings[1].Package != pkg.Name {
		t.Errorf("push --json = %+v, audit %+v", sum, sum.Audit)
	}
	code, out, _ = runTest(t, "audit", dest+":v1")
	if code != 0 || !strings.Contains(out, "against 4 advisories (1 withdrawn, ignored, carried in the bundle)") || !strings.Contains(out, "TEST-1") {
		t.Errorf("audit of the carried advisories = %d:\n%s", code, out)
	}
	code, out, _ = runTest(t, "sbom", dest+":v1")
	if code != 0 || !strings.Contains(out, `"id": "TEST-1"`) || !strings.Contains(out, `"name": "security advisories (OSV)"`) {
		t.Errorf("sbom of a bundle with advisories = %d", code)
	}
	// verify --deep accepts the advisories item (tree hash, Tar.jl rules).
	e := trustSetup(t)
	if code, _, errOut := signWith(t, e.keyA, dest+":v1"); code != 0 {
		t.Fatalf("sign = %d: %s", code, errOut)
	}
	if code, out, errOut := runTest(t, "verify", "--deep", "--key", e.pubA, dest+":v1"); code != 0 {
		t.Errorf("verify --deep = %d: %s%s", code, out, errOut)
	}
	// The same push again is up to date, audited all the same.
	code, _, errOut = push("--advisories", advDir, "--fail-on", "critical")
	if code != 3 || !strings.Contains(errOut, "is up to date") && !strings.Contains(errOut, "push refused") {
		t.Errorf("re-push --fail-on critical = %d: %s", code, errOut)
	}
}

func Test_runAttest(t *testing.T) {
	dest, _, _ := evidenceStick(t)
	e := trustSetup(t)
	attest := func(args ...string) (int, string, string) {
		return keyRun{env: map[string]string{"SHOEBOX_PASSWORD": testPassword}}.run(t, append([]string{"attest"}, args...)...)
	}
	// A policy that requires a signed CycloneDX attestation refuses the
	// signed but unattested bundle (exit 3), and says why.
	policy := filepath.Join(t.TempDir(), "trust.toml")
	if err := os.WriteFile(policy, []byte("require_attestations = [\"cyclonedx\"]\n[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := signWith(t, e.keyA, dest+":v1"); code != 0 {
		t.Fatalf("sign = %d: %s", code, errOut)
	}
	if code, out, errOut := runTest(t, "verify", "--policy", policy, dest+":v1"); code != 3 ||
		!strings.Contains(out+errOut, "missing a required attestation: no attestation signed by a policy key for cyclonedx") {
		t.Errorf("verify before attest = %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := attest("--key", e.keyA, "--json", dest+":v1")
	if code != 0 {
		t.Fatalf("attest = %d: %s", code, errOut)
	}
	var j attestJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatal(err)
	}
	if j.PredicateType != "https://cyclonedx.org/bom" || j.AttTag != "sha256-"+strings.TrimPrefix(j.Digest, "sha256:")+".att" || j.KeyID != e.idA {
		t.Errorf("attest --json = %+v", j)
	}
	// Again: the same attestation, nothing added.
	if _, out2, _ := attest("--key", e.keyA, "--json", dest+":v1"); !strings.Contains(out2, `"attestation": "`+j.Attestation+`"`) {
		t.Errorf("re-attest changed the .att manifest:\n%s", out2)
	}
	// The .att tag is not a bundle: ls lists one bundle, sign and verify still work.
	if code, out, _ := runTest(t, "ls", dest); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("ls after attest = %d:\n%s", code, out)
	}
	if code, out, errOut := runTest(t, "verify", "--key", e.pubA, dest+":v1"); code != 0 ||
		!strings.Contains(out, "attested   https://cyclonedx.org/bom [cosign-att-tag]: signed by "+e.idA) {
		t.Errorf("verify after attest = %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runTest(t, "verify", "--policy", policy, dest+":v1"); code != 0 ||
		!strings.Contains(out, "attested   https://cyclonedx.org/bom [cosign-att-tag]: signed by ops") {
		t.Errorf("verify --policy after attest = %d:\n%s%s", code, out, errOut)
	}
	// copy carries the attestation: the copy passes the same policy.
	copyDest := filepath.Join(t.TempDir(), "inside")
	if code, _, errOut := runTest(t, "copy", "--policy", policy, dest+":v1", copyDest); code != 0 {
		t.Fatalf("copy = %d: %s", code, errOut)
	}
	if code, out, errOut := runTest(t, "verify", "--policy", policy, "--json", copyDest+":v1"); code != 0 ||
		!strings.Contains(out, `"predicateType": "https://cyclonedx.org/bom"`) {
		t.Errorf("verify of the copy = %d:\n%s%s", code, out, errOut)
	}
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{dest + ":v1"}, 2, "--key is required"},
		{[]string{"--key", e.keyA, "--type", "xml", dest + ":v1"}, 2, `--type "xml"`},
		{[]string{"--key", e.keyA, "--format", "x", dest + ":v1"}, 2, `--format "x"`},
		{[]string{"--key", e.keyA, dest}, 2, "attest needs STORE:TAG"},
		{[]string{"--key", e.keyA, dest + ":nope"}, 4, "nope"},
	} {
		code, _, errOut := attest(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("attest %v = %d %q, want %d %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
}
