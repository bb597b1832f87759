// Package bundle maps Julia registry snapshots, package trees and artifact
// trees to OCI manifests and indexes, and back.
//
// The format, specified in FORMAT.md next to this file:
//
//   - One OCI image manifest per content item (PushItem): artifactType
//     names the kind (ArtifactTypeRegistry, ArtifactTypePackage,
//     ArtifactTypeArtifact), the config is the OCI empty descriptor, and
//     the layer is the gzip (or zstd) tarball exactly as Pkg downloads it,
//     or its parts (MediaTypePart) when split to fit a per-file size limit.
//     Annotations under "dev.shoebox.julia." carry the Julia identity (kind,
//     uuid, tree hash, name, versions, platform, registry). Item manifests
//     hold no timestamps, so the same content always has the same digest.
//   - One item per (kind, uuid, tree hash): several package versions with
//     one tree share one manifest whose versions annotation lists them all
//     (pkg-protocol.md G22).
//   - A bundle is an OCI image index (PushIndex, ArtifactTypeBundle) over
//     the item manifests, each descriptor annotated with the identity and
//     the whole tarball's digest and size, so a server builds its routing
//     table from indexes alone (Read, NewCatalog). The created time, a
//     summary, the tool version, the platforms and the inputs live in the
//     top index's annotations. Large bundles nest child indexes
//     (ArtifactTypeSubindex) of at most IndexOptions.MaxEntries entries.
//   - An optional report item (PushReport) records what was asked for and
//     what is missing.
//
// Reading is defensive: every manifest and index is read through a
// MaxMetadataSize cap and digest-verified, annotations are parsed strictly
// (errors wrap ErrFormat and name the descriptor), tarball streams (Open,
// NewReader) verify every part and the whole digest, and Check verifies a
// whole bundle (deeply: tree hashes and Tar.jl's rules), reporting every
// problem with the item's identity (errors wrap ErrIntegrity).
//
// The package does no network or disk I/O of its own: it reads through an
// oras content.Fetcher and writes through a Pusher (content.Pusher plus
// Exists). Functions are safe for concurrent use; a Catalog is immutable.
//
// References: OCI image-spec v1.1.1
// (https://github.com/opencontainers/image-spec/blob/v1.1.1/manifest.md,
// .../image-index.md, .../annotations.md); the Julia Pkg server protocol
// (https://pkgdocs.julialang.org/v1/protocol/, and docs/pkg-protocol.md
// §2, §5, §6).
package bundle
