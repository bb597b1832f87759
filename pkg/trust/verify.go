package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// ReadOnlyTarget is what Verify reads: content plus tag resolution
// (oras.ReadOnlyTarget). oras-go's memory.Store, oci.Store, oci.ReadOnlyStore
// and remote.Repository satisfy it.
type ReadOnlyTarget interface {
	content.ReadOnlyStorage
	content.Resolver
}

// ReferrerLister is an optional capability of a ReadOnlyTarget: listing
// the manifests that refer to a node (its OCI 1.1 referrers, among other
// predecessors). oras-go's memory.Store, oci.Store and remote.Repository
// (which uses the referrers API and falls back to the tag schema) have it.
// Verify uses it, when present, in addition to the referrers fallback tag.
type ReferrerLister interface {
	Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error)
}

// Outcome is the verdict of Verify.
type Outcome string

// The outcomes of Verify; each is distinct, and only OutcomeOK passes.
const (
	// OutcomeOK: at least Policy.Threshold distinct trusted keys signed
	// the subject and no signature by a trusted key failed.
	OutcomeOK Outcome = "ok"
	// OutcomeUnsigned: no signature of any format was found.
	OutcomeUnsigned Outcome = "unsigned"
	// OutcomeUnknownKeys: signatures were found, none by a trusted key.
	OutcomeUnknownKeys Outcome = "unknown-keys"
	// OutcomeBadSignature: a signature claims a trusted key but does not
	// verify, or a signature attached to the subject signs something else
	// (payload digest, statement subject, blob digest). Always fatal, even
	// when other signatures pass.
	OutcomeBadSignature Outcome = "bad-signature"
	// OutcomeBelowThreshold: some, but fewer than Policy.Threshold, distinct
	// trusted keys signed.
	OutcomeBelowThreshold Outcome = "below-threshold"
	// OutcomeNotCovered: enough trusted keys signed, but not for a tag
	// the policy covers: the policy has Tags, and too few of the
	// signatures name (AnnotationTag, inside the signed data) a tag that
	// matches them. Tags in the store are never consulted.
	OutcomeNotCovered Outcome = "not-covered"
)

// The signature formats Verify reads, as named in Result.Formats.
const (
	// FormatSigTag is cosign v2's default: simple signing in the
	// "sha256-<hex>.sig" tagged manifest.
	FormatSigTag = "cosign-sig-tag"
	// FormatSigReferrer is cosign v2's OCI 1.1 referrer
	// (artifactType ArtifactTypeCosignSignature).
	FormatSigReferrer = "cosign-sig-referrer"
	// FormatBundle is cosign v3's Sigstore bundle v0.3 referrer.
	FormatBundle = "sigstore-bundle"
)

// Result is what Verify found.
type Result struct {
	Outcome Outcome
	Subject ocispec.Descriptor
	// Signers are the trusted keys (Name, or ID when unnamed) whose
	// signatures verified and count under the policy (made for a tag the
	// policy covers, when it has Tags), sorted.
	Signers []string
	// Tags are the tags the counted signatures were made for
	// (AnnotationTag), sorted; empty when none names one.
	Tags []string
	// Unknown counts signatures not made by any trusted key.
	Unknown int
	// Formats lists the signature formats found, sorted.
	Formats []string
	// Attestations are the subject's attestations, when the policy
	// requires some (RequireAttestations); see VerifyAttestations.
	Attestations []Attestation
}

// VerificationError is returned for every cryptographic or policy failure
// of Verify: any outcome but OutcomeOK. Transport, I/O and configuration
// errors are never wrapped in it.
type VerificationError struct {
	Outcome Outcome
	Subject digest.Digest
	Detail  string
}

// Error reads "sha256:…: bad signature: detail".
func (e *VerificationError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Subject, outcomeText(e.Outcome))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func outcomeText(o Outcome) string {
	switch o {
	case OutcomeUnsigned:
		return "unsigned"
	case OutcomeUnknownKeys:
		return "signed only by unknown keys"
	case OutcomeBadSignature:
		return "bad signature"
	case OutcomeBelowThreshold:
		return "below threshold"
	case OutcomeNotCovered:
		return "not signed for a tag the policy covers"
	case OutcomeMissingAttestation:
		return "missing a required attestation"
	default:
		return string(o)
	}
}

// verifyKey is a trusted key ready to verify.
type verifyKey struct {
	label    string
	hint     string
	verifier signature.Verifier
}

// verifyState accumulates the evidence of one Verify call.
type verifyState struct {
	subject digest.Digest
	keys    []verifyKey
	// verified holds, for each trusted key whose signature verified, the
	// tags its signatures were made for ("" for a signature naming none).
	verified map[string]map[string]bool
	unknown  int
	bad      []string
	formats  map[string]bool
}

