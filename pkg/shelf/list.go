package shelf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
)

// Lister is what List reads: content, tag resolution and the tag list.
// *store.Store satisfies it.
type Lister interface {
	content.Fetcher
	content.Resolver
	Tags(ctx context.Context) ([]string, error)
}

// Ref is a bundle found in a store: the tag that names it ("" when it was
// named by digest) and the descriptor of its top index, resolved once.
// Everything after the lookup names the bundle by Index.Digest.
type Ref struct {
	Tag   string
	Index ocispec.Descriptor
}

// Name is the tag, or the digest for a bundle named by digest.
func (r Ref) Name() string {
	if r.Tag != "" {
		return r.Tag
	}
	return r.Index.Digest.String()
}

// ErrNotBundle is returned (wrapped, with errdef.ErrNotFound) by Find
// when the reference names something that is not a bundle: a signature,
// an attestation, another tool's image.
var ErrNotBundle = errors.New("not a bundle")

// signatureTagRE matches the tags that are never bundles: the OCI
// referrers tag schema's fallback indexes ("sha256-<hex>") and cosign's
// signature, attestation and SBOM tags ("sha256-<hex>.sig", ".att",
// ".sbom").
var signatureTagRE = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$`)

// IsSignatureTag reports whether a tag is one of the tags that never name
// a bundle (see List).
func IsSignatureTag(tag string) bool { return signatureTagRE.MatchString(tag) }

// List returns the bundles of a store, one Ref per tag, sorted by tag. It
// is the one rule for "which tags are bundles", used by every command:
//
//   - tags of the referrers tag schema and cosign's signature,
//     attestation and SBOM tags (IsSignatureTag) are never bundles;
//   - a tag names a bundle when it resolves to an OCI image index whose
//     artifactType is bundle.ArtifactTypeBundle (IsBundle); when the
//     store does not report the artifactType on resolve (registries, and
//     layouts written by other tools), the index is read to find it.
//
// A tagged image index whose bytes do not match its digest is listed, so
// that verification reports it instead of skipping it. Several tags may
// name one bundle: each is listed.
func List(ctx context.Context, s Lister) ([]Ref, error) {
	refs, _, err := listBundles(ctx, s, nil)
	return refs, err
}

// listBundles is List, also returning every tag resolved (signature tags
// included) when all is not nil, for callers that watch a store for
// changes.
func listBundles(ctx context.Context, s Lister, tags []string) ([]Ref, map[string]digest.Digest, error) {
	if tags == nil {
		var err error
		if tags, err = s.Tags(ctx); err != nil {
			return nil, nil, fmt.Errorf("listing tags: %w", err)
		}
	}
	all := make(map[string]digest.Digest, len(tags))
	known := map[digest.Digest]bool{} // index digest → is a bundle
	var out []Ref
	for _, t := range tags {
		d, err := s.Resolve(ctx, t)
		if err != nil {
			return nil, nil, fmt.Errorf("tag %s: %w", t, err)
		}
		all[t] = d.Digest
		if IsSignatureTag(t) {
			continue
		}
		ok, seen := known[d.Digest]
		if !seen {
			if ok, err = IsBundle(ctx, s, d); err != nil {
				return nil, nil, fmt.Errorf("tag %s: %w", t, err)
			}
			known[d.Digest] = ok
		}
		if ok {
			out = append(out, Ref{Tag: t, Index: d})
		}
	}
	slices.SortFunc(out, func(a, b Ref) int { return strings.Compare(a.Tag, b.Tag) })
	return out, all, nil
}

// Find resolves a tag or digest a user named to the bundle it names. It
// applies List's rule: a reference to anything but a bundle is an error
// wrapping ErrNotBundle and errdef.ErrNotFound. A reference by digest
// gives a Ref with an empty Tag.
func Find(ctx context.Context, s interface {
	content.Fetcher
	content.Resolver
}, reference string) (Ref, error) {
	d, err := s.Resolve(ctx, reference)
	if err != nil {
		return Ref{}, err
	}
	tag := reference
	if _, derr := digest.Parse(reference); derr == nil {
		tag = ""
	}
	ok := tag == "" || !IsSignatureTag(tag)
	if ok {
		if ok, err = IsBundle(ctx, s, d); err != nil {
			return Ref{}, err
		}
	}
	if !ok {
		what := d.MediaType
		if d.ArtifactType != "" {
			what += ", artifactType " + d.ArtifactType
		}
		return Ref{}, fmt.Errorf("%s (%s, %s): %w%.0w", reference, d.Digest, what, ErrNotBundle, errdef.ErrNotFound)
	}
	return Ref{Tag: tag, Index: d}, nil
}

// IsBundle reports whether d, a descriptor a tag resolved to, is a bundle
// index: an OCI image index with the bundle's artifactType. When d does not
// carry an artifactType it is read from the index itself (at most
// bundle.MaxMetadataSize bytes). An index whose bytes do not match d, or do
// not decode, is reported as a bundle, so that verification names the
// damage; other read errors are returned.
func IsBundle(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) (bool, error) {
	if d.MediaType != ocispec.MediaTypeImageIndex {
		return false, nil
	}
	if d.ArtifactType != "" {
		return d.ArtifactType == bundle.ArtifactTypeBundle, nil
	}
	if d.Size < 0 || d.Size > bundle.MaxMetadataSize {
		return true, nil // Read refuses it, naming the cause
	}
	b, err := content.FetchAll(ctx, f, d)
	if err != nil {
		if corrupt(err) {
			return true, nil
		}
		return false, err
	}
	var idx struct {
		ArtifactType string `json:"artifactType"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return true, nil
	}
	return idx.ArtifactType == bundle.ArtifactTypeBundle, nil
}

// corrupt reports whether err means stored content does not match its
// digest or size, or cannot be decoded.
func corrupt(err error) bool {
	var se *json.SyntaxError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, content.ErrMismatchedDigest) ||
		errors.Is(err, content.ErrTrailingData) || errors.As(err, &se)
}
