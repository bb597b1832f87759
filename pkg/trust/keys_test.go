package trust

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
)

func TestGenerateKey_Format(t *testing.T) {
	for _, alg := range []KeyAlgorithm{ECDSAP256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			k := encryptedKey(t, alg)
			block, rest := pem.Decode(k.priv)
			if block == nil || block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("private PEM = %q", k.priv)
			}
			// go-securesystemslib's envelope: scrypt KDF + nacl/secretbox.
			for _, want := range []string{`"kdf"`, `"scrypt"`, `"cipher"`, `"nacl/secretbox"`, `"ciphertext"`} {
				if !bytes.Contains(block.Bytes, []byte(want)) {
					t.Errorf("encrypted key lacks %s: %s", want, block.Bytes)
				}
			}
			pb, _ := pem.Decode(k.pub)
			if pb == nil || pb.Type != "PUBLIC KEY" {
				t.Fatalf("public PEM = %q", k.pub)
			}
			pub, err := x509.ParsePKIXPublicKey(pb.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			switch pub.(type) {
			case *ecdsa.PublicKey:
				if alg != ECDSAP256 {
					t.Errorf("got ECDSA key for %s", alg)
				}
			case ed25519.PublicKey:
				if alg != Ed25519 {
					t.Errorf("got Ed25519 key for %s", alg)
				}
			}
			sum := sha256.Sum256(pb.Bytes)
			if got := KeyID(pub); got != hex.EncodeToString(sum[:]) {
				t.Errorf("KeyID() = %s, want sha256 of DER", got)
			}
		})
	}
	if _, _, err := GenerateKey("rsa-1024", nil); err == nil {
		t.Error("GenerateKey(rsa-1024) succeeded")
	}
}

func TestLoadPrivateKeyPEM(t *testing.T) {
	ek := encryptedKey(t, ECDSAP256)
	block, _ := pem.Decode(ek.priv)
	legacy := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED COSIGN PRIVATE KEY", Bytes: block.Bytes})
	plain := newTestKey(t, Ed25519)

	pw := func(p string) PassFunc { return func(bool) ([]byte, error) { return []byte(p), nil } }
	tests := []struct {
		name    string
		pem     []byte
		pass    PassFunc
		wantPub []byte
		wantErr string
	}{
		{"legacy cosign type", legacy, pw(string(testPassword)), ek.pub, ""},
		{"wrong password", ek.priv, pw("nope"), nil, "wrong password"},
		{"password func fails", ek.priv, func(bool) ([]byte, error) { return nil, errors.New("no tty") }, nil, "no tty"},
		{"unencrypted pkcs8, pass not called", plain.priv, func(bool) ([]byte, error) { t.Error("pass called"); return nil, nil }, plain.pub, ""},
		{"garbage", []byte("hello"), nil, nil, "no PEM block"},
		{"public key", plain.pub, nil, nil, "unsupported PEM type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadPrivateKeyPEM(tt.pem, tt.pass)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadPrivateKeyPEM() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSignsFor(t, s, tt.wantPub)
		})
	}
}

// assertSignsFor checks that s makes signatures pubPEM verifies.
func assertSignsFor(t *testing.T, s signature.Signer, pubPEM []byte) {
	t.Helper()
	msg := []byte("shoebox")
	sig, err := s.SignMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVerifier(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("other"))); err == nil {
		t.Error("signature verifies over another message")
	}
}

