// Package trust signs OCI descriptors and verifies their signatures
// against a trust policy, in the formats cosign writes, with no network
// beyond the OCI target itself (no transparency log, no TUF, no Fulcio).
// It knows nothing of Julia, and it is the only shoebox package that
// imports sigstore, but for the binary (cmd/shoebox), which wires sigstore's
// KMS providers in with RegisterKMS.
//
// # Formats
//
// Sign writes, and Verify reads:
//
//   - cosign's simple-signing signature ("cosign v2" format), the default:
//     the payload
//     {"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},"type":"cosign container image signature"},"optional":…}
//     as a layer of type application/vnd.dev.cosign.simplesigning.v1+json
//     annotated with dev.cosignproject.cosign/signature (base64), in an
//     OCI image manifest with cosign's image config, tagged
//     "sha256-<hex>.sig". One layer per signing key. Spec:
//     https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md
//     and the containers "simple signing" format it derives from,
//     https://github.com/containers/image/blob/main/docs/containers-signature.5.md.
//   - with SignOptions.Bundle, a Sigstore bundle v0.3 ("cosign v3"
//     format): a DSSE envelope over an in-toto v1 statement with predicate
//     type https://sigstore.dev/cosign/sign/v1 whose subject is the signed
//     digest, verificationMaterial.publicKey.hint = base64(sha256(PKIX DER)),
//     stored as an OCI 1.1 referrer (artifactType
//     application/vnd.dev.sigstore.bundle.v0.3+json, empty config, subject
//     set) and listed in the referrers tag schema fallback index
//     "sha256-<hex>". Specs:
//     https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto (v0.3),
//     https://github.com/secure-systems-lab/dsse/blob/master/protocol.md,
//     https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md.
//
// Verify also reads cosign v2's OCI 1.1 referrer signatures (artifactType
// application/vnd.dev.cosign.artifact.sig.v1+json, the simple-signing
// layer, subject set). Referrers are found through the fallback tag and,
// when the target is a ReferrerLister (oras-go's memory, oci and remote
// stores), its predecessors. OCI image-spec v1.1.1:
// https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md#guidelines-for-artifact-usage
// (artifactType, subject) and
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#referrers-tag-schema
// (the fallback tag).
//
// # Keys
//
// GenerateKey writes cosign's key files: PKCS#8 encrypted with scrypt and
// NaCl secretbox in go-securesystemslib's JSON envelope, PEM type
// "ENCRYPTED SIGSTORE PRIVATE KEY", and a PKIX "PUBLIC KEY" PEM. LoadSigner
// reads those, cosign's legacy "ENCRYPTED COSIGN PRIVATE KEY", unencrypted
// PEM keys, and KMS URIs through openers registered with RegisterKMS.
//
// # Outcomes
//
// Verify's outcomes are distinct: OutcomeUnsigned, OutcomeUnknownKeys,
// OutcomeBadSignature (always fatal, even when other signatures pass),
// OutcomeBelowThreshold, OutcomeNotCovered and OutcomeOK.
//
// # Tags
//
// A signature is made for a tag (SignOptions.Tag): the tag is a claim
// inside the signed data, AnnotationTag in the simple-signing payload's
// "optional" map and in the in-toto statement subject's annotations, so
// cosign verifies it with the rest and "cosign sign -a dev.shoebox.tag=T"
// makes the same claim. A Policy with Tags counts only the trusted keys
// that signed for a matching tag (OutcomeNotCovered when enough keys
// signed, but not for such a tag); tags found in a store are never
// consulted, since whoever can write the store can rename or add them. Every outcome but OutcomeOK is
// returned as a *VerificationError; I/O and transport errors never are.
//
// cosign does not record which key made a simple-signing signature, so a
// corrupted signature from cosign itself looks like one from an unknown
// key. Sign adds the key hint annotation dev.shoebox.signature.key-hint
// (which cosign ignores) so that Verify reports a trusted key's corrupted
// signature as a bad signature; Sigstore bundles carry the hint anyway.
// A signature attached to the subject whose payload names another digest is
// always a bad signature, whoever made it.
//
// The package is silent (it prints nothing and reads no environment) and
// safe for concurrent use, except that RegisterKMS is meant for program
// start-up.
package trust
