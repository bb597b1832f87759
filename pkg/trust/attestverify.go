package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2/errdef"
)

// maxAttestationSize bounds one attestation layer (an SBOM of a large
// bundle is tens of MiB).
const maxAttestationSize = 256 << 20

// FormatAttTag is cosign v2's attestation storage: DSSE envelopes as the
// layers of the "sha256-<hex>.att" tagged manifest. (Attestations in the
// Sigstore bundle format are FormatBundle.)
const FormatAttTag = "cosign-att-tag"

// Attestation is one attestation of a subject that VerifyAttestations
// found.
type Attestation struct {
	// PredicateType is the statement's predicate type.
	PredicateType string
	// Format is FormatAttTag or FormatBundle.
	Format string
	// Signers are the trusted keys whose signatures verified, sorted;
	// empty when no trusted key signed it.
	Signers []string
}

// OutcomeMissingAttestation: the signatures satisfy the policy, but an
// attestation the policy requires (RequireAttestations) was not found
// signed by one of its keys.
const OutcomeMissingAttestation Outcome = "missing-attestation"

// VerifyAttestations finds the attestations of subject (the ".att" tag
// and Sigstore bundle referrers whose predicate is not a signature) and
// checks each DSSE signature against the policy's keys. An attestation
// signed by a trusted key whose statement names another subject, or that
// is not an in-toto statement, is a *VerificationError with
// OutcomeBadSignature (an attestation swapped from another bundle).
// Unsigned or unknown-key attestations are returned with no Signers.
func VerifyAttestations(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor, policy *Policy) ([]Attestation, error) {
	if policy == nil {
		return nil, errors.New("no trust policy")
	}
	st := &verifyState{subject: subject.Digest, verified: map[string]map[string]bool{}, formats: map[string]bool{}}
	for i, k := range policy.Keys {
		v, err := verifierFor(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("trust policy key %d (%s): %w", i, k.label(), err)
		}
		st.keys = append(st.keys, verifyKey{label: k.label(), hint: keyHint(k.PublicKey), verifier: v})
	}
	var out []Attestation
	var bad []string
	judge := func(where, format string, payloadType string, payload []byte, sigs [][]byte) {
		a := Attestation{Format: format}
		var stmt inTotoStatement
		if payloadType != PayloadTypeInToto || json.Unmarshal(payload, &stmt) != nil {
			a.PredicateType = "?"
		} else {
			a.PredicateType = stmt.PredicateType
		}
		msg := pae(payloadType, payload)
		for _, s := range sigs {
			for _, k := range st.keys {
				if k.verifier.VerifySignature(bytes.NewReader(s), bytes.NewReader(msg), options.WithContext(ctx)) == nil && !slices.Contains(a.Signers, k.label) {
					a.Signers = append(a.Signers, k.label)
				}
			}
		}
		slices.Sort(a.Signers)
		if len(a.Signers) > 0 {
			switch {
			case a.PredicateType == "?":
				bad = append(bad, where+": not an in-toto statement")
			case !statementNames(stmt, subject.Digest):
				bad = append(bad, fmt.Sprintf("%s: %s attestation names another subject", where, stmt.PredicateType))
			}
		}
		out = append(out, a)
	}

	tag := AttestationTag(subject.Digest)
	desc, err := target.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("%s: resolving %s: %w", subject.Digest, tag, err)
	default:
		m, err := fetchManifest(ctx, target, desc)
		if err != nil {
			if d := asBad(err); d != "" {
				bad = append(bad, fmt.Sprintf("%s: %s", tag, d))
				break
			}
			return nil, fmt.Errorf("%s: reading %s: %w", subject.Digest, tag, err)
		}
		for i, l := range m.Layers {
			if l.MediaType != MediaTypeDSSE || i >= maxSignatures {
				continue
			}
			where := fmt.Sprintf("%s layer %d", FormatAttTag, i)
			data, err := fetchLimited(ctx, target, l, maxAttestationSize)
			if err != nil {
				if d := asBad(err); d != "" {
					bad = append(bad, fmt.Sprintf("%s: %s", where, d))
					continue
				}
				return nil, fmt.Errorf("%s: reading %s: %w", subject.Digest, where, err)
			}
			env, err := parseEnvelope(data)
			if err != nil {
				out = append(out, Attestation{PredicateType: "?", Format: FormatAttTag})
				continue
			}
			judge(where, FormatAttTag, env.payloadType, env.payload, env.sigs)
		}
	}

	refs, err := listReferrers(ctx, target, subject)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject.Digest, err)
	}
	for _, r := range refs {
		if r.artifactType != MediaTypeBundle {
			continue
		}
		if pt := r.manifest.Annotations[AnnotationBundlePredicateType]; pt == PredicateTypeCosignSign {
			continue // a signature
		}
		for i, l := range r.manifest.Layers {
			if l.MediaType != MediaTypeBundle {
				continue
			}
			where := fmt.Sprintf("%s %s layer %d", FormatBundle, r.desc.Digest, i)
			data, err := fetchLimited(ctx, target, l, maxAttestationSize)
			if err != nil {
				if d := asBad(err); d != "" {
					bad = append(bad, fmt.Sprintf("%s: %s", where, d))
					continue
				}
				return nil, fmt.Errorf("%s: reading %s: %w", subject.Digest, where, err)
			}
			b, err := parseBundle(data)
			if err != nil || b.DSSEEnvelope == nil {
				continue
			}
			var sigs [][]byte
			for _, s := range b.DSSEEnvelope.Signatures {
				sigs = append(sigs, s.Sig)
			}
			judge(where, FormatBundle, b.DSSEEnvelope.PayloadType, b.DSSEEnvelope.Payload, sigs)
		}
	}
	slices.SortStableFunc(out, func(a, b Attestation) int {
		return strings.Compare(a.PredicateType+" "+a.Format, b.PredicateType+" "+b.Format)
	})
	if len(bad) > 0 {
		detail := bad[0]
		if len(bad) > 1 {
			detail += fmt.Sprintf(" (and %d more)", len(bad)-1)
		}
		return out, &VerificationError{Outcome: OutcomeBadSignature, Subject: subject.Digest, Detail: detail}
	}
	return out, nil
}

func statementNames(s inTotoStatement, d digest.Digest) bool {
	for _, sub := range s.Subject {
		if sub.Digest[d.Algorithm().String()] == d.Encoded() {
			return true
		}
	}
	return false
}

// checkRequiredAttestations is Verify's last step when the policy
// requires attestations: each required predicate type must have an
// attestation signed by one of the policy's keys.
func checkRequiredAttestations(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor, policy *Policy, res *Result) error {
	atts, err := VerifyAttestations(ctx, target, subject, policy)
	res.Attestations = atts
	if err != nil {
		var ve *VerificationError
		if errors.As(err, &ve) {
			res.Outcome = ve.Outcome
		}
		return err
	}
	var missing []string
	for _, want := range policy.RequireAttestations {
		pt := PredicateTypeOf(want)
		if !slices.ContainsFunc(atts, func(a Attestation) bool { return a.PredicateType == pt && len(a.Signers) > 0 }) {
			missing = append(missing, want+" ("+pt+")")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	res.Outcome = OutcomeMissingAttestation
	return &VerificationError{Outcome: OutcomeMissingAttestation, Subject: subject.Digest,
		Detail: "no attestation signed by a policy key for " + strings.Join(missing, ", ")}
}
