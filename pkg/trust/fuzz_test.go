package trust

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func FuzzParsePolicy(f *testing.F) {
	k := newTestKey(f, ECDSAP256)
	dir := f.TempDir()
	writeFile(f, dir, "k.pub", k.pub)
	f.Add("threshold = 1\n[[keys]]\nname = \"a\"\npath = \"k.pub\"\n")
	f.Add("tags = [\"r-*\"]\n[[keys]]\npem = '''\n" + string(k.pub) + "'''\n")
	f.Add("threshold = 3\n[[keys]]\n[[keys]]\n")
	f.Add("[[keys]\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(strings.NewReader(s), dir)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParsePolicy returned an invalid policy: %v", err)
		}
		if p.threshold() < 1 || p.threshold() > len(p.Keys) {
			t.Fatalf("threshold %d with %d keys", p.threshold(), len(p.Keys))
		}
	})
}

func FuzzLoadPrivateKeyPEM(f *testing.F) {
	for _, alg := range []KeyAlgorithm{ECDSAP256, Ed25519} {
		k := newTestKey(f, alg)
		f.Add(k.priv)
		f.Add(k.pub)
	}
	// An encrypted envelope with a cheap-to-reject body.
	f.Add([]byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadPrivateKeyPEM(data, func(bool) ([]byte, error) { return []byte("pw"), nil })
		if err == nil && s == nil {
			t.Fatal("nil signer without error")
		}
		_, _ = LoadVerifier(data)
	})
}

func FuzzVerifyPayload(f *testing.F) {
	good, _ := SimpleSigningPayload("r/x", goldenDigest, map[string]string{"a": "b"})
	f.Add(good, string(goldenDigest))
	tagged, _ := SimpleSigningPayload("r/x", goldenDigest, map[string]string{AnnotationTag: "prod-1"})
	f.Add(tagged, string(goldenDigest))
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":1}}}`), string(goldenDigest))
	f.Add([]byte(`null`), "sha256:")
	f.Fuzz(func(t *testing.T, payload []byte, d string) {
		err := VerifyPayload(payload, digest.Digest(d))
		if err == nil && !strings.Contains(string(payload), d) {
			t.Fatalf("payload %q accepted for digest %q it does not contain", payload, d)
		}
		// A tag claim comes with an accepted payload only.
		if tag, err2 := checkPayload(payload, digest.Digest(d)); tag != "" && (err2 != nil || err != nil) {
			t.Fatalf("payload %q: tag %q claimed with error %v / %v", payload, tag, err2, err)
		}
		// The statement checker sees the same untrusted bytes.
		_, _, _ = checkStatement(payload, digest.Digest(d))
		_, _ = parseBundle(payload)
	})
}
