package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// trustEnv is what the sign/verify/copy tests share: a pushed (unsigned)
// layout with tag v1, and two key pairs.
type trustEnv struct {
	layout       string // pristine: copy it before changing anything
	digest       string // v1's index digest
	keyA, pubA   string
	keyB, pubB   string
	idA, idB     string
	manifestPath string
}

var (
	trustOnce sync.Once
	trustE    trustEnv
	trustErr  error
)

const testPassword = "correct horse"

func trustSetup(t *testing.T) trustEnv {
	t.Helper()
	w, static := testWorld(t)
	trustOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shoebox-cli-trust-")
		if err != nil {
			trustErr = err
			return
		}
		e := trustEnv{layout: filepath.Join(dir, "stick"), manifestPath: w.Manifests[0]}
		code, out, errOut := runTest(t, "push", "--from", "file://"+static, "--manifest", w.Manifests[0], "--json", "-q",
			"--platform", "x86_64-linux-gnu", e.layout+":v1")
		if code != 0 {
			trustErr = &testErr{"push: " + errOut}
			return
		}
		var sum pushJSON
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			trustErr = err
			return
		}
		e.digest = sum.Digest
		for i, name := range []string{"a", "b"} {
			priv, pub, err := trust.GenerateKey(trust.ECDSAP256, []byte(testPassword))
			if err != nil {
				trustErr = err
				return
			}
			k, p := filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
			os.WriteFile(k, priv, 0o600)
			os.WriteFile(p, pub, 0o644)
			pk, _ := trust.ParsePublicKey(pub)
			if i == 0 {
				e.keyA, e.pubA, e.idA = k, p, trust.KeyID(pk)
			} else {
				e.keyB, e.pubB, e.idB = k, p, trust.KeyID(pk)
			}
		}
		trustE = e
	})
	if trustErr != nil {
		t.Fatal(trustErr)
	}
	return trustE
}

type testErr struct{ s string }

func (e *testErr) Error() string { return e.s }

// copyLayout copies a layout directory (blobs are read-only: the copy's
// are writable so tests can tamper with them).
func copyLayout(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// signEnv runs shoebox sign with the key password in SHOEBOX_PASSWORD.
func signWith(t *testing.T, key string, args ...string) (int, string, string) {
	t.Helper()
	return keyRun{env: map[string]string{"SHOEBOX_PASSWORD": testPassword}}.run(t, append([]string{"sign", "--key", key}, args...)...)
}

// blobPath is the file of a digest in a layout.
func blobPath(layout, dg string) string {
	return filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(dg, "sha256:"))
}

