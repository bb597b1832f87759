package trust

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"
)

// Conformance: the oras stores are Targets (and ReferrerListers).
var (
	_ Target         = (*memory.Store)(nil)
	_ Target         = (*oci.Store)(nil)
	_ ReadOnlyTarget = (*oci.ReadOnlyStore)(nil)
	_ ReferrerLister = (*memory.Store)(nil)
	_ ReferrerLister = (*oci.Store)(nil)
)

type testKey struct {
	priv, pub []byte
	signer    signature.Signer
}

var testPassword = []byte("correct horse")

var (
	encKeysMu sync.Mutex
	encKeys   = map[KeyAlgorithm]testKey{}
)

// encryptedKey returns a key made by GenerateKey (encrypted with
// testPassword), one per algorithm for the whole test binary: scrypt is
// slow under -race. Its signer is nil.
func encryptedKey(t testing.TB, alg KeyAlgorithm) testKey {
	t.Helper()
	encKeysMu.Lock()
	defer encKeysMu.Unlock()
	if k, ok := encKeys[alg]; ok {
		return k
	}
	priv, pub, err := GenerateKey(alg, testPassword)
	if err != nil {
		t.Fatalf("GenerateKey(%q): %v", alg, err)
	}
	k := testKey{priv: priv, pub: pub}
	encKeys[alg] = k
	return k
}

// newTestKey makes a key pair without the (slow, scrypt) encryption; the
// encrypted-file path is covered by the round-trip and key tests.
func newTestKey(t testing.TB, alg KeyAlgorithm) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadPrivateKeyPEM(privPEM, nil)
	if err != nil {
		t.Fatalf("LoadPrivateKeyPEM: %v", err)
	}
	return testKey{priv: privPEM, pub: pub, signer: s}
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pushSubject pushes a small image manifest standing in for a bundle index.
func pushSubject(t testing.TB, ctx context.Context, s Target, seed string) ocispec.Descriptor {
	t.Helper()
	layer, err := pushBlob(ctx, s, "application/vnd.shoebox.test", []byte("layer "+seed))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pushBlob(ctx, s, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.shoebox.test", Config: cfg, Layers: []ocispec.Descriptor{layer},
	}
	desc, err := pushJSON(ctx, s, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, desc, seed); err != nil {
		t.Fatal(err)
	}
	return desc
}

func policyOf(t testing.TB, keys ...testKey) *Policy {
	t.Helper()
	var pems [][]byte
	for _, k := range keys {
		pems = append(pems, k.pub)
	}
	p, err := PolicyFromKeys(pems...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sigManifest(t testing.TB, ctx context.Context, s Target, subject digest.Digest) (ocispec.Descriptor, ocispec.Manifest) {
	t.Helper()
	desc, err := s.Resolve(ctx, SignatureTag(subject))
	if err != nil {
		t.Fatalf("Resolve(%s): %v", SignatureTag(subject), err)
	}
	data, err := content.FetchAll(ctx, s, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return desc, m
}

// replaceSig rewrites the .sig manifest of subject through edit and
// re-tags it, as an attacker with write access to the store could.
func replaceSig(t testing.TB, ctx context.Context, s Target, subject digest.Digest, edit func(*ocispec.Manifest)) {
	t.Helper()
	_, m := sigManifest(t, ctx, s, subject)
	edit(&m)
	desc, err := pushJSON(ctx, s, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, desc, SignatureTag(subject)); err != nil {
		t.Fatal(err)
	}
}

func fetchBytes(t testing.TB, ctx context.Context, s content.Fetcher, d ocispec.Descriptor) []byte {
	t.Helper()
	b, err := content.FetchAll(ctx, s, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
