package trust

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"
)

func signFor(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor, k testKey, tag string, bundleToo bool) {
	t.Helper()
	if _, err := Sign(ctx, s, subject, k.signer, SignOptions{DockerReference: "example.com/r", Bundle: bundleToo, Tag: tag}); err != nil {
		t.Fatalf("Sign(%q): %v", tag, err)
	}
}

func withTags(p *Policy, threshold int, tags ...string) *Policy {
	q := *p
	q.Tags, q.Threshold = tags, threshold
	return &q
}

// TestVerify_SignedTags plays the one who can rename and add tags in a
// store: a tag policy is decided by the tag inside the signed data only.
func TestVerify_SignedTags(t *testing.T) {
	a, b := newTestKey(t, ECDSAP256), newTestKey(t, Ed25519)
	ab := policyOf(t, a, b)
	tests := []struct {
		name     string
		setup    func(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor)
		policy   *Policy
		want     Outcome
		tags     []string // Result.Tags
		signers  int
		inDetail string
	}{
		{"signed for test-1 under prod-*", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "test-1", false)
		}, withTags(ab, 1, "prod-*"), OutcomeNotCovered, nil, 0, "signed it for test-1; the policy covers prod-*"},
		{"bundle format signed for test-1 under prod-*", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			mustBundleOnlyTag(t, ctx, s, d, a, "test-1")
		}, withTags(ab, 1, "prod-*"), OutcomeNotCovered, nil, 0, "test-1"},
		{"signed for prod-1 under prod-*", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "prod-1", true)
		}, withTags(ab, 1, "prod-*"), OutcomeOK, []string{"prod-1"}, 1, ""},
		{"bundle format signed for prod-1 under prod-*", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			mustBundleOnlyTag(t, ctx, s, d, b, "prod-1")
		}, withTags(ab, 1, "prod-*"), OutcomeOK, []string{"prod-1"}, 1, ""},
		{"signed for no tag (cosign without -a) under prod-*", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "", false)
		}, withTags(ab, 1, "prod-*"), OutcomeNotCovered, nil, 0, "signed it for no tag"},
		{"signed for no tag under *", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "", false)
		}, withTags(ab, 1, "*"), OutcomeNotCovered, nil, 0, "no tag"},
		{"signed for no tag, no tag policy", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "", false)
		}, ab, OutcomeOK, nil, 1, ""},
		{"signed for test-1, no tag policy", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "test-1", false)
		}, ab, OutcomeOK, []string{"test-1"}, 1, ""},
		{"2 of 2, one signed for a covered tag", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "prod-1", false)
			signFor(t, ctx, s, d, b, "test-1", false)
		}, withTags(ab, 2, "prod-*"), OutcomeNotCovered, []string{"prod-1"}, 1, "1 of 2 required trusted keys signed it for a covered tag; trusted keys signed it for test-1"},
		{"2 of 2, one signed for a covered tag, the other not at all", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "prod-1", false)
		}, withTags(ab, 2, "prod-*"), OutcomeBelowThreshold, []string{"prod-1"}, 1, "1 of 2 required trusted keys signed"},
		{"2 of 2 for covered tags", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "prod-1", false)
			signFor(t, ctx, s, d, b, "prod-2", true)
		}, withTags(ab, 2, "prod-*"), OutcomeOK, []string{"prod-1", "prod-2"}, 2, ""},
		{"one key, two tags: the covered one counts", func(t *testing.T, ctx context.Context, s Target, d ocispec.Descriptor) {
			signFor(t, ctx, s, d, a, "test-1", false)
			signFor(t, ctx, s, d, a, "prod-1", false)
		}, withTags(ab, 1, "prod-*"), OutcomeOK, []string{"prod-1"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := memory.New()
			subject := pushSubject(t, ctx, s, "bundle")
			tt.setup(t, ctx, s, subject)
			res, err := Verify(ctx, s, subject, tt.policy)
			assertOutcome(t, res, err, tt.want)
			if !slices.Equal(res.Tags, tt.tags) || len(res.Signers) != tt.signers {
				t.Errorf("Result tags %q signers %q; want %q and %d signers", res.Tags, res.Signers, tt.tags, tt.signers)
			}
			if tt.inDetail != "" && (err == nil || !strings.Contains(err.Error(), tt.inDetail)) {
				t.Errorf("error %v does not say %q", err, tt.inDetail)
			}
		})
	}
}

// TestSign_Tag: the tag is in the signed payload; one signature per key
// and tag; an annotation cannot contradict it.
func TestSign_Tag(t *testing.T) {
	ctx := context.Background()
	a := newTestKey(t, ECDSAP256)
	s := memory.New()
	subject := pushSubject(t, ctx, s, "bundle")
	signFor(t, ctx, s, subject, a, "prod-1", true)
	signFor(t, ctx, s, subject, a, "prod-1", true) // again: nothing added
	_, m := sigManifest(t, ctx, s, subject.Digest)
	if len(m.Layers) != 1 {
		t.Fatalf("%d signature layers after signing twice for one tag; want 1", len(m.Layers))
	}
	p := string(fetchBytes(t, ctx, s, m.Layers[0]))
	if want := `"optional":{"dev.shoebox.tag":"prod-1"}`; !strings.Contains(p, want) {
		t.Errorf("payload %s lacks %s", p, want)
	}
	signFor(t, ctx, s, subject, a, "prod-2", false)
	if _, m = sigManifest(t, ctx, s, subject.Digest); len(m.Layers) != 2 {
		t.Fatalf("%d signature layers after signing for a second tag; want 2", len(m.Layers))
	}
	refs, err := listReferrers(ctx, s, subject)
	if err != nil || len(refs) != 1 {
		t.Fatalf("referrers = %d, %v; want the one bundle", len(refs), err)
	}
	_, err = Sign(ctx, s, subject, a.signer, SignOptions{Tag: "prod-3", Annotations: map[string]string{AnnotationTag: "prod-9"}})
	if err == nil || !strings.Contains(err.Error(), `contradicts the tag signed for ("prod-3")`) {
		t.Errorf("Sign with a contradicting annotation = %v", err)
	}
	res, err := Verify(ctx, s, subject, withTags(policyOf(t, a), 1, "prod-*"))
	if err != nil || !slices.Equal(res.Tags, []string{"prod-1", "prod-2"}) {
		t.Errorf("Verify = %+v, %v; want tags prod-1, prod-2", res, err)
	}
	var ve *VerificationError
	if _, err := Verify(ctx, s, subject, withTags(policyOf(t, a), 1, "release-*")); !errors.As(err, &ve) || ve.Outcome != OutcomeNotCovered {
		t.Errorf("Verify under release-* = %v; want not covered", err)
	}
}

// mustBundleOnlyTag writes only the Sigstore bundle referrer for k, made
// for tag.
func mustBundleOnlyTag(t *testing.T, ctx context.Context, s Target, subject ocispec.Descriptor, k testKey, tag string) {
	t.Helper()
	pub, _ := k.signer.PublicKey()
	v, err := verifierFor(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := signBundle(ctx, s, subject, k.signer, v, keyHint(pub), SignOptions{Annotations: map[string]string{AnnotationTag: tag}, Tag: tag}); err != nil {
		t.Fatal(err)
	}
}