// Verify finds every cosign signature of subject in target (the ".sig"
// tag, cosign v2 OCI 1.1 referrers, cosign v3 Sigstore bundle referrers,
// found through the referrers fallback tag and, when target is a
// ReferrerLister, its predecessors) and judges them against policy.
//
// It returns a Result in every case where it could read the signatures.
// When the outcome is not OutcomeOK it also returns a *VerificationError
// with that outcome. Other errors (I/O, transport) come with a nil Result.
func Verify(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor, policy *Policy) (*Result, error) {
	if err := subject.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("subject digest %q: %w", subject.Digest, err)
	}
	if policy == nil {
		return nil, errors.New("no trust policy")
	}
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	st := &verifyState{subject: subject.Digest, verified: map[string]map[string]bool{}, formats: map[string]bool{}}
	for i, k := range policy.Keys {
		v, err := verifierFor(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("trust policy key %d (%s): %w", i, k.label(), err)
		}
		st.keys = append(st.keys, verifyKey{label: k.label(), hint: keyHint(k.PublicKey), verifier: v})
	}

	// cosign v2 ".sig" tag.
	tag := SignatureTag(subject.Digest)
	sigDesc, err := target.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("%s: resolving %s: %w", subject.Digest, tag, err)
	default:
		m, err := fetchManifest(ctx, target, sigDesc)
		if err != nil {
			if ve := asBad(err); ve != "" {
				st.bad = append(st.bad, fmt.Sprintf("%s: %s", tag, ve))
			} else {
				return nil, fmt.Errorf("%s: reading %s: %w", subject.Digest, tag, err)
			}
		} else if err := st.simpleSigning(ctx, target, FormatSigTag, m); err != nil {
			return nil, fmt.Errorf("%s: %w", subject.Digest, err)
		}
	}

	// OCI 1.1 referrers: cosign v2 referrer signatures, cosign v3 bundles.
	refs, err := listReferrers(ctx, target, subject)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject.Digest, err)
	}
	for _, r := range refs {
		switch r.artifactType {
		case ArtifactTypeCosignSignature:
			err = st.simpleSigning(ctx, target, FormatSigReferrer, r.manifest)
		case MediaTypeBundle:
			if pt, ok := r.manifest.Annotations[AnnotationBundlePredicateType]; ok && pt != PredicateTypeCosignSign {
				continue // an attestation, not a signature
			}
			err = st.bundles(ctx, target, r.manifest)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subject.Digest, err)
		}
	}
	res, err := st.result(subject, policy)
	if err != nil || len(policy.RequireAttestations) == 0 {
		return res, err
	}
	if err := checkRequiredAttestations(ctx, target, subject, policy, res); err != nil {
		var ve *VerificationError
		if errors.As(err, &ve) {
			return res, err
		}
		return nil, err
	}
	return res, nil
}

func (st *verifyState) result(subject ocispec.Descriptor, policy *Policy) (*Result, error) {
	res := &Result{Subject: subject, Unknown: st.unknown}
	// The keys that count: every trusted key that signed, or with a tag
	// policy only those that signed for a covered tag.
	tags := map[string]bool{}
	var uncovered []string
	for label, signed := range st.verified {
		counts := false
		for t := range signed {
			if policy.coversSigned(t) {
				counts = true
				if t != "" {
					tags[t] = true
				}
			}
		}
		if counts {
			res.Signers = append(res.Signers, label)
			continue
		}
		for t := range signed {
			if t == "" {
				t = "no tag"
			}
			uncovered = append(uncovered, t)
		}
	}
	sort.Strings(res.Signers)
	res.Tags = slices.Sorted(maps.Keys(tags))
	for f := range st.formats {
		res.Formats = append(res.Formats, f)
	}
	sort.Strings(res.Formats)
	threshold := policy.threshold()
	var detail string
	switch {
	case len(st.bad) > 0:
		res.Outcome = OutcomeBadSignature
		detail = st.bad[0]
		if len(st.bad) > 1 {
			detail += fmt.Sprintf(" (and %d more)", len(st.bad)-1)
		}
	case len(st.verified) == 0 && st.unknown == 0:
		res.Outcome = OutcomeUnsigned
		detail = "no cosign signature or Sigstore bundle found"
	case len(res.Signers) >= threshold:
		res.Outcome = OutcomeOK
		return res, nil
	case len(st.verified) == 0:
		res.Outcome = OutcomeUnknownKeys
		detail = fmt.Sprintf("%d signature(s), none by a trusted key", st.unknown)
	case len(st.verified) >= threshold:
		res.Outcome = OutcomeNotCovered
		slices.Sort(uncovered)
		detail = fmt.Sprintf("trusted keys signed it for %s; the policy covers %s", strings.Join(slices.Compact(uncovered), ", "),
			strings.Join(policy.Tags, ", "))
		if len(res.Signers) > 0 {
			detail = fmt.Sprintf("%d of %d required trusted keys signed it for a covered tag; ", len(res.Signers), threshold) + detail
		}
	default:
		res.Outcome = OutcomeBelowThreshold
		detail = fmt.Sprintf("%d of %d required trusted keys signed", len(res.Signers), threshold)
		if len(uncovered) > 0 {
			detail += fmt.Sprintf(" for a covered tag (%d more for other tags: %s)", len(st.verified)-len(res.Signers),
				strings.Join(slices.Compact(slices.Sorted(slices.Values(uncovered))), ", "))
		}
	}
	return res, &VerificationError{Outcome: res.Outcome, Subject: subject.Digest, Detail: detail}
}

