// Package ocigraph reads the edges of the OCI content graph: what a
// manifest or index points at (OCI image-spec v1.1.1: image manifest,
// image index, and the withdrawn artifact manifest; the Docker v2 schema 2
// equivalents share the shape).
package ocigraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Edges decodes what the manifest or index b points at, in order:
// subject, config, layers, manifests, blobs, each into T (a descriptor, or
// a struct with the fields the caller needs: decoding into one without
// annotations allocates no map for them). digestOf reads a T's digest:
// an empty config is no edge, and every digest is validated. subject
// reports whether b has a subject (a referrer).
func Edges[T any](b []byte, digestOf func(*T) digest.Digest) (out []T, subject bool, err error) {
	var m struct {
		Subject   *T  `json:"subject,omitempty"`
		Config    T   `json:"config"`
		Layers    []T `json:"layers"`
		Manifests []T `json:"manifests"`
		Blobs     []T `json:"blobs"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false, fmt.Errorf("decoding: %w", err)
	}
	out = make([]T, 0, len(m.Layers)+len(m.Manifests)+len(m.Blobs)+2)
	if m.Subject != nil {
		out = append(out, *m.Subject)
	}
	if digestOf(&m.Config) != "" {
		out = append(out, m.Config)
	}
	out = append(out, m.Layers...)
	out = append(out, m.Manifests...)
	out = append(out, m.Blobs...)
	for i := range out {
		d := digestOf(&out[i])
		if err := ValidateDigest(d); err != nil {
			return nil, false, fmt.Errorf("descriptor %q: %w", d, err)
		}
	}
	return out, m.Subject != nil, nil
}

// Successors lists the descriptors the manifest or index b points at
// (Edges), whole.
func Successors(b []byte) (out []ocispec.Descriptor, subject bool, err error) {
	return Edges(b, func(d *ocispec.Descriptor) digest.Digest { return d.Digest })
}

// plain is a descriptor without its annotations, URLs, data and platform.
type plain struct {
	MediaType    string        `json:"mediaType"`
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	ArtifactType string        `json:"artifactType,omitempty"`
}

// PlainSuccessors is Successors without the descriptors' annotations
// (and URLs, data and platform): media type, digest, size and
// artifactType, which is all a walk of the graph needs. Decoding it
// allocates no annotation map, where a bundle index page lists a thousand
// annotated descriptors.
func PlainSuccessors(b []byte) ([]ocispec.Descriptor, bool, error) {
	ps, subject, err := Edges(b, func(p *plain) digest.Digest { return p.Digest })
	if err != nil {
		return nil, false, err
	}
	out := make([]ocispec.Descriptor, len(ps))
	for i, p := range ps {
		out[i] = ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size, ArtifactType: p.ArtifactType}
	}
	return out, subject, nil
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

// ReadAll reads content described by d (at most a bound the caller has
// checked d.Size against) into a buffer of exactly d.Size bytes, checking
// its size and digest as oras' content.ReadAll does (io.ErrUnexpectedEOF
// when short, content.ErrTrailingData when longer,
// content.ErrMismatchedDigest), without growing a buffer to twice the
// size: a bundle of 100,000 items reads as many manifests.
func ReadAll(r io.Reader, d ocispec.Descriptor) ([]byte, error) {
	if d.Size < 0 {
		return nil, content.ErrInvalidDescriptorSize
	}
	vr := NewVerifyReader(r, d)
	buf := make([]byte, d.Size)
	if _, err := io.ReadFull(vr, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read failed: expected content size of %d, for digest %s: %w", d.Size, d.Digest, err)
	}
	if err := vr.Verify(); err != nil {
		return nil, err
	}
	return buf, nil
}