// readBundleOf reads the bundle at tag in a layout.
func readBundleOf(t *testing.T, layout, tag string) *bundle.Bundle {
	t.Helper()
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: layout}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Resolve(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(context.Background(), st, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rebundle writes, into a new layout, a bundle of the items of src:tag
// that keep accepts, tagged tag, and returns the layout.
func rebundle(t *testing.T, src, tag string, keep func(bundle.Entry) bool) string {
	t.Helper()
	ctx := context.Background()
	b := readBundleOf(t, src, tag)
	s, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: src}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := filepath.Join(t.TempDir(), "re")
	d, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var items []ocispec.Descriptor
	for _, e := range b.Entries {
		if !keep(e) {
			continue
		}
		if err := oras.CopyGraph(ctx, s, d, e.Manifest, oras.DefaultCopyGraphOptions); err != nil {
			t.Fatal(err)
		}
		items = append(items, e.IndexDescriptor())
	}
	idx, err := bundle.PushIndex(ctx, d, items, bundle.IndexOptions{Created: b.Created})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Tag(ctx, idx, tag); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fetchJSON reads a manifest from a layout.
func fetchManifest(t *testing.T, st *store.Store, d ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	b, err := content.FetchAll(context.Background(), st, d)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sigTag returns the .sig tag of the pristine bundle.
func (e trustEnv) sigTag() string {
	return "sha256-" + strings.TrimPrefix(e.digest, "sha256:") + ".sig"
}

func Test_runSign(t *testing.T) {
	e := trustSetup(t)
	l := copyLayout(t, e.layout)
	ref := "oci-layout:" + l + ":v1"

	code, out, errOut := signWith(t, e.keyA, l+":v1")
	if code != ExitOK || out != "" {
		t.Fatalf("sign = %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := "signed " + ref + " (" + e.digest + ") for tag v1 with key " + e.idA + "\nsignature " + e.sigTag() + " in " + l + "\n"
	if errOut != want {
		t.Errorf("sign stderr =\n%q\nwant\n%q", errOut, want)
	}
	// A second signer adds a layer; signing again with the same key adds nothing.
	if code, _, errOut := signWith(t, e.keyB, "--json", l+":v1"); code != ExitOK {
		t.Fatalf("second signer: %d %s", code, errOut)
	}
	if code, _, errOut := signWith(t, e.keyA, "-q", l+":v1"); code != ExitOK {
		t.Fatalf("re-sign: %d %s", code, errOut)
	}
	st, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: l}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := st.Resolve(context.Background(), e.sigTag())
	if err != nil {
		t.Fatal(err)
	}
	m := fetchManifest(t, st, sd)
	st.Close()
	if len(m.Layers) != 2 || m.Layers[0].MediaType != trust.MediaTypeSimpleSigning {
		t.Errorf(".sig manifest has %d layers (%v), want 2 simple-signing layers", len(m.Layers), m.Layers)
	}

	// Both keys with a 2-of-2 policy: ok, both named.
	pol := filepath.Join(t.TempDir(), "policy.toml")
	os.WriteFile(pol, []byte("threshold = 2\n[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n[[keys]]\nname = \"sec\"\npath = \""+e.pubB+"\"\n"), 0o644)
	code, out, errOut = runTest(t, "verify", "--policy", pol, ref)
	if code != ExitOK || !strings.Contains(out, "  signature  ok: signed by ops, sec for tag v1 [cosign-sig-tag]\n") {
		t.Errorf("verify 2-of-2 = %d\n%s\n%s", code, out, errOut)
	}

	// --format bundle adds a Sigstore bundle; ls still lists one bundle.
	if code, _, errOut := signWith(t, e.keyA, "--format", "bundle", "-q", l+":v1"); code != ExitOK {
		t.Fatalf("sign --format bundle: %d %s", code, errOut)
	}
	code, out, _ = runTest(t, "verify", "--key", e.pubA, "--json", ref)
	var rep verifyJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitOK {
		t.Fatalf("verify --json = %d %v\n%s", code, err, out)
	}
	if s := rep.Bundles[0].Signature; s == nil || strings.Join(s.Formats, ",") != "cosign-sig-tag,sigstore-bundle" ||
		strings.Join(s.Signers, ",") != e.idA || s.Unknown != 1 {
		t.Errorf("signature after --format bundle = %+v, want formats cosign-sig-tag,sigstore-bundle, signer %s, 1 unknown (key B)", s, e.idA)
	}
	code, out, _ = runTest(t, "ls", l)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != ExitOK || len(lines) != 2 || !strings.HasPrefix(lines[1], "v1 ") {
		t.Errorf("ls after signing = %d\n%s", code, out)
	}
}

func Test_runSign_Errors(t *testing.T) {
	e := trustSetup(t)
	l := copyLayout(t, e.layout)
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no key", nil, []string{"sign", l + ":v1"}, ExitUsage, "--key is required"},
		{"no tag", nil, []string{"sign", "--key", e.keyA, l}, ExitUsage, "sign needs STORE:TAG or STORE@DIGEST"},
		{"bad format", nil, []string{"sign", "--key", e.keyA, "--format", "x", l + ":v1"}, ExitUsage, `--format "x": want simple or bundle`},
		{"no password", nil, []string{"sign", "--key", e.keyA, l + ":v1"}, ExitUsage, "a password is needed"},
		{"wrong password", map[string]string{"COSIGN_PASSWORD": "nope"}, []string{"sign", "--key", e.keyA, l + ":v1"}, ExitError, "decrypt"},
		{"unknown tag", map[string]string{"SHOEBOX_PASSWORD": testPassword}, []string{"sign", "--key", e.keyA, l + ":v9"}, ExitNotFound, "oci-layout:" + l + ":v9: v9: not found"},
		{"no layout", map[string]string{"SHOEBOX_PASSWORD": testPassword}, []string{"sign", "--key", e.keyA, l + "-none:v1"}, ExitNotFound, "no OCI layout there"},
		{"two stdin readers", nil, []string{"sign", "--key", e.keyA, "--key-password-stdin", "--password-stdin", l + ":v1"}, ExitUsage,
			"shoebox: --key-password-stdin and --password-stdin (the registry's) cannot both read standard input\n"},
		{"two stdin readers, old names", nil, []string{"sign", "--key", e.keyA, "--key-password-stdin", "--registry-password-stdin", l + ":v1"}, ExitUsage,
			"shoebox: --key-password-stdin and --password-stdin (the registry's) cannot both read standard input\n"},
		// sign's --password-stdin was the key's until it took every other
		// command's meaning: without --username it is refused, so a key's
		// password is never sent to a registry.
		{"registry password without user", map[string]string{"SHOEBOX_PASSWORD": testPassword}, []string{"sign", "--key", e.keyA, "--password-stdin", l + ":v1"}, ExitUsage,
			"shoebox: --password-stdin is the registry's password and needs --username (a key's password: --key-password-stdin)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := keyRun{env: tc.env}.run(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat(l + "-none"); err == nil {
		t.Errorf("sign created %s", l+"-none")
	}
	// Nothing was signed by the failures.
	code, _, errOut := runTest(t, "verify", "--key", e.pubA, l+":v1")
	if code != ExitVerify || !strings.Contains(errOut, ": unsigned: no cosign signature or Sigstore bundle found") {
		t.Errorf("after failed signs, verify = %d %q", code, errOut)
	}
}

// corruptSignature replaces the signature of layer i of the .sig manifest
// with a flipped copy (still tagged with its key hint) and re-tags it.
func corruptSignature(t *testing.T, layout, sigTag string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: layout}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Resolve(ctx, sigTag)
	if err != nil {
		t.Fatal(err)
	}
	m := fetchManifest(t, st, d)
	sig := []byte(m.Layers[0].Annotations[trust.AnnotationSignature])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	m.Layers[0].Annotations[trust.AnnotationSignature] = string(sig)
	b, _ := json.Marshal(m)
	nd := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	if err := st.Push(ctx, nd, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, nd, sigTag); err != nil {
		t.Fatal(err)
	}
}

func Test_runVerify_Outcomes(t *testing.T) {
	e := trustSetup(t)
	signed := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", signed+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	byB := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyB, "-q", byB+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	bad := copyLayout(t, signed)
	corruptSignature(t, bad, e.sigTag())
	// A bad signature is fatal even beside a good one.
	badAndGood := copyLayout(t, bad)
	if code, _, errOut := signWith(t, e.keyB, "-q", badAndGood+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	dir := t.TempDir()
	pol2 := filepath.Join(dir, "two.toml")
	os.WriteFile(pol2, []byte("threshold = 2\n[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n[[keys]]\nname = \"sec\"\npath = \""+e.pubB+"\"\n"), 0o644)
	polTags := filepath.Join(dir, "tags.toml")
	os.WriteFile(polTags, []byte("tags = [\"release-*\"]\n[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n"), 0o644)
	polBoth := filepath.Join(dir, "any.toml")
	os.WriteFile(polBoth, []byte("[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n[[keys]]\nname = \"sec\"\npath = \""+e.pubB+"\"\n"), 0o644)

	d := e.digest
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a line of the summary
		wantErr  string
	}{
		{"ok", []string{"--key", e.pubA, signed + ":v1"}, ExitOK,
			"  signature  ok: signed by " + e.idA + " for tag v1 [cosign-sig-tag]\n", ""},
		{"unsigned", []string{"--key", e.pubA, e.layout + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": unsigned: no cosign signature or Sigstore bundle found\n",
			"shoebox: verification failed: oci-layout:" + e.layout + ":v1: " + d + ": unsigned: no cosign signature or Sigstore bundle found\n"},
		{"unknown key", []string{"--key", e.pubA, byB + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": signed only by unknown keys: 1 signature(s), none by a trusted key\n",
			": signed only by unknown keys: 1 signature(s), none by a trusted key\n"},
		{"bad signature", []string{"--key", e.pubA, bad + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": bad signature: cosign-sig-tag layer 0: signature by trusted key " + e.idA + " does not verify\n",
			": bad signature: cosign-sig-tag layer 0: signature by trusted key " + e.idA + " does not verify\n"},
		{"bad beside good", []string{"--policy", polBoth, badAndGood + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": bad signature: cosign-sig-tag layer 0: signature by trusted key ops does not verify\n",
			": bad signature: cosign-sig-tag layer 0"},
		{"below threshold", []string{"--policy", pol2, signed + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": below threshold: 1 of 2 required trusted keys signed\n",
			": below threshold: 1 of 2 required trusted keys signed\n"},
		{"tag not covered", []string{"--policy", polTags, signed + ":v1"}, ExitVerify,
			"  signature  FAILED: " + d + ": not signed for a tag the policy covers: trusted keys signed it for v1; the policy covers release-*\n",
			": not signed for a tag the policy covers: trusted keys signed it for v1; the policy covers release-*\n"},
		{"by digest", []string{"--key", e.pubA, signed + "@" + d}, ExitOK, "bundle oci-layout:" + signed + "@" + d + " (" + d + ")\n", ""},
		{"every bundle", []string{"--key", e.pubA, signed}, ExitOK, "verified 1 bundle, 23.9 KiB read, in 0s: ok\n", ""},
		{"no policy", []string{signed + ":v1"}, ExitUsage, "", "verify needs --key or --policy"},
		{"key and policy", []string{"--key", e.pubA, "--policy", pol2, signed + ":v1"}, ExitUsage, "", "give --key or --policy, not both"},
		{"not a key", []string{"--key", pol2, signed + ":v1"}, ExitUsage, "", "--key " + pol2 + ":"},
		{"unknown tag", []string{"--key", e.pubA, signed + ":nope"}, ExitNotFound, "", "oci-layout:" + signed + ":nope: nope: not found"},
		{"no store", []string{"--key", e.pubA, signed + "-x:v1"}, ExitNotFound, "", "not an OCI image layout"},
		{"platform without manifest", []string{"--key", e.pubA, "--platform", "x86_64-linux-gnu", signed}, ExitUsage, "", "--platform needs --manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runTest(t, append([]string{"verify"}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nwant line %q\nstderr:\n%s\nwant %q", code, tc.wantCode, out, tc.wantOut, errOut, tc.wantErr)
			}
		})
	}
}

func Test_runVerify_Tampering(t *testing.T) {
	e := trustSetup(t)
	b := readBundleOf(t, e.layout, "v1")
	var art, pkg bundle.Entry
	for _, en := range b.Entries {
		switch en.Kind {
		case bundle.KindArtifact:
			art = en
		case bundle.KindPackage:
			pkg = en
		}
	}
	signed := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", signed+":v1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	for _, tc := range []struct {
		name    string
		deep    bool
		tamper  func(l string)
		wantOut string
		wantErr string
	}{
		{"changed byte in a blob", false, func(l string) { flipByte(t, blobPath(l, art.Whole.Digest.String())) },
			"  integrity  FAILED: 1 problem\n    " + art.Item.String() + ": " + art.Whole.Digest.String() + ": integrity check failed: mismatched digest\n  closure    not checked (integrity failed)\n",
			"\n" + art.Item.String() + ": " + art.Whole.Digest.String() + ": integrity check failed: mismatched digest\n"},
		{"changed byte, deep", true, func(l string) { flipByte(t, blobPath(l, art.Whole.Digest.String())) },
			"    " + art.Item.String() + ": reading tarball: integrity check failed: ",
			"\n" + art.Item.String() + ": reading tarball: integrity check failed: "},
		{"removed blob", false, func(l string) { os.Remove(blobPath(l, pkg.Whole.Digest.String())) },
			"    " + pkg.Item.String() + ": " + pkg.Whole.Digest.String() + ": integrity check failed: " + pkg.Whole.Digest.String() + ": application/vnd.oci.image.layer.v1.tar+gzip: not found\n",
			"bundle " + e.digest + ": 1 problems: integrity check failed\n" + pkg.Item.String()},
		{"blob replaced by a symlink to a readable file", false, func(l string) {
			p := blobPath(l, art.Whole.Digest.String())
			os.Remove(p)
			os.Symlink("/etc/passwd", p)
		}, "    " + art.Item.String() + ": " + art.Whole.Digest.String() + ": integrity check failed: blob " + art.Whole.Digest.String() + ": a symbolic link, not a regular file of the blob's size (mismatched digest)\n",
			"bundle " + e.digest + ": 1 problems: integrity check failed\n" + art.Item.String()},
		{"truncated blob", false, func(l string) {
			p := blobPath(l, art.Whole.Digest.String())
			os.Chmod(p, 0o644)
			os.Truncate(p, art.Whole.Size-1)
		}, "    " + art.Item.String() + ": " + art.Whole.Digest.String() + ": integrity check failed: blob " + art.Whole.Digest.String() + ": " +
			strconv.FormatInt(art.Whole.Size-1, 10) + " bytes, want " + strconv.FormatInt(art.Whole.Size, 10) + ": not a regular file of the blob's size (mismatched digest)\n", ""},
		{"replaced manifest", false, func(l string) {
			mb, _ := os.ReadFile(blobPath(l, art.Manifest.Digest.String()))
			os.WriteFile(blobPath(l, pkg.Manifest.Digest.String()), mb, 0o644)
		}, "", pkg.Manifest.Digest.String()},
		{"truncated index.json", false, func(l string) {
			ib, _ := os.ReadFile(filepath.Join(l, "index.json"))
			os.WriteFile(filepath.Join(l, "index.json"), ib[:len(ib)/2], 0o644)
		}, "", "shoebox: integrity check failed: layout LAYOUT: decoding index.json: unexpected end of JSON input\n"},
		{"tampered index, same size", false, func(l string) {
			p := blobPath(l, e.digest)
			ib, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(ib, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1), 0o644)
		}, "", e.digest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := copyLayout(t, signed)
			tc.tamper(l)
			args := []string{"verify", "--key", e.pubA, l + ":v1"}
			if tc.deep {
				args = append(args, "--deep")
			}
			code, out, errOut := runTest(t, args...)
			wantErr := strings.ReplaceAll(tc.wantErr, "LAYOUT", l)
			// Every failure is an integrity failure naming the digest at fault.
			if !strings.Contains(errOut, "integrity check failed") {
				t.Errorf("stderr %q lacks %q", errOut, "integrity check failed")
			}
			if code != ExitVerify || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, wantErr) {
				t.Errorf("exit %d (want 3)\nstdout:\n%s\nwant %q\nstderr:\n%s\nwant %q", code, out, tc.wantOut, errOut, wantErr)
			}
		})
	}
}

// flipByte changes one byte in the middle of a file.
func flipByte(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func Test_runVerify_Closure(t *testing.T) {
	e := trustSetup(t)
	b := readBundleOf(t, e.layout, "v1")
	var art, pkg, reg bundle.Entry
	for _, en := range b.Entries {
		switch en.Kind {
		case bundle.KindArtifact:
			art = en
		case bundle.KindPackage:
			if !strings.HasSuffix(en.Name, "_jll") {
				pkg = en
			}
		case bundle.KindRegistry:
			reg = en
		}
	}
	m, err := readManifest(e.manifestPath, "")
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for _, me := range m.Manifest.Entries {
		if me.UUID == pkg.UUID {
			version = me.Version
		}
	}
	var jll bundle.Entry // the package whose Artifacts.toml names art
	for _, en := range b.Entries {
		if en.Kind == bundle.KindPackage && strings.HasSuffix(en.Name, "_jll") {
			jll = en
		}
	}
	sign := func(l string) string {
		t.Helper()
		if code, _, errOut := signWith(t, e.keyA, "-q", l+":v1"); code != ExitOK {
			t.Fatalf("sign: %s", errOut)
		}
		return l
	}
	noRegistry := sign(rebundle(t, e.layout, "v1", func(en bundle.Entry) bool { return en.Kind != bundle.KindRegistry }))
	noPackages := sign(rebundle(t, e.layout, "v1", func(en bundle.Entry) bool { return en.Kind != bundle.KindPackage }))
	noPkg := sign(rebundle(t, e.layout, "v1", func(en bundle.Entry) bool { return en.Manifest.Digest != pkg.Manifest.Digest }))
	noArt := sign(rebundle(t, e.layout, "v1", func(en bundle.Entry) bool { return en.Kind != bundle.KindArtifact }))
	signed := sign(copyLayout(t, e.layout))

	var unlisted []string
	for _, en := range b.Entries {
		if en.Kind == bundle.KindPackage {
			unlisted = append(unlisted, "    "+en.Item.String()+": not listed at this tree hash in any registry snapshot\n")
		}
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"complete", []string{signed + ":v1"}, ExitOK,
			"  closure    ok: 2 packages listed in General " + reg.TreeHash.String() + ", 1 artifact referenced by them\n", ""},
		{"packages unlisted", []string{noRegistry + ":v1"}, ExitVerify, "  closure    FAILED\n" + strings.Join(unlisted, ""),
			"closure: incomplete for Pkg: " + strings.TrimSpace(unlisted[0])},
		{"artifact unreferenced", []string{noPackages + ":v1"}, ExitVerify,
			"  closure    FAILED\n    " + art.Item.String() + ": referenced by no Artifacts.toml of the bundle's packages\n",
			"closure: incomplete for Pkg: " + art.Item.String() + ": referenced by no Artifacts.toml of the bundle's packages"},
		{"manifest complete", []string{"--manifest", e.manifestPath, signed + ":v1"}, ExitOK,
			"manifest " + e.manifestPath + " on x86_64-linux-gnu: ok: 2 packages, 1 artifact in the store\n", ""},
		{"manifest: package missing", []string{"--manifest", e.manifestPath, noPkg + ":v1"}, ExitVerify,
			"manifest " + e.manifestPath + " on x86_64-linux-gnu: FAILED: Pkg.instantiate would miss 1 of 3 packages and artifacts:\n" +
				"  missing package " + pkg.Name + " " + version + " " + pkg.UUID.String() + " " + pkg.TreeHash.String() + ": not in the store\n",
			"manifest " + e.manifestPath + " on x86_64-linux-gnu: 1 missing: incomplete for Pkg: package " + pkg.Name},
		{"manifest: artifact missing", []string{"--manifest", e.manifestPath, noArt + ":v1"}, ExitVerify,
			"  missing artifact " + art.Name + " " + art.TreeHash.String() + " (" + art.Platform + ") required by " + jll.Name + ": not in the store\n",
			"1 missing: incomplete for Pkg: artifact " + art.Name},
		{"manifest: other platform", []string{"--manifest", e.manifestPath, "--platform", "aarch64-linux-gnu", signed + ":v1"}, ExitVerify,
			"  missing artifact " + art.Name + " ", "on aarch64-linux-gnu: 1 missing"},
		{"bad platform", []string{"--manifest", e.manifestPath, "--platform", "x86_64-nowhere", signed + ":v1"}, ExitUsage, "", `--platform "x86_64-nowhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runTest(t, append([]string{"verify", "--key", e.pubA}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nwant %q\nstderr:\n%s\nwant %q", code, tc.wantCode, out, tc.wantOut, errOut, tc.wantErr)
			}
		})
	}
}

// sign reads key passwords from --password-stdin and COSIGN_PASSWORD, and
// takes unencrypted PKCS#8 keys with no password at all.
func Test_runSign_KeySources(t *testing.T) {
	e := trustSetup(t)
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	plain := filepath.Join(dir, "plain.pem")
	os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	plainPub := filepath.Join(dir, "plain.pub")
	os.WriteFile(plainPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)

	l := copyLayout(t, e.layout)
	for _, tc := range []struct {
		name string
		run  keyRun
		key  string
	}{
		{"password on stdin", keyRun{stdin: testPassword + "\n"}, e.keyA},
		{"COSIGN_PASSWORD", keyRun{env: map[string]string{"COSIGN_PASSWORD": testPassword}}, e.keyB},
		{"unencrypted PKCS#8", keyRun{}, plain},
	} {
		args := []string{"sign", "-q", "--key", tc.key, l + ":v1"}
		if tc.run.stdin != "" {
			args = append(args, "--key-password-stdin")
		}
		if code, _, errOut := tc.run.run(t, args...); code != ExitOK {
			t.Errorf("%s: sign = %d %s", tc.name, code, errOut)
		}
	}
	pol := filepath.Join(dir, "all.toml")
	os.WriteFile(pol, []byte("threshold = 3\n[[keys]]\nname = \"a\"\npath = \""+e.pubA+"\"\n[[keys]]\nname = \"b\"\npath = \""+e.pubB+
		"\"\n[[keys]]\nname = \"plain\"\npath = \""+plainPub+"\"\n"), 0o644)
	code, out, errOut := runTest(t, "verify", "--policy", pol, l+":v1")
	if code != ExitOK || !strings.Contains(out, "  signature  ok: signed by a, b, plain for tag v1 [cosign-sig-tag]\n") {
		t.Errorf("verify 3-of-3 = %d\n%s\n%s", code, out, errOut)
	}
}

// editTags rewrites a layout's index.json as one who holds the stick would:
// every tag named in rename is renamed, and add points new tags at the
// manifest a tag names.
func editTags(t *testing.T, layout string, rename map[string]string, add map[string]string) {
	t.Helper()
	p := filepath.Join(layout, "index.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	for i, d := range idx.Manifests {
		if to, ok := rename[d.Annotations[ocispec.AnnotationRefName]]; ok {
			idx.Manifests[i].Annotations[ocispec.AnnotationRefName] = to
		}
	}
	for newTag, of := range add {
		for _, d := range idx.Manifests {
			if d.Annotations[ocispec.AnnotationRefName] == of {
				d.Annotations = map[string]string{ocispec.AnnotationRefName: newTag}
				idx.Manifests = append(idx.Manifests, d)
				break
			}
		}
	}
	if b, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Test_runVerify_SignedTags plays the one who holds the stick against a
// tag policy: renaming or adding tags in index.json changes nothing, since
// only the tag inside the signed data counts.
func Test_runVerify_SignedTags(t *testing.T) {
	e := trustSetup(t)
	pol := filepath.Join(t.TempDir(), "prod.toml")
	os.WriteFile(pol, []byte("tags = [\"prod-*\"]\n[[keys]]\nname = \"ops\"\npath = \""+e.pubA+"\"\n"), 0o644)
	d := e.digest

	// Signed while tagged test-1.
	test := copyLayout(t, e.layout)
	editTags(t, test, map[string]string{"v1": "test-1"}, nil)
	if code, _, errOut := signWith(t, e.keyA, "-q", test+":test-1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	notCovered := d + ": not signed for a tag the policy covers: trusted keys signed it for test-1; the policy covers prod-*"
	renamed := copyLayout(t, test)
	editTags(t, renamed, map[string]string{"test-1": "prod-1"}, nil)
	added := copyLayout(t, test)
	editTags(t, added, nil, map[string]string{"prod-1": "test-1"})

	// Signed while tagged prod-1, then given another tag.
	prod := copyLayout(t, e.layout)
	editTags(t, prod, map[string]string{"v1": "prod-1"}, nil)
	if code, _, errOut := signWith(t, e.keyA, "-q", prod+":prod-1"); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}
	prodAlias := copyLayout(t, prod)
	editTags(t, prodAlias, map[string]string{"prod-1": "anything"}, nil)
	// Signed by digest: for no tag.
	byDigest := copyLayout(t, e.layout)
	if code, _, errOut := signWith(t, e.keyA, "-q", byDigest+"@"+d); code != ExitOK {
		t.Fatalf("sign: %s", errOut)
	}

	for _, tc := range []struct {
		name     string
		ref      string
		wantCode int
		wantOut  string
	}{
		{"signed for test-1, as test-1", test + ":test-1", ExitVerify, "  signature  FAILED: " + notCovered + "\n"},
		{"renamed to prod-1", renamed + ":prod-1", ExitVerify, "  signature  FAILED: " + notCovered + "\n"},
		{"prod-1 added beside test-1", added + ":prod-1", ExitVerify, "  signature  FAILED: " + notCovered + "\n"},
		{"every bundle of the stick with prod-1 added", added, ExitVerify, "verified 2 bundles, 47.8 KiB read, in 0s: FAILED\n"},
		{"signed for prod-1", prod + ":prod-1", ExitOK, "  signature  ok: signed by ops for tag prod-1 [cosign-sig-tag]\n"},
		{"signed for prod-1, renamed", prodAlias + ":anything", ExitOK, "  signature  ok: signed by ops for tag prod-1 [cosign-sig-tag]\n"},
		{"signed by digest", byDigest + ":v1", ExitVerify, "  signature  FAILED: " + d + ": not signed for a tag the policy covers: trusted keys signed it for no tag; the policy covers prod-*\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runTest(t, "verify", "--policy", pol, tc.ref)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
				t.Errorf("verify %s = %d\n%s\n%s\nwant line %q", tc.ref, code, out, errOut, tc.wantOut)
			}
		})
	}
	// copy decides the same way, and writes nothing.
	dst := filepath.Join(t.TempDir(), "inside")
	code, _, errOut := runTest(t, "copy", "-q", "--policy", pol, renamed+":prod-1", dst)
	if code != ExitVerify || !strings.Contains(errOut, "not copied: "+notCovered) {
		t.Errorf("copy of the renamed bundle = %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dst, "index.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused copy wrote %s: %v", dst, err)
	}
	// sign records the tag itself.
	if code, _, errOut := signWith(t, e.keyA, "-a", "dev.shoebox.tag=prod-1", test+":test-1"); code != ExitUsage ||
		!strings.Contains(errOut, "--annotation dev.shoebox.tag: sign records the tag it signs for itself") {
		t.Errorf("sign -a dev.shoebox.tag = %d %s", code, errOut)
	}
}
