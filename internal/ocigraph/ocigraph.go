// Package ocigraph reads the edges of the OCI content graph: what a
// manifest or index points at (OCI image-spec v1.1.1: image manifest,
// image index, and the withdrawn artifact manifest; the Docker v2 schema 2
// equivalents share the shape).
package ocigraph

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Successors lists the descriptors the manifest or index b points at, in
// order: subject, config, layers, manifests, blobs. subject reports whether
// it has a subject (a referrer). Every digest is validated.
func Successors(b []byte) (out []ocispec.Descriptor, subject bool, err error) {
	var m struct {
		Subject   *ocispec.Descriptor  `json:"subject,omitempty"`
		Config    ocispec.Descriptor   `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Blobs     []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false, fmt.Errorf("decoding: %w", err)
	}
	if m.Subject != nil {
		out = append(out, *m.Subject)
	}
	if m.Config.Digest != "" {
		out = append(out, m.Config)
	}
	out = append(out, m.Layers...)
	out = append(out, m.Manifests...)
	out = append(out, m.Blobs...)
	for _, d := range out {
		if err := ValidateDigest(d.Digest); err != nil {
			return nil, false, fmt.Errorf("descriptor %q: %w", d.Digest, err)
		}
	}
	return out, m.Subject != nil, nil
}

// SHA256Hex returns the hex part of a valid "sha256:<64 lowercase hex>"
// digest, without go-digest's regular expressions (a push or a store open
// checks thousands).
func SHA256Hex(d digest.Digest) (string, bool) {
	const prefix = "sha256:"
	s := string(d)
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return "", false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return s[len(prefix):], true
}

// ValidateDigest is d.Validate() with a fast path for sha256 digests.
func ValidateDigest(d digest.Digest) error {
	if _, ok := SHA256Hex(d); ok {
		return nil
	}
	return d.Validate()
}