func TestLoadSigner_KMS(t *testing.T) {
	ctx := context.Background()
	if _, err := LoadSigner(ctx, "testkms://k1", nil); !errors.Is(err, ErrKMSNotRegistered) {
		t.Errorf("unregistered scheme: err = %v, want ErrKMSNotRegistered", err)
	}
	k := newTestKey(t, ECDSAP256)
	var got string
	RegisterKMS("testkms://", func(_ context.Context, ref string) (signature.Signer, error) {
		got = ref
		return k.signer, nil
	})
	defer RegisterKMS("testkms://", nil)
	s, err := LoadSigner(ctx, "testkms://k1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != "testkms://k1" {
		t.Errorf("opener got %q", got)
	}
	assertSignsFor(t, s, k.pub)
	if _, err := LoadSigner(ctx, filepath.Join(t.TempDir(), "missing.key"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadVerifier_Ed25519ph(t *testing.T) {
	k := newTestKey(t, Ed25519)
	block, _ := pem.Decode(k.priv)
	priv, _ := x509.ParsePKCS8PrivateKey(block.Bytes)
	ph, err := signature.LoadED25519phSigner(priv.(ed25519.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	assertSignsFor(t, ph, k.pub)
}

// cosignBin finds a cosign binary built for the e2e tests; the tests that
// need one skip without it.
func cosignBin(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		for _, dir := range []string{"../../.tools/bin", "/tmp/shoebox-tools/bin"} {
			p, err := filepath.Abs(filepath.Join(dir, n))
			if err != nil {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skipf("no %v binary (looked in .tools/bin, /tmp/shoebox-tools/bin and PATH; hack/install-tools.sh builds them)", names)
	return ""
}

func runCosign(t *testing.T, bin, dir, password string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// No network: cosign must not reach TUF or Rekor in these commands.
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password, "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
	return out
}

// TestCosignKeyCompat: keys cosign generates load with LoadSigner, and
// the signatures they make verify with the public key cosign wrote.
func TestCosignKeyCompat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cosign")
	}
	for _, bin := range []string{"cosign2", "cosign3"} {
		t.Run(bin, func(t *testing.T) {
			names := []string{bin}
			if bin == "cosign3" {
				names = append(names, "cosign") // the v3 build is installed as plain cosign
			}
			cosign := cosignBin(t, names...)
			dir := t.TempDir()
			runCosign(t, cosign, dir, "s3cret", "generate-key-pair")
			s, err := LoadSigner(context.Background(), filepath.Join(dir, "cosign.key"), func(bool) ([]byte, error) { return []byte("s3cret"), nil })
			if err != nil {
				t.Fatalf("LoadSigner(cosign.key): %v", err)
			}
			pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
			if err != nil {
				t.Fatal(err)
			}
			assertSignsFor(t, s, pub)
		})
	}
}

// TestCosignSignsWithOurKey: cosign sign-blob accepts a key GenerateKey
// made, its signature verifies with LoadVerifier, and (v3) the Sigstore
// bundle it writes carries the key hint we compute.
func TestCosignSignsWithOurKey(t *testing.T) {
	if testing.Short() {
		t.Skip("runs cosign")
	}
	type run struct {
		bin  []string
		alg  KeyAlgorithm
		args []string
	}
	v3 := []string{"--use-signing-config=false", "--tlog-upload=false", "--new-bundle-format=false"}
	runs := map[string]run{
		"cosign2/ecdsa-p256": {[]string{"cosign2"}, ECDSAP256, []string{"--tlog-upload=false"}},
		// cosign v2.6.5 sign-blob panics on any Ed25519 key without a tlog
		// ("requested hash function #0 is unavailable"): v3 only.
		"cosign3/ecdsa-p256": {[]string{"cosign3", "cosign"}, ECDSAP256, v3},
		"cosign3/ed25519":    {[]string{"cosign3", "cosign"}, Ed25519, v3},
	}
	for name, r := range runs {
		t.Run(name, func(t *testing.T) {
			cosign := cosignBin(t, r.bin...)
			k := encryptedKey(t, r.alg)
			dir := t.TempDir()
			writeFile(t, dir, "ours.key", k.priv)
			payload, _ := SimpleSigningPayload("example.com/r", goldenDigest, nil)
			writeFile(t, dir, "payload.json", payload)
			args := append([]string{"sign-blob", "--key", "ours.key", "--output-signature", "payload.sig", "-y"}, r.args...)
			runCosign(t, cosign, dir, string(testPassword), append(args, "payload.json")...)
			b64, err := os.ReadFile(filepath.Join(dir, "payload.sig"))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := decodeSignature(strings.TrimSpace(string(b64)))
			if err != nil {
				t.Fatal(err)
			}
			v, err := LoadVerifier(k.pub)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err != nil {
				t.Errorf("cosign's signature with our key does not verify: %v", err)
			}
			if r.bin[0] != "cosign3" {
				return
			}
			runCosign(t, cosign, dir, string(testPassword), "sign-blob", "--key", "ours.key", "--use-signing-config=false",
				"--tlog-upload=false", "--bundle", "b.json", "-y", "payload.json")
			data, err := os.ReadFile(filepath.Join(dir, "b.json"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseBundle(data)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := ParsePublicKey(k.pub)
			if b.VerificationMaterial.PublicKey == nil || b.VerificationMaterial.PublicKey.Hint != keyHint(pub) {
				t.Errorf("cosign's bundle hint = %+v, want %s", b.VerificationMaterial.PublicKey, keyHint(pub))
			}
		})
	}
}
