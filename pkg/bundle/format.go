package bundle

import (
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Kind is what a content item holds. Its string form is the value of the
// AnnotationKind annotation.
type Kind string

// The kinds of content item. A Julia registry snapshot, a package version
// tree and an artifact tree are the three resources of the Pkg protocol;
// a snapshot of security advisories travels with the closure it audits;
// a report records what a push was asked for and what it could not find.
const (
	KindRegistry   Kind = "registry"
	KindPackage    Kind = "package"
	KindArtifact   Kind = "artifact"
	KindAdvisories Kind = "advisories"
	KindReport     Kind = "report"
)

// Valid reports whether k is one of the five kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindRegistry, KindPackage, KindArtifact, KindAdvisories, KindReport:
		return true
	}
	return false
}

// ArtifactType returns the artifactType of an item manifest of kind k, or ""
// for an invalid kind.
func (k Kind) ArtifactType() string {
	switch k {
	case KindRegistry:
		return ArtifactTypeRegistry
	case KindPackage:
		return ArtifactTypePackage
	case KindArtifact:
		return ArtifactTypeArtifact
	case KindAdvisories:
		return ArtifactTypeAdvisories
	case KindReport:
		return ArtifactTypeReport
	}
	return ""
}

// kindOrder is the sort rank of a kind inside an index.
func (k Kind) order() int {
	switch k {
	case KindRegistry:
		return 0
	case KindPackage:
		return 1
	case KindArtifact:
		return 2
	case KindAdvisories:
		return 3
	case KindReport:
		return 4
	}
	return 5
}

// artifactType values (OCI image-spec v1.1.1 "artifactType"). The vendor
// prefix is application/vnd.shoebox.; the .v1 suffix is the format version.
const (
	// ArtifactTypeBundle is the artifactType of a bundle's top index.
	ArtifactTypeBundle = "application/vnd.shoebox.bundle.v1"
	// ArtifactTypeSubindex is the artifactType of a child index of a nested
	// bundle. It carries no annotations of its own.
	ArtifactTypeSubindex = "application/vnd.shoebox.bundle.subindex.v1"
	// ArtifactTypeRegistry is the artifactType of a registry snapshot manifest.
	ArtifactTypeRegistry = "application/vnd.shoebox.julia.registry.v1"
	// ArtifactTypePackage is the artifactType of a package tree manifest.
	ArtifactTypePackage = "application/vnd.shoebox.julia.package.v1"
	// ArtifactTypeArtifact is the artifactType of a Julia artifact tree manifest.
	ArtifactTypeArtifact = "application/vnd.shoebox.julia.artifact.v1"
	// ArtifactTypeAdvisories is the artifactType of a snapshot of security
	// advisories (OSV JSON files, see PushAdvisories).
	ArtifactTypeAdvisories = "application/vnd.shoebox.advisories.v1"
	// ArtifactTypeReport is the artifactType of a push report manifest.
	ArtifactTypeReport = "application/vnd.shoebox.report.v1"
)

// Layer media types.
const (
	// MediaTypeTarGzip is the media type of a gzip tarball layer, exactly
	// the bytes Pkg downloads.
	MediaTypeTarGzip = ocispec.MediaTypeImageLayerGzip
	// MediaTypeTarZstd is the media type of a zstd tarball layer.
	MediaTypeTarZstd = ocispec.MediaTypeImageLayerZstd
	// MediaTypePart is the media type of one part of a tarball split to fit
	// a per-file size limit. The parts, in layer order, concatenate to the
	// tarball described by the AnnotationWhole* manifest annotations.
	MediaTypePart = "application/vnd.shoebox.part.v1"
	// MediaTypeReport is the media type of the report item's JSON layer.
	MediaTypeReport = "application/vnd.shoebox.report.v1+json"
)

