package bundle

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// identityKeys are the annotation keys of the Julia identity.
var identityKeys = []string{
	AnnotationKind, AnnotationUUID, AnnotationTreeHash, AnnotationKeepEmptyHash,
	AnnotationName, AnnotationVersions, AnnotationPlatform, AnnotationRegistry,
}

// ParseIdentity reads the Julia identity (Kind, UUID, TreeHash,
// KeepEmptyHash, Name, Versions, Platform, Registry) from annotations,
// strictly: every known key must hold a canonical value and the kind's
// required keys must be present (see Item). Unknown keys are ignored. For a
// registry, Name is set equal to Registry. A report has no identity beyond
// its kind.
func ParseIdentity(a map[string]string) (Item, error) {
	return parseIdentity(func(k string) (string, bool) { v, ok := a[k]; return v, ok })
}

// parseIdentity is ParseIdentity over a lookup of the annotations.
func parseIdentity(a func(key string) (string, bool)) (Item, error) {
	var it Item
	kind, ok := a(AnnotationKind)
	if !ok {
		return it, formatErrorf("no %s annotation", AnnotationKind)
	}
	it.Kind = Kind(kind)
	if !it.Kind.Valid() {
		return it, formatErrorf("%s %q: unknown kind", AnnotationKind, kind)
	}
	if it.Kind == KindReport {
		for _, k := range identityKeys[1:] {
			if _, ok := a(k); ok {
				return it, formatErrorf("report has a %s annotation", k)
			}
		}
		return it, nil
	}
	var err error
	if s, ok := a(AnnotationUUID); ok {
		if it.UUID, err = julia.ParseUUID(s); err != nil {
			return it, formatErrorf("%s: %v", AnnotationUUID, err)
		}
		if it.UUID.IsZero() {
			return it, formatErrorf("%s: zero uuid", AnnotationUUID)
		}
	}
	for _, h := range []struct {
		key string
		dst *treehash.Hash
	}{{AnnotationTreeHash, &it.TreeHash}, {AnnotationKeepEmptyHash, &it.KeepEmptyHash}} {
		s, ok := a(h.key)
		if !ok {
			continue
		}
		if *h.dst, err = treehash.Parse(s); err != nil {
			return it, formatErrorf("%s: %v", h.key, err)
		}
		if h.dst.IsZero() {
			return it, formatErrorf("%s: zero tree hash", h.key)
		}
	}
	if _, ok := a(AnnotationKeepEmptyHash); ok && it.KeepEmptyHash == it.TreeHash {
		return it, formatErrorf("%s equals %s; it must be left out", AnnotationKeepEmptyHash, AnnotationTreeHash)
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{AnnotationName, &it.Name}, {AnnotationRegistry, &it.Registry}} {
		v, ok := a(s.key)
		if !ok {
			continue
		}
		if err := checkName(v); err != nil {
			return it, formatErrorf("%s: %v", s.key, err)
		}
		*s.dst = v
	}
	if v, ok := a(AnnotationPlatform); ok {
		if !validToken(v) {
			return it, formatErrorf("%s %q: not a triplet", AnnotationPlatform, v)
		}
		it.Platform = v
	}
	if v, ok := a(AnnotationVersions); ok {
		vs := strings.Split(v, ",")
		for _, x := range vs {
			if !validVersion(x) {
				return it, formatErrorf("%s: %q is not a version number", AnnotationVersions, x)
			}
		}
		canon := slices.Clone(vs)
		sortVersions(canon)
		canon = slices.Compact(canon)
		if !slices.Equal(vs, canon) {
			return it, formatErrorf("%s %q: not sorted or has duplicates", AnnotationVersions, v)
		}
		it.Versions = vs
	}
	if it.Kind == KindRegistry {
		if it.Name != "" && it.Name != it.Registry {
			return it, formatErrorf("registry %s %q differs from %s %q", AnnotationName, it.Name, AnnotationRegistry, it.Registry)
		}
		it.Name = ""
	}
	if err := it.checkIdentity(); err != nil {
		return it, err
	}
	if it.Kind == KindRegistry {
		it.Name = it.Registry
	}
	return it, nil
}

// parseDescriptor reads an item descriptor of a bundle index: the identity,
// the whole tarball and the parts count. For an unsplit item Layers is
// [Whole]; for a split one Layers is nil and parts is the count.
func parseDescriptor(d ocispec.Descriptor) (it Item, parts int, err error) {
	return parseEntry(d, func(k string) (string, bool) { v, ok := d.Annotations[k]; return v, ok })
}

// parseEntry is parseDescriptor of a descriptor whose annotations a
// looks up.
func parseEntry(d ocispec.Descriptor, a func(key string) (string, bool)) (it Item, parts int, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("descriptor %s: %w", d.Digest, err)
		}
	}()
	if d.MediaType != ocispec.MediaTypeImageManifest {
		return it, 0, formatErrorf("media type %q: want %s", d.MediaType, ocispec.MediaTypeImageManifest)
	}
	it, err = parseIdentity(a)
	if err != nil {
		return it, 0, err
	}
	if d.ArtifactType != it.Kind.ArtifactType() {
		return it, 0, formatErrorf("artifactType %q: want %s for kind %s", d.ArtifactType, it.Kind.ArtifactType(), it.Kind)
	}
	if it.Kind == KindReport {
		return it, 0, nil
	}
	it.Whole, err = parseWholeFrom(a)
	if err != nil {
		return it, 0, err
	}
	if s, ok := a(AnnotationParts); ok {
		if !isDecimal(s) {
			return it, 0, formatErrorf("%s %q: not a decimal", AnnotationParts, s)
		}
		parts, _ = strconv.Atoi(s)
		if parts < 2 || parts > 100000 {
			return it, 0, formatErrorf("%s %d: want 2 to 100000", AnnotationParts, parts)
		}
		return it, parts, nil
	}
	it.Layers = []ocispec.Descriptor{it.Whole}
	return it, 0, nil
}

// parseWhole reads the AnnotationWhole* keys, all required.
func parseWhole(a map[string]string) (ocispec.Descriptor, error) {
	return parseWholeFrom(func(k string) (string, bool) { v, ok := a[k]; return v, ok })
}

// parseWholeFrom is parseWhole over a lookup.
func parseWholeFrom(a func(key string) (string, bool)) (ocispec.Descriptor, error) {
	var w ocispec.Descriptor
	ds, ok1 := a(AnnotationWholeDigest)
	ss, ok2 := a(AnnotationWholeSize)
	mt, ok3 := a(AnnotationWholeMediaType)
	if !ok1 || !ok2 || !ok3 {
		return w, formatErrorf("want %s, %s and %s", AnnotationWholeDigest, AnnotationWholeSize, AnnotationWholeMediaType)
	}
	d := digest.Digest(ds)
	if ocigraph.ValidateDigest(d) != nil {
		return w, formatErrorf("%s %q: not a digest", AnnotationWholeDigest, ds)
	}
	if !isDecimal(ss) {
		return w, formatErrorf("%s %q: not a decimal", AnnotationWholeSize, ss)
	}
	size, err := strconv.ParseInt(ss, 10, 64)
	if err != nil {
		return w, formatErrorf("%s %q: %v", AnnotationWholeSize, ss, err)
	}
	switch mt { // the constants, not a copy per item
	case MediaTypeTarGzip:
		mt = MediaTypeTarGzip
	case MediaTypeTarZstd:
		mt = MediaTypeTarZstd
	default:
		return w, formatErrorf("%s %q: want %s or %s", AnnotationWholeMediaType, mt, MediaTypeTarGzip, MediaTypeTarZstd)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}
