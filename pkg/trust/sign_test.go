package trust

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/content/oci"
)

func TestSignVerify_RoundTrip(t *testing.T) {
	stores := map[string]func(t *testing.T) Target{
		"memory": func(*testing.T) Target { return memory.New() },
		"oci-layout": func(t *testing.T) Target {
			s, err := oci.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for _, alg := range []KeyAlgorithm{ECDSAP256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// Generate → key file → LoadSigner (scrypt is slow under -race:
			// once per algorithm).
			ek := encryptedKey(t, alg)
			keyPath := writeFile(t, t.TempDir(), "k.key", ek.priv)
			calls := 0
			signer, err := LoadSigner(ctx, keyPath, func(confirm bool) ([]byte, error) {
				calls++
				if confirm {
					t.Error("LoadSigner asked for confirmation")
				}
				return testPassword, nil
			})
			if err != nil {
				t.Fatalf("LoadSigner: %v", err)
			}
			if calls != 1 {
				t.Errorf("password asked %d times, want 1", calls)
			}
			policy, err := PolicyFromKeys(ek.pub)
			if err != nil {
				t.Fatal(err)
			}
			other := newTestKey(t, alg)
			for storeName, newStore := range stores {
				for _, bundle := range []bool{false, true} {
					name := storeName
					if bundle {
						name += "/bundle"
					}
					t.Run(name, func(t *testing.T) {
						s := newStore(t)
						subject := pushSubject(t, ctx, s, "v1")
						sigDesc, err := Sign(ctx, s, subject, signer, SignOptions{DockerReference: "example.com/julia/bundles", Bundle: bundle})
						if err != nil {
							t.Fatalf("Sign: %v", err)
						}
						if got, err := s.Resolve(ctx, SignatureTag(subject.Digest)); err != nil || got.Digest != sigDesc.Digest {
							t.Fatalf("Resolve(.sig) = %v, %v; want %s", got.Digest, err, sigDesc.Digest)
						}
						res, err := Verify(ctx, s, subject, policy)
						assertOutcome(t, res, err, OutcomeOK)
						wantFormats := []string{FormatSigTag}
						if bundle {
							wantFormats = []string{FormatSigTag, FormatBundle}
						}
						if !slices.Equal(res.Formats, wantFormats) {
							t.Errorf("Formats = %v, want %v", res.Formats, wantFormats)
						}
						if want := []string{policy.Keys[0].ID}; !slices.Equal(res.Signers, want) {
							t.Errorf("Signers = %v, want %v", res.Signers, want)
						}
						if res.Subject.Digest != subject.Digest {
							t.Errorf("Subject = %s, want %s", res.Subject.Digest, subject.Digest)
						}
						res, err = Verify(ctx, s, subject, policyOf(t, other))
						assertOutcome(t, res, err, OutcomeUnknownKeys)
					})
				}
			}
		})
	}
}

func assertOutcome(t *testing.T, res *Result, err error, want Outcome) {
	t.Helper()
	if want == OutcomeOK {
		if err != nil || res == nil || res.Outcome != OutcomeOK {
			t.Fatalf("Verify = %+v, %v; want ok", res, err)
		}
		return
	}
	var ve *VerificationError
	if !errors.As(err, &ve) {
		t.Fatalf("Verify error = %v (%T), want *VerificationError %q", err, err, want)
	}
	if ve.Outcome != want {
		t.Fatalf("VerificationError.Outcome = %q (%v), want %q", ve.Outcome, ve, want)
	}
	if res == nil || res.Outcome != want {
		t.Fatalf("Result = %+v, want outcome %q", res, want)
	}
}