// judge records one signature over msg, made for tag: which trusted keys
// it verifies with, or whether it is a trusted key's failed signature
// (hint names a trusted key) or another key's.
func (st *verifyState) judge(ctx context.Context, where, hint string, sig, msg []byte, tag string) {
	for _, k := range st.keys {
		if k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg), options.WithContext(ctx)) == nil {
			if st.verified[k.label] == nil {
				st.verified[k.label] = map[string]bool{}
			}
			st.verified[k.label][tag] = true
			return
		}
	}
	for _, k := range st.keys {
		if hint != "" && hint == k.hint {
			st.bad = append(st.bad, fmt.Sprintf("%s: signature by trusted key %s does not verify", where, k.label))
			return
		}
	}
	st.unknown++
}

// simpleSigning judges the simple-signing layers of a signature manifest.
func (st *verifyState) simpleSigning(ctx context.Context, f content.Fetcher, format string, m *ocispec.Manifest) error {
	for i, l := range m.Layers {
		if l.MediaType != MediaTypeSimpleSigning {
			continue
		}
		if i >= maxSignatures {
			st.bad = append(st.bad, fmt.Sprintf("%s: more than %d signatures", format, maxSignatures))
			return nil
		}
		st.formats[format] = true
		where := fmt.Sprintf("%s layer %d", format, i)
		sig, err := decodeSignature(l.Annotations[AnnotationSignature])
		if err != nil {
			st.bad = append(st.bad, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		payload, err := fetchLimited(ctx, f, l, maxPayloadSize)
		if err != nil {
			if d := asBad(err); d != "" {
				st.bad = append(st.bad, fmt.Sprintf("%s: %s", where, d))
				continue
			}
			return fmt.Errorf("reading %s payload %s: %w", format, l.Digest, err)
		}
		tag, err := checkPayload(payload, st.subject)
		if err != nil {
			st.bad = append(st.bad, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		st.judge(ctx, where, l.Annotations[AnnotationKeyHint], sig, payload, tag)
	}
	return nil
}

// bundles judges the Sigstore bundle layers of a bundle referrer.
func (st *verifyState) bundles(ctx context.Context, f content.Fetcher, m *ocispec.Manifest) error {
	for i, l := range m.Layers {
		if l.MediaType != MediaTypeBundle {
			continue
		}
		where := fmt.Sprintf("%s layer %d", FormatBundle, i)
		data, err := fetchLimited(ctx, f, l, maxBundleSize)
		if err != nil {
			if d := asBad(err); d != "" {
				st.formats[FormatBundle] = true
				st.bad = append(st.bad, fmt.Sprintf("%s: %s", where, d))
				continue
			}
			return fmt.Errorf("reading bundle %s: %w", l.Digest, err)
		}
		b, err := parseBundle(data)
		if err != nil {
			st.formats[FormatBundle] = true
			st.bad = append(st.bad, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		hint := ""
		if b.VerificationMaterial.PublicKey != nil {
			hint = b.VerificationMaterial.PublicKey.Hint
		}
		env := b.DSSEEnvelope
		if env == nil {
			// A message signature over an unknown artifact, not an image
			// signature statement we can check against the subject.
			st.formats[FormatBundle] = true
			st.unknown++
			continue
		}
		if env.PayloadType != PayloadTypeInToto {
			st.formats[FormatBundle] = true
			st.bad = append(st.bad, fmt.Sprintf("%s: DSSE payload type %q", where, env.PayloadType))
			continue
		}
		isSig, tag, err := checkStatement(env.Payload, st.subject)
		if !isSig {
			continue // an attestation, not a signature
		}
		st.formats[FormatBundle] = true
		if err != nil {
			st.bad = append(st.bad, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		if len(env.Signatures) == 0 {
			st.bad = append(st.bad, fmt.Sprintf("%s: DSSE envelope has no signatures", where))
			continue
		}
		msg := pae(env.PayloadType, env.Payload)
		for _, s := range env.Signatures {
			st.judge(ctx, where, hint, s.Sig, msg, tag)
		}
	}
	return nil
}

// VerifyPayload checks that payload is a cosign simple-signing payload
// that signs the image digest subject. It does not check a signature.
func VerifyPayload(payload []byte, subject digest.Digest) error {
	_, err := checkPayload(payload, subject)
	return err
}

// referrer is a manifest that names the subject in its subject field.
type referrer struct {
	desc         ocispec.Descriptor
	artifactType string
	manifest     *ocispec.Manifest
}

// listReferrers returns the signature-related referrers of subject, from
// the referrers fallback tag index and, when target is a ReferrerLister,
// from its predecessors. Manifests that do not name subject are ignored.
func listReferrers(ctx context.Context, target ReadOnlyTarget, subject ocispec.Descriptor) ([]referrer, error) {
	cands, err := referrerCandidates(ctx, target, subject)
	if err != nil {
		return nil, err
	}

	seen := map[digest.Digest]bool{}
	var out []referrer
	for _, d := range cands {
		if seen[d.Digest] || len(out) >= maxSignatures {
			continue
		}
		seen[d.Digest] = true
		switch d.MediaType {
		case ocispec.MediaTypeImageManifest, "":
		default:
			continue
		}
		if d.ArtifactType != "" && d.ArtifactType != ArtifactTypeCosignSignature && d.ArtifactType != MediaTypeBundle &&
			d.ArtifactType != ocispec.MediaTypeEmptyJSON { // cosign v2 lists bundles with the config type
			continue
		}
		if d.MediaType == "" {
			d.MediaType = ocispec.MediaTypeImageManifest
		}
		m, err := fetchManifest(ctx, target, d)
		if err != nil {
			if asBad(err) != "" {
				continue
			}
			return nil, fmt.Errorf("reading referrer %s: %w", d.Digest, err)
		}
		if m.Subject == nil || m.Subject.Digest != subject.Digest {
			continue
		}
		at := m.ArtifactType
		if at == "" {
			at = m.Config.MediaType
		}
		if at != ArtifactTypeCosignSignature && at != MediaTypeBundle {
			continue
		}
		out = append(out, referrer{desc: d, artifactType: at, manifest: m})
	}
	return out, nil
}

// fetchManifest reads and parses an image manifest (OCI or Docker v2).
// tagManifest resolves tag in target and reads the image manifest it
// names (cosign's .sig and .att tags): the zero descriptor and a nil
// manifest when the tag does not exist.
func tagManifest(ctx context.Context, target Target, tag string) (ocispec.Descriptor, *ocispec.Manifest, error) {
	d, err := target.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return ocispec.Descriptor{}, nil, nil
	case err != nil:
		return ocispec.Descriptor{}, nil, fmt.Errorf("resolving %s: %w", tag, err)
	}
	m, err := fetchManifest(ctx, target, d)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	return d, m, nil
}

func fetchManifest(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) (*ocispec.Manifest, error) {
	data, err := fetchLimited(ctx, f, desc, maxManifestSize)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: parsing manifest %s: %v", errMalformed, desc.Digest, err)
	}
	if m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != mediaTypeDockerManifest {
		return nil, fmt.Errorf("%w: manifest %s has media type %q", errMalformed, desc.Digest, m.MediaType)
	}
	return &m, nil
}

// errMalformed marks signature metadata that is present but corrupt:
// a verification failure rather than an I/O error.
var errMalformed = errors.New("malformed signature metadata")

// asBad returns a bad-signature detail when err is an integrity failure of
// signature metadata, or "" for other (I/O) errors.
func asBad(err error) string {
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) ||
		errors.Is(err, errMalformed) || errors.Is(err, errdef.ErrSizeExceedsLimit) || errors.Is(err, io.ErrUnexpectedEOF) {
		return err.Error()
	}
	return ""
}

// fetchLimited fetches desc whole, refusing more than max bytes and
// checking size and digest.
func fetchLimited(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if desc.Size < 0 || desc.Size > max {
		return nil, fmt.Errorf("%s: size %d: %w", desc.Digest, desc.Size, errdef.ErrSizeExceedsLimit)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: digest %q: %v", errMalformed, desc.Digest, err)
	}
	return content.FetchAll(ctx, f, desc)
}

// label names a trusted key in results: its name, else its ID.
func (k TrustedKey) label() string {
	if k.Name != "" {
		return k.Name
	}
	if k.ID != "" {
		return k.ID
	}
	return KeyID(k.PublicKey)
}