// Annotation keys. Everything this package writes lives under the
// reverse-DNS prefix "dev.shoebox."; the Julia identity lives under
// "dev.shoebox.julia.". Values are canonical: lowercase uuids and tree
// hashes, decimal sizes without sign or leading zeros, sorted
// comma-separated lists. Readers reject non-canonical values of known keys
// and ignore unknown keys.
const (
	// AnnotationKind is the item kind: "registry", "package", "artifact" or
	// "report".
	AnnotationKind = "dev.shoebox.julia.kind"
	// AnnotationUUID is the package or registry uuid, canonical lowercase.
	AnnotationUUID = "dev.shoebox.julia.uuid"
	// AnnotationTreeHash is the git-sha1 tree hash Pkg checks for this
	// resource, 40 lowercase hex: keep-empty over the tar stream for
	// registries, skip-empty (GitTools.tree_hash) for packages and
	// artifacts (pkg-protocol.md §5, G1). It is the key Pkg asks by.
	AnnotationTreeHash = "dev.shoebox.julia.tree-hash"
	// AnnotationKeepEmptyHash is the keep-empty Tar.tree_hash of the tar
	// stream of a package or artifact, present only when it differs from
	// AnnotationTreeHash (the tarball holds empty directories).
	AnnotationKeepEmptyHash = "dev.shoebox.julia.tree-hash.keep-empty"
	// AnnotationName is the package name, or the artifact's name in the
	// Artifacts.toml that binds it.
	AnnotationName = "dev.shoebox.julia.name"
	// AnnotationVersions is the sorted, comma-separated list of the package
	// versions whose tree is this one (several versions may share one tree,
	// pkg-protocol.md G22).
	AnnotationVersions = "dev.shoebox.julia.versions"
	// AnnotationPlatform is an artifact's Julia platform triplet; absent for
	// platform-independent artifacts.
	AnnotationPlatform = "dev.shoebox.julia.platform"
	// AnnotationRegistry is the registry name ("General"): required on
	// registry snapshots, optional on packages (the registry that listed the
	// version).
	AnnotationRegistry = "dev.shoebox.julia.registry"

	// AnnotationArtifactsTOML, on a package item manifest only (never on its
	// index descriptor), records the package tarball's Artifacts.toml and
	// JuliaArtifacts.toml files: a JSON object from each file's path in the
	// tarball to its content, "{}" when there are none (see
	// Item.ArtifactsTOML). A push into a store that holds the package plans
	// its artifacts from it instead of reading the tarball again. Absent
	// means not recorded.
	AnnotationArtifactsTOML = "dev.shoebox.julia.artifacts-toml"

	// AnnotationWholeDigest, AnnotationWholeSize and AnnotationWholeMediaType
	// describe the whole tarball: on an item manifest only when it is split
	// into parts; on the item's descriptor in a bundle index always.
	AnnotationWholeDigest    = "dev.shoebox.whole.digest"
	AnnotationWholeSize      = "dev.shoebox.whole.size"
	AnnotationWholeMediaType = "dev.shoebox.whole.media-type"
	// AnnotationParts is the number of parts (≥ 2) of a split tarball, on
	// the item's descriptor in a bundle index; absent when not split.
	AnnotationParts = "dev.shoebox.parts"

	// AnnotationToolVersion is the version of the tool that wrote a bundle.
	AnnotationToolVersion = "dev.shoebox.bundle.tool-version"
	// AnnotationPlatforms is the sorted, comma-separated list of target
	// platform triplets a bundle was collected for.
	AnnotationPlatforms = "dev.shoebox.bundle.platforms"
	// AnnotationInputs is a JSON array of strings: the inputs (manifest file
	// names, package specs) a bundle was collected from, in the caller's order.
	AnnotationInputs = "dev.shoebox.bundle.inputs"
	// AnnotationPushKey is the push key of a bundle: the sha256 (hex) of
	// what the writer was asked to collect, with which options, from which
	// registry snapshots. A writer asked for the same again,
	// whose registries have not moved, may find the bundle up to date and
	// keep it as it is (transfer.Push does).
	AnnotationPushKey = "dev.shoebox.bundle.push-key"
	// AnnotationRegistries, AnnotationPackages and AnnotationArtifacts count
	// a bundle's items per kind; AnnotationSize is the total size in bytes
	// of the distinct tarballs; AnnotationMissing is the number of missing
	// things in the report (absent without a report).
	AnnotationRegistries = "dev.shoebox.bundle.registries"
	AnnotationPackages   = "dev.shoebox.bundle.packages"
	AnnotationArtifacts  = "dev.shoebox.bundle.artifacts"
	AnnotationSize       = "dev.shoebox.bundle.size"
	AnnotationMissing    = "dev.shoebox.bundle.missing"
)

// Limits.
const (
	// MaxMetadataSize bounds every manifest and index this package reads
	// or writes (4 MiB, the common registry limit).
	MaxMetadataSize = 4 << 20
	// MaxReportSize bounds the report blob.
	MaxReportSize = 16 << 20
	// DefaultMaxEntries is the default number of descriptors per index;
	// an entry is well under 1 KiB, so an index stays around 1 MiB.
	DefaultMaxEntries = 1000
	// maxDepth bounds the nesting of indexes Read follows.
	maxDepth = 8
)

var (
	// ErrIntegrity marks a content problem: a missing blob, a wrong digest
	// or size, a tree hash that is not the annotated one, a tarball that
	// breaks Tar.jl's rules, or a manifest that does not match its
	// descriptor in the index. Test with errors.Is.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrFormat marks a manifest, index or annotation that does not follow
	// this format. Test with errors.Is.
	ErrFormat = errors.New("invalid bundle format")
)

func formatErrorf(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrFormat)
}