func TestVerify_Outcomes(t *testing.T) {
	a, b, c := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519), newTestKey(t, ECDSAP256)
	stranger := newTestKey(t, ECDSAP256)
	twoOfThree := policyOf(t, a, b, c)
	twoOfThree.Threshold = 2

	tests := []struct {
		name   string
		setup  func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor)
		policy *Policy
		want   Outcome
		detail string
	}{
		{
			name:   "unsigned",
			setup:  func(*testing.T, context.Context, Target, ocispec.Descriptor) {},
			policy: policyOf(t, a),
			want:   OutcomeUnsigned,
		},
		{
			name: "unknown key",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, stranger, true)
			},
			policy: policyOf(t, a),
			want:   OutcomeUnknownKeys,
		},
		{
			name: "tampered base64 signature",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					sig, _ := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[AnnotationSignature])
					sig[len(sig)/2] ^= 0x40
					m.Layers[0].Annotations = map[string]string{
						AnnotationSignature: base64.StdEncoding.EncodeToString(sig),
						AnnotationKeyHint:   m.Layers[0].Annotations[AnnotationKeyHint],
					}
				})
			},
			policy: policyOf(t, a),
			want:   OutcomeBadSignature,
			detail: "does not verify",
		},
		{
			name: "signature annotation not base64",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					m.Layers[0].Annotations = map[string]string{AnnotationSignature: "!!not base64"}
				})
			},
			policy: policyOf(t, a),
			want:   OutcomeBadSignature,
		},
		{
			name: "tampered payload digest",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					p := fetchBytes(t, ctx, s, m.Layers[0])
					hex := subject.Digest.Encoded()
					flipped := "0" + hex[1:]
					if hex[0] == '0' {
						flipped = "1" + hex[1:]
					}
					p = []byte(strings.Replace(string(p), hex, flipped, 1))
					d, err := pushBlob(ctx, s, MediaTypeSimpleSigning, p)
					if err != nil {
						t.Fatal(err)
					}
					d.Annotations = m.Layers[0].Annotations
					m.Layers[0] = d
				})
			},
			policy: policyOf(t, a),
			want:   OutcomeBadSignature,
			detail: "payload signs",
		},
		{
			name: "valid signature over another digest",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				other := pushSubject(t, ctx, s, "other")
				mustSign(t, ctx, s, other, a, false)
				_, om := sigManifest(t, ctx, s, other.Digest)
				mustSign(t, ctx, s, subject, b, false) // a genuine signature too: bad still wins
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					m.Layers = append(m.Layers, om.Layers[0])
				})
			},
			policy: policyOf(t, a, b),
			want:   OutcomeBadSignature,
			detail: "payload signs",
		},
		{
			name: "bad signature is fatal when another key passes",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				mustSign(t, ctx, s, subject, b, false)
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					m.Layers[1].Annotations = map[string]string{
						AnnotationSignature: base64.StdEncoding.EncodeToString(make([]byte, 64)),
						AnnotationKeyHint:   m.Layers[1].Annotations[AnnotationKeyHint],
					}
				})
			},
			policy: policyOf(t, a, b),
			want:   OutcomeBadSignature,
		},
		{
			name: "tampered signature without key hint (as cosign writes) is unknown",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				replaceSig(t, ctx, s, subject.Digest, func(m *ocispec.Manifest) {
					sig, _ := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[AnnotationSignature])
					sig[len(sig)/2] ^= 0x40
					m.Layers[0].Annotations = map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
				})
			},
			policy: policyOf(t, a),
			want:   OutcomeUnknownKeys,
		},
		{
			name: "2 of 3 with one signer",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, true)
				mustSign(t, ctx, s, subject, stranger, false)
			},
			policy: twoOfThree,
			want:   OutcomeBelowThreshold,
		},
		{
			name: "same key in both formats counts once",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, b, true)
			},
			policy: twoOfThree,
			want:   OutcomeBelowThreshold,
		},
		{
			name: "2 of 3 with two signers",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				mustSign(t, ctx, s, subject, stranger, false)
				mustSign(t, ctx, s, subject, c, true)
			},
			policy: twoOfThree,
			want:   OutcomeOK,
		},
		{
			name: "2 of 3 by bundle and .sig",
			setup: func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor) {
				mustSign(t, ctx, s, subject, a, false)
				mustBundleOnly(t, ctx, s, subject, b)
			},
			policy: twoOfThree,
			want:   OutcomeOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := memory.New()
			subject := pushSubject(t, ctx, s, "bundle-1")
			tt.setup(t, ctx, s, subject)
			res, err := Verify(ctx, s, subject, tt.policy)
			assertOutcome(t, res, err, tt.want)
			if err != nil {
				if !strings.HasPrefix(err.Error(), subject.Digest.String()+": ") {
					t.Errorf("error %q does not start with the subject digest", err)
				}
				if tt.detail != "" && !strings.Contains(err.Error(), tt.detail) {
					t.Errorf("error %q does not mention %q", err, tt.detail)
				}
			}
		})
	}
}

func mustSign(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor, k testKey, bundle bool) ocispec.Descriptor {
	t.Helper()
	d, err := Sign(ctx, s, subject, k.signer, SignOptions{DockerReference: "example.com/r", Bundle: bundle})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return d
}

// mustBundleOnly writes only the Sigstore bundle referrer for k.
func mustBundleOnly(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor, k testKey) {
	t.Helper()
	pub, _ := k.signer.PublicKey()
	v, err := verifierFor(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := signBundle(ctx, s, subject, k.signer, v, keyHint(pub), SignOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestVerify_BundleTampered(t *testing.T) {
	ctx := context.Background()
	a := newTestKey(t, ECDSAP256)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")
	other := pushSubject(t, ctx, s, "y")
	// A genuine bundle for other, re-attached to subject.
	mustBundleOnly(t, ctx, s, other, a)
	idxDesc, err := s.Resolve(ctx, ReferrersTag(other.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(fetchBytes(t, ctx, s, idxDesc), &idx); err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(fetchBytes(t, ctx, s, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	m.Subject = &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	d, err := pushJSON(ctx, s, ocispec.MediaTypeImageManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	d.ArtifactType = MediaTypeBundle
	if err := addToReferrersIndex(ctx, s, subject.Digest, d); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(ctx, s, subject, policyOf(t, a))
	assertOutcome(t, res, err, OutcomeBadSignature)
	if !strings.Contains(err.Error(), "statement subject does not name") {
		t.Errorf("error = %v", err)
	}
}

// TestVerify_CosignReferrer reads cosign v2's OCI 1.1 referrer signature
// (COSIGN_EXPERIMENTAL=1 cosign sign --registry-referrers-mode=oci-1-1),
// built here as cosign-offline.md describes it, found through the fallback
// tag index and through Predecessors.
func TestVerify_CosignReferrer(t *testing.T) {
	for _, viaIndex := range []bool{true, false} {
		t.Run(map[bool]string{true: "fallback-tag", false: "predecessors"}[viaIndex], func(t *testing.T) {
			ctx := context.Background()
			a := newTestKey(t, ECDSAP256)
			s := memory.New()
			subject := pushSubject(t, ctx, s, "x")
			payload, err := SimpleSigningPayload("example.com/r", subject.Digest, nil)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := a.signer.SignMessage(strings.NewReader(string(payload)))
			if err != nil {
				t.Fatal(err)
			}
			layer, err := pushBlob(ctx, s, MediaTypeSimpleSigning, payload)
			if err != nil {
				t.Fatal(err)
			}
			layer.Annotations = map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
			cfg, err := pushBlob(ctx, s, ArtifactTypeCosignSignature, []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactTypeCosignSignature,
				Config: cfg, Layers: []ocispec.Descriptor{layer},
				Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
			m.SchemaVersion = 2
			d, err := pushJSON(ctx, s, ocispec.MediaTypeImageManifest, m)
			if err != nil {
				t.Fatal(err)
			}
			var target ReadOnlyTarget = s
			if viaIndex {
				d.ArtifactType = ArtifactTypeCosignSignature
				if err := addToReferrersIndex(ctx, s, subject.Digest, d); err != nil {
					t.Fatal(err)
				}
				target = noReferrers{s} // hide Predecessors
			}
			res, err := Verify(ctx, target, subject, policyOf(t, a))
			assertOutcome(t, res, err, OutcomeOK)
			if !slices.Equal(res.Formats, []string{FormatSigReferrer}) {
				t.Errorf("Formats = %v, want [%s]", res.Formats, FormatSigReferrer)
			}
		})
	}
}

// noReferrers hides a store's Predecessors method.
type noReferrers struct{ s *memory.Store }

func (n noReferrers) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return n.s.Fetch(ctx, d)
}
func (n noReferrers) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return n.s.Exists(ctx, d)
}
func (n noReferrers) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return n.s.Resolve(ctx, ref)
}

func TestSign_Layers(t *testing.T) {
	ctx := context.Background()
	a, b := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "x")

	d1 := mustSign(t, ctx, s, subject, a, true)
	_, m1 := sigManifest(t, ctx, s, subject.Digest)
	if len(m1.Layers) != 1 {
		t.Fatalf("after one signature: %d layers, want 1", len(m1.Layers))
	}
	// Same signer again: nothing added, same manifest, no second bundle.
	if d := mustSign(t, ctx, s, subject, a, true); d.Digest != d1.Digest {
		t.Errorf("re-signing with the same key changed the .sig manifest: %s -> %s", d1.Digest, d.Digest)
	}
	if n := countBundles(t, ctx, s, subject.Digest); n != 1 {
		t.Errorf("bundle referrers after re-signing = %d, want 1", n)
	}
	// Second signer: one more layer, re-tagged.
	d2 := mustSign(t, ctx, s, subject, b, true)
	if d2.Digest == d1.Digest {
		t.Fatal("second signer did not change the .sig manifest")
	}
	got, m2 := sigManifest(t, ctx, s, subject.Digest)
	if got.Digest != d2.Digest {
		t.Errorf(".sig tag = %s, want %s", got.Digest, d2.Digest)
	}
	if len(m2.Layers) != 2 {
		t.Fatalf("after two signers: %d layers, want 2", len(m2.Layers))
	}
	if m2.Layers[0].Annotations[AnnotationSignature] != m1.Layers[0].Annotations[AnnotationSignature] {
		t.Error("first signature layer changed")
	}
	if n := countBundles(t, ctx, s, subject.Digest); n != 2 {
		t.Errorf("bundle referrers = %d, want 2", n)
	}
	var cfg imageConfig
	if err := json.Unmarshal(fetchBytes(t, ctx, s, m2.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if want := []digest.Digest{m2.Layers[0].Digest, m2.Layers[1].Digest}; !slices.Equal(cfg.RootFS.DiffIDs, want) {
		t.Errorf("config diff_ids = %v, want %v", cfg.RootFS.DiffIDs, want)
	}
	p := policyOf(t, a, b)
	p.Threshold = 2
	res, err := Verify(ctx, s, subject, p)
	assertOutcome(t, res, err, OutcomeOK)
}

func countBundles(t *testing.T, ctx context.Context, s *memory.Store, d digest.Digest) int {
	t.Helper()
	idxDesc, err := s.Resolve(ctx, ReferrersTag(d))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(fetchBytes(t, ctx, s, idxDesc), &idx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range idx.Manifests {
		if m.ArtifactType == MediaTypeBundle {
			n++
		}
	}
	return n
}
